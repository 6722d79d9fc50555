"""API operations: one method per ``operationId`` in openapi/sedo.yaml.

Connexion has already validated parameters and JSON bodies against the spec; these
methods translate to and from the services, nothing more.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from connexion import request

from sedo.bootstrap import ApiServices
from sedo.domain.language import load_text
from sedo.domain.protocol import WakeKind
from sedo.entrypoints.api.operations import OperateHandlers, search_filter
from sedo.entrypoints.api.tenants import TenantHandlers
from sedo.service_layer.ports import Page

Response = tuple[Any, int, dict[str, str]]
JSON = "application/json"


def _json(body: Any, status: int = 200, **headers: str) -> Response:
    """Name the media type: operations also declare problem+json responses."""
    return body, status, {"Content-Type": JSON, **headers}


def _document(body: Any) -> Any:
    """JSON bodies arrive parsed; YAML bodies as bytes."""
    if isinstance(body, (bytes, str)):
        return load_text(body, request.headers.get("content-type", "application/yaml"))
    return body


def _from_asl(document: Any, definition_id: str | None) -> Any:
    """The sedo definition an ASL state machine translates to (400 with every construct that does not)."""
    from sedo.domain.asl import translate
    from sedo.domain.errors import InvalidDefinition, Problem

    if not definition_id:
        raise InvalidDefinition([Problem("", "format=asl needs the definition id as the id query parameter")])
    return translate(document, definition_id).document


def _no_content() -> Any:
    """204 with no body and no media type (Connexion would otherwise label it problem+json)."""
    from flask import Response as FlaskResponse

    return FlaskResponse(status=204)


def _page(page: Page) -> Response:
    if page.next_token is None:
        return _json(list(page.items))
    query = dict(request.query_params)
    query["nextToken"] = page.next_token
    link = f'<{request.url.path}?{urlencode(query)}>; rel="next"'
    return _json(list(page.items), 200, Link=link, **{"Sedo-Next-Token": page.next_token})


class Handlers(OperateHandlers, TenantHandlers):
    def __init__(self, services: ApiServices) -> None:
        self.services = services

    def health(self) -> Response:
        return _json({"status": "ok"})

    # -- definitions ----------------------------------------------------------------

    def create_definition(self, tenant_id: str, body: Any, format_: str = "sedo", id_: str | None = None) -> Response:
        document = _document(body)
        if format_ == "asl":
            document = _from_asl(document, id_)
        created = self.services.definitions.create(tenant_id, document)
        location = f"/sedo/tenants/{tenant_id}/definitions/{created['id']}"
        return _json(created, 201, Location=location)

    def list_definitions(self, tenant_id: str, limit: int = 50, next_token: str | None = None) -> Response:
        return _page(self.services.definitions.list(tenant_id, limit, next_token))

    def get_definition(self, tenant_id: str, definition_id: str, version: int | None = None) -> Response:
        return _json(self.services.definitions.get(tenant_id, definition_id, version))

    def update_definition(self, tenant_id: str, definition_id: str, body: Any) -> Response:
        return _json(self.services.definitions.update(tenant_id, definition_id, _document(body)))

    def delete_definition(self, tenant_id: str, definition_id: str) -> Any:
        self._operations.check_deletable(tenant_id, definition_id)  # 409 while an alias routes to it
        self.services.definitions.delete(tenant_id, definition_id)
        return _no_content()

    # -- executions -----------------------------------------------------------------

    def execute(self, tenant_id: str, definition_id: str, body: dict[str, Any]) -> Response:
        if body.get("alias") is not None:  # the alias's routing picks the version
            started, created = self._operations.start(
                tenant_id, definition_id, body["alias"], body.get("input", {}), body.get("name")
            )
        else:
            started, created = self.services.executions.start(
                tenant_id, definition_id, body.get("input", {}), body.get("name")
            )
        if not created:
            return _json(started)
        return _json(started, 201, Location=f"/sedo/tenants/{tenant_id}/executions/{started['id']}")

    def list_executions(
        self,
        tenant_id: str,
        state: list[str] | None = None,
        definition_id: str | None = None,
        limit: int = 50,
        next_token: str | None = None,
        attr: str | None = None,
    ) -> Response:
        where = search_filter(state, definition_id)  # attr.<name>=<value>: the search index
        return _page(self._operations.search(tenant_id, limit, next_token, where))

    def list_iterations(
        self,
        tenant_id: str,
        execution_id: str,
        state: list[str] | None = None,
        limit: int = 50,
        next_token: str | None = None,
    ) -> Response:
        return _page(self.services.executions.iterations(tenant_id, execution_id, limit, next_token, state or ()))

    def get_execution(self, tenant_id: str, execution_id: str) -> Response:
        return _json(self.services.executions.get(tenant_id, execution_id))

    def get_history(
        self, tenant_id: str, execution_id: str, limit: int = 100, next_token: str | None = None
    ) -> Response:
        return _page(self.services.executions.history(tenant_id, execution_id, limit, next_token))

    def complete_step(self, tenant_id: str, execution_id: str, step_id: str, body: dict[str, Any]) -> Response:
        data = {"output": body.get("output")}
        accepted = self.services.executions.signal(
            tenant_id, execution_id, step_id, WakeKind.COMPLETE, body["taskToken"], data
        )
        return _json(accepted, 202)

    def fail_step(self, tenant_id: str, execution_id: str, step_id: str, body: dict[str, Any]) -> Response:
        data: dict[str, Any] = {k: body[k] for k in ("error", "cause") if k in body}
        accepted = self.services.executions.signal(
            tenant_id, execution_id, step_id, WakeKind.FAIL, body["taskToken"], data
        )
        return _json(accepted, 202)

    def heartbeat_step(self, tenant_id: str, execution_id: str, step_id: str, body: dict[str, Any]) -> Response:
        accepted = self.services.executions.signal(
            tenant_id, execution_id, step_id, WakeKind.HEARTBEAT, body["taskToken"], {}
        )
        return _json(accepted, 202)

    def cancel_execution(self, tenant_id: str, execution_id: str, body: dict[str, Any] | None = None) -> Response:
        reason = (body or {}).get("reason")
        return _json(self.services.executions.cancel(tenant_id, execution_id, reason))

    # -- events (issue 15) ------------------------------------------------------------

    def put_events(self, tenant_id: str, body: Any) -> Response:
        events = body if isinstance(body, list) else [body]
        self._events().put(tenant_id, events)
        return _json({"accepted": len(events)}, 202)

    def list_rejected_triggers(self, tenant_id: str, limit: int = 50) -> Response:
        return _json(self._events().store.rejected(tenant_id, limit))

    def _events(self) -> Any:
        from sedo.domain.errors import Unavailable

        if self.services.events is None:
            raise Unavailable("this deployment has no event bus configured")
        return self.services.events
