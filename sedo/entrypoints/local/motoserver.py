"""The moto server of the local stack, with DynamoDB's one-write-at-a-time per item.

DynamoDB applies the writes to an item one after the other: a write's condition, its
change and its ``ReturnValues`` answer are one step. moto's server serves requests on
threads and its DynamoDB backend takes no lock, so two writes to one item can interleave:
an ``UpdateItem`` ``ADD members :i, succeeded :one`` guarded by ``NOT contains(members, :i)``
was seen to keep its count and lose its member (a map's completion bucket then never filled,
and a 10,000-item map never finished). ``python -m sedo.entrypoints.local.motoserver`` runs
moto's own server (same arguments) with one lock around DynamoDB's write requests, from
reading the item to answering. Reads stay concurrent, as on DynamoDB.

It also keeps moto's SQS from counting every message of a queue where it needs one setting
(:func:`install_sqs`): moto builds a queue's whole attribute map, whose approximate counts
walk every message, twice for each message it receives (to read the retention period), twice
per attribute a ``GetQueueAttributes`` names, and once per message sent. A receive then
costs O(batch x queue length) and a send O(queue length), so a run whose queues hold
thousands of messages slowed down with the square of its size. The answers are unchanged.

And it keeps moto's DynamoDB ``Query`` from sorting the whole table (:func:`install_queries`):
moto 5 gathers the candidates of every query from a sorted list of all the table's items, so
a query of one partition key cost O(n log n) in the table's size and a run's tables of
thousands of heads, history segments and index entries made every read slower. A query of
the table now looks at its partition only; one of an index walks the items once, unsorted, and
sorts only what matches, by the index's keys and the table's (a total order, as before).

And it parses each JSONPath once (:func:`install_events`): moto's EventBridge builds every
target's input from a template of JSONPaths (eight of them when the target has no
InputTransformer) and parses each with ``jsonpath_ng.ext.parse``, which builds a new PLY
parser from its grammar tables every time: an event matching one rule cost more than the
DynamoDB writes of the wake-up that put it (13% of the server's CPU in a bench profile).
Parsed paths are kept (at most 512), and ``find`` on one only reads it.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any

from moto.core.utils import camelcase_to_underscores, unix_time
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.sqs.exceptions import InvalidAttributeName
from moto.sqs.models import Message, Queue, SQSBackend

#: DynamoDB's requests that write items (PartiQL statements may write too).
WRITES = (
    "put_item",
    "update_item",
    "delete_item",
    "batch_write_item",
    "transact_write_items",
    "execute_statement",
    "batch_execute_statement",
    "execute_transaction",
)
_lock = threading.RLock()


def _one_at_a_time(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _lock:
            return method(self, *args, **kwargs)

    return call


def install() -> None:
    """Serialise moto's DynamoDB writes in this process (once)."""
    for name in WRITES:
        method = getattr(DynamoHandler, name)
        if not getattr(method, "_sedo_serialised", False):
            wrapped = _one_at_a_time(method)
            wrapped._sedo_serialised = True  # type: ignore[attr-defined]
            setattr(DynamoHandler, name, wrapped)


_settings_only = threading.local()


class _Settings:
    """What ``Queue.attributes.get(name)`` answers for a setting, without the counts."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    def get(self, name: str, default: Any = None) -> Any:
        value = getattr(self.queue, camelcase_to_underscores(name), default)
        return str(value).lower() if isinstance(value, bool) else value


def install_sqs() -> None:
    """Answer SQS from the setting asked for, not from a fresh count of the queue (once)."""
    if getattr(SQSBackend, "_sedo_settings_only", False):
        return
    every_attribute = Queue.attributes
    send_message = SQSBackend.send_message

    def attributes(self: Queue) -> Any:
        if getattr(_settings_only, "on", False):
            return _Settings(self)  # send_message reads ContentBasedDeduplication only
        return every_attribute.fget(self)  # type: ignore[attr-defined]

    def sending(self: SQSBackend, *args: Any, **kwargs: Any) -> Any:
        _settings_only.on = True
        try:
            return send_message(self, *args, **kwargs)
        finally:
            _settings_only.on = False

    def retained(self: SQSBackend, queue_name: str, message: Message) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)  # type: ignore[attr-defined]
        return bool(retention + message.sent_timestamp / 1000 > unix_time())  # type: ignore[operator]

    get_queue_attributes = SQSBackend.get_queue_attributes

    def named_attributes(self: SQSBackend, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
        if not attribute_names or "All" in attribute_names:
            return get_queue_attributes(self, queue_name, attribute_names)
        queue = self.get_queue(queue_name)
        valid = set(queue.BASE_ATTRIBUTES + queue.FIFO_ATTRIBUTES + queue.KMS_ATTRIBUTES)
        invalid = next((name for name in attribute_names if name not in valid), None)
        if invalid is not None:
            raise InvalidAttributeName(invalid)
        every = queue.attributes  # once, not twice per name
        return {name: every[name] for name in attribute_names if every.get(name) is not None}

    Queue.attributes = property(attributes)  # type: ignore[assignment,method-assign]
    SQSBackend.send_message = sending  # type: ignore[method-assign]
    SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[method-assign]
    SQSBackend.get_queue_attributes = named_attributes  # type: ignore[method-assign]
    SQSBackend._sedo_settings_only = True  # type: ignore[attr-defined]


_query_scope = threading.local()


def install_queries() -> None:
    """Gather a query's candidates from its partition, or unsorted for an index (once)."""
    if getattr(Table, "_sedo_narrow_queries", False):
        return
    query, all_items = Table.query, Table.all_items
    signature = inspect.signature(query)

    def candidates(self: Table) -> list[Any]:
        scope = getattr(_query_scope, "scope", None)
        if scope is None or scope[0] is not self:
            return all_items(self)  # a scan, or anything else: as moto does it
        _, hash_key, index_name = scope
        if index_name:  # the query sorts the matches by the index's keys, then the table's
            return [
                item
                for found in list(self.items.values())
                for item in (list(found.values()) if self.range_key_attr else [found])
            ]
        found = self.items.get(hash_key)  # get: never adds the key to moto's defaultdict
        if found is None:
            return []
        return list(found.values()) if self.range_key_attr else [found]  # the query sorts by range key

    def narrowed(self: Table, *args: Any, **kwargs: Any) -> Any:
        arguments = signature.bind(self, *args, **kwargs).arguments
        _query_scope.scope = (self, arguments.get("hash_key"), arguments.get("index_name"))
        try:
            return query(self, *args, **kwargs)
        finally:
            _query_scope.scope = None

    Table.all_items = candidates  # type: ignore[method-assign]
    Table.query = narrowed  # type: ignore[method-assign]
    Table._sedo_narrow_queries = True  # type: ignore[attr-defined]


def install_events() -> None:
    """Parse each JSONPath moto asks for once, not once per event and target (once)."""
    import jsonpath_ng.ext

    if getattr(jsonpath_ng.ext, "_sedo_parse_once", False):
        return
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=512)(jsonpath_ng.ext.parse)  # type: ignore[attr-defined]
    jsonpath_ng.ext._sedo_parse_once = True  # type: ignore[attr-defined]


def main() -> None:
    install()
    install_sqs()
    install_queries()
    install_events()
    from moto.server import main as moto_main

    moto_main()


if __name__ == "__main__":
    main()
