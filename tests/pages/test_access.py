"""Who may see and do what on the pages: sign-in with an API key, the session cookie, CSRF on every form, the
read-only key, refused sign-ins counted per address, and no secret key."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from qbwc_service import __version__, connection_usecases, usecases
from qbwc_service.db.models import AuthFailures, Connection
from qbwc_service.settings import Settings
from tests.pages.conftest import Browser, csrf_of, make_browser
from tests.support import job_queue, pair, snapshot

PAGES = ["/", "/jobs", "/jobs/1", "/connections/Acme%20Plant", "/connections/Acme%20Plant/options",
         "/connections/Acme%20Plant/qwc", "/jobs/1/request.xml"]
ACTIONS = ["/connections", "/connections/Acme%20Plant/token", "/connections/Acme%20Plant/access-test",
           "/connections/Acme%20Plant/options", "/jobs/1/retry", "/jobs/1/cancel", "/jobs/1/resolve"]


def _a_job(browser: Browser) -> int:
    paired = pair(browser.sessions)
    with browser.sessions.begin() as db:
        return usecases.enqueue_probe(db, job_queue(browser.clock), paired.name).job.id


def test_every_page_sends_a_visitor_who_is_not_signed_in_to_the_sign_in_page(browser: Browser) -> None:
    _a_job(browser)
    for path in PAGES:
        answer = browser.client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/signin?next="), path
    before = snapshot(browser.sessions)
    for path in ACTIONS:
        answer = browser.client.post(path, data={"name": "Other", "confirm": "yes", "landed": "yes"})
        assert answer.status_code == 303 and answer.headers["location"].startswith("/signin"), path
    assert snapshot(browser.sessions) == before


def test_sign_in_goes_back_to_the_page_asked_for_and_never_to_another_site(browser: Browser) -> None:
    page = browser.client.get("/signin", params={"next": "/jobs?status=unknown"})
    assert page.status_code == 200 and 'value="/jobs?status=unknown"' in page.text
    answer = browser.client.post("/signin", data={"key": browser.admin_key, "csrf": csrf_of(page),
                                                  "next": "/jobs?status=unknown"})
    assert answer.status_code == 303 and answer.headers["location"] == "/jobs?status=unknown"
    browser.client.cookies.clear()
    page = browser.client.get("/signin")
    answer = browser.client.post("/signin", data={"key": browser.admin_key, "csrf": csrf_of(page),
                                                  "next": "//evil.example/x"})
    assert answer.headers["location"] == "/"


def test_the_session_cookie_is_signed_http_only_same_site_and_expires(browser: Browser) -> None:
    answer = browser.sign_in()
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=28800" in cookie
    assert "Secure" not in cookie  # public_url is http://localhost
    assert browser.admin_key not in cookie and browser.admin_key[len("qbwc_") + 17:] not in cookie
    assert browser.client.get("/").status_code == 200
    forged = browser.client.cookies["qbwc_pages"][:-2] + "xx"
    browser.client.cookies.set("qbwc_pages", forged)
    assert browser.client.get("/").status_code == 303


def test_the_cookie_is_secure_when_the_public_url_is_https(settings: Settings, engine: Engine,
                                                            sessions: sessionmaker[Session]) -> None:
    for browser in make_browser(settings, engine, sessions, public_url="https://qb.example.com"):
        assert "Secure" in browser.client.get("/signin").headers["set-cookie"]


def test_a_session_ends_when_it_expires_or_its_key_is_revoked(settings: Settings, engine: Engine,
                                                               sessions: sessionmaker[Session]) -> None:
    for browser in make_browser(settings, engine, sessions, pages_session_seconds=60):
        browser.sign_in()
        assert browser.client.get("/").status_code == 200
        with pytest.MonkeyPatch.context() as patch:
            import itsdangerous.timed

            real = itsdangerous.timed.TimestampSigner.get_timestamp
            patch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self, real=real: real(self) + 120)
            assert browser.client.get("/").status_code == 303
        assert browser.client.get("/").status_code == 200
        with browser.sessions.begin() as db:
            connection_usecases.revoke_api_key(db, "admin")
        assert browser.client.get("/").status_code == 303


def test_signing_out_ends_the_session(signed_in: Browser) -> None:
    answer = signed_in.post("/signout")
    assert answer.status_code == 303 and answer.headers["location"] == "/signin"
    assert signed_in.client.get("/").status_code == 303


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(signed_in: Browser) -> None:
    job_id = _a_job(signed_in)
    before = snapshot(signed_in.sessions)
    for path in [*ACTIONS, f"/jobs/{job_id}/cancel"]:
        for form in ({}, {"csrf": "not-the-token"}):
            answer = signed_in.client.post(path, data={**form, "name": "Other", "confirm": "yes", "landed": "yes"})
            assert answer.status_code == 403 and "CSRF" in answer.text, (path, form)
    assert snapshot(signed_in.sessions) == before
    answer = signed_in.client.post("/signout")
    assert answer.status_code == 403 and signed_in.client.get("/").status_code == 200
    # the sign-in form has one too
    signed_in.client.cookies.clear()
    assert signed_in.client.post("/signin", data={"key": signed_in.admin_key}).status_code == 403


def test_a_read_only_key_sees_the_pages_without_buttons_and_its_posts_are_refused(browser: Browser) -> None:
    job_id = _a_job(browser)
    assert browser.sign_in(browser.reader_key).status_code == 303
    for path in ("/", "/jobs", f"/jobs/{job_id}", "/connections/Acme%20Plant", "/connections/Acme%20Plant/options"):
        page = browser.client.get(path)
        assert page.status_code == 200, path
        assert "(read-only)" in page.text
        assert 'id="create"' not in page.text and 'id="cancel"' not in page.text and 'id="save"' not in page.text
        assert 'id="test-access"' not in page.text and 'id="new-token"' not in page.text
    before = snapshot(browser.sessions)
    for path in [*ACTIONS, f"/jobs/{job_id}/cancel"]:
        answer = browser.post(path, {"name": "Other", "confirm": "yes", "landed": "yes"})
        assert answer.status_code == 403 and "read-only" in answer.text, path
    assert snapshot(browser.sessions) == before


@pytest.mark.each_database  # the count per address: an insert-or-update in one statement on either engine
def test_refused_sign_ins_lock_the_address_like_the_web_connectors(settings: Settings, engine: Engine,
                                                                   sessions: sessionmaker[Session],
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    for browser in make_browser(settings, engine, sessions, auth_failures_per_address=3):
        with browser.sessions.begin() as db:
            revoked = connection_usecases.create_api_key(db, "gone").key
            connection_usecases.revoke_api_key(db, "gone")
        for wrong in ("qbwc_0000000000000000_" + "x" * 32, "not a key", revoked):
            answer = browser.sign_in(wrong)
            assert answer.status_code == 401 and "not valid" in answer.text
            assert wrong not in answer.text
        # locked: the right key is refused alike, and the Web Connector's door is not counted against; a locked
        # address's attempts do not reach the log one by one
        caplog.clear()
        with caplog.at_level("WARNING", logger="qbwc_service.web.signin"):
            for _ in range(5):
                answer = browser.sign_in()
                assert answer.status_code == 401 and browser.client.get("/").status_code == 303
        assert not [r for r in caplog.records if r.name == "qbwc_service.web.signin"]
        with browser.sessions.begin() as db:
            (row,) = db.scalars(select(AuthFailures)).all()
            assert row.address.startswith("pages:") and row.locked_until is not None
            assert db.scalars(select(Connection)).all() == []
        browser.clock.advance(seconds=settings.auth_lockout_seconds + 1)
        assert browser.sign_in().status_code == 303


def test_without_a_secret_key_the_sign_in_page_says_to_set_one(settings: Settings, engine: Engine,
                                                              sessions: sessionmaker[Session]) -> None:
    for browser in make_browser(settings, engine, sessions, secret_key=None):
        page = browser.client.get("/signin")
        assert page.status_code == 503 and "QBWC_SECRET_KEY" in page.text
        assert browser.client.post("/signin", data={"key": browser.admin_key}).status_code == 503
        assert browser.client.get("/").status_code == 303


def test_pages_name_no_version_and_carry_the_security_headers(signed_in: Browser) -> None:
    _a_job(signed_in)
    for path in ("/", "/jobs", "/jobs/1", "/connections/Acme%20Plant", "/connections/Acme%20Plant/options"):
        page = signed_in.client.get(path)
        assert page.status_code == 200, path
        assert __version__ not in page.text, path
        assert page.headers["x-content-type-options"] == "nosniff" and page.headers["cache-control"] == "no-store"
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy and "form-action 'self'" in policy
    assert signed_in.client.get("/static/pages.css").status_code == 200
    signed_in.client.cookies.clear()
    page = signed_in.client.get("/signin")
    assert page.status_code == 200 and __version__ not in page.text and "content-security-policy" in page.headers


def test_a_form_too_large_is_refused_unread(signed_in: Browser) -> None:
    answer = signed_in.client.post("/connections", content=b"name=" + b"x" * (65 * 1024),
                                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 413

