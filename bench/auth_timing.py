"""How well the time of one refused authenticate tells an unknown username from a known one (a benchmark, not
a test).

Starts `qbwc-service serve` in a child process (SQLite, or the PostgreSQL database --postgres names, whose
public schema it migrates and fills: give it a database of its own), with the refusal limits out of the way
(the path measured is the refusal, not the lockout, which does the same work). Then it sends authenticate
with a wrong token, alternately for an unknown username and for a known one, over HTTP on loopback, and prints
each side's median and the best accuracy any single time threshold reaches at telling them apart (50%: no
better than a coin).

    .venv/bin/python bench/auth_timing.py --pairs 300
    .venv/bin/python bench/auth_timing.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/bench_auth
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

TNS = "http://developer.intuit.com/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def envelope(username: str, password: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
            f'envelope/"><soap:Body><authenticate xmlns="{TNS}"><strUserName>{username}</strUserName>'
            f"<strPassword>{password}</strPassword></authenticate></soap:Body></soap:Envelope>").encode()


def timed_refusal(conn: http.client.HTTPConnection, username: str) -> float:
    body = envelope(username, "not-the-token-at-all-0123456789")
    started = time.perf_counter()
    conn.request("POST", "/qbwc", body, {"Content-Type": "text/xml; charset=utf-8",
                                         "SOAPAction": f'"{TNS}authenticate"'})
    answer = conn.getresponse().read()
    elapsed = time.perf_counter() - started
    assert b"nvu" in answer, answer
    return elapsed


def best_threshold_accuracy(a: list[float], b: list[float]) -> float:
    """The best accuracy of "below the threshold: a" over every threshold, either way round (0.5: chance)."""
    best = 0.5
    for cut in sorted(a + b):
        right = (sum(x <= cut for x in a) + sum(y > cut for y in b)) / (len(a) + len(b))
        best = max(best, right, 1 - right)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--postgres", help="a PostgreSQL URL (a database of its own); default: SQLite")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="auth-timing-"))
    port = free_port()
    env = {**os.environ, "QBWC_DATABASE_URL": args.postgres or f"sqlite:///{workdir / 'bench.db'}",
           "QBWC_PORT": str(port), "QBWC_LOG_LEVEL": "ERROR", "QBWC_CONFIG": "",
           "QBWC_AUTH_FAILURES_PER_USERNAME": "100000000", "QBWC_AUTH_FAILURES_PER_ADDRESS": "100000000"}
    cli = [sys.executable, "-m", "qbwc_service.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, cwd=workdir, check=True, capture_output=True)
    made = subprocess.run([*cli, "connection", "create", f"Bench {port}", "--json"], env=env, cwd=workdir,
                          check=True, capture_output=True, text=True).stdout
    known = made.split('"username": "')[1].split('"')[0]
    server = subprocess.Popen([*cli, "serve"], env=env, cwd=workdir, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for n in range(30):  # warm up both paths
            timed_refusal(conn, f"warm-{n}")
            timed_refusal(conn, known)
        unknown, known_times = [], []
        for n in range(args.pairs):
            unknown.append(timed_refusal(conn, f"nobody-{n}"))
            known_times.append(timed_refusal(conn, known))
    finally:
        server.terminate()
        server.wait(timeout=20)
    database = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{database}, {args.pairs} pairs of refused authenticate over HTTP on loopback")
    print(f"  unknown username:            median {statistics.median(unknown) * 1000:.2f} ms")
    print(f"  known username, wrong token: median {statistics.median(known_times) * 1000:.2f} ms")
    print(f"  one request tells them apart at best {best_threshold_accuracy(unknown, known_times):.0%} of the "
          "time (50% = chance)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
