"""The index of a map's item source in S3: where each child's items are (byte ranges).

One item per ``INDEX_CHUNK`` children (sedo/service_layer/itemsource.py), in a partition of
its own per step attempt: ``pk=<tenant>#<parentKey>#<instance>#x``, ``sk=<chunk, 6 digits>``,
``c`` the children as JSON ``[[start, end, number, count], ...]``. Written by plain puts
of fixed keys (a redelivered range writes the same item again), read with BatchGetItem.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sedo.adapters.dynamodb.common import TableStore, _s, batch_get


class DynamoItemIndex(TableStore):
    @staticmethod
    def _key(tenant_id: str, parent_key: str, instance: int, chunk: int) -> dict[str, Any]:
        return {"pk": _s(f"{tenant_id}#{parent_key}#{instance}#x"), "sk": _s(f"{chunk:06d}")}

    def put(self, tenant_id: str, parent_key: str, instance: int, chunk: int, entries: list[list[int]]) -> None:
        item = {
            **self._key(tenant_id, parent_key, instance, chunk),
            "c": _s(json.dumps(entries, separators=(",", ":"))),
        }
        self.client.put_item(TableName=self.table, Item=item)

    def get(self, tenant_id: str, parent_key: str, instance: int, chunks: Sequence[int]) -> dict[int, list[list[int]]]:
        keys = [self._key(tenant_id, parent_key, instance, c) for c in chunks]
        return {int(item["sk"]["S"]): json.loads(item["c"]["S"]) for item in batch_get(self.client, self.table, keys)}
