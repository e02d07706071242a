"""A real local HTTP server standing in for the workflow gateway, recording what it receives."""

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeGateway:
    """Answers every request with `status` and `reply` after `delay` seconds; keeps `requests`."""

    url: str = ""
    status: int = 202
    reply: Any = field(default_factory=lambda: {"runId": "gw-run-1"})
    delay: float = 0.0
    requests: list[ReceivedRequest] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)


def _handler_for(gateway: FakeGateway) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
            gateway.requests.append(
                ReceivedRequest(
                    "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
            )
            if gateway.delay:
                gateway.stopping.wait(gateway.delay)  # cut short when the server stops
            payload = (
                gateway.reply.encode()
                if isinstance(gateway.reply, str)
                else json.dumps(gateway.reply).encode()
            )
            try:
                self.send_response(gateway.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (timeout test): nothing to answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running_fake_gateway(**options: Any) -> Iterator[FakeGateway]:
    """Serve a FakeGateway on a free loopback port for the duration of the block."""
    gateway = FakeGateway(**options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(gateway))
    server.daemon_threads = True
    gateway.url = f"http://127.0.0.1:{server.server_address[1]}"
    # A short poll interval keeps shutdown() quick at the end of every test.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield gateway
    finally:
        gateway.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def refused_url() -> str:
    """A loopback URL where nothing listens (the port was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
