"""A local webhook receiver for notification tests: counts requests, keeps their headers and
bodies, fails the next N on demand, or holds requests until released (a slow receiver).

Waiting is on a condition (a request arrived), never a sleep: `wait_for(count)` returns as
soon as that many requests came in, and fails after WAIT seconds.
"""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.waits import WAIT

ID_HEADER = "X-Prism-Notification-Id"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: Any  # the decoded JSON body (Apprise's json:// sends {"title", "message", ...})

    @property
    def notification_id(self) -> str | None:
        return self.headers.get(ID_HEADER.lower())

    @property
    def text(self) -> str:
        """Title and message of an Apprise JSON body, for searching."""
        if isinstance(self.body, dict):
            return f"{self.body.get('title', '')}\n{self.body.get('message', '')}"
        return str(self.body)


@dataclass
class Receiver:
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    _failures: int = 0
    _failure_status: int = 500
    _gate: threading.Event | None = None
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def url(self, path: str = "hook", scheme: str = "json") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path}"

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next `count` requests with `status` (they are still recorded)."""
        with self._changed:
            self._failures = count
            self._failure_status = status

    def hold(self) -> threading.Event:
        """From now on requests wait (after being recorded) until the returned event is set."""
        gate = threading.Event()
        with self._changed:
            self._gate = gate
        return gate

    def release(self) -> None:
        with self._changed:
            gate, self._gate = self._gate, None
        if gate is not None:
            gate.set()

    def wait_for(self, count: int, timeout: float = WAIT) -> list[Received]:
        """Block until at least `count` requests arrived; all of them so far."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.requests) >= count, timeout=timeout):
                raise AssertionError(f"{count} requests expected, {len(self.requests)} arrived")
            return list(self.requests)

    def ids(self) -> list[str | None]:
        with self._changed:
            return [request.notification_id for request in self.requests]

    def _arrived(self, received: Received) -> tuple[int, threading.Event | None]:
        """Record a request; the status to answer and the gate to wait on."""
        with self._changed:
            self.requests.append(received)
            status = 200
            if self._failures > 0:
                self._failures -= 1
                status = self._failure_status
            gate = self._gate
            self._changed.notify_all()
        return status, gate


@contextmanager
def receiver() -> Iterator[Receiver]:
    """A receiver on a free loopback port for the duration of the block."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, gate = state._arrived(Received(self.path, headers, body))
            if gate is not None:
                gate.wait(WAIT)
            payload = b"{}"
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the sender gave up (timed out, or was killed) while we were held

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
