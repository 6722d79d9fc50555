"""Definitions: heads (``pk=tenant``, ``sk=definitionId``) and immutable versions."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from sedo.adapters import tokens
from sedo.adapters.dynamodb.common import (
    _n,
    _s,
    conditional,
)
from sedo.domain.errors import BadRequest, Conflict
from sedo.service_layer.ports import DefinitionHead, DefinitionVersion, Page


class DynamoDefinitionStore:
    #: Versions kept in memory (they never change once written): a start reads no version.
    VERSION_CACHE = 256

    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table
        self._versions: OrderedDict[tuple[str, str, int], tuple[str, str]] = OrderedDict()

    @staticmethod
    def _head(item: dict[str, Any]) -> DefinitionHead:
        return DefinitionHead(
            tenant_id=item["pk"]["S"],
            id=item["sk"]["S"],
            latest_version=int(item["latestVersion"]["N"]),
            created_at=item["createdAt"]["S"],
            updated_at=item["updatedAt"]["S"],
            deleted=item.get("deleted", {}).get("BOOL", False),
            description=item.get("description", {}).get("S"),
        )

    def get_head(self, tenant_id: str, definition_id: str, consistent: bool = True) -> DefinitionHead | None:
        item = self.client.get_item(
            TableName=self.table, Key={"pk": _s(tenant_id), "sk": _s(definition_id)}, ConsistentRead=consistent
        ).get("Item")
        return self._head(item) if item else None

    def get_version(self, tenant_id: str, definition_id: str, version: int) -> DefinitionVersion | None:
        cache_key = (tenant_id, definition_id, version)
        cached = self._versions.get(cache_key)
        if cached is None:
            item = self.client.get_item(
                TableName=self.table,
                Key={"pk": _s(f"{tenant_id}#{definition_id}"), "sk": _s(f"v{version:010d}")},
                ConsistentRead=True,
            ).get("Item")
            if not item:
                return None
            cached = self._versions[cache_key] = (item["document"]["S"], item["createdAt"]["S"])
            if len(self._versions) > self.VERSION_CACHE:
                self._versions.popitem(last=False)
        else:
            self._versions.move_to_end(cache_key)
        return DefinitionVersion(
            tenant_id=tenant_id,
            id=definition_id,
            version=version,
            document=json.loads(cached[0]),  # a fresh copy for each caller
            created_at=cached[1],
        )

    def put_version(self, head: DefinitionHead, document: dict[str, Any], previous: DefinitionHead | None) -> None:
        head_item: dict[str, Any] = {
            "pk": _s(head.tenant_id),
            "sk": _s(head.id),
            "latestVersion": _n(head.latest_version),
            "createdAt": _s(head.created_at),
            "updatedAt": _s(head.updated_at),
            "deleted": {"BOOL": False},
        }
        if head.description:
            head_item["description"] = _s(head.description)
        head_put: dict[str, Any] = {"TableName": self.table, "Item": head_item}
        if previous is None:
            head_put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            head_put["ConditionExpression"] = "latestVersion = :v AND deleted = :d"
            head_put["ExpressionAttributeValues"] = {
                ":v": _n(previous.latest_version),
                ":d": {"BOOL": previous.deleted},
            }
        version_put = {
            "TableName": self.table,
            "Item": {
                "pk": _s(f"{head.tenant_id}#{head.id}"),
                "sk": _s(f"v{head.latest_version:010d}"),
                "document": _s(json.dumps(document, separators=(",", ":"))),
                "createdAt": _s(head.updated_at),
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        if (
            conditional(self.client.transact_write_items, TransactItems=[{"Put": head_put}, {"Put": version_put}])
            is None
        ):
            raise Conflict(f"definition {head.id!r} was changed by another request; retry")

    def mark_deleted(self, head: DefinitionHead, now: str) -> bool:
        response = conditional(
            self.client.update_item,
            TableName=self.table,
            Key={"pk": _s(head.tenant_id), "sk": _s(head.id)},
            UpdateExpression="SET deleted = :t, updatedAt = :now",
            ConditionExpression="deleted = :f",
            ExpressionAttributeValues={":t": {"BOOL": True}, ":f": {"BOOL": False}, ":now": _s(now)},
        )
        return response is not None

    #: Items a listing query evaluates at least: deleted heads stay (version numbers
    #: continue after a delete) and are filtered out, so a small Limit would cost one
    #: request per deleted head.
    LIST_BATCH = 100

    def list_heads(self, tenant_id: str, limit: int, token: str | None) -> Page:
        start = tokens.decode(tenant_id, token)
        if start is not None and not self._is_head_key(start, tenant_id):
            # A token from another listing (or made up): DynamoDB would reject the key with a 500.
            raise BadRequest("nextToken is not valid here: pass back the value a listing returned")
        heads: list[DefinitionHead] = []
        position = start
        while True:
            args: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk",
                "FilterExpression": "deleted = :f",
                "ExpressionAttributeValues": {":pk": _s(tenant_id), ":f": {"BOOL": False}},
                "Limit": max(limit, self.LIST_BATCH),
            }
            if position:
                args["ExclusiveStartKey"] = position
            response = self.client.query(**args)
            items = response.get("Items", [])
            position = response.get("LastEvaluatedKey")
            for index, item in enumerate(items):
                heads.append(self._head(item))
                if len(heads) == limit:
                    # The page ends at this head; the next one starts after it, if anything follows.
                    more = index < len(items) - 1 or position is not None
                    last = {"pk": item["pk"], "sk": item["sk"]}
                    return Page(heads, tokens.encode(tenant_id, last) if more else None)
            if position is None:
                return Page(heads, None)

    @staticmethod
    def _is_head_key(key: dict[str, Any], tenant_id: str) -> bool:
        """True for the key of one of ``tenant_id``'s definition heads."""
        sort = key.get("sk")
        return (
            set(key) == {"pk", "sk"}
            and key["pk"] == _s(tenant_id)
            and isinstance(sort, dict)
            and set(sort) == {"S"}
            and isinstance(sort["S"], str)
        )
