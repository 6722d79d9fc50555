"""One Lambda batch's flushes, written and sent together when the batch ends (docs/DESIGN.md §2,
*Flushing a batch*).

A top-level execution's commit leaves its flush to the end of its Lambda batch: the batch's
history items and finished list items go out in BatchWriteItem calls (25 items each, over
both tables), then, side by side (sedo/service_layer/sidebyside.py), its outboxes in
SendMessageBatch calls (ten messages each), its status-change events in PutEvents calls (ten
each) and the running slots of its ended executions (one write per tenant and home shard). A batch of ten wake-ups thus makes a handful of calls where one at a
time it made thirty or more.

Everything here is idempotent and gates nothing but the transitions it sends: every history
item is written before any message is sent, so a wake-up that arrives through an outbox
finds its predecessor's history in place. The batch's messages are acknowledged only once all
of it went through: when any of it fails, the handler reports every message of the batch
failed (as if the function had died), and each comes back to re-flush what it committed (the
processor re-flushes the head for a redelivered producer, docs/DESIGN.md §2 step 2).

Outside a batch (tests, tools calling ``WakeUpProcessor.process`` directly) nothing is
deferred: the processor flushes each commit at once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sedo.domain.execution import Execution
from sedo.service_layer.event_ports import EventBus
from sedo.service_layer.observe import FlushReport, metered
from sedo.service_layer.ports import ExecutionStore, HeadVersion, Queue
from sedo.service_layer.sidebyside import side_by_side


@dataclass
class _Pending:
    """What one batch left to flush."""

    heads: list[Execution] = field(default_factory=list)
    events: list[Mapping[str, Any]] = field(default_factory=list)
    #: Heads of the batch whose history a later wake-up wrote before its own commit.
    history_written: set[HeadVersion] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)  # its executions may run on several threads


class BatchFlush:
    """The processor's batch flushes. Each invocation has its own (a context variable: the
    local event source runs several invocations at once on one processor, each on its own
    thread; a batch's executions on pool threads carry the invocation's context along,
    sedo/entrypoints/batch.py)."""

    def __init__(
        self,
        executions: Callable[[], ExecutionStore],
        queue: Callable[[], Queue],
        bus: Callable[[], EventBus | None],
        on_finished: Callable[[Sequence[Execution]], None] | None = None,
        on_flushed: Callable[[FlushReport], None] | None = None,
    ) -> None:
        #: The processor's store, queue and bus, as they are when the batch ends (a test or a
        #: fault injector may have wrapped one since the processor was built).
        self.executions = executions
        self.queue = queue
        self.bus = bus
        #: Told of the batch's heads after the rest went out (the processor gives back the
        #: running slots of the top-level executions among them that ended, together).
        self.on_finished = on_finished
        #: Told of every flush (what it used, for whom, how long it took), even one that failed.
        self.on_flushed = on_flushed
        self._pending: ContextVar[_Pending | None] = ContextVar(f"sedo-batch-{id(self)}", default=None)

    @property
    def open(self) -> bool:
        return self._pending.get() is not None

    def begin(self) -> None:
        """A batch begins; whatever an earlier one on this thread left (its function died) is
        dropped, as a new function instance would: its messages come back and re-flush."""
        self._pending.set(_Pending())

    def defer(self, head: Execution, events: Sequence[Mapping[str, Any]] = ()) -> bool:
        """Leave ``head``'s flush (and its status-change ``events``) to the end of the batch;
        False when no batch is open (the caller flushes now)."""
        pending = self._pending.get()
        if pending is None:
            return False
        with pending.lock:
            pending.heads.append(head)
            pending.events.extend(events)
        return True

    def history_written(self, head: Execution) -> None:
        """``head``'s history item was written (before a commit that drops its segment): the
        batch, which may hold the same head, need not write it again."""
        pending = self._pending.get()
        if pending is not None:
            with pending.lock:
                pending.history_written.add((head.tenant_id, head.key, head.seq))

    def end(self) -> int:
        """Write and send what the batch left; raises when any of it failed. The number of
        flushes it carried out."""
        pending = self._pending.get()
        self._pending.set(None)
        if pending is None or not pending.heads:
            return 0
        began, failed = time.perf_counter(), True
        with metered() as used:
            try:
                self._flush(pending.heads, pending.events, pending.history_written)
                failed = False
            finally:
                if self.on_flushed is not None:
                    heads = Counter(head.tenant_id for head in pending.heads)
                    self.on_flushed(FlushReport(dict(used), heads, time.perf_counter() - began, failed))
        return len(pending.heads)

    def _flush(self, heads: list[Execution], events: list[Mapping[str, Any]], written: set[HeadVersion]) -> None:
        self.executions().write_flushed(heads, written)
        # Then, side by side: each depends on nothing but the history written above.
        calls: list[Callable[[], None]] = []
        if self.on_finished is not None:
            ended = self.on_finished
            calls.append(lambda: ended(heads))
        messages = [message for head in heads for message in head.outbox if not message.get("deferred")]
        if messages:
            queue = self.queue()
            calls.append(lambda: queue.send(messages))
        bus = self.bus()
        if events and bus is not None:
            calls.append(lambda: bus.put(events))
        side_by_side(calls)
