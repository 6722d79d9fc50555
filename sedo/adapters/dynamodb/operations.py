"""Operating executions: aliases, search-attribute index items, bulk operations.

New item kinds in the existing tables, each keyed under its tenant:

| table | item | pk | sk |
|---|---|---|---|
| definitions | alias | ``<tenant>#<definitionId>`` | ``alias#<name>`` (versions are ``v<10 digits>``) |
| executions | search index entry | ``<tenant>#attr#<name>#<value>`` | ``<executionKey>`` (time-sortable) |
| executions | bulk operation | ``<tenant>#bulk`` | ``<operationId>`` |

An index entry is written once, when its execution starts (a BatchWriteItem of one put per
attribute), and read by a Query newest first; a reader checks each key's head, so an entry
whose start never completed matches nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sedo.adapters import tokens
from sedo.adapters.dynamodb.common import TableStore, _n, _s, batch_write, conditional, put_once
from sedo.service_layer.operate_ports import Alias, BulkOperation

ALIAS_PREFIX = "alias#"


class DynamoAliasStore(TableStore):
    @staticmethod
    def _key(tenant_id: str, definition_id: str, name: str) -> dict[str, Any]:
        return {"pk": _s(f"{tenant_id}#{definition_id}"), "sk": _s(ALIAS_PREFIX + name)}

    @staticmethod
    def _alias(tenant_id: str, definition_id: str, item: dict[str, Any]) -> Alias:
        return Alias(
            tenant_id=tenant_id,
            definition_id=definition_id,
            name=item["sk"]["S"][len(ALIAS_PREFIX) :],
            routing=json.loads(item["routing"]["S"]),
            created_at=item["createdAt"]["S"],
            updated_at=item["updatedAt"]["S"],
            description=item.get("description", {}).get("S"),
        )

    def put(self, alias: Alias) -> None:
        item = {
            **self._key(alias.tenant_id, alias.definition_id, alias.name),
            "routing": _s(json.dumps(alias.routing, separators=(",", ":"))),
            "createdAt": _s(alias.created_at),
            "updatedAt": _s(alias.updated_at),
        }
        if alias.description:
            item["description"] = _s(alias.description)
        self.client.put_item(TableName=self.table, Item=item)

    def get(self, tenant_id: str, definition_id: str, name: str) -> Alias | None:
        item = self.client.get_item(
            TableName=self.table, Key=self._key(tenant_id, definition_id, name), ConsistentRead=True
        ).get("Item")
        return self._alias(tenant_id, definition_id, item) if item else None

    def list(self, tenant_id: str, definition_id: str) -> list[Alias]:
        response = self.client.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :alias)",
            ExpressionAttributeValues={":pk": _s(f"{tenant_id}#{definition_id}"), ":alias": _s(ALIAS_PREFIX)},
            ConsistentRead=True,
        )
        return [self._alias(tenant_id, definition_id, item) for item in response.get("Items", [])]

    def delete(self, tenant_id: str, definition_id: str, name: str) -> bool:
        response = conditional(
            self.client.delete_item,
            TableName=self.table,
            Key=self._key(tenant_id, definition_id, name),
            ConditionExpression="attribute_exists(pk)",
        )
        return response is not None


def _index_pk(tenant_id: str, name: str, value: str) -> str:
    return f"{tenant_id}#attr#{name}#{value}"


class DynamoSearchIndex(TableStore):
    def put(self, tenant_id: str, key: str, definition_id: str, values: Mapping[str, str]) -> None:
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": _s(_index_pk(tenant_id, name, value)),
                        "sk": _s(key),
                        "definitionId": _s(definition_id),
                    }
                }
            }
            for name, value in values.items()
        ]
        batch_write(self.client, self.table, requests)

    def query(
        self, tenant_id: str, name: str, value: str, limit: int, after: str | None
    ) -> tuple[list[str], str | None]:
        pk = _index_pk(tenant_id, name, value)
        args: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(pk)},
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after is not None:
            args["ExclusiveStartKey"] = {"pk": _s(pk), "sk": _s(after)}
        response = self.client.query(**args)
        keys = [item["sk"]["S"] for item in response.get("Items", [])]
        return keys, (keys[-1] if keys and response.get("LastEvaluatedKey") else None)

    def token(self, tenant_id: str, key: str) -> str:
        return tokens.encode_key(tenant_id, key)

    def position(self, tenant_id: str, token: str | None) -> str | None:
        return tokens.decode_key(tenant_id, token)


def _bulk_key(tenant_id: str, operation_id: str) -> dict[str, Any]:
    return {"pk": _s(f"{tenant_id}#bulk"), "sk": _s(operation_id)}


class DynamoBulkStore(TableStore):
    @staticmethod
    def _item(operation: BulkOperation) -> dict[str, Any]:
        body = operation.describe()
        body.update(cursor=operation.cursor, page=operation.page, errors=operation.errors)
        return {
            **_bulk_key(operation.tenant_id, operation.id),
            "page": _n(operation.page),
            "doc": _s(json.dumps(body, separators=(",", ":"))),
        }

    def create(self, operation: BulkOperation) -> bool:
        return put_once(
            self.client,
            TableName=self.table,
            Item=self._item(operation),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get(self, tenant_id: str, operation_id: str) -> BulkOperation | None:
        item = self.client.get_item(
            TableName=self.table, Key=_bulk_key(tenant_id, operation_id), ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        body = json.loads(item["doc"]["S"])
        return BulkOperation(
            tenant_id=tenant_id,
            id=operation_id,
            action=body["action"],
            filter=body["filter"],
            created_at=body["createdAt"],
            updated_at=body["updatedAt"],
            state=body["state"],
            page=int(body["page"]),
            cursor=body.get("cursor"),
            matched=int(body["matched"]),
            done=int(body["done"]),
            failed=int(body["failed"]),
            errors=list(body.get("errors") or []),
            name=body.get("name"),
        )

    def advance(self, operation: BulkOperation, expected_page: int) -> bool:
        return put_once(
            self.client,
            TableName=self.table,
            Item=self._item(operation),
            ConditionExpression="page = :expected",
            ExpressionAttributeValues={":expected": _n(expected_page)},
        )
