"""The usage ledger in the tenants table (template.yaml TenantsTable).

| item | pk | sk | attributes |
|---|---|---|---|
| usage shard | ``<tenant>#usage#<shard>`` | ``<YYYY-MM-DD>`` | one number per counter (``transitions``, ``requests.dynamodb.PutItem``...), ``expiresAt`` |
| tenants of a day | ``usage-day#<YYYY-MM-DD>`` | ``<tenant>`` | ``expiresAt`` |

A batch's counts are one ``UpdateItem ADD`` on a random shard; a tenant's range is one Query per
shard. The day index is written once per process, tenant and day. Items expire after
:data:`LEDGER_RETENTION_DAYS`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from sedo.adapters.dynamodb.common import TableStore, _n, _s, all_items

#: Days the ledger is kept (DynamoDB TTL on expiresAt).
LEDGER_RETENTION_DAYS = 400
_KEYS = ("pk", "sk", "expiresAt")


def _expiry() -> dict[str, str]:
    return _n(int(time.time()) + LEDGER_RETENTION_DAYS * 86400)


class DynamoUsageStore(TableStore):
    def add(self, tenant_id: str, day: str, shard: int, amounts: Mapping[str, float]) -> None:
        names: dict[str, str] = {}
        values: dict[str, Any] = {":e": _expiry()}
        parts = []
        for index, (name, amount) in enumerate(sorted(amounts.items())):
            if not amount:
                continue
            names[f"#a{index}"] = name
            values[f":a{index}"] = {"N": repr(round(float(amount), 6))}
            parts.append(f"#a{index} :a{index}")
        update = "SET expiresAt = :e" + (" ADD " + ", ".join(parts) if parts else "")
        args: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"pk": _s(f"{tenant_id}#usage#{shard}"), "sk": _s(day)},
            "UpdateExpression": update,
            "ExpressionAttributeValues": values,
        }
        if names:
            args["ExpressionAttributeNames"] = names
        self.client.update_item(**args)

    def register(self, tenant_id: str, day: str) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={"pk": _s(f"usage-day#{day}"), "sk": _s(tenant_id), "expiresAt": _expiry()},
        )

    def days(self, tenant_id: str, first: str, last: str, shards: int) -> dict[str, dict[str, float]]:
        found: dict[str, dict[str, float]] = {}
        for shard in range(shards):
            for item in all_items(
                self.client.query,
                TableName=self.table,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :first AND :last",
                ExpressionAttributeValues={
                    ":pk": _s(f"{tenant_id}#usage#{shard}"),
                    ":first": _s(first),
                    ":last": _s(last),
                },
            ):
                day = found.setdefault(item["sk"]["S"], {})
                for name, value in item.items():
                    if name not in _KEYS and "N" in value:
                        day[name] = day.get(name, 0.0) + float(value["N"])
        return found

    def tenants(self, day: str) -> list[str]:
        items = all_items(
            self.client.query,
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": _s(f"usage-day#{day}")},
        )
        return [item["sk"]["S"] for item in items]


__all__ = ["LEDGER_RETENTION_DAYS", "DynamoUsageStore"]
