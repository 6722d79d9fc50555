"""The processor's use case: apply one wake-up to its execution (DESIGN.md §2).

1. read the head (strongly consistent); 2. drop stale messages, re-flushing the
head's outbox when the message is the one that produced it; 3. run the engine;
4. commit with ONE conditional write; 5. flush history and outbox.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from sedo.domain.definition import Definition, parse_definition, scoped
from sedo.domain.engine import Commit, Limits, Rearm, Stale, advance
from sedo.domain.execution import Execution, WakeUp
from sedo.domain.steps.base import Invoker
from sedo.service_layer.fanout import FanOut
from sedo.service_layer.flush import flush
from sedo.service_layer.observe import WakeObserver, observed, timed_engine
from sedo.service_layer.ports import Clock, DefinitionStore, ExecutionStore, FanOutStore, Queue

#: What ``process`` reports, for logs, metrics and tests.
COMMITTED, STALE, REFLUSHED, REARMED, CONFLICT, MISSING, FANNED_OUT, SWEPT = (
    "committed",
    "stale",
    "reflushed",
    "rearmed",
    "conflict",
    "missing",
    "fanned-out",
    "swept",
)


class PoisonMessage(ValueError):
    """A message that can never be processed: let it go to the DLQ."""


class WakeUpProcessor:
    def __init__(
        self,
        definitions: DefinitionStore,
        executions: ExecutionStore,
        queue: Queue,
        clock: Clock,
        limits: Limits = Limits(),
        logger: logging.Logger | Any = None,
        cache_size: int = 256,
        invoker: Invoker | None = None,
        fanout: FanOutStore | None = None,
        observer: WakeObserver | None = None,
    ) -> None:
        self.invoker = invoker
        self.observer = observer  # told about every wake-up (sedo/service_layer/observe.py)
        self.fanout = FanOut(fanout, executions, queue, clock) if fanout is not None else None
        self.definitions = definitions
        self.executions = executions
        self.queue = queue
        self.clock = clock
        self.limits = limits
        self.log = logger or logging.getLogger("sedo.processor")
        self._cache: OrderedDict[tuple[str, str, int, tuple[str, ...]], Definition] = OrderedDict()
        self._cache_size = cache_size

    def definition(
        self, tenant_id: str, definition_id: str, version: int, scope: list[str] | tuple[str, ...] = ()
    ) -> Definition:
        """Versions are immutable, so they are cached across invocations (per nested scope too)."""
        cache_key = (tenant_id, definition_id, version, tuple(scope))
        if cache_key in self._cache:
            self._cache.move_to_end(cache_key)
            return self._cache[cache_key]
        stored = self.definitions.get_version(tenant_id, definition_id, version)
        if stored is None:
            raise PoisonMessage(f"definition {definition_id!r} version {version} not found for {tenant_id!r}")
        definition = scoped(parse_definition(stored.document, stored.version), list(scope))
        self._cache[cache_key] = definition
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return definition

    @observed
    def process(self, body: Any, receive_count: int = 2) -> str:
        """Apply one wake-up. ``receive_count`` is SQS's ApproximateReceiveCount: only a
        message received again (its first processing may have crashed after the commit)
        re-flushes the head's outbox; a duplicate *send* arrives with count 1 and is
        simply stale, so duplicates never multiply."""
        try:
            wake = WakeUp.from_body(body)
        except ValueError as exc:
            raise PoisonMessage(str(exc)) from exc
        context = {"tenantId": wake.tenant_id, "executionKey": wake.key, "seq": wake.seq, "kind": wake.kind}
        if wake.kind == "sweep":
            self._fanout().sweep(wake.tenant_id, wake.key, int(wake.data["instance"]), int(wake.data.get("after", 0)))
            return SWEPT
        head = self.executions.get(wake.tenant_id, wake.key)
        if head is None:
            self.log.warning("wake-up for an execution that does not exist; dropped", extra=context)
            return MISSING
        context["executionId"] = head.id
        definition = self.definition(head.tenant_id, head.definition_id, head.definition_version, head.scope)
        awaits_fanin = (head.awaiting or {}).get("kind") == "fanin" and not head.finished
        if wake.kind == "fanout":
            if not (awaits_fanin and wake.data.get("instance") == head.instance):
                return STALE
            self._fanout().fanout(head, definition)
            return FANNED_OUT
        if wake.kind == "fanin" and awaits_fanin and wake.data.get("instance") == head.instance:
            gathered = self._fanout().gather(head)
            if gathered is None:
                return STALE  # not all iterations are in: a later completion wakes the parent
            wake = replace(wake, data={**wake.data, **gathered})
        now = self.clock.now()
        decision = timed_engine(wake, now, lambda: advance(definition, head, wake, now, self.limits, self.invoker))

        if isinstance(decision, Stale):
            if decision.reflush and receive_count > 1:
                self.log.info("redelivered producer of the head; re-flushing its outbox", extra=context)
                self._after_commit(head)
                return REFLUSHED
            self.log.debug("stale wake-up dropped: %s", decision.reason, extra=context)
            return STALE
        if isinstance(decision, Rearm):
            self.queue.send([decision.message.to_body()])
            self.log.debug("timer re-armed", extra={**context, "delay": decision.message.delay})
            return REARMED
        assert isinstance(decision, Commit)
        if not self.executions.commit(decision.head, decision.expected_seq):
            self.log.info("another worker advanced the execution first; dropped", extra=context)
            return CONFLICT
        new = decision.head
        for entry in decision.logs:
            self.log.info(entry["message"], extra={**context, "stepId": entry["stepId"], "echo": True})
        self.log.info(
            "transition committed",
            extra={
                **context,
                "seq": new.seq,
                "state": new.state,
                "stepId": new.step,
                "events": len(new.pending_events),
            },
        )
        self._after_commit(new)
        return COMMITTED

    def _after_commit(self, head: Execution) -> None:
        flush(head, self.executions, self.queue)
        if head.parent_key is not None and head.finished:
            self._fanout().child_finished(head)

    def _fanout(self) -> FanOut:
        if self.fanout is None:
            raise RuntimeError("this processor has no fan-out store configured")
        return self.fanout
