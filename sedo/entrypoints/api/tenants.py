"""API operations of the tenants area: usage for a tenant's viewers, quotas and usage of all for
platform admins (openapi/sedo.yaml; roles in sedo/auth/grants.py)."""

from __future__ import annotations

from typing import Any

from sedo.domain.errors import Unavailable
from sedo.domain.timefmt import format_ts

Response = tuple[Any, int, dict[str, str]]
JSON = "application/json"


def _not_configured(what: str) -> Unavailable:
    return Unavailable(f"{what} needs the tenants table (SEDO_TENANTS_TABLE); this deployment has none")


class TenantHandlers:
    """Mixed into :class:`~sedo.entrypoints.api.handlers.Handlers` (it provides ``services``)."""

    services: Any

    def _quotas(self) -> Any:
        if self.services.quotas is None:
            raise _not_configured("quotas")
        return self.services.quotas

    def _usage(self) -> Any:
        if self.services.usage is None:
            raise _not_configured("the usage ledger")
        return self.services.usage

    def get_usage(self, tenant_id: str, from_: str | None = None, to: str | None = None) -> Response:
        return self._usage().report(tenant_id, from_, to), 200, {"Content-Type": JSON}

    def admin_usage(self, from_: str | None = None, to: str | None = None) -> Response:
        return self._usage().report_all(from_, to), 200, {"Content-Type": JSON}

    def get_quotas(self, tenant_id: str) -> Response:
        return self._quotas().describe(tenant_id), 200, {"Content-Type": JSON}

    def put_quotas(self, tenant_id: str, body: dict[str, Any]) -> Response:
        now = format_ts(self.services.executions.clock.now())
        return self._quotas().set(tenant_id, body, now), 200, {"Content-Type": JSON}
