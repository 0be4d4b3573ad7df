"""What the pages do, through the same use cases as the API: create a connection and its token, rotate it on
confirmation, queue the probe, save options (a bad value shown beside its option, nothing saved), list the queue
by filter and page, and settle jobs from their page."""

from __future__ import annotations

import re

from sqlalchemy import select

from qbwc_service import connection_usecases
from qbwc_service.connections import token_matches
from qbwc_service.db.models import Connection, Job
from tests.pages.conftest import Browser
from tests.support import enqueue_customers, enqueue_raw, job_queue, jobs, pair, snapshot

TOKEN = re.compile(r'id="token" value="([^"]+)"')


def _connection(browser: Browser, name: str = "Acme Plant") -> Connection:
    with browser.sessions.begin() as db:
        found = db.scalar(select(Connection).where(Connection.name == name))
        assert found is not None
        return found


def _lose(browser: Browser, job_ids: list[int]) -> None:
    """The jobs were sent, and their answers lost: unknown, waiting for a person."""
    from qbwc_service.kinds import REGISTRY
    from qbwc_service.queue import sent_under
    from qbwc_service.settlements import Lost

    queue = job_queue(browser.clock)
    with browser.sessions.begin() as db:
        connection_id = db.scalars(select(Job.connection_id).where(Job.id.in_(job_ids))).first()
        assert connection_id is not None
        queue.claim_batch(db, connection_id, "lost", 1000)
        for job in sent_under(db, "lost"):
            queue.record_sent(job, f"<?xml version=\"1.0\"?><QBXML><QBXMLMsgsRq>{job.payload['request']}"
                              "</QBXMLMsgsRq></QBXML>", [], None)
            queue.settle(db, job, Lost("the session expired", REGISTRY.of(job).progress_when_lost(job)))


def test_creating_a_connection_shows_its_token_once_and_the_wizard(signed_in: Browser) -> None:
    page = signed_in.post("/connections", {"name": "Acme Plant"})
    assert page.status_code == 201
    token = TOKEN.search(page.text)
    assert token and token_matches(token.group(1), _connection(signed_in).token_hash)
    assert page.text.count('class="step"') == 5 and 'data-state="waiting"' in page.text
    again = signed_in.client.get("/connections/Acme%20Plant")
    assert again.status_code == 200 and token.group(1) not in again.text and 'id="new-token"' in again.text
    assert "Acme Plant" in signed_in.client.get("/").text
    qwc = signed_in.client.get("/connections/Acme%20Plant/qwc")
    assert qwc.status_code == 200 and "<UserName>acme-plant</UserName>" in qwc.text
    assert qwc.headers["content-disposition"].startswith('attachment; filename="Acme_Plant.qwc"')


def test_a_refused_name_is_shown_and_nothing_is_created(signed_in: Browser) -> None:
    before = snapshot(signed_in.sessions)
    page = signed_in.post("/connections", {"name": "<b>bad/name</b>"})
    assert page.status_code == 422 and "must start with a letter or digit" in page.text
    assert "<b>bad" not in page.text and "&lt;b&gt;bad" in page.text
    assert snapshot(signed_in.sessions) == before
    signed_in.post("/connections", {"name": "Acme Plant"})
    assert signed_in.post("/connections", {"name": "Acme Plant"}).status_code == 409


def test_a_new_token_needs_the_confirmation(signed_in: Browser) -> None:
    first = TOKEN.search(signed_in.post("/connections", {"name": "Acme Plant"}).text)
    assert first
    before = snapshot(signed_in.sessions)
    page = signed_in.post("/connections/Acme%20Plant/token", {})
    assert page.status_code == 422 and "Nothing was changed" in page.text
    assert snapshot(signed_in.sessions) == before
    page = signed_in.post("/connections/Acme%20Plant/token", {"confirm": "yes"})
    second = TOKEN.search(page.text)
    assert page.status_code == 200 and second and second.group(1) != first.group(1)
    hashed = _connection(signed_in).token_hash
    assert token_matches(second.group(1), hashed) and not token_matches(first.group(1), hashed)
    assert signed_in.post("/connections/Nobody/token", {"confirm": "yes"}).status_code == 404


