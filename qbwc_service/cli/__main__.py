"""`python -m qbwc_service.cli`."""

from qbwc_service.cli import main

main()
