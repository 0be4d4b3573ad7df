"""The poller's cursor (page boundaries, ties, late saves, changes, the overlap) and the automatic retrieve's one
pull per slot, on every database."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import connection_usecases, connections, retrieve
from qbwc_service.automation_state import RETRIEVE, state_of
from qbwc_service.clock import FakeClock
from qbwc_service.fusion_accounts import FusionCredentials
from qbwc_service.poller import PollReport, run_once
from qbwc_service.secretbox import new_key
from qbwc_service.settings import Settings, load_settings
from qbwc_service.simulate._fusion_store import iso
from qbwc_service.simulate.fusion import SimulatedFusion
from tests.fusion_support import SEED_TOKEN, ServedFusion, serve_fusion
from tests.support import job_queue, jobs, pair

pytestmark = pytest.mark.each_database

START = datetime(2026, 12, 2, 9, 0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def keyed(settings: Settings) -> Settings:
    return settings.model_copy(update={"secret_key": load_settings(secret_key=new_key()).secret_key,
                                       "fusion_burst": 10_000, "fusion_requests_per_minute": 100_000})


@pytest.fixture
def served(clock: FakeClock) -> Iterator[ServedFusion]:
    with serve_fusion(SimulatedFusion(clock=clock, page_size=2, requests_per_minute=100_000)) as served:
        yield served


def order(sim: SimulatedFusion, order_id: int, **fields: Any) -> dict[str, Any]:
    made = copy.deepcopy(sim.entities("sales-orders")[0])
    made.pop("createdAt")
    made.pop("updatedAt")
    made.update(id=order_id, code=f"SO-{order_id}", **fields)
    return sim.add("sales-orders", made)


def test_no_entity_is_missed_at_page_boundaries_or_between_polls(sessions: sessionmaker[Session], keyed: Settings,
                                                                  clock: FakeClock, served: ServedFusion) -> None:
    paired = pair(sessions)
    with sessions.begin() as db:
        connection_usecases.configure_fusion(db, paired.name, FusionCredentials(served.base_url, token=SEED_TOKEN),
                                             keyed, clock)
        connection_usecases.update_options(db, paired.name, set_values=[("sales_orders.automatic", True)])

    def poll() -> PollReport:
        report = run_once(sessions, keyed, job_queue(clock), clock)
        assert report.errors == []
        return report

    assert poll().queued == 0  # from now on
    sim = served.sim
    clock.advance(minutes=1)
    for order_id in range(6001, 6006):  # five at the same second, over three pages
        order(sim, order_id)
    assert poll().queued == 5
    order(sim, 6006)  # the same second as the cursor: asked again, and not missed
    late = order(sim, 6007, updatedAt=iso(clock.now() - timedelta(minutes=3)))  # saved late, stamped earlier
    assert late["updatedAt"] < iso(clock.now())
    report = poll()
    assert (report.queued, report.recognised) == (2, 5)
    assert poll().queued == 0  # everything recognised within the overlap

    clock.advance(minutes=30)  # the cursor follows Fusion's stamps, not the time passed: still recognised
    quiet = poll()
    assert (quiet.queued, quiet.recognised) == (0, 7)
    sim.account.patch("sales-orders", "6003", {"notes": "Changed in Fusion"}, clock.now())
    changed = poll()
    assert (changed.seen - changed.recognised, changed.queued) == (1, 0)  # the queued job carries the change
    queued = {job.payload["entity"]["id"]: job for job in jobs(sessions)}
    assert len(queued) == 7 and queued[6003].payload["entity"]["notes"] == "Changed in Fusion"


def test_an_automatic_retrieve_is_queued_once_per_slot(sessions: sessionmaker[Session], clock: FakeClock) -> None:
    paired = pair(sessions)
    with sessions.begin() as db:
        connection_usecases.update_options(db, paired.name, set_values=[("retrieve.automatic", True),
                                                             ("retrieve.types", ["invoice", "estimate"])])
    with sessions.begin() as db:
        first = retrieve.queue_automatic(db, job_queue(clock), connections.get_connection(db, paired.name),
                                         clock.now())
        assert [made.created for made in first] == [True, True]
    with sessions.begin() as db:
        # Another process read the state before the first one saved it: the same slot, the same keys.
        state_of(db, paired.id, RETRIEVE).ran_at = None
        again = retrieve.queue_automatic(db, job_queue(clock), connections.get_connection(db, paired.name),
                                         clock.now() + timedelta(minutes=1))
        assert [made.created for made in again] == [False, False]
    with sessions.begin() as db:
        assert retrieve.queue_automatic(db, job_queue(clock), connections.get_connection(db, paired.name),
                                        clock.now() + timedelta(minutes=5)) == []  # within the interval
    assert sorted(job.payload["entity"] for job in jobs(sessions)) == ["Estimate", "Invoice"]
