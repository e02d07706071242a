"""A real uvicorn server in a background thread, for tests where the network matters."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI

from tests.support.waits import WAIT, wait_until


@contextmanager
def running_server(app: FastAPI, **options: Any) -> Iterator[str]:
    """Serve `app` on a free loopback port; yields its base URL, stops it afterwards.

    `options` are more uvicorn.Config arguments. Start-up (the app's lifespan included) and
    shutdown are waited for up to WAIT seconds: on a busy machine both can take a while.
    """
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
        **{"timeout_graceful_shutdown": 3, **options},  # open event streams would hold shutdown
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def started() -> bool:
        if not thread.is_alive() and not server.started:
            raise RuntimeError("uvicorn did not start (see the log above)")
        return server.started

    wait_until(started, "uvicorn start-up")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=WAIT)