def test_test_access_queues_the_probe_and_the_step_waits_for_it(signed_in: Browser) -> None:
    signed_in.post("/connections", {"name": "Acme Plant"})
    answer = signed_in.post("/connections/Acme%20Plant/access-test")
    assert answer.status_code == 303
    page = signed_in.client.get(answer.headers["location"])
    assert re.search(r'id="step-5" data-state="waiting"', page.text) and "The probe is queued" in page.text
    assert [(j.kind, j.status) for j in jobs(signed_in.sessions)] == [("probe", "queued")]


def test_options_are_saved_and_a_bad_value_is_shown_beside_its_option(signed_in: Browser) -> None:
    signed_in.post("/connections", {"name": "Acme Plant"})
    form = signed_in.client.get("/connections/Acme%20Plant/options")
    assert form.status_code == 200 and 'name="retrieve.interval_minutes" value="30"' in form.text
    saved = signed_in.post("/connections/Acme%20Plant/options",
                           {"sales_orders.automatic": "true", "retrieve.interval_minutes": "60",
                            "time_zone": "America/Chicago", "retrieve.window_start": "08:00",
                            "retrieve.window_end": "17:00", "retrieve.types": '["sales_order", "invoice"]'})
    assert saved.status_code == 303, saved.text
    with signed_in.sessions.begin() as db:
        options = connection_usecases.connection_options(db, "Acme Plant")
    assert options.sales_orders.automatic and options.retrieve.interval_minutes == 60
    assert options.retrieve.types == ("sales_order", "invoice") and str(options.retrieve.window_start) == "08:00:00"
    stored = _connection(signed_in).options
    cases = {
        "retrieve.interval_minutes": ({"retrieve.interval_minutes": "1"}, "greater than or equal to 5"),
        "time_zone": ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
        "stock_sync": ({"stock_sync": "true"}, "stock_sync needs stock_adjustment_account"),
        "retrieve.types": ({"retrieve.types": "[not json"}, "not JSON"),
        "retrieve.window_end": ({"retrieve.window_end": ""}, "needs both window_start and window_end"),
    }
    for option, (change, reason) in cases.items():
        page = signed_in.post("/connections/Acme%20Plant/options", change)
        assert page.status_code == 422, option
        assert "Nothing was saved" in page.text and reason in page.text, option
        row = re.search(rf'<tr class="refused" id="option-{re.escape(option)}">', page.text)
        assert row, (option, re.findall(r'<tr class="refused" id="[^"]+"', page.text))
        typed = next(iter(change.values()))
        if typed:
            assert typed.replace('"', "&#34;") in page.text, option  # what was typed is kept
        assert _connection(signed_in).options == stored, option


def test_the_queue_filters_and_pages_with_a_cursor(signed_in: Browser) -> None:
    paired = pair(signed_in.sessions)
    other = pair(signed_in.sessions, "Other Plant")
    ids = enqueue_customers(signed_in.sessions, paired.id, [f"Customer {n}" for n in range(55)])
    enqueue_customers(signed_in.sessions, other.id, ["Elsewhere"])
    first = signed_in.client.get("/jobs", params={"connection": "Acme Plant", "kind": "raw", "status": "queued"})
    assert first.status_code == 200
    shown = [int(n) for n in re.findall(r'<a href="/jobs/(\d+)">', first.text)]
    assert shown == sorted(ids, reverse=True)[:50]
    more = re.search(r'id="next-page" href="([^"]+)"', first.text)
    assert more
    second = signed_in.client.get(more.group(1).replace("&amp;", "&"))
    assert [int(n) for n in re.findall(r'<a href="/jobs/(\d+)">', second.text)] == sorted(ids, reverse=True)[50:]
    assert 'id="next-page"' not in second.text
    assert "No job matches" in signed_in.client.get("/jobs", params={"status": "unknown"}).text
    assert signed_in.client.get("/jobs", params={"kind": "nonsense"}).status_code == 422
    assert signed_in.client.get("/jobs", params={"status": "nonsense"}).status_code == 422
    assert signed_in.client.get("/jobs", params={"connection": "Nobody"}).status_code == 404


