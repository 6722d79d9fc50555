"""API operations for operating executions (issue 18): aliases, redrive, pause/resume, bulk.

A mixin of :class:`sedo.entrypoints.api.handlers.Handlers`: one method per ``operationId``.
"""

from __future__ import annotations

from typing import Any

from connexion import request

from sedo.bootstrap import ApiServices
from sedo.service_layer.bulk import BulkService
from sedo.service_layer.operate import Filter, OperationsService

Response = tuple[Any, int, dict[str, str]]
JSON = "application/json"
#: ``GET .../executions?attr.<name>=<value>``: the prefix of search-attribute parameters.
ATTR = "attr."


def _json(body: Any, status: int = 200, **headers: str) -> Response:
    return body, status, {"Content-Type": JSON, **headers}


def search_filter(states: list[str] | None, definition_id: str | None) -> Filter:
    """The listing's filter, with the request's ``attr.<name>`` query parameters."""
    attrs = {k[len(ATTR) :]: v for k, v in request.query_params.items() if k.startswith(ATTR) and k != ATTR}
    return Filter(states=states or (), definition_id=definition_id, attrs=attrs)


class OperateHandlers:
    services: ApiServices

    @property
    def _operations(self) -> OperationsService:
        assert self.services.operations is not None, "bootstrap.api_services builds it"
        return self.services.operations

    @property
    def _bulk(self) -> BulkService:
        assert self.services.bulk is not None, "bootstrap.api_services builds it"
        return self.services.bulk

    # -- aliases ------------------------------------------------------------------------

    def put_alias(self, tenant_id: str, definition_id: str, alias_name: str, body: dict[str, Any]) -> Response:
        alias, created = self._operations.put_alias(tenant_id, definition_id, alias_name, body)
        return _json(alias, 201 if created else 200)

    def get_alias(self, tenant_id: str, definition_id: str, alias_name: str) -> Response:
        return _json(self._operations.get_alias(tenant_id, definition_id, alias_name))

    def list_aliases(self, tenant_id: str, definition_id: str) -> Response:
        return _json(self._operations.list_aliases(tenant_id, definition_id))

    def delete_alias(self, tenant_id: str, definition_id: str, alias_name: str) -> Any:
        from flask import Response as FlaskResponse

        self._operations.delete_alias(tenant_id, definition_id, alias_name)
        return FlaskResponse(status=204)

    # -- control ------------------------------------------------------------------------

    def redrive_execution(self, tenant_id: str, execution_id: str) -> Response:
        return _json(self._operations.redrive(tenant_id, execution_id))

    def pause_execution(self, tenant_id: str, execution_id: str) -> Response:
        return _json(self._operations.pause(tenant_id, execution_id))

    def resume_execution(self, tenant_id: str, execution_id: str) -> Response:
        return _json(self._operations.resume(tenant_id, execution_id))

    # -- bulk ---------------------------------------------------------------------------

    def start_bulk(self, tenant_id: str, body: dict[str, Any]) -> Response:
        operation, created = self._bulk.start(tenant_id, body)
        if not created:
            return _json(operation)
        return _json(operation, 202, Location=f"/sedo/tenants/{tenant_id}/bulk/{operation['id']}")

    def get_bulk(self, tenant_id: str, operation_id: str) -> Response:
        return _json(self._bulk.get(tenant_id, operation_id))
