"""The in-process protocol fixture (tests.inprocess) for the integration tests."""

from tests.inprocess import protocol

__all__ = ["protocol"]
