"""``sedo local`` / ``make run``: the whole stack on 127.0.0.1, in the foreground."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sedo.config import REPO_ROOT

if TYPE_CHECKING:
    from sedo.entrypoints.local.throughput import PartitionLimiter

log = logging.getLogger("sedo.local")


def run(
    port: int = 3000,
    moto_port: int | None = None,
    workers: int = 2,
    host: str = "127.0.0.1",
    visibility_timeout: int = 30,
) -> int:
    import uvicorn

    from sedo import bootstrap
    from sedo.adapters.aws import client
    from sedo.auth import local
    from sedo.auth.errors import ConfigurationError
    from sedo.config import Settings
    from sedo.entrypoints.api import app_from_settings
    from sedo.entrypoints.local.deadline import function_timeout
    from sedo.entrypoints.local.esm import EventSourceMapping
    from sedo.entrypoints.local.events import start_events
    from sedo.entrypoints.local.limits import install as install_limits
    from sedo.entrypoints.local.moto import MotoServer, export, provision, use_local_credentials
    from sedo.entrypoints.sweeper import SweeperThread

    use_local_credentials()
    try:  # AWS's function timeout and partition throughput (README: Settings)
        timeout = function_timeout()
        limits = install_limits()
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    # invoke steps call local Python functions instead of Lambda (see the file for the names)
    # a sweeper thread runs (below), so long timers are deferred to it as on AWS
    os.environ.setdefault("SEDO_DURABLE_TIMERS", "1")
    os.environ.setdefault("SEDO_LOCAL_FUNCTIONS", str(REPO_ROOT / "definitions" / "functions" / "local.yaml"))
    state = Path(os.environ.get("SEDO_LOCAL_DIR", REPO_ROOT / ".local"))
    state.mkdir(parents=True, exist_ok=True)
    # Tokens: a signing key kept under the state directory (created once), its public key
    # verifies them, and the banner prints a ready one for the README's tenant 123.
    signing_key = local.ensure_signing_key(local.local_signing_key_path(Settings.from_env()))
    moto = MotoServer(port=moto_port)
    esm: EventSourceMapping | None = None
    events_esm: EventSourceMapping | None = None
    sweeper: SweeperThread | None = None
    try:
        moto.start(log=state / "moto.log")
        settings = provision(moto.endpoint, parameters={"QueueVisibilityTimeoutSeconds": str(visibility_timeout)})
        settings = local.local_verification(settings, signing_key)
        export(settings)
        from sedo.entrypoints.processor import handler_from_env

        handler = handler_from_env()  # the Lambda handler, configured from the exported environment

        duplicates = os.environ.get("SEDO_LOCAL_DUPLICATE_DELIVERY", "") == "1"  # fault injection for tests
        esm = EventSourceMapping(
            client("sqs", settings),
            settings.queue_url,
            handler,
            settings.region,
            workers,
            duplicate_delivery=duplicates,
            function_timeout=timeout,
        )
        esm.start()
        events_esm = start_events(settings, workers, timeout)  # events (issue 15), like the processor
        sweeper = SweeperThread(
            bootstrap.sweeper(bootstrap.aws_adapters(settings), settings).sweep, settings.sweep_seconds
        )
        sweeper.start()
        app = app_from_settings(settings)
        base = f"http://{host}:{port}"
        example = REPO_ROOT / "definitions" / "example-definition.yaml"
        token = local.mint_token(signing_key, {"123": "author"}, local.LOCAL_TOKEN_TTL_SECONDS)
        print(
            f"""
sedo local stack is up
  API          {base}/sedo   (health: {base}/sedo/health)
  Console      {base}/sedo/console/#token={token}
  Swagger UI   {base}/sedo/ui/   (spec: {base}/sedo/openapi.json)
  AWS (moto)   {moto.endpoint}   tables {settings.definitions_table}, {settings.executions_table}, \
{settings.history_table}
  processor    {workers} workers polling {settings.queue_url}
  events       bus {settings.event_bus} (aws events put-events --endpoint-url {moto.endpoint}), handler polling {settings.events_queue_url}
  limits       {_describe_limits(esm.function_timeout, limits.limiter)}

Token: author of tenant 123, valid {local.LOCAL_TOKEN_TTL_SECONDS // 3600} h \
(more: .venv/bin/sedo token --tenant 123 --role author)
  export TOKEN={token}

For the sedo command line (sedo push, sedo run --wait, ...):
  export SEDO_URL={base}
  export SEDO_TOKEN=$TOKEN

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
        if sweeper is not None:
            sweeper.stop()
        if esm is not None:
            esm.stop()
        if events_esm is not None:
            events_esm.stop()
        moto.stop()
        print("sedo local stack stopped", file=sys.stderr, flush=True)


def _describe_limits(timeout: float, limiter: PartitionLimiter | None) -> str:
    parts = [f"function timeout {timeout:g} s" if timeout else "no function timeout"]
    if limiter is None:
        parts.append("no partition limits")
    else:
        rates = limiter.buckets.rates
        parts.append(f"{rates.wcu:g} WCU/s and {rates.rcu:g} RCU/s per partition key")
    return ", ".join(parts)
