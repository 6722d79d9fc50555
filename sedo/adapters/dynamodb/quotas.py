"""Quotas and their counters in the tenants table (template.yaml TenantsTable).

| item | pk | sk | attributes |
|---|---|---|---|
| quotas | ``<tenant>#quotas`` | ``quotas`` | maxRunningExecutions, startsPerSecond, maxDefinitions, runningShards, updatedAt |
| running shard | ``<tenant>#running#<shard>`` | ``running`` | ``members``: a string set of execution keys |
| start bucket | ``<tenant>#starts#<shard>`` | ``bucket`` | ``tat``: GCRA's theoretical arrival time (ms) |

Every shard is a partition key of its own, so no counter is a hot key.
"""

from __future__ import annotations

from typing import Any

from sedo.adapters.dynamodb.common import TableStore, _n, _s, batch_get, conditional
from sedo.service_layer.quotas import Quotas


class DynamoQuotaStore(TableStore):
    @staticmethod
    def _quotas_key(tenant_id: str) -> dict[str, Any]:
        return {"pk": _s(f"{tenant_id}#quotas"), "sk": _s("quotas")}

    @staticmethod
    def _running_key(tenant_id: str, shard: int) -> dict[str, Any]:
        return {"pk": _s(f"{tenant_id}#running#{shard}"), "sk": _s("running")}

    def get_quotas(self, tenant_id: str) -> tuple[Quotas, int] | None:
        item = self.client.get_item(TableName=self.table, Key=self._quotas_key(tenant_id), ConsistentRead=True).get(
            "Item"
        )
        if item is None:
            return None

        def number(name: str) -> int:
            return int(item.get(name, {}).get("N", "0"))

        quotas = Quotas(number("maxRunningExecutions"), number("startsPerSecond"), number("maxDefinitions"))
        return quotas, number("runningShards")

    def put_quotas(self, tenant_id: str, quotas: Quotas, running_shards: int, now: str) -> None:
        self.client.put_item(
            TableName=self.table,
            Item={
                **self._quotas_key(tenant_id),
                "tenantId": _s(tenant_id),
                **{name: _n(value) for name, value in quotas.to_api().items()},
                "runningShards": _n(running_shards),
                "updatedAt": _s(now),
            },
        )

    def _slot(self, tenant_id: str, shard: int, key: str, update: str, condition: str, **values: Any) -> bool:
        """One conditional update of a running shard's set of keys: True when applied."""
        response = conditional(
            self.client.update_item,
            TableName=self.table,
            Key=self._running_key(tenant_id, shard),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeValues={":k": {"SS": [key]}, ":key": _s(key), **values},
        )
        return response is not None

    def take_slot(self, tenant_id: str, shard: int, key: str, share: int) -> bool:
        if share <= 0:
            return False
        condition = "attribute_not_exists(members) OR size(members) < :share OR contains(members, :key)"
        return self._slot(tenant_id, shard, key, "ADD members :k", condition, **{":share": _n(share)})

    def give_back_slots(self, tenant_id: str, shard: int, keys: set[str]) -> set[str]:
        if not keys:
            return set()
        response = conditional(
            self.client.update_item,
            TableName=self.table,
            Key=self._running_key(tenant_id, shard),
            UpdateExpression="DELETE members :k",
            ConditionExpression="attribute_exists(members)",
            ExpressionAttributeValues={":k": {"SS": sorted(keys)}},
            ReturnValues="UPDATED_OLD",
        )
        if response is None:
            return set()
        return keys & set(response.get("Attributes", {}).get("members", {}).get("SS", []))

    def running(self, tenant_id: str, shards: int) -> dict[int, set[str]]:
        keys = [self._running_key(tenant_id, shard) for shard in range(shards)]
        found: dict[int, set[str]] = {}
        for item in batch_get(self.client, self.table, keys):
            shard = int(item["pk"]["S"].rsplit("#", 1)[1])
            found[shard] = set(item.get("members", {}).get("SS", []))
        return found

    def take_token(self, tenant_id: str, shard: int, now_ms: int, interval_ms: int, tolerance_ms: int) -> int:
        key = {"pk": _s(f"{tenant_id}#starts#{shard}"), "sk": _s("bucket")}
        # A full bucket (the theoretical arrival time has passed): start from now.
        if conditional(
            self.client.update_item,
            TableName=self.table,
            Key=key,
            UpdateExpression="SET tat = :next",
            ConditionExpression="attribute_not_exists(tat) OR tat <= :now",
            ExpressionAttributeValues={":next": _n(now_ms + interval_ms), ":now": _n(now_ms)},
        ):
            return 0
        # Tokens left within the burst: move the arrival time on by one interval.
        try:
            self.client.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression="SET tat = tat + :interval",
                ConditionExpression="tat <= :limit",
                ExpressionAttributeValues={":interval": _n(interval_ms), ":limit": _n(now_ms + tolerance_ms)},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException as exc:
            old: Any = exc.response.get("Item") or {}
            tat = int(old.get("tat", {}).get("N", str(now_ms)))
            return max(1, tat - tolerance_ms - now_ms)
        return 0


__all__ = ["DynamoQuotaStore"]
