"""``sedo local`` / ``make run``: the whole stack on 127.0.0.1, in the foreground."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from sedo.config import REPO_ROOT

log = logging.getLogger("sedo.local")

#: The token `make run` prints: long enough for a working day.
LOCAL_TOKEN_TTL_SECONDS = 12 * 3600


def run(
    port: int = 3000,
    moto_port: int | None = None,
    workers: int = 2,
    host: str = "127.0.0.1",
    visibility_timeout: int = 30,
) -> int:
    import uvicorn

    from sedo.adapters.aws import client
    from sedo.config import Settings
    from sedo.entrypoints.api import app_from_settings, auth
    from sedo.entrypoints.local.esm import EventSourceMapping
    from sedo.entrypoints.local.moto import MotoServer, export, provision, use_local_credentials

    use_local_credentials()
    # invoke steps call local Python functions instead of Lambda (see the file for the names)
    os.environ.setdefault("SEDO_LOCAL_FUNCTIONS", str(REPO_ROOT / "definitions" / "functions" / "local.yaml"))
    state = Path(os.environ.get("SEDO_LOCAL_DIR", REPO_ROOT / ".local"))
    state.mkdir(parents=True, exist_ok=True)
    # Tokens: a signing key kept under the state directory (created once), its public key
    # verifies them, and the banner prints a ready one for the README's tenant 123.
    signing_key = auth.ensure_signing_key(auth.local_signing_key_path(Settings.from_env()))
    moto = MotoServer(port=moto_port)
    esm: EventSourceMapping | None = None
    try:
        moto.start(log=state / "moto.log")
        settings = provision(moto.endpoint, parameters={"QueueVisibilityTimeoutSeconds": str(visibility_timeout)})
        settings = auth.local_verification(settings, signing_key)
        export(settings)
        from processor.handler import handler  # the Lambda handler, configured from the environment

        duplicates = os.environ.get("SEDO_LOCAL_DUPLICATE_DELIVERY", "") == "1"  # fault injection for tests
        esm = EventSourceMapping(
            client("sqs", settings),
            settings.queue_url,
            handler,
            settings.region,
            workers,
            duplicate_delivery=duplicates,
        )
        esm.start()
        app = app_from_settings(settings)
        base = f"http://{host}:{port}"
        example = REPO_ROOT / "definitions" / "example-definition.yaml"
        token = auth.mint_token(signing_key, {"123": "author"}, LOCAL_TOKEN_TTL_SECONDS)
        print(
            f"""
sedo local stack is up
  API          {base}/sedo   (health: {base}/sedo/health)
  Console      {base}/sedo/console/#token={token}
  Swagger UI   {base}/sedo/ui/   (spec: {base}/sedo/openapi.json)
  AWS (moto)   {moto.endpoint}   tables {settings.definitions_table}, {settings.executions_table}, \
{settings.history_table}
  processor    {workers} workers polling {settings.queue_url}

Token: author of tenant 123, valid {LOCAL_TOKEN_TTL_SECONDS // 3600} h \
(more: .venv/bin/sedo token --tenant 123 --role author)
  export TOKEN={token}

Try:
  curl -s {base}/sedo/tenants/123/definitions -H "Authorization: Bearer $TOKEN" \
-H 'Content-Type: application/yaml' --data-binary @{example}

Ctrl-C stops everything.
""",
            flush=True,
        )
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
        server.run()
        return 0 if server.started else 1
    finally:
        if esm is not None:
            esm.stop()
        moto.stop()
        print("sedo local stack stopped", file=sys.stderr, flush=True)
