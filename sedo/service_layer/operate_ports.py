"""What operating executions stores (issue 18), and the interfaces its adapters implement.

Aliases live in the definitions table, search-attribute index items and bulk operations in
the executions table; every key begins with the tenant (sedo/adapters/dynamodb/operations.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from sedo.domain.apinames import api_fields


@dataclass(frozen=True)
class Alias:
    """A name that routes new executions of a definition to one or two versions by weight."""

    tenant_id: str
    definition_id: str
    name: str
    routing: list[dict[str, int]]
    created_at: str
    updated_at: str
    description: str | None = None

    def describe(self) -> dict[str, Any]:
        body = api_fields(self, "name", "tenant_id", "definition_id", "routing", "created_at", "updated_at")
        if self.description:
            body["description"] = self.description
        return body


@dataclass
class BulkOperation:
    """An action applied to every execution a filter matches, a bounded batch per wake-up."""

    tenant_id: str
    id: str
    action: str
    filter: dict[str, Any]
    created_at: str
    updated_at: str
    #: ``running`` until the last batch, then ``succeeded``.
    state: str = "running"
    #: The batch the next wake-up runs, and where its listing resumes.
    page: int = 0
    cursor: str | None = None
    matched: int = 0
    done: int = 0
    failed: int = 0
    #: A few of the refusals (execution id and why), for the operator.
    errors: list[dict[str, str]] = field(default_factory=list)
    name: str | None = None

    def describe(self) -> dict[str, Any]:
        body = api_fields(self, "id", "tenant_id", "action", "filter", "state", "matched", "done", "failed")
        body["batches"] = self.page
        body.update(api_fields(self, "created_at", "updated_at"))
        if self.errors:
            body["errors"] = self.errors
        if self.name is not None:
            body["name"] = self.name
        return body


class AliasStore(Protocol):
    def put(self, alias: Alias) -> None: ...

    def get(self, tenant_id: str, definition_id: str, name: str) -> Alias | None: ...

    def list(self, tenant_id: str, definition_id: str) -> list[Alias]: ...

    def delete(self, tenant_id: str, definition_id: str, name: str) -> bool: ...


class SearchIndex(Protocol):
    def put(self, tenant_id: str, key: str, definition_id: str, values: Mapping[str, str]) -> None:
        """Index execution ``key`` under each ``name = value`` (idempotent)."""
        ...

    def query(
        self, tenant_id: str, name: str, value: str, limit: int, after: str | None
    ) -> tuple[list[str], str | None]:
        """Execution keys with ``name = value``, newest first, ``limit`` at most, after the key
        ``after``; and the key to pass as ``after`` for more (None: no more)."""
        ...

    def token(self, tenant_id: str, key: str) -> str:
        """The opaque page token for "after execution ``key``"."""
        ...

    def position(self, tenant_id: str, token: str | None) -> str | None:
        """The key a :meth:`token` names (BadRequest for one that is not such a token)."""
        ...


class BulkStore(Protocol):
    def create(self, operation: BulkOperation) -> bool:
        """Store a new operation; False if its id is taken."""
        ...

    def get(self, tenant_id: str, operation_id: str) -> BulkOperation | None: ...

    def advance(self, operation: BulkOperation, expected_page: int) -> bool:
        """Write the operation's progress if its stored ``page`` is still ``expected_page``."""
        ...


@dataclass(frozen=True)
class OperateStores:
    aliases: AliasStore
    search: SearchIndex
    bulk: BulkStore
