"""The examples in deploy/ work as shipped: the systemd unit verifies and runs a real command, the Dockerfile
installs from files that exist and runs a real command, and the nginx example serves /qbwc over TLS without a
redirect to the service's port (run for real when nginx and openssl are installed)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import time
import tomllib
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from qbwc_service.cli import app
from qbwc_service.cli.server import SHUTDOWN_GRACE_SECONDS
from qbwc_service.settings import Settings
from tests.conftest import LiveServer, free_port
from tests.support import soap_envelope

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DEFAULT_PORT = Settings.model_fields["port"].default
DEFAULT_MAX_BODY = Settings.model_fields["max_body_bytes"].default


def _is_cli_command(args: list[str]) -> bool:
    """``args`` (after the program's name) name a command of the CLI that takes no other arguments."""
    result = CliRunner().invoke(app, [*args, "--help"])
    return result.exit_code == 0 and "Usage:" in result.output


# ---------------------------------------------------------------- systemd


def _unit(text: str) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections.setdefault(current, [])
        else:
            key, _, value = line.partition("=")
            sections[current].append((key.strip(), value.strip()))
    return sections


def test_the_systemd_unit_runs_serve_and_stops_it_with_sigterm(tmp_path: Path) -> None:
    path = DEPLOY / "qbwc-service.service"
    unit = _unit(path.read_text())
    service = dict(unit["Service"])
    program, *args = service["ExecStart"].split()
    assert Path(program).name in PYPROJECT["project"]["scripts"] and args == ["serve"]
    assert _is_cli_command(args)
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) > SHUTDOWN_GRACE_SECONDS + 5
    assert service["User"] and service["Restart"] == "on-failure"
    assert service["StateDirectory"] and service["WorkingDirectory"] == f"/var/lib/{service['StateDirectory']}"
    assert any(value.startswith("QBWC_CONFIG=") for key, value in unit["Service"] if key == "Environment")
    assert dict(unit["Install"])["WantedBy"] == "multi-user.target"

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed; the unit's keys were checked by hand only")
    # verify checks that the program exists: point it at a stand-in of the installed script
    stand_in = tmp_path / "bin" / Path(program).name
    stand_in.parent.mkdir()
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    copy = tmp_path / path.name
    copy.write_text(path.read_text().replace(program, str(stand_in)))
    verified = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    output = verified.stdout + verified.stderr
    assert verified.returncode == 0 and path.name not in output, output


# ---------------------------------------------------------------- Docker


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    lines = [line for line in (DEPLOY / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip())
            for line in joined.splitlines() if line.strip()]


def test_the_dockerfile_installs_the_package_and_runs_serve() -> None:
    steps = _dockerfile()
    assert steps[0][0] == "FROM"
    python = re.match(r"python:(\d+\.\d+)", steps[0][1])
    assert python and python.group(1) in PYPROJECT["project"]["requires-python"]
    copied: set[str] = set()
    for instruction, arguments in steps:
        if instruction == "COPY":
            *sources, _target = arguments.split()
            for source in sources:
                assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is not in the repository"
                copied.add(source)
    # what `pip install .` reads: the project file, its readme and data files, and every package
    setuptools = PYPROJECT["tool"]["setuptools"]
    needed = {"pyproject.toml", PYPROJECT["project"]["readme"],
              *(file for files in setuptools["data-files"].values() for file in files),
              *(pattern.rstrip("*") for pattern in setuptools["packages"]["find"]["include"])}
    assert needed <= copied, f"not copied: {needed - copied}"
    assert any(instruction == "RUN" and "pip install ." in arguments for instruction, arguments in steps)

    entrypoint = json.loads(next(arguments for instruction, arguments in steps if instruction == "ENTRYPOINT"))
    command = json.loads(next(arguments for instruction, arguments in steps if instruction == "CMD"))
    assert entrypoint == [next(iter(PYPROJECT["project"]["scripts"]))] and command == ["serve"]
    assert _is_cli_command(command)
    environment = " ".join(arguments for instruction, arguments in steps if instruction == "ENV")
    port = re.search(r"QBWC_PORT=(\d+)", environment)
    assert port and "QBWC_HOST=0.0.0.0" in environment
    assert ("EXPOSE", port.group(1)) in steps
    healthcheck = next(arguments for instruction, arguments in steps if instruction == "HEALTHCHECK")
    assert f"127.0.0.1:{port.group(1)}/healthz" in healthcheck
    assert ("STOPSIGNAL", "SIGTERM") in steps


