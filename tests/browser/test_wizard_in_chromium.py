"""The pages in a real browser: Debian's headless Chromium, driven by Selenium through Debian's chromedriver
(never a browser or driver downloaded: Selenium Manager is switched off), against `serve` in a child process and
the simulated Web Connector and QuickBooks company (test doubles) calling it over real SOAP.

It signs in with an admin API key, creates a connection, walks the five steps of the wizard to a passing "test
access", then loses the answer to a write (an ``unknown`` job) and resolves it from the job page: "it did not
land", so it is sent again, and the simulated company ends with the customer once. Screenshots of each wizard
step, the dashboard and the job page go to tests/artifacts/."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qbwc_service import connection_usecases
from qbwc_service.db.engine import make_engine, make_sessionmaker
from qbwc_service.secretbox import new_key
from qbwc_service.simulate.quickbooks import QuickBooksCompany
from qbwc_service.simulate.webconnector import WebConnectorClient
from tests.conftest import free_port
from tests.support import start_serve

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,1400"]

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the test extra has it)")
By = pytest.importorskip("selenium.webdriver.common.by").By
if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
    pytest.skip(f"{CHROMIUM} or {CHROMEDRIVER} is absent: `apt-get install -y chromium chromium-driver` for the "
                "browser test", allow_module_level=True)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`serve` on a free port with a SQLite database and a secret key; (its URL, the database URL)."""
    port = free_port()
    database = f"sqlite:///{tmp_path / 'pages.db'}"
    env = {key: value for key, value in os.environ.items() if not key.startswith("QBWC_")}
    env.update(PYTHONPATH=str(ROOT), QBWC_DATABASE_URL=database, QBWC_PORT=str(port), QBWC_SECRET_KEY=new_key(),
               QBWC_PUBLIC_URL=f"http://localhost:{port}", QBWC_RETRY_BACKOFF_SECONDS="0")
    process = start_serve(tmp_path, env, tmp_path / "serve.log")
    try:
        yield f"http://127.0.0.1:{port}", database
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture
def chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common import selenium_manager

    def no_downloads(*_args: object, **_kwargs: object) -> dict[str, str]:
        raise AssertionError("Selenium Manager must not run: the browser and driver are Debian's")

    monkeypatch.setattr(selenium_manager.SeleniumManager, "binary_paths", no_downloads)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _shoot(driver: Any, name: str, element: Any = None) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    if element is not None:
        driver.execute_script("arguments[0].scrollIntoView(true);", element)
        element.screenshot(str(target))
    else:
        driver.save_screenshot(str(target))


def _states(driver: Any) -> list[str]:
    return [step.get_attribute("data-state") for step in driver.find_elements(By.CSS_SELECTOR, "section.step")]


def _click(driver: Any, selector: str, by: str = By.CSS_SELECTOR) -> None:
    """Click a submit button or a link and wait for the page it leads to.

    The old page is marked with a script variable and the wait ends when a fully loaded document without the
    mark is in the window. Asking the old page's elements whether they are stale races the navigation in
    chromedriver (it can answer "node does not belong to the document" instead of "stale"), so a failed
    question while the page changes counts as "not yet".
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("window.__leaving = true;")
    driver.find_element(by, selector).click()

    def arrived(current: Any) -> bool:
        return bool(current.execute_script(
            "return window.__leaving !== true && document.readyState === 'complete';"))

    WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(arrived)


def _wait_for_text(driver: Any, element_id: str, text: str) -> None:
    """Wait until the element ``element_id`` shows ``text`` (what a script sets after an asynchronous call)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(lambda current: current.find_element(By.ID, element_id).text == text)


