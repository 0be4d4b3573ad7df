"""GET /metrics: the Prometheus text format, made by prometheus_client from a database snapshot taken at scrape
time (qbwc_service.stats). Each app has a registry of its own; nothing is kept between scrapes, so several
service processes behind a load balancer all report the same numbers, the database's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from qbwc_service import stats
from qbwc_service.api.auth import authenticate
from qbwc_service.api.context import ApiContext, context_of
from qbwc_service.stats import Snapshot

router = APIRouter()


class SnapshotCollector(Collector):
    """The gauges of one snapshot."""

    def __init__(self, taken: Snapshot) -> None:
        self.taken = taken

    def collect(self) -> Iterator[GaugeMetricFamily]:
        s = self.taken
        jobs = GaugeMetricFamily("qbwc_jobs", "Jobs that still need the service or a person (queued, sent, failed, "
                                 "unknown, dead), by connection and status.", labels=["connection", "status"])
        for connection in s.connections:
            for status in stats.COUNTED:
                jobs.add_metric([connection, str(status)], s.jobs.get((connection, str(status)), 0))
        yield jobs
        yield _per_connection("qbwc_oldest_queued_job_age_seconds", "Age of the oldest queued job.",
                              s.oldest_queued_seconds, s.connections)
        yield _per_connection("qbwc_sessions_open", "Web Connector sessions open now.", s.open_sessions,
                              s.connections)
        yield _per_connection("qbwc_sessions_recent", "Web Connector sessions active in the recent window.",
                              s.recent_sessions, s.connections)
        yield _per_connection("qbwc_round_trips_recent", "Message sets exchanged by the sessions active in the "
                              "recent window.", s.recent_round_trips, s.connections)
        codes = GaugeMetricFamily("qbwc_quickbooks_status_codes_recent", "Jobs settled in the recent window, by the "
                                  "QuickBooks status code of their answer.", labels=["connection", "code"])
        for (connection, code), count in sorted(s.recent_status_codes.items()):
            codes.add_metric([connection, code], count)
        yield codes
        yield _per_connection("qbwc_deliveries_pending", "Records pulled from QuickBooks waiting to be delivered "
                              "to Fusion.", s.deliveries_pending, s.connections)
        yield GaugeMetricFamily("qbwc_recent_window_seconds", "The recent window the *_recent gauges cover.",
                                value=s.window_seconds)


def _per_connection(name: str, documentation: str, values: dict[str, float] | dict[str, int],
                    connections: list[str]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=["connection"])
    for connection in connections:
        if name == "qbwc_oldest_queued_job_age_seconds" and connection not in values:
            continue  # nothing queued: no age
        family.add_metric([connection], values.get(connection, 0))
    return family


def render(context: ApiContext) -> bytes:
    with context.read() as db:
        taken = stats.snapshot(db, context.clock.now(), timedelta(seconds=context.settings.metrics_window_seconds))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(taken))
    return generate_latest(registry)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    context = context_of(request)
    if not context.settings.metrics_public:
        authenticate(context, request.headers.get("authorization"))  # any valid key: metrics only read
    return Response(render(context), media_type=CONTENT_TYPE_LATEST)
