"""Where every item of the executions table lives: the keys, in one place (docs/DESIGN.md §3).

No key of the transition path is shared by the executions of a tenant or the items of a map:

- a head is the only item of its own partition ``pk=<tenant>#<executionKey>``,
  ``sk=head`` (a child's key is ``<parent>.<instance>.<index>``, so a child has its own
  partition too, and its fan-out result is ``sk=result`` there);
- a top-level execution has one **list item**, in one of :data:`LIST_SHARDS` partitions
  ``pk=<tenant>#list#<nn>`` (``sk=<executionKey>``, time-sortable), written when it is
  created (``state=open``) and when it finishes (its final state); its ``dpk`` =
  ``<tenant>#<definitionId>#<nn>`` puts it in the ``byDefinition`` index, sharded the same
  way. A listing merges the shards newest first and reads the heads of the page;
- an idempotency name is ``pk=<tenant>#name#<definitionId>#<name>``, ``sk=name``;
- a fan-out step attempt (``instance``) keeps its counter (``sk=map#<instance>``) and its
  page leases (``sk=page#<instance>#<after>``) in the parent's partition, written a constant
  number of times per map (a fold per full bucket), and everything written or read per item
  in :data:`FAN_SHARDS` partitions ``pk=<tenant>#<parent>#<instance>#<nn>``: the children's
  index (``sk=c#<index>``), the completion buckets (``sk=b#<group>``), the iteration inputs
  (``sk=i#<chunk>``) and the closed marker (``sk=closed``).
"""

from __future__ import annotations

import zlib
from typing import Any

#: Partitions of a tenant's listing (and of each definition's index).
LIST_SHARDS = 16
#: Partitions of one fan-out step attempt's per-item records.
FAN_SHARDS = 16
#: Iterations per completion bucket (a bucket's members share one lane: see :func:`bucket_of`).
BUCKET = 100
#: Iteration inputs per item.
CHUNK = 50
HEAD_SK = "head"
RESULT_SK = "result"
NAME_SK = "name"
CLOSED_SK = "closed"
#: The list item's ``state`` while the execution runs (the final state replaces it).
OPEN = "open"


def s(value: str) -> dict[str, str]:
    return {"S": value}


# -- heads -----------------------------------------------------------------------------------


def head_key(tenant_id: str, key: str) -> dict[str, dict[str, str]]:
    """The head of execution ``key`` (top-level or a child): a partition of its own."""
    return {"pk": s(f"{tenant_id}#{key}"), "sk": s(HEAD_SK)}


def result_key(tenant_id: str, child_key: str) -> dict[str, dict[str, str]]:
    """A child's fan-out result, next to its head."""
    return {"pk": s(f"{tenant_id}#{child_key}"), "sk": s(RESULT_SK)}


def name_key(tenant_id: str, definition_id: str, name: str) -> dict[str, dict[str, str]]:
    return {"pk": s(f"{tenant_id}#name#{definition_id}#{name}"), "sk": s(NAME_SK)}


# -- listing ---------------------------------------------------------------------------------


def list_shard(key: str) -> int:
    return zlib.crc32(key.encode()) % LIST_SHARDS


def list_pk(tenant_id: str, shard: int) -> str:
    return f"{tenant_id}#list#{shard:02d}"


def definition_pk(tenant_id: str, definition_id: str, shard: int) -> str:
    return f"{tenant_id}#{definition_id}#{shard:02d}"


def list_item(tenant_id: str, definition_id: str, key: str, state: str) -> dict[str, Any]:
    """A top-level execution's entry in its tenant's listing and its definition's index."""
    shard = list_shard(key)
    return {
        "pk": s(list_pk(tenant_id, shard)),
        "sk": s(key),
        "state": s(state),
        "dpk": s(definition_pk(tenant_id, definition_id, shard)),
    }


# -- fan-out ---------------------------------------------------------------------------------


def fan_pk(tenant_id: str, parent_key: str, instance: int, shard: int) -> dict[str, str]:
    return s(f"{tenant_id}#{parent_key}#{instance}#{shard:02d}")


def counter_key(tenant_id: str, parent_key: str, instance: int) -> dict[str, dict[str, str]]:
    return {"pk": s(f"{tenant_id}#{parent_key}"), "sk": s(f"map#{instance:010d}")}


def page_key(tenant_id: str, parent_key: str, instance: int, after: int) -> dict[str, dict[str, str]]:
    return {"pk": s(f"{tenant_id}#{parent_key}"), "sk": s(f"page#{instance:010d}#{after:06d}")}


def index_shard(index: int) -> int:
    return index % FAN_SHARDS


def child_index_key(tenant_id: str, parent_key: str, instance: int, index: int) -> dict[str, dict[str, str]]:
    return {"pk": fan_pk(tenant_id, parent_key, instance, index_shard(index)), "sk": s(f"c#{index:06d}")}


def closed_key(tenant_id: str, parent_key: str, instance: int, shard: int) -> dict[str, dict[str, str]]:
    return {"pk": fan_pk(tenant_id, parent_key, instance, shard), "sk": s(CLOSED_SK)}


def chunk_key(tenant_id: str, parent_key: str, instance: int, chunk: int) -> dict[str, dict[str, str]]:
    return {"pk": fan_pk(tenant_id, parent_key, instance, chunk % FAN_SHARDS), "sk": s(f"i#{chunk:06d}")}


def bucket_of(index: int) -> int:
    """The completion bucket of iteration ``index``. Consecutive iterations go to consecutive
    lanes (``index % FAN_SHARDS``, one partition each), so the items finishing together
    write to different items and partitions; a lane's bucket holds :data:`BUCKET` of its
    iterations (group ``index // (FAN_SHARDS * BUCKET)``). Bucket ``group * FAN_SHARDS + lane``."""
    return (index // (FAN_SHARDS * BUCKET)) * FAN_SHARDS + index % FAN_SHARDS


def bucket_size(bucket: int, total: int) -> int:
    """How many of ``total`` iterations belong to ``bucket``: it is full at that many members."""
    group, lane = divmod(bucket, FAN_SHARDS)
    first = group * FAN_SHARDS * BUCKET + lane
    end = min(total, (group + 1) * FAN_SHARDS * BUCKET)
    return len(range(first, end, FAN_SHARDS))


def bucket_key(tenant_id: str, parent_key: str, instance: int, bucket: int) -> dict[str, dict[str, str]]:
    group, lane = divmod(bucket, FAN_SHARDS)
    return {"pk": fan_pk(tenant_id, parent_key, instance, lane), "sk": s(f"b#{group:05d}")}
