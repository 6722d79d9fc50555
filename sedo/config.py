"""Configuration from environment variables, with defaults that suit the local stack.

The same code talks to AWS when no endpoint URL is set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    region: str = "us-east-1"
    endpoint_url: str | None = None
    definitions_table: str = "sedo-definitions"
    executions_table: str = "sedo-executions"
    history_table: str = "sedo-history"
    queue_url: str = ""
    log_level: str = "INFO"
    service_name: str = "sedo"
    max_steps_per_wakeup: int = 50
    max_delay_seconds: int = 900
    #: Lambda function names (fnmatch patterns) invoke steps may call.
    invoke_allow_list: tuple[str, ...] = ()
    #: Locally: a YAML file mapping function names to Python callables (no Lambda).
    local_functions: Path | None = None
    openapi_path: Path = field(default_factory=lambda: REPO_ROOT / "openapi" / "sedo.yaml")

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            region=_env("SEDO_REGION") or _env("AWS_REGION") or _env("AWS_DEFAULT_REGION") or "us-east-1",
            endpoint_url=_env("SEDO_ENDPOINT_URL") or _env("AWS_ENDPOINT_URL"),
            definitions_table=_env("SEDO_DEFINITIONS_TABLE", "sedo-definitions") or "",
            executions_table=_env("SEDO_EXECUTIONS_TABLE", "sedo-executions") or "",
            history_table=_env("SEDO_HISTORY_TABLE", "sedo-history") or "",
            queue_url=_env("SEDO_QUEUE_URL", "") or "",
            log_level=(_env("SEDO_LOG_LEVEL") or _env("POWERTOOLS_LOG_LEVEL") or "INFO").upper(),
            service_name=_env("POWERTOOLS_SERVICE_NAME", "sedo") or "sedo",
            max_steps_per_wakeup=int(_env("SEDO_MAX_STEPS_PER_WAKEUP", "50") or 50),
            max_delay_seconds=int(_env("SEDO_MAX_DELAY_SECONDS", "900") or 900),
            invoke_allow_list=tuple(
                name.strip() for name in (_env("SEDO_INVOKE_ALLOW_LIST", "") or "").split(",") if name.strip()
            ),
            local_functions=Path(p) if (p := _env("SEDO_LOCAL_FUNCTIONS")) else None,
            openapi_path=Path(_env("SEDO_OPENAPI_PATH") or REPO_ROOT / "openapi" / "sedo.yaml"),
        )
