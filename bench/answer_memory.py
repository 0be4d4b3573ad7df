"""`serve`'s resident memory while Web Connectors hand it large answers at once (a benchmark, not a test).

Starts `qbwc-service serve` (SQLite, default settings) in a child process, pairs N connections, queues a
customer pull on each, opens a session for each as the Web Connector does (authenticate, sendRequestXML),
then posts every session's receiveResponseXML at once: a CustomerQueryRs of about --size-mb MiB before SOAP
escaping, the shape bench/parse_memory.py writes. It samples the server's VmRSS from /proc meanwhile and
prints it before, at its peak, and after. Linux only.

    .venv/bin/python bench/answer_memory.py --size-mb 80 --answers 1 3 4
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from xml.sax.saxutils import escape

import httpx
from parse_memory import write_response  # bench/, the script's own folder

from qbwc_service.simulate.quickbooks import QuickBooksCompany

TNS = "http://developer.intuit.com/"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def call(port: int, operation: str, inner: bytes, timeout: float = 300) -> tuple[int, bytes]:
    body = (b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
            b'envelope/"><soap:Body><' + operation.encode() + b' xmlns="' + TNS.encode() + b'">' + inner
            + b"</" + operation.encode() + b"></soap:Body></soap:Envelope>")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", "/qbwc", body, {"Content-Type": "text/xml; charset=utf-8",
                                             "SOAPAction": f'"{TNS}{operation}"'})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def field(name: str, value: str) -> bytes:
    return f"<{name}>{escape(value)}</{name}>".encode()


def run(answers: int, size_mb: float, workdir: Path, response_template: bytes) -> None:
    database = workdir / f"answers-{answers}.db"
    env = {**os.environ, "QBWC_DATABASE_URL": f"sqlite:///{database}", "QBWC_LOG_LEVEL": "WARNING",
           "QBWC_CONFIG": "", "QBWC_PORT": str(18000 + answers)}
    cli = [sys.executable, "-m", "qbwc_service.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, cwd=workdir, check=True, capture_output=True)
    pairs = []
    for n in range(answers):
        made = subprocess.run([*cli, "connection", "create", f"Plant {n}", "--json"], env=env, cwd=workdir,
                              check=True, capture_output=True, text=True).stdout
        username, token = re.findall(r'"(?:username|token)": "([^"]+)"', made)
        subprocess.run([*cli, "enqueue", "pull", f"Plant {n}", "Customer"], env=env, cwd=workdir, check=True,
                       capture_output=True)
        pairs.append((username, token))
    port = int(env["QBWC_PORT"])
    server = subprocess.Popen([*cli, "serve"], env=env, cwd=workdir)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        company = QuickBooksCompany()
        bodies = []
        for n, (username, token) in enumerate(pairs):
            _status, answer = call(port, "authenticate", field("strUserName", username) + field("strPassword", token))
            ticket = re.findall(rb"<tns:string>([^<]*)</tns:string>", answer)[0].decode()
            _status, answer = call(port, "sendRequestXML", field("ticket", ticket) + field(
                "strHCPResponse", company.hcp_response()) + field("strCompanyFileName", f"C:\\plant{n}.qbw")
                + field("qbXMLCountry", "US") + field("qbXMLMajorVers", "13") + field("qbXMLMinorVers", "0"))
            request_id = re.search(rb"requestID=\"([^\"]+)\"", answer)
            assert request_id, answer[:500]
            response = response_template.replace(b'requestID="pull-customers"',
                                                 b'requestID="' + request_id.group(1) + b'"')
            bodies.append(field("ticket", ticket) + b"<response>" + escape(response.decode()).encode()
                          + b"</response>" + field("hresult", "") + field("message", ""))
        del response
        time.sleep(1)
        before = rss_mib(server.pid)
        peak = [before]
        statuses: list[int] = []
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss_mib(server.pid))
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        senders = [threading.Thread(target=lambda b=body: statuses.append(call(port, "receiveResponseXML", b)[0]))
                   for body in bodies]
        started = time.monotonic()
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        seconds = time.monotonic() - started
        done.set()
        watcher.join()
        time.sleep(2)
        after = rss_mib(server.pid)
        sent = max(len(body) for body in bodies) / 2**20
        print(f"{answers} answer(s) of {sent:.0f} MiB at once: statuses {sorted(statuses)}; VmRSS {before:.0f} MiB "
              f"before, {peak[0]:.0f} MiB at most (+{peak[0] - before:.0f}), {after:.0f} MiB 2 s after; "
              f"{seconds:.1f} s")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=80)
    parser.add_argument("--answers", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="answer-memory-"))
    path = workdir / "response.xml"
    write_response(path, int(args.size_mb * 2**20))
    template = path.read_bytes()
    path.unlink()
    for answers in args.answers:
        run(answers, args.size_mb, workdir, template)
    return 0


if __name__ == "__main__":
    sys.exit(main())
