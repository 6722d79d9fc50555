"""DynamoDB stores, on the low-level client (no type-serializer overhead, no Decimals).

Tables (declared in template.yaml, the one source of truth):

- definitions: ``pk``/``sk``. Heads: ``pk=tenant``, ``sk=definitionId``. Versions:
  ``pk=tenant#definitionId``, ``sk=v0000000001``; documents as JSON strings.
- executions: ``pk=tenant``, ``sk=executionKey`` (time-sortable); GSI ``byDefinition``
  on ``dpk=tenant#definitionId`` + ``sk``, KEYS_ONLY so transitions never write the
  index. Idempotency names: ``pk=tenant#name``, ``sk=definitionId#name``.
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
