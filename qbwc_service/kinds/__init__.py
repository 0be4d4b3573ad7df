"""The job kinds, and the one registry that names them: nothing else branches on a job's kind.

Each module defines its kinds and lists them in ``KINDS``; the registry below is the union.
"""

from __future__ import annotations

from qbwc_service.db.models import Job
from qbwc_service.errors import InvalidJobPayload
from qbwc_service.kinds import changes, closing, custom_fields, flows, probe, pull, raw
from qbwc_service.kinds.base import JobKind


class Registry:
    def __init__(self, kinds: tuple[JobKind, ...]) -> None:
        self._kinds: dict[str, JobKind] = {}
        for kind in kinds:
            if kind.name in self._kinds:
                raise ValueError(f"two job kinds are named {kind.name!r}")
            self._kinds[kind.name] = kind

    def named(self, name: str) -> JobKind:
        kind = self._kinds.get(name)
        if kind is None:
            raise InvalidJobPayload(f"unknown job kind {name!r}", "kind")
        return kind

    def of(self, job: Job) -> JobKind:
        return self.named(job.kind)

    def names(self) -> list[str]:
        return list(self._kinds)

    def replacing(self, *kinds: JobKind) -> Registry:
        """The same registry with these kinds in place of the ones of the same names (a test's fault
        injection, or a deployment's own variant of a kind)."""
        return Registry(tuple({**self._kinds, **{kind.name: kind for kind in kinds}}.values()))


REGISTRY = Registry((*raw.KINDS, *probe.KINDS, *pull.KINDS, *custom_fields.KINDS, *flows.KINDS, *changes.KINDS,
                     *closing.KINDS))
