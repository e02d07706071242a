"""A real local HTTP server standing in for the external token verifier (SPEC §2).

`POST /tokens/verify` with `{"token": ...}`: a token in `valid` gets 200 with its answer
(e.g. `{"active": true, "scope": "ingest", "id": "dev-1"}`); any other token gets
`unknown_status` (200 means `{"active": false}`). `status` set forces that status for every
call, `reply` a raw body; `delay` holds each answer. Every token received is kept in `calls`.
"""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeVerifier:
    url: str = ""
    valid: dict[str, dict[str, Any]] = field(default_factory=dict)
    unknown_status: int = 200
    status: int | None = None
    reply: str | None = None
    delay: float = 0.0
    calls: list[Any] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def answer(self, token: Any) -> tuple[int, bytes]:
        if self.status is not None or self.reply is not None:
            body = self.reply if self.reply is not None else json.dumps({"error": "forced"})
            return self.status or 200, body.encode()
        if isinstance(token, str) and token in self.valid:
            return 200, json.dumps(self.valid[token]).encode()
        body = {"active": False} if self.unknown_status == 200 else {"error": "unknown token"}
        return self.unknown_status, json.dumps(body).encode()


def _handler_for(verifier: FakeVerifier) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                token = json.loads(raw).get("token")
            except (ValueError, AttributeError):
                token = None
            verifier.paths.append(self.path)
            verifier.calls.append(token)
            if verifier.delay:
                verifier.stopping.wait(verifier.delay)  # cut short when the server stops
            status, payload = verifier.answer(token)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def running_fake_verifier(**options: Any) -> Iterator[FakeVerifier]:
    """Serve a FakeVerifier on a free loopback port for the duration of the block."""
    verifier = FakeVerifier(**options)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(verifier))
    server.daemon_threads = True
    verifier.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield verifier
    finally:
        verifier.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
