"""Configuration from environment variables, with defaults that suit the local stack.

The same code talks to AWS when no endpoint URL is set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

#: The claim of a bearer token that grants roles per tenant (SEDO_JWT_TENANTS_CLAIM renames it).
DEFAULT_TENANTS_CLAIM = "sedo:tenants"
#: The claim of a bearer token that makes its bearer a platform admin (SEDO_JWT_ADMIN_CLAIM renames it).
DEFAULT_ADMIN_CLAIM = "sedo:admin"
#: Clock skew tolerated on a token's exp/nbf/iat (SEDO_JWT_LEEWAY_SECONDS).
DEFAULT_LEEWAY_SECONDS = 30


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
    #: The S3 bucket for values too large for an item of the executions table (the claim check).
    payload_bucket: str = ""
    log_level: str = "INFO"
    service_name: str = "sedo"
    max_steps_per_wakeup: int = 50
    max_delay_seconds: int = 900
    #: Lambda function names (fnmatch patterns) invoke steps may call.
    invoke_allow_list: tuple[str, ...] = ()
    #: Locally: a YAML file mapping function names to Python callables (no Lambda).
    local_functions: Path | None = None
    openapi_path: Path = field(default_factory=lambda: REPO_ROOT / "openapi" / "sedo.yaml")
    #: Bearer tokens (sedo/auth/, checked by sedo/entrypoints/api/auth.py): the issuer and audience they must name,
    #: and where their signing keys come from: a fixed PEM public key, a JWKS URL, or (neither)
    #: the issuer's OpenID configuration. The API refuses to start without issuer and audience.
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_tenants_claim: str = DEFAULT_TENANTS_CLAIM
    jwt_admin_claim: str = DEFAULT_ADMIN_CLAIM
    jwt_leeway_seconds: int = DEFAULT_LEEWAY_SECONDS
    #: Locally: state of `make run` (the emulator's log, the token signing key).
    local_dir: Path = field(default_factory=lambda: REPO_ROOT / ".local")
    #: Locally: the signing key `make run` and `sedo token` use (default: local_dir/jwt-signing-key.pem).
    jwt_signing_key_file: Path | None = None
    #: CIDR ranges HTTP invoke targets may reach although netguard forbids them (e.g. link-local).
    http_allow_cidrs: tuple[str, ...] = ()
    #: A sweeper runs (on AWS and under `make run`): timers beyond SQS's 900 s reach are sent
    #: by it when due within reach, instead of re-armed every 15 minutes.
    durable_timers: bool = False
    #: How long a due message may be missing before the sweeper re-sends it; how often it runs.
    sweep_grace_seconds: int = 120
    sweep_seconds: int = 30
    #: Finished executions and their history expire (DynamoDB TTL) this many days after they
    #: end; 0 keeps them.
    retention_days: int = 0
    #: The execution queue's redrive threshold (template.yaml MaxReceiveCount).
    max_receive_count: int | None = None
    #: Executions of one SQS batch the processor handles at once (template.yaml ProcessorThreads).
    processor_threads: int = 1
    #: Buckets a map may read items from (``itemReader``) and write results to (``resultWriter``):
    #: template.yaml's MapItemBuckets and MapResultBuckets. None (the variable unset, as on the
    #: local stack): any bucket; empty: none.
    map_item_buckets: tuple[str, ...] | None = None
    map_result_buckets: tuple[str, ...] | None = None
    #: Events (issue 15): the EventBridge bus sedo puts events on (template.yaml EventBus).
    event_bus: str = "default"
    #: Locally: the events queue the rule fills, polled by `make run`'s events handler.
    events_queue_url: str = ""
    # -- tenants: quotas, the usage ledger, metrics (sedo/service_layer/quotas.py, usage.py) --
    #: The tenants table (template.yaml TenantsTable); "" switches quotas and the ledger off.
    tenants_table: str = ""
    #: Quotas of a tenant an admin has not set (template.yaml Default*; 0 is unlimited).
    default_max_running_executions: int = 0
    default_starts_per_second: int = 0
    default_max_definitions: int = 0
    #: EMF metrics carry the tenantId dimension (SEDO_METRICS_TENANT_DIMENSION=0 drops it).
    metrics_tenant_dimension: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            region=_env("SEDO_REGION") or _env("AWS_REGION") or _env("AWS_DEFAULT_REGION") or "us-east-1",
            endpoint_url=_env("SEDO_ENDPOINT_URL") or _env("AWS_ENDPOINT_URL"),
            definitions_table=_env("SEDO_DEFINITIONS_TABLE", "sedo-definitions") or "",
            executions_table=_env("SEDO_EXECUTIONS_TABLE", "sedo-executions") or "",
            history_table=_env("SEDO_HISTORY_TABLE", "sedo-history") or "",
            queue_url=_env("SEDO_QUEUE_URL", "") or "",
            payload_bucket=_env("SEDO_PAYLOAD_BUCKET", "") or "",
            log_level=(_env("SEDO_LOG_LEVEL") or _env("POWERTOOLS_LOG_LEVEL") or "INFO").upper(),
            service_name=_env("POWERTOOLS_SERVICE_NAME", "sedo") or "sedo",
            max_steps_per_wakeup=int(_env("SEDO_MAX_STEPS_PER_WAKEUP", "50") or 50),
            max_delay_seconds=int(_env("SEDO_MAX_DELAY_SECONDS", "900") or 900),
            invoke_allow_list=tuple(
                name.strip() for name in (_env("SEDO_INVOKE_ALLOW_LIST", "") or "").split(",") if name.strip()
            ),
            local_functions=Path(p) if (p := _env("SEDO_LOCAL_FUNCTIONS")) else None,
            openapi_path=Path(_env("SEDO_OPENAPI_PATH") or REPO_ROOT / "openapi" / "sedo.yaml"),
            jwt_issuer=_env("SEDO_JWT_ISSUER"),
            jwt_audience=_env("SEDO_JWT_AUDIENCE"),
            jwt_public_key=_env("SEDO_JWT_PUBLIC_KEY") or _read(_env("SEDO_JWT_PUBLIC_KEY_FILE")),
            jwt_jwks_url=_env("SEDO_JWT_JWKS_URL"),
            jwt_tenants_claim=_env("SEDO_JWT_TENANTS_CLAIM") or DEFAULT_TENANTS_CLAIM,
            jwt_admin_claim=_env("SEDO_JWT_ADMIN_CLAIM") or DEFAULT_ADMIN_CLAIM,
            jwt_leeway_seconds=int(_env("SEDO_JWT_LEEWAY_SECONDS") or DEFAULT_LEEWAY_SECONDS),
            local_dir=Path(_env("SEDO_LOCAL_DIR") or REPO_ROOT / ".local"),
            jwt_signing_key_file=Path(p) if (p := _env("SEDO_JWT_SIGNING_KEY_FILE")) else None,
            http_allow_cidrs=tuple(
                cidr.strip() for cidr in (_env("SEDO_HTTP_ALLOW_CIDRS", "") or "").split(",") if cidr.strip()
            ),
            durable_timers=(_env("SEDO_DURABLE_TIMERS", "0") or "0") == "1",
            sweep_grace_seconds=int(_env("SEDO_SWEEP_GRACE_SECONDS", "120") or 120),
            sweep_seconds=int(_env("SEDO_SWEEP_SECONDS", "30") or 30),
            retention_days=int(_env("SEDO_RETENTION_DAYS", "0") or 0),
            max_receive_count=int(n) if (n := _env("SEDO_MAX_RECEIVE_COUNT")) else None,
            processor_threads=max(1, int(_env("SEDO_PROCESSOR_THREADS", "1") or 1)),
            map_item_buckets=_names("SEDO_MAP_ITEM_BUCKETS"),
            map_result_buckets=_names("SEDO_MAP_RESULT_BUCKETS"),
            event_bus=_env("SEDO_EVENT_BUS", "default") or "default",
            events_queue_url=_env("SEDO_EVENTS_QUEUE_URL", "") or "",
            tenants_table=_env("SEDO_TENANTS_TABLE", "") or "",
            default_max_running_executions=int(_env("SEDO_DEFAULT_MAX_RUNNING_EXECUTIONS", "0") or 0),
            default_starts_per_second=int(_env("SEDO_DEFAULT_STARTS_PER_SECOND", "0") or 0),
            default_max_definitions=int(_env("SEDO_DEFAULT_MAX_DEFINITIONS", "0") or 0),
            metrics_tenant_dimension=(_env("SEDO_METRICS_TENANT_DIMENSION", "1") or "1") != "0",
        )


def _names(name: str) -> tuple[str, ...] | None:
    """A comma-separated list; None when the variable is not set at all (an empty one: no names)."""
    if name not in os.environ:
        return None
    return tuple(part.strip() for part in os.environ[name].split(",") if part.strip())


def _read(path: str | None) -> str | None:
    """A file's text, for settings given as files (a missing file is a readable error at startup)."""
    if path is None:
        return None
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise RuntimeError(f"cannot read {path}: {exc.strerror}") from None
