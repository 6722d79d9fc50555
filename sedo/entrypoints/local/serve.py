"""The API in-process: the Connexion app on a free 127.0.0.1 port, in a uvicorn thread.

For the benchmark and the integration tests (``sedo local`` serves it in the foreground).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sedo.config import Settings

if TYPE_CHECKING:
    from sedo.bootstrap import Adapters
    from sedo.service_layer.ports import Clock

#: Seconds the server may take to start listening.
START_TIMEOUT_SECONDS = 15


@contextmanager
def serve_api(settings: Settings, clock: Clock | None = None, adapters: Adapters | None = None) -> Iterator[str]:
    """Serves the API configured by ``settings`` until the block ends; yields its base URL.

    ``adapters``: use these (e.g. with instrumented clients, for the benchmark) instead of
    new ones built from ``settings`` (with ``clock``). Tokens are verified as ``settings``
    say (see ``sedo.entrypoints.api.auth.local_verification`` for a local key).
    """
    import uvicorn

    from sedo import bootstrap
    from sedo.entrypoints.api.app import create_app
    from sedo.entrypoints.local.moto import free_port

    adapters = adapters or bootstrap.aws_adapters(settings, clock)
    app = create_app(bootstrap.api_services(adapters, settings), settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("API server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
