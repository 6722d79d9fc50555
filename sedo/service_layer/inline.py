"""Inline iterations of maps in ``mode: inline`` (docs/DESIGN.md, *Inline iterations*): what
the fan-out (sedo/service_layer/iterations.py) needs from the processor to run an iteration
inside another wake-up, the budget a wake-up has for it, and an inline result."""

from __future__ import annotations

import json
import threading
import time
from enum import StrEnum
from typing import Any, Protocol

from sedo.domain import limits
from sedo.domain.execution import SUCCEEDED, Execution
from sedo.domain.iterations import result_document
from sedo.domain.payloads import Claims
from sedo.service_layer.payloads import RESULT_OVERHEAD_BYTES

#: Iterations of maps in ``mode: inline`` one wake-up runs inline at most, and for how long
#: a Lambda invocation runs them (all of its wake-ups together, on all of its threads, and
#: never past half of the time it had left when it began): an invocation that runs inline
#: iterations takes about this much longer than one that does not, whatever its batch size,
#: threads and timeout. Past either, iterations start as children (which run their own
#: successors inline in their invocations).
INLINE_ITERATIONS = 100
INLINE_SECONDS = 2.0


class Materialized(StrEnum):
    """What became of an inline iteration that had to become a child execution."""

    CREATED = "created"
    EXISTS = "exists"  # another delivery created it first: it runs, or ran, as a child
    TOO_LARGE = "too-large"  # its state does not fit a head: it starts as a plain child instead


class InlineRunner(Protocol):
    """The processor's part of inline iterations (sedo.service_layer.processing.WakeUpProcessor)."""

    def first_segment(self, child: Execution) -> Execution | None:
        """A new child's head after its first segment, run in memory as its first wake-up
        would run it (None: it cannot run inline; it starts as a child)."""
        ...

    def materialize(self, head: Execution, claims: Claims | None) -> Materialized:
        """Store ``head`` (a child after its first segment) as a new execution, refused if it
        exists, and flush it as a commit would be (a finished one reports to its fan-out)."""
        ...


#: What running an iteration inline came to: its result (it finished), True (it is a child,
#: or runs nowhere: nothing more to do) or False (not run: start it as a child).
Ran = dict[str, Any] | bool


class InlineBudget:
    """How many iterations the wake-up on this thread may still run inline, and until when
    (a batch's records may run on several threads of one processor)."""

    def __init__(self) -> None:
        self._local = threading.local()
        #: When the current Lambda invocation's inline work must end (shared by its threads).
        self._batch_until: float | None = None

    def batch_ends(self, seconds_left: float) -> None:
        """An invocation begins with ``seconds_left``: its inline work (all of its wake-ups',
        on all of its threads) stops ``INLINE_SECONDS`` later, or by half of ``seconds_left``."""
        self._batch_until = time.monotonic() + min(INLINE_SECONDS, seconds_left / 2)

    def renew(self) -> None:
        self._local.left = INLINE_ITERATIONS
        batch = self._batch_until
        self._local.until = batch if batch is not None else time.monotonic() + INLINE_SECONDS

    def allows(self) -> bool:
        if getattr(self._local, "until", None) is None:  # outside a processed wake-up (tests)
            self.renew()
        return bool(self._local.left > 0 and time.monotonic() < self._local.until)

    def spend(self) -> None:
        self._local.left -= 1


def inline_result(index: int, after: Execution) -> dict[str, Any] | None:
    """The result of an iteration that finished inline, as a finished child records it; None
    when its output does not fit a result item (it is stored as a child, its output apart)."""
    if after.state == SUCCEEDED:
        size = len(json.dumps(after.output, separators=(",", ":"), default=str).encode())
        if size > limits.MAX_ITEM_PAYLOAD_BYTES - RESULT_OVERHEAD_BYTES:
            return None
    return result_document(index, after)
