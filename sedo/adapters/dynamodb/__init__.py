"""DynamoDB stores, on the low-level client (no type-serializer overhead, no Decimals).

Tables (declared in template.yaml, the one source of truth):

- definitions: ``pk``/``sk``. Heads: ``pk=tenant``, ``sk=definitionId``. Versions:
  ``pk=tenant#definitionId``, ``sk=v0000000001``; documents as JSON strings.
- executions (keys: layout.py): every head in a partition of its own,
  ``pk=tenant#executionKey``, ``sk=head``; top-level executions listed through list items
  in 16 shards ``pk=tenant#list#nn`` (``sk=executionKey``, time-sortable) written when
  they start and finish, whose ``dpk=tenant#definitionId#nn`` is the GSI ``byDefinition``
  (KEYS_ONLY); names ``pk=tenant#name#definitionId#name``; a fan-out's counter in its
  parent's partition and its per-item records over 16 shards (iterations.py).
  Values kept apart from heads (the claim check): ``pk=tenant#executionKey#v``,
  ``sk=sha256``; larger ones are objects of the payload bucket (payloads.py).
- history: ``pk=tenant#executionKey``, ``sk`` = id of the segment's first event; one
  item per committed segment (one write per transition, not per event).
"""

from sedo.adapters.dynamodb.common import BY_DEFINITION_INDEX, all_items, conditional, execution_key
from sedo.adapters.dynamodb.definitions import DynamoDefinitionStore
from sedo.adapters.dynamodb.executions import DynamoExecutionStore
from sedo.adapters.dynamodb.iterations import DynamoIterationStore
from sedo.adapters.dynamodb.payloads import DynamoPayloadStore

__all__ = [
    "BY_DEFINITION_INDEX",
    "DynamoDefinitionStore",
    "DynamoExecutionStore",
    "DynamoIterationStore",
    "DynamoPayloadStore",
    "all_items",
    "conditional",
    "execution_key",
]
