"""S3 for the tests: a moto server on 127.0.0.1, plus two misbehaving servers.

* ``s3_endpoint`` (session): moto in server mode on a free loopback port; the
  environment gets fake credentials and a region, and a developer's ~/.aws files are
  hidden, so no test can reach a real account. Missing moto is a failure, not a skip.
* ``s3_bucket``: a fresh, uniquely named bucket on that server.
* ``s3_proxy_factory``: a loopback HTTP proxy in front of moto that records every
  request and answers ``503 SlowDown`` to the first N PUT/POST requests, and
  ``403 AccessDenied`` to every PUT/POST of the key in ``deny_key`` (as a bucket
  policy denying one key would).
* ``silent_s3_endpoint``: a socket that accepts connections and never answers.
"""

from __future__ import annotations

import http.client
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

FAKE_AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # Never read a developer's real profiles or credentials.
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
UNSET_AWS_ENVIRONMENT = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """URL of a moto S3 server on 127.0.0.1 (one per test session)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - depends on the installation
        pytest.fail(f"moto[server] is needed for the S3 tests: {exc}")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_AWS_ENVIRONMENT.items():
            patch.setenv(name, value)
        for name in UNSET_AWS_ENVIRONMENT:
            patch.delenv(name, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="us-east-1")


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> str:
    """A new, empty bucket on the moto server."""
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


# ------------------------------------------------------------------ a faulty proxy

# Headers that belong to one HTTP hop and must not be relayed.
_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "expect",
    }
)

_SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
)
_ACCESS_DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
)


@dataclass
class RecordedRequest:
    method: str
    path: str
    status: int


@dataclass
class FaultyProxy:
    """Relays HTTP to ``target``; the first ``fail_first`` PUT/POST requests get a 503."""

    target: str
    fail_first: int = 0
    deny_key: str | None = None  # "bucket/key": its PUT/POST requests get 403
    requests: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def count(self, *methods: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r.method in methods)

    def should_fail(self, method: str) -> bool:
        with self.lock:
            if method in ("PUT", "POST") and self.fail_first > 0:
                self.fail_first -= 1
                return True
            return False

    def is_denied(self, method: str, path: str) -> bool:
        with self.lock:
            denied = self.deny_key is not None and urlsplit(path).path == f"/{self.deny_key}"
            return method in ("PUT", "POST") and denied

    def record(self, method: str, path: str, status: int) -> None:
        with self.lock:
            self.requests.append(RecordedRequest(method, path, status))

    def start(self) -> None:
        proxy = self

        class Handler(_RelayHandler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)


class _RelayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and "100 Continue" for Expect
    owner: FaultyProxy

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # quiet: pytest shows the test's own output

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def _relay(self) -> None:
        body = self._read_body()
        if self.owner.should_fail(self.command):
            self._refuse(503, "Slow Down", _SLOW_DOWN)
            return
        if self.owner.is_denied(self.command, self.path):
            self._refuse(403, "Forbidden", _ACCESS_DENIED)
            return
        target = urlsplit(self.owner.target)
        connection = http.client.HTTPConnection(
            target.hostname or "127.0.0.1", target.port or 80, timeout=30
        )
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
            if body is not None:
                headers["Content-Length"] = str(len(body))
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            self.owner.record(self.command, self.path, response.status)
            self.send_response(response.status, response.reason)
            for name, value in response.getheaders():
                lower = name.lower()
                if lower in _HOP_HEADERS or (lower == "content-length" and self.command != "HEAD"):
                    continue
                self.send_header(name, value)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        finally:
            connection.close()

    def _refuse(self, status: int, reason: str, body: bytes) -> None:
        self.owner.record(self.command, self.path, status)
        self.send_response(status, reason)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _relay


@pytest.fixture
def s3_proxy_factory(s3_endpoint: str) -> Iterator[Callable[[int], FaultyProxy]]:
    """``make(fail_first)`` starts a proxy to the moto server; stopped after the test."""
    started: list[FaultyProxy] = []

    def make(fail_first: int = 0) -> FaultyProxy:
        proxy = FaultyProxy(s3_endpoint, fail_first=fail_first)
        proxy.start()
        started.append(proxy)
        return proxy

    try:
        yield make
    finally:
        for proxy in started:
            proxy.stop()


@pytest.fixture
def silent_s3_endpoint(s3_endpoint: str) -> Iterator[str]:
    """A loopback port whose connections are accepted (by the kernel) and never answered.

    Depends on ``s3_endpoint`` for the fake credentials in the environment.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # never accept(): the handshake completes, no byte ever comes back
    host, port = listener.getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        listener.close()
