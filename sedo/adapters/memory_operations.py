"""In-memory fakes of the stores of sedo/service_layer/operate_ports.py, for unit tests."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from sedo.adapters import tokens
from sedo.service_layer.operate_ports import Alias, BulkOperation, OperateStores


class MemoryAliasStore:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], Alias] = {}

    def put(self, alias: Alias) -> None:
        self.items[(alias.tenant_id, alias.definition_id, alias.name)] = alias

    def get(self, tenant_id: str, definition_id: str, name: str) -> Alias | None:
        return self.items.get((tenant_id, definition_id, name))

    def list(self, tenant_id: str, definition_id: str) -> list[Alias]:
        return [a for (t, d, _), a in sorted(self.items.items()) if (t, d) == (tenant_id, definition_id)]

    def delete(self, tenant_id: str, definition_id: str, name: str) -> bool:
        return self.items.pop((tenant_id, definition_id, name), None) is not None


class MemorySearchIndex:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str, str], set[str]] = {}

    def put(self, tenant_id: str, key: str, definition_id: str, values: Mapping[str, str]) -> None:
        for name, value in values.items():
            self.entries.setdefault((tenant_id, name, value), set()).add(key)

    def query(
        self, tenant_id: str, name: str, value: str, limit: int, after: str | None
    ) -> tuple[list[str], str | None]:
        keys = sorted(self.entries.get((tenant_id, name, value), ()), reverse=True)
        if after is not None:
            keys = [k for k in keys if k < after]
        page = keys[:limit]
        return page, (page[-1] if len(keys) > limit else None)

    def token(self, tenant_id: str, key: str) -> str:
        return tokens.encode_key(tenant_id, key)

    def position(self, tenant_id: str, token: str | None) -> str | None:
        return tokens.decode_key(tenant_id, token)


class MemoryBulkStore:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], BulkOperation] = {}

    def create(self, operation: BulkOperation) -> bool:
        if (operation.tenant_id, operation.id) in self.items:
            return False
        self.items[(operation.tenant_id, operation.id)] = copy.deepcopy(operation)
        return True

    def get(self, tenant_id: str, operation_id: str) -> BulkOperation | None:
        found = self.items.get((tenant_id, operation_id))
        return copy.deepcopy(found) if found is not None else None

    def advance(self, operation: BulkOperation, expected_page: int) -> bool:
        current = self.items.get((operation.tenant_id, operation.id))
        if current is None or current.page != expected_page:
            return False
        self.items[(operation.tenant_id, operation.id)] = copy.deepcopy(operation)
        return True


def memory_operate_stores() -> OperateStores:
    return OperateStores(MemoryAliasStore(), MemorySearchIndex(), MemoryBulkStore())
