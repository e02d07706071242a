"""Slow clients cannot hold connections: headers and bodies have deadlines (real sockets).

uvicorn bounds only the idle time between requests: a client that connects and sends
nothing, sends its headers a byte at a time, or announces a body and stops sending it
held its connection for ever (20 of each stayed open indefinitely). Here the deadlines are
a fraction of a second and every socket waits up to WAIT for the server to close it: the
tests wait for the close itself, never for a length of time.
"""

import json
import socket
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from app.cli.serve import H11HeaderDeadline, HeaderDeadline, HttpToolsHeaderDeadline, http_protocol
from app.core.config import Settings
from app.core.limits import body_timeout_detail
from app.main import create_app
from tests.cli.runner import migrate
from tests.hardening.ingest_support import AUTH, server_process
from tests.support.db import wipe
from tests.support.servers import running_server
from tests.support.waits import HTTP_TIMEOUT, WAIT

DEADLINE = 0.3  # seconds, for headers and for each pause in a body
CLIENTS = 20
PROTOCOLS = {"httptools": HttpToolsHeaderDeadline, "h11": H11HeaderDeadline}
TOKEN = AUTH["Authorization"].encode()


@contextmanager
def _server(
    app_settings: Settings, engine: Engine, protocol: type[HeaderDeadline]
) -> Iterator[tuple[str, int]]:
    """A real uvicorn serving the app with both deadlines at DEADLINE; yields (host, port)."""
    wipe(engine)
    settings = app_settings.model_copy(update={"body_read_timeout_seconds": DEADLINE})
    with running_server(create_app(settings), http=http_protocol(DEADLINE, protocol)) as url:
        host, port = url.removeprefix("http://").split(":")
        yield host, int(port)


@pytest.fixture(params=list(PROTOCOLS))
def server(
    request: pytest.FixtureRequest, app_settings: Settings, engine: Engine
) -> Iterator[tuple[str, int]]:
    with _server(app_settings, engine, PROTOCOLS[request.param]) as address:
        yield address


def _connect(address: tuple[str, int], first_bytes: bytes = b"") -> socket.socket:
    sock = socket.create_connection(address, timeout=WAIT)
    if first_bytes:
        sock.sendall(first_bytes)
    return sock


def _until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (WAIT at most)."""
    received = []
    try:
        while chunk := sock.recv(65536):
            received.append(chunk)
    except ConnectionResetError:
        pass  # closed too
    finally:
        sock.close()
    return b"".join(received)


def _head(host: str, path: str = "/api/miners/sample") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: {host}\r\n".encode()


def test_connections_that_send_no_complete_headers_are_closed(
    server: tuple[str, int],
) -> None:
    host, _ = server
    partial = _head(host) + b"Authorization: Bea"
    with ExitStack() as sockets:
        silent = [sockets.enter_context(_connect(server)) for _ in range(CLIENTS)]
        slow = [sockets.enter_context(_connect(server, partial)) for _ in range(CLIENTS)]
        # Nothing was asked: nothing is answered. Half a request: a 408, then the close.
        assert [_until_closed(sock) for sock in silent] == [b""] * CLIENTS
        for answer in [_until_closed(sock) for sock in slow]:
            assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
            assert b"connection: close" in answer.lower()


def test_connections_whose_body_stops_arriving_get_a_408_and_are_closed(
    server: tuple[str, int], engine: Engine
) -> None:
    host, _ = server
    body = json.dumps({"miner_id": "rig-1", "pool": "p" * 100}).encode()
    request = (
        _head(host)
        + b"Authorization: "
        + TOKEN
        + b"\r\n"
        + b"Content-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body[:20]
    )
    with ExitStack() as sockets:
        slow = [sockets.enter_context(_connect(server, request)) for _ in range(CLIENTS)]
        answers = [_until_closed(sock) for sock in slow]
    for answer in answers:
        head, _, content = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), answer
        assert b"connection: close" in head.lower()
        assert json.loads(content) == {"detail": body_timeout_detail(DEADLINE)}
    # The server still serves everyone else, and stored nothing of the cut bodies.
    with httpx.Client(base_url=f"http://{host}:{server[1]}", timeout=HTTP_TIMEOUT) as http:
        latest = http.get("/api/miners/latest", headers=AUTH)
    assert (latest.status_code, latest.json()["samples"]) == (200, [])


def test_a_request_that_keeps_sending_in_time_is_served(server: tuple[str, int]) -> None:
    host, port = server
    with httpx.Client(base_url=f"http://{host}:{port}", timeout=HTTP_TIMEOUT) as http:
        response = http.post("/api/miners/sample", headers=AUTH, json={"miner_id": "rig-1"})
        # The same kept-alive connection serves the next request too.
        again = http.get("/api/miners/latest", headers=AUTH)
    assert (response.status_code, again.status_code) == (202, 200)
    assert [sample["miner_id"] for sample in again.json()["samples"]] == ["rig-1"]


def test_no_deadline_cuts_a_response_that_is_still_being_sent(
    server: tuple[str, int],
) -> None:
    """A live stream outlives both deadlines: a slow client that connected after it is
    closed first (its deadlines started later), and the stream then still delivers."""
    host, port = server
    base = f"http://{host}:{port}"
    with (
        httpx.Client(base_url=base, timeout=HTTP_TIMEOUT) as http,
        http.stream("GET", "/api/stream/ops", headers=AUTH) as stream,
    ):
        lines = stream.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))  # the heartbeat
        assert _until_closed(_connect((host, port), _head(host))).startswith(b"HTTP/1.1 408")
        sample = http.post("/api/miners/sample", headers=AUTH, json={"miner_id": "rig-live"})
        assert sample.status_code == 202
        delivered = (json.loads(line[5:]) for line in lines if line.startswith("data:"))
        assert next(m for m in delivered if m["type"] == "miner.sample")["miner_id"] == "rig-live"


PRISM = Path(sys.executable).with_name("prism")


def test_prism_serve_closes_slow_header_connections_in_every_worker(tmp_path: Path) -> None:
    """The real command, with two worker processes (the protocol is pickled to each)."""
    url = f"sqlite:///{tmp_path / 'console.db'}"
    migrate(url)

    def command(port: int) -> list[str]:
        return [str(PRISM), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]

    with server_process(
        url, tmp_path, command, PRISM_HEADER_READ_TIMEOUT_SECONDS=str(DEADLINE)
    ) as served:
        host, port = served.url.removeprefix("http://").split(":")
        with ExitStack() as sockets:
            slow = [
                sockets.enter_context(_connect((host, int(port)), _head(host)))
                for _ in range(CLIENTS)
            ]
            answers = [_until_closed(sock) for sock in slow]
        assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), answers
        assert httpx.get(f"{served.url}/livez", timeout=HTTP_TIMEOUT).status_code == 200
