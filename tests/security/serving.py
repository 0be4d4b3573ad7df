"""`serve` as a process of its own on loopback, for the attacks that are about the process: its log file, its
memory (VmRSS from /proc), its answers over real sockets."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import free_port
from tests.support import start_serve

ROOT = Path(__file__).resolve().parents[2]
TNS = "http://developer.intuit.com/"


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def output(self) -> bytes:
        return self.log.read_bytes()

    def log_size(self) -> int:
        return self.log.stat().st_size

    def rss_mb(self) -> float:
        """The process's resident set, in MiB (VmRSS)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS line")

    def post(self, body: bytes, operation: str | None = "authenticate", content_type: str = "text/xml; charset=utf-8",
             timeout: float = 10, headers: dict[str, str] | None = None) -> tuple[int | None, bytes]:
        """POST ``body`` whole to /qbwc; the answer's status and body (None and b'' when the service closed the
        connection before the body was sent whole: it refuses an oversized body, then closes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.putrequest("POST", "/qbwc", skip_accept_encoding=True)
            conn.putheader("Content-Type", content_type)
            if operation:
                conn.putheader("SOAPAction", f'"{TNS}{operation}"')
            conn.putheader("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            conn.endheaders(body)
            response = conn.getresponse()
            return response.status, response.read()
        except (ConnectionResetError, BrokenPipeError):
            return None, b""
        finally:
            conn.close()

    def cli(self, *args: str) -> str:
        """A qbwc-service command on the same database; its standard output."""
        return subprocess.run([sys.executable, "-m", "qbwc_service.cli", *args], env=self.env, cwd=self.log.parent,
                              capture_output=True, text=True, check=True, timeout=60).stdout


@contextmanager
def serving(tmp_path: Path, database_url: str, **settings: str) -> Iterator[Served]:
    """`serve` on a free loopback port with ``QBWC_*`` settings (``log_level="DEBUG"``...), its output in a file;
    stopped (SIGTERM, then SIGKILL) at the end."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("QBWC_")}
    env.update(PYTHONPATH=str(ROOT), QBWC_DATABASE_URL=database_url, QBWC_PORT=str(port),
               **{f"QBWC_{name.upper()}": value for name, value in settings.items()})
    tmp_path.mkdir(parents=True, exist_ok=True)
    log = tmp_path / "serve.log"
    process = start_serve(tmp_path, env, log)
    served = Served(process, port, log, env)
    try:
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def raw_post(port: int, headers: dict[str, str], body_source: Iterator[bytes], timeout: float = 10) -> int | None:
    """POST with exactly these headers, sending the body's pieces from a thread of its own until the service
    stops taking them, while the answer is read here; the answer's status, None when the connection was reset
    before one came."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    sock.sendall(f"POST /qbwc HTTP/1.1\r\nHost: 127.0.0.1\r\n{head}\r\n".encode())

    def send_body() -> None:
        try:
            for piece in body_source:
                sock.sendall(piece)
        except OSError:
            pass  # the service stopped reading: what an attacker would see too

    sender = threading.Thread(target=send_body, daemon=True)
    sender.start()
    try:
        answer = b""
        while b"\r\n" not in answer:
            piece = sock.recv(4096)
            if not piece:
                return None
            answer += piece
        return int(answer.split(b" ", 2)[1])
    except (ConnectionResetError, BrokenPipeError):
        return None
    finally:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes the sender, blocked on a full window
        sock.close()
        sender.join(timeout=timeout)
