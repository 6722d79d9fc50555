"""The pure parts of fan-out (map and parallel steps): child keys and iteration inputs.

A map or parallel step attempt (the parent's ``instance``) runs each iteration or
branch as a child execution keyed ``<parent key>.<instance>.<index>``. The child's
nested definition is the root definition ``scoped`` to the parent's scope plus the
step id (``id#n`` for branch ``n`` of a parallel). The service that drives the I/O is
:mod:`sedo.service_layer.iterations`.
"""

from __future__ import annotations

from typing import Any

from sedo.domain.definition import Definition
from sedo.domain.execution import SUCCEEDED, Execution
from sedo.domain.expressions import evaluate
from sedo.domain.itemreader import batched
from sedo.domain.protocol import FanInAwait


def child_key(parent_key: str, instance: int, index: int) -> str:
    """Iteration ``index`` of the fan-out step attempt ``instance`` of execution ``parent_key``."""
    return f"{parent_key}.{instance}.{index}"


def split_child_key(key: str) -> tuple[str, int, int]:
    parent, instance, index = key.rsplit(".", 2)
    return parent, int(instance), int(index)


def child_scope(parent_scope: list[str], step_id: str, index: int, branches: bool) -> list[str]:
    """The scope a child runs in: the parent's plus the map step, or the parallel's branch."""
    return [*parent_scope, f"{step_id}#{index}" if branches else step_id]


def result_document(index: int, child: Execution) -> dict[str, Any]:
    """What a finished iteration records with its fan-out: its output, or its error and cause."""
    if child.state == SUCCEEDED:
        return {"index": index, "succeeded": True, "output": child.output}
    return {"index": index, "succeeded": False, "error": child.error or child.state, "cause": child.cause}


def iteration_inputs(definition: Definition, head: Execution) -> list[Any]:
    """The inputs of a waiting fan-out step's children, recomputed from the unchanged stash."""
    awaiting = head.awaiting
    if not isinstance(awaiting, FanInAwait):
        raise ValueError(f"execution {head.id} does not await a fan-in")
    step = definition.step(awaiting.step)
    step_input = evaluate(step.config["input"], head.stash) if "input" in step.config else head.stash
    if awaiting.branches:
        return [step_input] * awaiting.total
    items = evaluate(step.config["items"], step_input)
    if isinstance(items, list) and "itemBatcher" in step.config:
        items = batched(items, int(step.config["itemBatcher"]["maxItems"]))
    if not isinstance(items, list) or len(items) != awaiting.total:  # pragma: no cover - stash is frozen
        raise ValueError(f"the items of step {step.id!r} changed while it waited")
    return items


#: Children one fan-out wake-up starts at most. A start of more continues through cursor
#: wake-ups (``fanout`` with ``after``), a page each. On AWS a page of 500 costs about
#: 5 BatchGetItem + 20 BatchWriteItem (heads) + 20 BatchWriteItem (history) + 50
#: SendMessageBatch calls: ~95 requests at 10-30 ms, 1-3 s, a tenth of the processor's 30 s
#: timeout even if throttling doubles it; the parent's partition takes 1,000 WCU/s, so 500
#: heads of ~1-2 KB also fit its write throughput in about a second.
FAN_OUT_PAGE = 500
#: The pages of a map in ``mode: inline``: as many iterations as a wake-up runs inline
#: (sedo.service_layer.inline.INLINE_ITERATIONS). Each page sends the next one's cursor
#: before it runs its own, so the pages of a large map run side by side, as children would.
INLINE_FAN_OUT_PAGE = 100


def start_page(total: int, concurrency: int, after: int, size: int | None = None) -> range:
    """The iterations the fan-out page starting at ``after`` starts: the page's share of the
    first ``concurrency`` iterations (the rest start as earlier ones finish). Pages have
    ``size`` iterations (default :data:`FAN_OUT_PAGE`)."""
    size = size or FAN_OUT_PAGE
    if after < 0 or after % size:
        raise ValueError(f"a fan-out page starts at a multiple of {size}, not {after}")
    first = min(total, concurrency)
    return range(after, min(after + size, first))


def next_page(total: int, concurrency: int, after: int, size: int | None = None) -> int | None:
    """Where the page after the one at ``after`` starts, or None when that one is the last."""
    following = after + (size or FAN_OUT_PAGE)
    return following if following < min(total, concurrency) else None
