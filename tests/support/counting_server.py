"""A local HTTP server that answers every GET with a known body and counts the requests.

Stands for an internal service an attacker would like the console to fetch (SSRF tests):
the count must stay at zero, and the body must never appear in an answer.
"""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET = "INTERNAL-ONLY-BODY-7d1f"


@dataclass
class CountingServer:
    url: str = ""
    hits: int = 0


@contextmanager
def counting_server() -> Iterator[CountingServer]:
    """Serve on a free loopback port for the duration of the block."""
    state = CountingServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits += 1
            body = json.dumps({"type": "string", "description": SECRET}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/schema+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