def test_an_unknown_job_is_resolved_from_its_page(signed_in: Browser) -> None:
    paired = pair(signed_in.sessions)
    landed = enqueue_raw(signed_in.sessions, paired.id, "<CustomerAddRq><CustomerAdd><Name>Landed &lt;Co&gt; &amp; "
                         "Sons</Name></CustomerAdd></CustomerAddRq>")
    (not_landed,) = enqueue_customers(signed_in.sessions, paired.id, ["Lost Co"])
    _lose(signed_in, [landed, not_landed])
    before = snapshot(signed_in.sessions)
    too_long = signed_in.post(f"/jobs/{landed}/resolve", {"landed": "yes", "txn_id": "8" * 61})
    assert too_long.status_code == 422 and "at most 60 characters" in too_long.text
    assert snapshot(signed_in.sessions) == before
    page = signed_in.client.get(f"/jobs/{landed}")
    assert page.status_code == 200 and 'id="job-status">unknown' in page.text
    assert "&lt;Name&gt;Landed &amp;lt;Co&amp;gt; &amp;amp; Sons&lt;/Name&gt;" in page.text  # escaped, once more
    assert 'id="landed"' in page.text and 'id="not-landed"' in page.text
    assert "job-unknown" in page.text  # the timeline
    answer = signed_in.post(f"/jobs/{landed}/resolve", {"landed": "yes", "txn_id": "ABC-123"})
    assert answer.status_code == 303
    page = signed_in.client.get(answer.headers["location"])
    assert 'id="job-status">done' in page.text and "the write is in QuickBooks" in page.text
    answer = signed_in.post(f"/jobs/{not_landed}/resolve", {"landed": "no"})
    assert answer.status_code == 303
    by_id = {j.id: j for j in jobs(signed_in.sessions)}
    assert by_id[landed].status == "done" and (by_id[landed].result or {}).get("TxnID") == "ABC-123"
    assert by_id[not_landed].status == "queued"
    # the same use cases' refusals, shown on the page; nothing changes
    before = snapshot(signed_in.sessions)
    again = signed_in.post(f"/jobs/{landed}/resolve", {"landed": "yes"})
    assert again.status_code == 409 and "unknown" in again.text
    assert signed_in.post(f"/jobs/{landed}/resolve", {}).status_code == 422
    assert signed_in.post(f"/jobs/{landed}/cancel").status_code == 409
    assert snapshot(signed_in.sessions) == before
    assert signed_in.post(f"/jobs/{not_landed}/cancel").status_code == 303
    assert signed_in.post(f"/jobs/{not_landed}/retry").status_code == 303
    assert {j.id: j.status for j in jobs(signed_in.sessions)}[not_landed] == "queued"
    assert signed_in.client.get("/jobs/999").status_code == 404


def test_a_huge_request_is_shown_cut_with_the_whole_a_click_away(signed_in: Browser) -> None:
    paired = pair(signed_in.sessions)
    memo = "m" * 90_000
    job_id = enqueue_raw(signed_in.sessions, paired.id,
                         f"<CustomerAddRq><CustomerAdd><Name>Big</Name><Notes>{memo}</Notes></CustomerAdd>"
                         "</CustomerAddRq>")
    _lose(signed_in, [job_id])
    page = signed_in.client.get(f"/jobs/{job_id}")
    assert "more bytes not shown" in page.text and memo not in page.text
    whole = signed_in.client.get(f"/jobs/{job_id}/request.xml")
    assert whole.status_code == 200 and whole.headers["content-type"].startswith("text/plain") and memo in whole.text
    assert signed_in.client.get(f"/jobs/{job_id}/response.xml").status_code == 404
