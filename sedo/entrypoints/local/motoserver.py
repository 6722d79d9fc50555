"""The moto server of the local stack, with DynamoDB's one-write-at-a-time per item.

DynamoDB applies the writes to an item one after the other: a write's condition, its
change and its ``ReturnValues`` answer are one step. moto's server serves requests on
threads and its DynamoDB backend takes no lock, so two writes to one item can interleave:
an ``UpdateItem`` ``ADD members :i, succeeded :one`` guarded by ``NOT contains(members, :i)``
was seen to keep its count and lose its member (a map's completion bucket then never filled,
and a 10,000-item map never finished). ``python -m sedo.entrypoints.local.motoserver`` runs
moto's own server (same arguments) with one lock around DynamoDB's write requests, from
reading the item to answering. Reads stay concurrent, as on DynamoDB.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.dynamodb.responses import DynamoHandler

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


def main() -> None:
    install()
    from moto.server import main as moto_main

    moto_main()


if __name__ == "__main__":
    main()
