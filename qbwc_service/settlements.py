"""What an answer (or its absence) does to a job, as a value: a job kind decides, the queue applies.

    Done       QuickBooks did it; the result is kept
    Retry      a transient failure: retried after the policy's backoff, dead after its attempts
    Dead       a person must act; the reason is kept, and the jobs waiting on this one die with it
    Continue   more to do: back on the queue at once (a page read, a plan made, a message set QuickBooks applied
               none of), not counted as an attempt; ``alone`` sends it next in a message set of its own
    Lost       sent, and the outcome is unknown: a read goes back to the queue, a write waits as ``unknown``

Every settlement may carry the kind's progress model, stored in the job's JSON column (None keeps what
the job has).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class Done:
    result: dict[str, Any] | None = None
    response_xml: str | None = None
    status_code: str | None = "0"
    status_message: str = ""
    progress: BaseModel | None = None


@dataclass(frozen=True)
class Retry:
    reason: str
    status_code: str | None = None
    response_xml: str | None = None
    progress: BaseModel | None = None


@dataclass(frozen=True)
class Dead:
    reason: str
    status_code: str | None = None
    response_xml: str | None = None
    progress: BaseModel | None = None
    result: dict[str, Any] | None = None  # what was done before the refusal (None keeps what the job has)


@dataclass(frozen=True)
class Continue:
    note: str
    progress: BaseModel | None = None
    depends_on: int | None = field(default=None)
    alone: bool = False


@dataclass(frozen=True)
class Lost:
    reason: str
    progress: BaseModel | None = None


Settlement = Done | Retry | Dead | Continue | Lost
