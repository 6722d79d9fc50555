"""A client for sedo's REST API (openapi/sedo.yaml), over httpx.

One method per operation the CLI uses, each returning the API's JSON. A problem the
API answers becomes :class:`ApiError` (its problem+json at hand); a server that cannot
be reached becomes :class:`Unreachable`. Both say what to do next.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

JSON = dict[str, Any]


class ClientError(Exception):
    """Anything the client could not do; ``str()`` is a message for a person."""


class Unreachable(ClientError):
    pass


class ApiError(ClientError):
    """A 4xx or 5xx answer; ``problem`` is its problem+json (or what stood in for it)."""

    def __init__(self, status: int, problem: JSON, url: str) -> None:
        self.status = status
        self.problem = problem
        self.url = url
        super().__init__(self.message())

    @property
    def detail(self) -> str:
        return str(self.problem.get("detail") or self.problem.get("title") or f"HTTP {self.status}")

    @property
    def errors(self) -> list[JSON]:
        errors = self.problem.get("errors")
        return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []

    def message(self) -> str:
        hint = {
            401: "the token was refused: set SEDO_TOKEN to a valid one (locally: sedo token --tenant ID)",
            403: "the token does not grant this tenant, or grants a lesser role: use a token with the right role",
        }.get(self.status)
        return f"{self.detail}\n{hint}" if hint else self.detail


def _segment(value: str) -> str:
    return quote(value, safe="")


class SedoClient:
    def __init__(
        self,
        url: str,
        token: str | None,
        tenant: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.tenant = tenant
        headers = {"Accept": "application/json, application/problem+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SedoClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------

    def _tenant_path(self, *parts: str) -> str:
        return "/sedo/tenants/" + "/".join(_segment(p) for p in (self.tenant, *parts))

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise Unreachable(
                f"cannot connect to sedo at {self.url} ({exc}); is it running? "
                "Locally start it with 'make run', or set SEDO_URL to where it runs"
            ) from None
        except httpx.TimeoutException:
            raise Unreachable(f"sedo at {self.url} did not answer in time; retry, or check SEDO_URL") from None
        except httpx.HTTPError as exc:
            raise Unreachable(f"talking to sedo at {self.url} failed: {exc}") from None
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                body = {"status": response.status_code, "detail": f"HTTP {response.status_code}: {response.text[:200]}"}
            raise ApiError(response.status_code, body, str(response.url))
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    def _pages(self, path: str, params: dict[str, Any], limit: int | None = None) -> Iterator[JSON]:
        """Every item of a list, following ``Sedo-Next-Token``; at most ``limit`` items."""
        params = {k: v for k, v in params.items() if v not in (None, [], ())}
        seen = 0
        while True:
            response = self.request("GET", path, params=params)
            for item in response.json():
                yield item
                seen += 1
                if limit is not None and seen >= limit:
                    return
            token = response.headers.get("Sedo-Next-Token")
            if not token:
                return
            params = {**params, "nextToken": token}

    # -- operations -----------------------------------------------------------------

    def health(self) -> JSON:
        return dict(self._json("GET", "/sedo/health"))

    def create_definition(self, body: bytes, media_type: str) -> JSON:
        path = self._tenant_path("definitions")
        return dict(self._json("POST", path, content=body, headers={"Content-Type": media_type}))

    def update_definition(self, definition_id: str, body: bytes, media_type: str) -> JSON:
        path = self._tenant_path("definitions", definition_id)
        return dict(self._json("PUT", path, content=body, headers={"Content-Type": media_type}))

    def delete_definition(self, definition_id: str) -> None:
        self.request("DELETE", self._tenant_path("definitions", definition_id))

    def get_definition(self, definition_id: str, version: int | None = None) -> JSON:
        params = {"version": version} if version is not None else None
        return dict(self._json("GET", self._tenant_path("definitions", definition_id), params=params))

    def list_definitions(self, limit: int | None = None) -> list[JSON]:
        return list(self._pages(self._tenant_path("definitions"), {"limit": 100}, limit))

    def execute(self, definition_id: str, input: Any, name: str | None = None, alias: str | None = None) -> JSON:
        body: JSON = {"input": input}
        if name is not None:
            body["name"] = name
        if alias is not None:
            body["alias"] = alias
        return dict(self._json("POST", self._tenant_path("definitions", definition_id, "execute"), json=body))

    def list_executions(
        self,
        definition_id: str | None = None,
        states: list[str] | None = None,
        limit: int | None = None,
        attrs: dict[str, str] | None = None,
    ) -> list[JSON]:
        params = {"limit": 100, "definitionId": definition_id, "state": states or None}
        params.update({f"attr.{k}": v for k, v in (attrs or {}).items()})
        return list(self._pages(self._tenant_path("executions"), params, limit))

    def get_execution(self, execution_id: str) -> JSON:
        return dict(self._json("GET", self._tenant_path("executions", execution_id)))

    def history(self, execution_id: str) -> list[JSON]:
        return list(self._pages(self._tenant_path("executions", execution_id, "history"), {"limit": 100}))

    def iterations(self, execution_id: str, states: list[str] | None = None, limit: int | None = None) -> list[JSON]:
        params = {"limit": 100, "state": states or None}
        return list(self._pages(self._tenant_path("executions", execution_id, "iterations"), params, limit))

    def cancel(self, execution_id: str, reason: str | None = None) -> JSON:
        path = self._tenant_path("executions", execution_id, "cancel")
        if reason is None:
            return dict(self._json("POST", path))  # the body is optional
        return dict(self._json("POST", path, json={"reason": reason}))

    def complete(self, execution_id: str, step_id: str, token: str, output: Any) -> JSON:
        path = self._tenant_path("executions", execution_id, "steps", step_id, "complete")
        return dict(self._json("POST", path, json={"taskToken": token, "output": output}))

    def fail(self, execution_id: str, step_id: str, token: str, error: str | None, cause: str | None = None) -> JSON:
        body: JSON = {"taskToken": token}
        if error is not None:
            body["error"] = error
        if cause is not None:
            body["cause"] = cause
        path = self._tenant_path("executions", execution_id, "steps", step_id, "fail")
        return dict(self._json("POST", path, json=body))

    # -- operating executions (issue 18) --------------------------------------------

    def put_alias(self, definition_id: str, name: str, routing: list[JSON], description: str | None = None) -> JSON:
        body: JSON = {"routing": routing}
        if description is not None:
            body["description"] = description
        return dict(self._json("PUT", self._tenant_path("definitions", definition_id, "aliases", name), json=body))

    def get_alias(self, definition_id: str, name: str) -> JSON:
        return dict(self._json("GET", self._tenant_path("definitions", definition_id, "aliases", name)))

    def list_aliases(self, definition_id: str) -> list[JSON]:
        return list(self._json("GET", self._tenant_path("definitions", definition_id, "aliases")))

    def delete_alias(self, definition_id: str, name: str) -> None:
        self.request("DELETE", self._tenant_path("definitions", definition_id, "aliases", name))

    def control(self, execution_id: str, action: str) -> JSON:
        """``redrive``, ``pause`` or ``resume`` an execution."""
        return dict(self._json("POST", self._tenant_path("executions", execution_id, action)))

    def start_bulk(self, action: str, filter: JSON, name: str | None = None) -> JSON:
        body: JSON = {"action": action, "filter": filter}
        if name is not None:
            body["name"] = name
        return dict(self._json("POST", self._tenant_path("bulk"), json=body))

    def get_bulk(self, operation_id: str) -> JSON:
        return dict(self._json("GET", self._tenant_path("bulk", operation_id)))
