"""Fan-out and fan-in for map and parallel steps.

- ``start`` (on the parent's ``fanout`` wake-ups, after the parent committed its await):
  store the counter and the iteration inputs, start the first ``concurrency`` children, a
  page (``FAN_OUT_PAGE``) per wake-up, each page sending the next one's cursor.
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
import math
import secrets
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sedo.domain import engine, failures
from sedo.domain.definition import Definition, DefinitionRef
from sedo.domain.execution import SUBMITTED, SUCCEEDED, Execution, WakeUp
from sedo.domain.iterations import (
    child_key,
    child_scope,
    iteration_inputs,
    next_page,
    split_child_key,
    start_page,
)
from sedo.domain.protocol import FanInAwait, WakeKind
from sedo.domain.timefmt import format_ts
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
#: A fan-out page's lease: how long its holder may write the page's heads. It starts no
#: write later than PAGE_WRITE_MARGIN_SECONDS before the lease ends, so after the lease no
#: write of the holder can land; only then may another delivery of the page take over. On
#: AWS a crashed page comes back after the queue's visibility timeout (180 s), when its
#: lease has ended; a page that is fine takes 1-3 s (sedo.domain.iterations.FAN_OUT_PAGE).
PAGE_LEASE_SECONDS = 120
PAGE_WRITE_MARGIN_SECONDS = 90
#: Child heads per put_children call (one BatchWriteItem): the lease is checked before each.
#: One call and its retries take milliseconds, at worst (sedo.adapters.aws: 5 attempts of at
#: most 3 s to connect and 10 s to answer) about a minute, inside the margin.
PUT_CHUNK = 25
#: Failed attempts whose results a processor keeps at hand for redriven map steps.
REPLAY_CACHE = 4


class PageLeaseEnding(RuntimeError):
    """A fan-out page ran out of lease time before it was written: a later delivery goes on."""


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
        #: The succeeded results of redriven steps' failed attempts (immutable once failed).
        self._replay_cache: OrderedDict[tuple[str, str, int], dict[int, dict[str, Any]]] = OrderedDict()

    # -- fan-out ------------------------------------------------------------------

    def start(self, parent: Execution, definition: Definition, after: int = 0) -> None:
        """One page of the start: the iterations ``start_page(total, concurrency, after)``.

        The first page (``after`` 0) also stores the counter and the inputs (idempotent). A
        page holds a lease on its iterations while it writes their heads, so no two workers
        write the same page at once; it reads which heads exist (a redelivered page may have
        written and started some) and batch-writes only the missing ones, so no head that may
        have started is overwritten. Then their history, their start messages and the next
        page's cursor go out, batched, and the page is marked done."""
        awaiting = parent.awaiting
        assert isinstance(awaiting, FanInAwait)
        counter = self._counter(parent, awaiting)
        inputs = iteration_inputs(definition, parent)
        if after == 0:
            self.store.create(parent.tenant_id, parent.key, parent.instance, counter, inputs)
        indices = start_page(counter.total, counter.concurrency, after)
        if not indices:
            return
        now = self.clock.now()
        owner = secrets.token_hex(8)
        lease = self.store.claim_page(
            parent.tenant_id,
            parent.key,
            parent.instance,
            after,
            owner,
            now,
            now + timedelta(seconds=PAGE_LEASE_SECONDS),
        )
        if not lease.held:
            if not lease.done and lease.until is not None:  # another worker is on it: look again after its lease
                self.queue.send([self._page_wake(parent, after, now, lease.until).to_body()])
            return
        deadline = now + timedelta(seconds=PAGE_LEASE_SECONDS - PAGE_WRITE_MARGIN_SECONDS)
        waiting = self._write_page(parent, counter, inputs, indices, deadline)
        latest = self.store.counter(parent.tenant_id, parent.key, parent.instance)
        if latest is None or latest.closed:
            # The step ended (cancel, failure, timeout) while this page wrote, and its sweep may
            # have paged past these heads: none starts, a sweep from here cancels them.
            sweep = WakeUp(
                parent.tenant_id,
                parent.key,
                0,
                WakeKind.SWEEP,
                f"sweep.{parent.instance}.page.{after}",
                data={"instance": parent.instance, "after": after},
            )
            self.queue.send([sweep.to_body()])
        else:
            messages = [message for head in waiting for message in head.outbox]
            following = next_page(counter.total, counter.concurrency, after)
            if following is not None:
                messages.append(self._page_wake(parent, following).to_body())
            self.queue.send(messages)
        self.store.finish_page(parent.tenant_id, parent.key, parent.instance, after, owner)

    def _write_page(
        self, parent: Execution, counter: IterationCounter, inputs: list[Any], indices: range, deadline: datetime
    ) -> list[Execution]:
        """Write the heads of the page's children that do not exist, and the history of every
        one not started yet; return those (in index order), whose starts are to be sent."""
        replayed = self._replays(parent.tenant_id, parent.key, counter, indices)
        keys = [child_key(parent.key, parent.instance, i) for i in indices if i not in replayed]
        existing = self.store.existing_children(parent.tenant_id, keys)
        created = [
            self._new_child(parent.tenant_id, parent.key, parent.instance, i, inputs[i], counter)
            for i in indices
            if i not in replayed and child_key(parent.key, parent.instance, i) not in existing
        ]
        for index, result in replayed.items():  # a redrive: what succeeded before is taken over
            self._count(parent.tenant_id, parent.key, parent.instance, index, True, result)
        for start in range(0, len(created), PUT_CHUNK):
            self._within(deadline)
            self.store.put_children(created[start : start + PUT_CHUNK])
        # Created before a crash but not started: their history and start again (harmless twice).
        waiting = created + [h for h in existing.values() if h.seq == 0 and h.state == SUBMITTED]
        waiting.sort(key=lambda h: h.index or 0)
        self.executions.put_histories([h for h in waiting if h.pending_events])
        return waiting

    @staticmethod
    def _counter(parent: Execution, awaiting: FanInAwait) -> IterationCounter:
        meta: dict[str, Any] = {
            "definitionId": parent.definition_id,
            "definitionVersion": parent.definition_version,
            "scope": [*parent.scope, awaiting.step],
            "parentId": parent.id,
        }
        if parent.replay is not None and parent.replay.get("next") == parent.instance:
            meta["replay"] = parent.replay["instance"]  # a redriven step: see _replays
        return IterationCounter(
            total=awaiting.total,
            concurrency=awaiting.concurrency,
            tolerated=awaiting.tolerated,
            branches=awaiting.branches,
            meta=meta,
        )

    def _replays(
        self, tenant_id: str, parent_key: str, counter: IterationCounter, indices: Iterable[int]
    ) -> dict[int, dict[str, Any]]:
        """For a redriven map or parallel step (sedo/domain/operate.py): the results of the
        failed attempt's iterations among ``indices`` that succeeded, which the new attempt
        takes over instead of running them again."""
        old = (counter.meta or {}).get("replay")
        if old is None:
            return {}
        cache_key = (tenant_id, parent_key, int(old))
        if cache_key not in self._replay_cache:
            results = self.store.results(tenant_id, parent_key, int(old))
            self._replay_cache[cache_key] = {int(r["index"]): r for r in results if r.get("succeeded")}
            while len(self._replay_cache) > REPLAY_CACHE:
                self._replay_cache.popitem(last=False)
        succeeded = self._replay_cache[cache_key]
        return {i: succeeded[i] for i in indices if i in succeeded}

    @staticmethod
    def _page_wake(parent: Execution, after: int, now: datetime | None = None, due: datetime | None = None) -> WakeUp:
        """The cursor of the page at ``after``; with ``due``: the same page, looked at again then."""
        wake = WakeUp(
            parent.tenant_id,
            parent.key,
            0,
            WakeKind.FAN_OUT,
            f"fanout.{parent.instance}.{after}",
            data={"instance": parent.instance, "after": after},
        )
        if now is None or due is None:
            return wake
        due += timedelta(seconds=1)  # a lease has ended once ``now`` is past it
        delay = max(1, math.ceil((due - now).total_seconds()))
        return replace(wake, mid=f"{wake.mid}.later", due=format_ts(due), delay=delay)

    def _within(self, deadline: datetime) -> None:
        if self.clock.now() >= deadline:
            raise PageLeaseEnding("this fan-out page's lease is ending: its writes stop, a later delivery goes on")

    def _new_child(
        self, tenant_id: str, parent_key: str, instance: int, index: int, item: Any, counter: IterationCounter
    ) -> Execution:
        meta = counter.meta or {}
        *parent_scope, step_id = meta["scope"]
        child = engine.start_execution(
            tenant_id=tenant_id,
            definition=DefinitionRef(str(meta["definitionId"]), int(meta["definitionVersion"])),
            input=item,
            key=child_key(parent_key, instance, index),
            now=self.clock.now(),
            nonce=secrets.token_hex(16),
            parent_key=parent_key,
            scope=child_scope(parent_scope, str(step_id), index, counter.branches),
            index=index,
        )
        if self.payloads is not None:
            child = self.payloads.dehydrate(child)
        return child

    def _start_child(
        self, tenant_id: str, parent_key: str, instance: int, index: int, item: Any, counter: IterationCounter
    ) -> None:
        child = self._new_child(tenant_id, parent_key, instance, index, item, counter)
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
        self._count(child.tenant_id, parent_key, instance, index, succeeded, result)

    def _count(
        self, tenant_id: str, parent_key: str, instance: int, index: int, succeeded: bool, result: dict[str, Any]
    ) -> None:
        """Record iteration ``index``'s result once; start the one ``concurrency`` further on (an
        iteration a redrive takes over is counted at once, and the one after it, and so on);
        wake the parent when the last one is in or failures passed the tolerance."""
        while True:
            counter = self.store.counter(tenant_id, parent_key, instance)
            if counter is None:
                log.warning("no fan-out record for %s: its result is dropped", child_key(parent_key, instance, index))
                return
            counter = (
                self.store.record(tenant_id, parent_key, instance, index, succeeded, result, counter.total) or counter
            )
            if counter.closed:
                return
            failed_out = counter.failed > counter.tolerated
            if counter.done >= counter.total or failed_out:
                wake = WakeUp(
                    tenant_id=tenant_id,
                    key=parent_key,
                    seq=0,
                    kind=WakeKind.FAN_IN,
                    mid=f"fanin.{instance}.{index}",
                    data={"instance": instance},
                )
                self.queue.send([wake.to_body()])
            following = index + counter.concurrency
            if following >= counter.total or failed_out:
                return
            taken = self._replays(tenant_id, parent_key, counter, [following]).get(following)
            if taken is None:
                item = self.store.item(tenant_id, parent_key, instance, following)
                self._start_child(tenant_id, parent_key, instance, following, item, counter)
                return
            index, succeeded, result = following, True, {**taken, "index": following}

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