# ---------------------------------------------------------------- nginx


def _locations(config: str) -> dict[str, str]:
    """``location = PATH { body }`` blocks (exact matches), by path."""
    return {match.group(1): match.group(2) for match in re.finditer(r"location\s*=\s*(\S+)\s*\{([^}]*)\}", config)}


def test_the_nginx_example_proxies_qbwc_over_tls_to_the_service() -> None:
    config = (DEPLOY / "nginx.conf").read_text()
    locations = _locations(config)
    for path in ("/qbwc", "/support", "/healthz"):
        assert f"proxy_pass http://127.0.0.1:{DEFAULT_PORT};" in locations[path], path
    assert "return" not in locations["/qbwc"] and "rewrite" not in locations["/qbwc"]
    assert "X-Forwarded-For" in locations["/qbwc"]
    assert re.search(r"listen 443 ssl;", config) and "ssl_certificate " in config
    body_limit = re.search(r"client_max_body_size (\d+)m;", config)
    assert body_limit and int(body_limit.group(1)) * 1024 * 1024 >= DEFAULT_MAX_BODY


def test_the_nginx_example_serves_the_web_connector(server: LiveServer, tmp_path: Path) -> None:
    nginx, openssl = shutil.which("nginx") or _sbin("nginx"), shutil.which("openssl")
    if nginx is None or openssl is None:
        pytest.skip("nginx or openssl is not installed; the nginx example was checked as text only")
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
                   check=True, capture_output=True, timeout=60)
    https_port, http_port = free_port(), free_port()
    service_port = server.url.rsplit(":", 1)[1]
    # the example as shipped, but for this machine: loopback ports, this certificate, the test's service
    site = (DEPLOY / "nginx.conf").read_text()
    site = re.sub(r"\s*listen \[::\]:\d+( ssl)?;", "", site)
    site = site.replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    site = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {tmp_path / 'cert.pem'};", site)
    site = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {tmp_path / 'key.pem'};", site)
    site = site.replace(f"127.0.0.1:{DEFAULT_PORT}", f"127.0.0.1:{service_port}")
    (tmp_path / "site.conf").write_text(site)
    temp = tmp_path / "temp"
    temp.mkdir()
    (tmp_path / "nginx.conf").write_text(
        f"master_process off; daemon off; pid {tmp_path / 'nginx.pid'}; error_log {tmp_path / 'error.log'};\n"
        "events {}\n"
        f"http {{ access_log off; client_body_temp_path {temp}; proxy_temp_path {temp};\n"
        f"  include {tmp_path / 'site.conf'}; }}\n")
    with (tmp_path / "nginx.out").open("wb") as sink:
        process = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                                   stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(https_port, process, tmp_path / "nginx.out")
        base = f"https://127.0.0.1:{https_port}"
        with httpx.Client(verify=False, timeout=10, follow_redirects=False) as client:
            answer = client.post(f"{base}/qbwc", content=soap_envelope("serverVersion"), headers={
                "Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"http://developer.intuit.com/serverVersion"'})
            assert answer.status_code == 200 and b"qbwc-service" in answer.content
            assert client.get(f"{base}/qbwc?wsdl").status_code == 200
            assert client.get(f"{base}/support").headers["content-type"].startswith("text/html")
            assert client.head(f"{base}/healthz").status_code == 200
            assert client.get(f"{base}/docs").status_code == 404  # only what the Web Connector needs
            plain = client.get(f"http://127.0.0.1:{http_port}/qbwc")
            assert plain.status_code == 301 and plain.headers["location"].startswith("https://")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _sbin(name: str) -> str | None:
    path = Path("/usr/sbin") / name
    return str(path) if path.exists() else None


def _wait_for_port(port: int, process: subprocess.Popen[bytes], output: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"nginx did not start: {output.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail("nginx did not listen within 20 s")

