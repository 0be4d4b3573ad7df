"""`enqueue raw` and `enqueue FLOW` with many files or JSON lines: one call, one transaction; a bad input is named
(its file, or its line) and nothing is queued."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qbwc_service.cli import app
from tests.integration.test_cli import cli, run, run_failing

__all__ = ["cli"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _request(name: str) -> str:
    return f"<CustomerAddRq><CustomerAdd><Name>{name}</Name></CustomerAdd></CustomerAddRq>"


def _jobs(cli: CliRunner) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = json.loads(run(cli, "jobs", "list", "--json", "--limit", "10000"))
    return listed


@pytest.fixture
def acme(cli: CliRunner) -> str:
    run(cli, "connection", "create", "acme")
    return "acme"


def test_many_files_and_json_lines_are_queued_in_one_call(cli: CliRunner, acme: str, tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text(_request("From File A"))
    (tmp_path / "b.xml").write_text(_request("From File B"))
    lines = [json.dumps({"request": _request(f"From Line {i}")}) for i in range(3)]
    lines.insert(1, "")  # blank lines are skipped
    lines.append(json.dumps(_request("As A String")))
    lines.append(json.dumps({"request": _request("Keyed"), "key": "keyed-1", "priority": 7}))
    (tmp_path / "jobs.jsonl").write_text("\n".join(lines) + "\n")
    made = json.loads(run(cli, "enqueue", "raw", acme, "a.xml", "b.xml", "--jsonl", "jobs.jsonl", "--json"))
    assert [entry["from"] for entry in made] == ["a.xml", "b.xml", "line 1 of jobs.jsonl", "line 3 of jobs.jsonl",
                                                 "line 4 of jobs.jsonl", "line 5 of jobs.jsonl",
                                                 "line 6 of jobs.jsonl"]
    assert all(entry["created"] for entry in made)
    assert len(_jobs(cli)) == 7
    again = run(cli, "enqueue", "raw", acme, "--jsonl", "jobs.jsonl")  # only the keyed line is recognised
    assert again.strip() == "4 jobs queued, 1 already queued (same key or entity), from 5 inputs"


def test_json_lines_from_standard_input(cli: CliRunner, acme: str) -> None:
    stream = "".join(json.dumps({"request": _request(f"Piped {i}")}) + "\n" for i in range(50))
    result = cli.invoke(app, ["enqueue", "raw", acme, "--jsonl", "-"], input=stream, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "50 jobs queued, 0 already queued (same key or entity), from 50 inputs"
    assert len(_jobs(cli)) == 50


@pytest.mark.parametrize(("line", "said"), [
    ("{not json", "line 3 of jobs.jsonl is not JSON"),
    (json.dumps({"request": "<CustomerAddRq"}), "line 3 of jobs.jsonl: the request is not usable XML"),
    (json.dumps({"request": "<CustomerAddRq/>"}), "line 3 of jobs.jsonl: <CustomerAddRq> is empty"),
    (json.dumps({"request": _request("X"), "colour": "red"}), "line 3 of jobs.jsonl: unknown field 'colour'"),
    (json.dumps({"request": _request("X"), "priority": "high"}), "line 3 of jobs.jsonl: \"priority\" must be"),
    (json.dumps([1, 2]), "line 3 of jobs.jsonl: give an object with \"request\""),
])
def test_a_bad_line_is_named_and_nothing_is_queued(cli: CliRunner, acme: str, tmp_path: Path, line: str, said: str,
                                                    capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    good = [json.dumps({"request": _request(f"Good {i}")}) for i in range(2)]
    (tmp_path / "jobs.jsonl").write_text("\n".join([*good, line, *good]) + "\n")
    error = run_failing(["enqueue", "raw", acme, "--jsonl", "jobs.jsonl"], capsys, monkeypatch)
    assert said in error and "nothing was queued" in error
    assert _jobs(cli) == []


def test_a_bad_file_among_many_is_named_and_nothing_is_queued(cli: CliRunner, acme: str, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "good.xml").write_text(_request("Good"))
    (tmp_path / "bad.xml").write_text("<InvoiceAddRq/>")
    error = run_failing(["enqueue", "raw", acme, "good.xml", "bad.xml"], capsys, monkeypatch)
    assert error.startswith("error: bad.xml: <InvoiceAddRq> is empty") and "nothing was queued" in error
    assert run_failing(["enqueue", "raw", acme, "good.xml", "good.xml", "--key", "k"], capsys, monkeypatch) \
        .startswith("error: --key names one job")
    assert run_failing(["enqueue", "raw", acme], capsys, monkeypatch).startswith("error: give a file")
    assert _jobs(cli) == []


def test_one_file_reports_as_before(cli: CliRunner, acme: str, tmp_path: Path) -> None:
    (tmp_path / "one.xml").write_text(_request("Alone"))
    assert run(cli, "enqueue", "raw", acme, "one.xml", "--key", "alone").startswith("job 1 queued: raw")
    assert "already queued (same key)" in run(cli, "enqueue", "raw", acme, "one.xml", "--key", "alone")


def test_many_entities_for_a_flow(cli: CliRunner, acme: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    order = json.loads((EXAMPLES / "sales-order.json").read_text())
    second = {**order, "id": order["id"] + 1, "code": "SO-5002"}
    shutil.copy(EXAMPLES / "sales-order.json", tmp_path / "first.json")
    (tmp_path / "orders.jsonl").write_text(json.dumps(second) + "\n")
    made = json.loads(run(cli, "enqueue", "sales-order", acme, "first.json", "--jsonl", "orders.jsonl", "--json"))
    assert [entry["from"] for entry in made] == ["first.json", "line 1 of orders.jsonl"]
    assert {entry["kind"] for entry in made} == {"sales_order"} and all(entry["created"] for entry in made)
    (tmp_path / "broken.jsonl").write_text(json.dumps(order) + "\n" + json.dumps({"id": 5}) + "\n")
    before = len(_jobs(cli))
    error = run_failing(["enqueue", "sales-order", acme, "--jsonl", "broken.jsonl"], capsys, monkeypatch)
    assert error.startswith("error: line 2 of broken.jsonl: ") and "nothing was queued" in error
    assert len(_jobs(cli)) == before
