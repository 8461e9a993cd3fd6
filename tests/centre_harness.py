"""The centre's test harness: the real centre in a child process, and a fault proxy in front of it.

:class:`CenterProcess` runs ``kiosk-center serve`` (``python -m center`` from the repository, so the
checkout under test is served) as a child process on 127.0.0.1, so it can be killed with SIGKILL and
restarted on the same database and port. :class:`FaultProxy` sits between a terminal and the centre
and, on request, answers 500, answers malformed JSON, delays past the client's timeout, drops the
connection before or after the centre has seen the request, or runs a callback (kill the centre) at
that moment. Test code only: it lives in tests/, out of the production ``center`` package.

Thread rules: the proxy serves each connection in its own thread; ``add_fault`` may be called from
any thread.
"""

from __future__ import annotations

import collections
import http.client
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
FAULTS = ("error_500", "malformed_json", "delay", "drop_before", "drop_after", "call_before", "call_after")


def self_signed_tls(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for ``host`` (an IP address) in ``folder``.

    Returns (server certificate, server key, CA certificate), all PEM. For tests and pilots only.
    """
    import datetime as dt  # noqa: PLC0415 - only needed here
    import ipaddress  # noqa: PLC0415

    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    now = dt.datetime.now(dt.timezone.utc)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kiosk test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
              .issuer_name(ca_name).public_key(server_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    paths = (folder / "server.pem", folder / "server.key", folder / "ca.pem")
    paths[0].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    paths[1].chmod(0o600)
    paths[2].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return paths


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class CenterProcess:
    """``kiosk-center serve`` in a child process on 127.0.0.1:``port`` with database ``db``."""

    def __init__(self, db: Path | str, port: int | None = None, *, tls: tuple[Path, Path, Path] | None = None) -> None:
        """``tls``: (certificate, private key, CA file) to serve https; None serves plain http."""
        self.db = str(db)
        self.port = port or free_port()
        self.tls = tls
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The centre's base URL."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def admin(self, *args: str) -> str:
        """Runs ``kiosk-center ARGS --db DB`` and returns its stdout (raises CalledProcessError)."""
        return subprocess.run([sys.executable, "-m", "center", *args, "--db", self.db], cwd=REPO_ROOT, check=True,
                              capture_output=True, text=True, timeout=600).stdout

    def start(self, timeout_s: float = 30.0) -> CenterProcess:
        """Starts the server and waits until ``/v1/ping`` answers. Raises RuntimeError otherwise."""
        tls_args = ["--certfile", str(self.tls[0]), "--keyfile", str(self.tls[1])] if self.tls else []
        self._process = subprocess.Popen(
            [sys.executable, "-m", "center", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--db", self.db, "--log-level", "warning", *tls_args],
            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise RuntimeError(f"the centre exited at start: {error[-2000:]}")
            try:
                verify = ssl.create_default_context(cafile=str(self.tls[2])) if self.tls else True
                if httpx.get(f"{self.url}/v1/ping", timeout=1.0, verify=verify).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("the centre did not answer within the start timeout")

    def kill(self) -> None:
        """SIGKILL, as a power cut or a crash would (no clean shutdown)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(10)
        self._process = None

    def stop(self) -> None:
        """SIGTERM and wait (a clean shutdown); kills after 10 s."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        self._process = None

    def __enter__(self) -> CenterProcess:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@dataclass
class Fault:
    """One injected fault for the next request whose path starts with ``path_prefix``."""

    kind: str
    path_prefix: str = "/"
    delay_s: float = 0.0
    callback: Callable[[], None] | None = None


@dataclass
class Seen:
    """A request that passed through the proxy (for replay tests)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of ``upstream`` that injects queued faults."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._faults: collections.deque[Fault] = collections.deque()
        self._lock = threading.Lock()
        self.seen: list[Seen] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:  # quiet
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                proxy._serve(self, body)

            do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815 - http.server's naming

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        """The proxy's base URL (give this to the terminal)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        """Starts serving."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stops serving."""
        self._server.shutdown()
        self._server.server_close()

    def add_fault(self, kind: str, path_prefix: str = "/", *, delay_s: float = 0.0,
                  callback: Callable[[], None] | None = None) -> None:
        """Queues a fault for the next matching request. Raises ValueError for an unknown kind."""
        if kind not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}")
        with self._lock:
            self._faults.append(Fault(kind, path_prefix, delay_s, callback))

    def pending_faults(self) -> int:
        """Faults not yet triggered."""
        with self._lock:
            return len(self._faults)

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path_prefix):
                    self._faults.remove(fault)
                    return fault
        return None

    def _serve(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        fault = self._next_fault(handler.path)
        headers = {key: value for key, value in handler.headers.items()}
        record = Seen(handler.command, handler.path, headers, body, None)
        with self._lock:
            self.seen.append(record)
        kind = fault.kind if fault else "pass"
        if kind == "error_500":
            return self._answer(handler, 500, b"Internal Server Error", "text/plain", record)
        if kind == "malformed_json":
            return self._answer(handler, 200, b'{"receipts": [', "application/json", record)
        if kind == "delay":
            time.sleep(fault.delay_s if fault else 0.0)
            handler.close_connection = True
            return None
        if kind == "drop_before":
            handler.close_connection = True
            return None
        if kind == "call_before" and fault and fault.callback:
            fault.callback()
        try:
            status, upstream_headers, upstream_body = self._forward(handler.command, handler.path, headers, body)
        except OSError:
            handler.close_connection = True  # the centre is gone: the terminal sees a dropped connection
            return None
        if kind == "call_after" and fault and fault.callback:
            fault.callback()
        if kind in ("drop_after", "call_after"):
            handler.close_connection = True
            return None
        record.status = status
        handler.send_response(status)
        for key, value in upstream_headers:
            # send_response() already wrote Server and Date (same machine, same clock).
            if key.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(upstream_body)))
        handler.end_headers()
        handler.wfile.write(upstream_body)
        return None

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            forwarded = {key: value for key, value in headers.items() if key.lower() not in ("host", "connection")}
            connection.request(method, path, body=body, headers=forwarded)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str, record: Seen) -> None:
        record.status = status
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


def enrolled_credentials(center_url: str, device_id: str) -> "Credentials":
    """Terminal credentials whose key counts as registered (first contact done), for tests that talk
    to a stand-in centre which checks that requests are signed but keeps no key list."""
    from dataclasses import replace

    from kiosk.sync.credentials import Credentials, new_credentials  # noqa: F401 - the annotation's type

    return replace(new_credentials(center_url, device_id, "ABCD-EFGH-JKMN-PQRS"), enrolment_code="")
