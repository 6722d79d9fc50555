"""Fan-out and fan-in for map and parallel steps.

- ``start`` (on the parent's ``fanout`` wake-up, after the parent committed its await):
  store the counter and the iteration inputs, start the first ``concurrency`` children.
- ``child_finished`` (after a child's final commit, and again on any redelivery): record
  its result and count it once (the store's idempotent writes refuse a second count); then start
  iteration ``index + concurrency`` (so at most ``concurrency`` run at once, each finishing
  one starting the next), and wake the parent when the last one is in (or when failures
  exceed the tolerance). Every step is idempotent, so redelivery repeats it harmlessly.
- ``gather`` (on the parent's ``fanin`` wake-up): read the counter and results, and say
  how the step ends. The parent's own conditional write makes it continue exactly once.
- ``sweep``: cancel the children still running, a page at a time.

Per iteration the work is constant: no list is rewritten on each completion.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any

from sedo.domain import engine, failures
from sedo.domain.definition import Definition, DefinitionRef
from sedo.domain.execution import SUBMITTED, SUCCEEDED, Execution, WakeUp
from sedo.domain.iterations import child_key, child_scope, iteration_inputs, split_child_key
from sedo.domain.protocol import FanInAwait, WakeKind
from sedo.service_layer.flush import flush
from sedo.service_layer.ports import Clock, ExecutionStore, IterationCounter, IterationStore, Queue

if TYPE_CHECKING:
    from sedo.service_layer.payloads import PayloadService

log = logging.getLogger("sedo.iterations")

#: Results up to this size (JSON, all iterations) are inlined into the step's output;
#: larger ones are stored apart and referenced, and assembled when the execution is read.
INLINE_RESULTS_BYTES = 48 * 1024  # below limits.MAX_STASH_VALUE_BYTES
RESULTS_REF = "sedo:results"
SWEEP_PAGE = 100


class IterationService:
    def __init__(
        self,
        store: IterationStore,
        executions: ExecutionStore,
        queue: Queue,
        clock: Clock,
        payloads: PayloadService | None = None,
    ) -> None:
        self.store = store
        self.executions = executions
        self.queue = queue
        self.clock = clock
        #: Keeps a child's large input apart from its head (the claim check).
        self.payloads = payloads

    # -- fan-out ------------------------------------------------------------------

    def start(self, parent: Execution, definition: Definition) -> None:
        awaiting = parent.awaiting
        assert isinstance(awaiting, FanInAwait)
        inputs = iteration_inputs(definition, parent)
        counter = IterationCounter(
            total=awaiting.total,
            concurrency=awaiting.concurrency,
            tolerated=awaiting.tolerated,
            branches=awaiting.branches,
            meta={
                "definitionId": parent.definition_id,
                "definitionVersion": parent.definition_version,
                "scope": [*parent.scope, awaiting.step],
                "parentId": parent.id,
            },
        )
        self.store.create(parent.tenant_id, parent.key, parent.instance, counter, inputs)
        for index in range(min(counter.concurrency, counter.total)):
            self._start_child(parent.tenant_id, parent.key, parent.instance, index, inputs[index], counter)

    def _start_child(
        self, tenant_id: str, parent_key: str, instance: int, index: int, item: Any, counter: IterationCounter
    ) -> None:
        meta = counter.meta or {}
        *parent_scope, step_id = meta["scope"]
        scope = child_scope(parent_scope, str(step_id), index, counter.branches)
        child = engine.start_execution(
            tenant_id=tenant_id,
            definition=DefinitionRef(str(meta["definitionId"]), int(meta["definitionVersion"])),
            input=item,
            key=child_key(parent_key, instance, index),
            now=self.clock.now(),
            nonce=secrets.token_hex(16),
            parent_key=parent_key,
            scope=scope,
            index=index,
        )
        if self.payloads is not None:
            child = self.payloads.dehydrate(child)
        if not self.executions.create(child):
            existing = self.executions.get(tenant_id, child.key)
            if existing is None or existing.seq != 0 or existing.state != SUBMITTED:
                return  # already running or done
            child = existing  # created before a crash: make sure its start was sent
        latest = self.store.counter(tenant_id, parent_key, instance)
        if latest is None or latest.closed:
            # The step ended (cancel, failure, timeout) since the caller read the counter, and
            # its sweep may have paged past this index already: the child must not run.
            if child.pending_events:
                self.executions.put_history(child)  # its ExecutionSubmitted, then the cancel
            self._cancel(child)
            return
        flush(child, self.executions, self.queue)

    # -- fan-in -------------------------------------------------------------------

    def child_finished(self, child: Execution) -> None:
        assert child.parent_key is not None and child.index is not None
        parent_key, instance, index = split_child_key(child.key)
        succeeded = child.state == SUCCEEDED
        result: dict[str, Any] = {"index": index, "succeeded": succeeded}
        if succeeded:
            result["output"] = child.output
        else:
            result["error"] = child.error or child.state
            result["cause"] = child.cause
        counter = self.store.counter(child.tenant_id, parent_key, instance)
        if counter is None:
            log.warning("no fan-out record for %s: its result is dropped", child.key)
            return
        counter = (
            self.store.record(child.tenant_id, parent_key, instance, index, succeeded, result, counter.total) or counter
        )
        if counter.closed:
            return
        failed_out = counter.failed > counter.tolerated
        following = index + counter.concurrency
        if following < counter.total and not failed_out:
            item = self.store.item(child.tenant_id, parent_key, instance, following)
            self._start_child(child.tenant_id, parent_key, instance, following, item, counter)
        if counter.done >= counter.total or failed_out:
            wake = WakeUp(
                tenant_id=child.tenant_id,
                key=parent_key,
                seq=0,
                kind=WakeKind.FAN_IN,
                mid=f"fanin.{instance}.{index}",
                data={"instance": instance},
            )
            self.queue.send([wake.to_body()])

    def gather(self, parent: Execution) -> dict[str, Any] | None:
        """How the waiting step ends, or None if its iterations are not all in yet."""
        counter = self.store.counter(parent.tenant_id, parent.key, parent.instance)
        if counter is None:
            return None
        if counter.failed > counter.tolerated:
            self.store.close(parent.tenant_id, parent.key, parent.instance)
            failed = self.store.results(parent.tenant_id, parent.key, parent.instance, failed_only=True, limit=10)
            listed = "; ".join(f"[{r['index']}] {r.get('error')}: {r.get('cause') or ''}".strip() for r in failed)
            what = "branch" if counter.branches else "iteration"
            return {
                "status": "failed",
                "error": failures.BRANCH_FAILED if counter.branches else failures.ITEMS_FAILED,
                "cause": f"{counter.failed} {what}(s) failed, {counter.tolerated} tolerated: {listed}",
            }
        if counter.done < counter.total:
            return None
        if counter.bytes > INLINE_RESULTS_BYTES:
            reference = {"parentKey": parent.key, "instance": parent.instance, "count": counter.total}
            return {"status": "succeeded", "output": {RESULTS_REF: reference}}
        results = self.store.results(parent.tenant_id, parent.key, parent.instance)
        return {"status": "succeeded", "output": [r.get("output") for r in results]}

    def assemble(self, tenant_id: str, value: Any) -> Any:
        """Replace stored-apart results (at the top level or one level down) by the list."""
        if isinstance(value, dict) and RESULTS_REF in value:
            ref = value[RESULTS_REF]
            results = self.store.results(tenant_id, ref["parentKey"], int(ref["instance"]))
            return [r.get("output") for r in results]
        if isinstance(value, dict):
            return {
                k: self.assemble(tenant_id, v) if isinstance(v, dict) and RESULTS_REF in v else v
                for k, v in value.items()
            }
        return value

    def progress(self, parent: Execution) -> dict[str, int] | None:
        return self.store.progress(parent.tenant_id, parent.key, parent.instance)

    # -- cancel -------------------------------------------------------------------

    def sweep(self, tenant_id: str, parent_key: str, instance: int, after: int) -> None:
        self.store.close(tenant_id, parent_key, instance)
        children, following = self.store.children(tenant_id, parent_key, instance, after, SWEEP_PAGE)
        for child in children:
            self._cancel(child)
        if following is not None:
            wake = WakeUp(
                tenant_id,
                parent_key,
                0,
                WakeKind.SWEEP,
                f"sweep.{instance}.{following}",
                data={"instance": instance, "after": following},
            )
            self.queue.send([wake.to_body()])

    def _cancel(self, child: Execution) -> None:
        for _ in range(5):
            if child.finished:
                return
            commit = engine.cancel(child, self.clock.now(), "the parent's fan-out step ended")
            if self.executions.commit(commit.head, commit.expected_seq):
                flush(commit.head, self.executions, self.queue)
                self.child_finished(commit.head)
                return
            fresh = self.executions.get(child.tenant_id, child.key)
            if fresh is None:
                return
            child = fresh
        log.warning("could not cancel child %s: it kept changing", child.key)