def test_the_wizard_to_a_passing_access_test_and_an_unknown_job_resolved(served: tuple[str, str],
                                                                          chromium: Any) -> None:
    url, database = served
    engine = make_engine(database)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as db:
        admin_key = connection_usecases.create_api_key(db, "operator").key
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    driver = chromium

    # sign in: every page sends a visitor who is not signed in to the sign-in page first
    driver.get(f"{url}/")
    assert "/signin" in driver.current_url
    driver.find_element(By.ID, "key").send_keys(admin_key)
    _shoot(driver, "00-sign-in")
    _click(driver, "#signin")
    assert driver.current_url == f"{url}/" and driver.find_element(By.TAG_NAME, "h1").text == "Connections"

    # create a connection: the wizard, with the token shown once
    driver.find_element(By.ID, "name").send_keys("Acme Plant")
    _click(driver, "#create")
    assert _states(driver) == ["waiting"] * 5
    token = driver.find_element(By.ID, "token").get_attribute("value")
    username = driver.find_element(By.ID, "username").text
    driver.find_element(By.ID, "copy-token").click()
    _wait_for_text(driver, "copy-token", "Copied")  # set once the clipboard's promise settles, not at the click
    _shoot(driver, "01-wizard-created")
    for number in range(1, 6):
        _shoot(driver, f"02-step-{number}-waiting", driver.find_element(By.ID, f"step-{number}"))

    # step 1: the .qwc the page offers, fetched with the browser's session
    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    href = driver.find_element(By.ID, "download-qwc").get_attribute("href")
    qwc = httpx.get(href, cookies=cookies, timeout=30)
    assert qwc.status_code == 200 and f"<UserName>{username}</UserName>" in qwc.text
    assert re.search(r"<AppURL>http://localhost:\d+/qbwc</AppURL>", qwc.text)

    # steps 2 and 3: the Web Connector runs with the token typed from the page
    company = QuickBooksCompany(company_name="Acme Plant Books", country="US")
    with WebConnectorClient(f"{url}/qbwc", username, token, company, sleep=lambda _s: None) as connector:
        connector.run_session()
        driver.get(f"{url}/connections/Acme%20Plant")
        assert _states(driver)[:3] == ["done", "done", "done"] and _states(driver)[4] == "waiting"
        assert "2.3.0.215" in driver.find_element(By.ID, "step-3").text
        assert token not in driver.page_source  # shown once

        # steps 4 and 5: queue the probe, the Web Connector runs, QuickBooks answers
        _click(driver, "#test-access")
        assert "The probe is queued" in driver.find_element(By.ID, "step-5").text
        assert connector.run_session().outcome == "done"
        driver.get(f"{url}/connections/Acme%20Plant")
        assert _states(driver) == ["done"] * 5
        access = driver.find_element(By.ID, "step-5").text
        assert "Acme Plant Books" in access and "US" in access and "16.0" in access
        _shoot(driver, "03-wizard-done")
        for number in range(1, 6):
            _shoot(driver, f"04-step-{number}-done", driver.find_element(By.ID, f"step-{number}"))

        # a write whose answer is lost: unknown, never sent again blindly
        api = httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {admin_key}"}, timeout=30)
        with api:
            made = api.post("/connections/Acme Plant/raw", json={"request": (
                "<CustomerAddRq><CustomerAdd><Name>Pages Customer</Name></CustomerAdd></CustomerAddRq>")})
            assert made.status_code == 201, made.text
            job_id = made.json()["id"]
        company.fail_next_with_hresult("0x80040402", "Unexpected error. Check the qbsdklog.txt file.")
        assert connector.run_session().outcome == "error"
        assert company.count("Customer") == 0

        driver.get(f"{url}/")
        assert "attention" in driver.find_element(By.ID, "connections").text
        _shoot(driver, "05-dashboard")
        driver.get(f"{url}/jobs?status=unknown")
        _click(driver, str(job_id), By.LINK_TEXT)
        assert driver.find_element(By.ID, "job-status").text == "unknown"
        assert "0x80040402" in driver.find_element(By.ID, "message").text
        assert "qbsdklog.txt on the QuickBooks computer" in driver.find_element(By.ID, "meaning").text
        assert not driver.find_elements(By.ID, "retry")  # sent again blindly, it could be made twice: resolve it
        assert "&lt;" not in driver.find_element(By.ID, "request-xml").text  # escaped once: shown as XML
        assert "<Name>Pages Customer</Name>" in driver.find_element(By.ID, "request-xml").text
        _shoot(driver, "06-job-unknown")

        # resolved from its page: it did not land, so it goes again, and QuickBooks gets it once
        _click(driver, "#not-landed")
        assert driver.find_element(By.ID, "job-status").text == "queued"
        assert "not in QuickBooks" in driver.find_element(By.ID, "done").text
        assert connector.run_session().outcome == "done"
        driver.refresh()
        assert driver.find_element(By.ID, "job-status").text == "done"
        assert "job-resolved" in driver.find_element(By.ID, "events").text
        _shoot(driver, "07-job-done")
    assert [r.full_name for r in company.records("Customer")] == ["Pages Customer"]
    engine.dispose()
