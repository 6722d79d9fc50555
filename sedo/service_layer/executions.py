"""Execution use cases on the API side: start, observe, cancel."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Concatenate, ParamSpec

from sedo.domain import engine, limits, operate, payloads, signals
from sedo.domain.errors import BadRequest, Conflict, InvalidAnswer, InvalidInput, NotFound, TooLarge, Unavailable
from sedo.domain.execution import (
    CANCELLED,
    STEP_STARTED,
    SUBMITTED,
    Execution,
    WakeUp,
    new_execution_key,
    split_execution_id,
)
from sedo.domain.language import input_violations
from sedo.domain.protocol import CALLBACK_KINDS, CallbackAwait, FanInAwait, WakeKind
from sedo.domain.segment import Budget
from sedo.service_layer.definitions import DefinitionService
from sedo.service_layer.flush import flush, put_history
from sedo.service_layer.iterations import IterationService
from sedo.service_layer.observe import metered, metered_so_far
from sedo.service_layer.payloads import PayloadService
from sedo.service_layer.ports import Clock, ExecutionStore, Page, Queue
from sedo.service_layer.quotas import QuotaService
from sedo.service_layer.usage import UsageLedger, start_amounts, with_start_usage

log = logging.getLogger("sedo.executions")

P = ParamSpec("P")
Started = tuple[dict[str, Any], bool]


def _metered_start(
    start: Callable[Concatenate[ExecutionService, str, P], Started],
) -> Callable[Concatenate[ExecutionService, str, P], Started]:
    """Wrap :meth:`ExecutionService.start` in a metered block: a start that creates an execution
    puts what it used (one execution started, its requests and its API time up to the send) in
    its start message, and the processor's meter adds that to the ledger when the message's
    wake-up commits (:meth:`ExecutionService._send_metered`): no ledger write of its own."""

    @functools.wraps(start)
    def metered_start(self: ExecutionService, tenant_id: str, /, *args: P.args, **kwargs: P.kwargs) -> Started:
        if self.usage is None:
            return start(self, tenant_id, *args, **kwargs)
        with metered():
            return start(self, tenant_id, *args, **kwargs)

    return metered_start


def input_hash(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ExecutionService:
    def __init__(
        self,
        definitions: DefinitionService,
        executions: ExecutionStore,
        queue: Queue,
        clock: Clock,
        iterations: IterationService | None = None,
        *,
        payloads: PayloadService,
        budget: Budget | None = None,
        indexer: Callable[[Execution], None] | None = None,
        quotas: QuotaService | None = None,
        usage: UsageLedger | None = None,
    ) -> None:
        #: The processor's budget: a recorded callback call's due time (the sweep grace).
        self.budget = budget or Budget()
        #: Writes a new execution's search-attribute index entries before it is created
        #: (sedo/service_layer/operate.py); an entry whose start failed matches nothing.
        self.indexer = indexer
        #: The usage ledger (sedo/service_layer/usage.py): each start's requests and API time.
        self.usage = usage
        #: Tenants' quotas (sedo/service_layer/quotas.py): a start over one is refused before anything is stored.
        self.quotas = quotas
        self.definition_service = definitions
        self.executions = executions
        self.queue = queue
        self.clock = clock
        self.iteration_service = iterations
        #: Large values are kept apart from heads (the claim check) and resolved to be shown.
        self.payloads = payloads
        #: Events (issue 15; sedo/service_layer/events.py), set by the composition root.
        self.events: Any = None

    # -- start ----------------------------------------------------------------------

    @_metered_start
    def start(
        self,
        tenant_id: str,
        definition_id: str,
        input: Any,
        name: str | None = None,
        *,
        version: int | None = None,
        alias: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Start an execution; returns its summary and whether it was created now (a start that
        created an execution goes into the tenant's usage ledger, see :func:`_metered_start`).

        With a ``name`` (an idempotency key), the same name and input return the
        existing execution, and resume it if an earlier attempt stopped half-way.
        ``version`` (chosen by ``alias``) pins another version than the latest.
        """
        limits.check_input(input)  # 413 past 10 MiB, 400 past 64 levels
        definition = self.definition_service.latest_for_execution(tenant_id, definition_id, version)
        problems = input_violations(definition.input_schema, input)
        if problems:
            raise InvalidInput("\n".join(p.message for p in problems), errors=problems)

        key = new_execution_key(int(self.clock.now().timestamp() * 1000))
        if name is not None:
            digest = input_hash(input)
            fresh_key = key
            key, held_digest = self.executions.claim_name(tenant_id, definition_id, name, key, digest)
            if held_digest != digest:
                raise Conflict(f"execution name {name!r} was already used for {definition_id!r} with a different input")
            # the name was just claimed for a new key: nothing can be stored under it yet
            existing = None if key == fresh_key else self.executions.get(tenant_id, key)
            if existing is not None:
                if existing.state == SUBMITTED and existing.seq == 0:
                    self._flush_start(existing, named=True)  # an earlier attempt may not have sent it
                return self._started(existing), False

        slot = self.quotas.admit_start(tenant_id, key) if self.quotas is not None else False
        try:
            fresh = engine.start_execution(
                tenant_id=tenant_id,
                definition=definition,
                input=input,
                key=key,
                now=self.clock.now(),
                name=name,
                nonce=secrets.token_hex(16),
                alias=alias,
                search=operate.search_values(definition, {"input": input}),
            )
            if fresh.search and self.indexer is not None:
                self.indexer(fresh)
            head = self.payloads.dehydrate(fresh)  # a large input is stored once, apart
            while not self.executions.create(head):
                if name is not None:  # a concurrent retry with the same name created it (and holds the slot)
                    existing = self.executions.get(tenant_id, key)
                    assert existing is not None
                    return self._started(existing), False
                if slot and self.quotas is not None:  # the slot is the key's: move it to the new one
                    self.quotas.release(tenant_id, key)
                key = fresh.key = new_execution_key()  # a key collision: practically never
                if slot and self.quotas is not None:
                    self.quotas.admit_start(tenant_id, key)
                for message in fresh.outbox:
                    message["key"] = fresh.key
                if fresh.search and self.indexer is not None:
                    self.indexer(fresh)
                head = self.payloads.dehydrate(fresh)
        except BaseException:
            if slot and self.quotas is not None:  # nothing was started: its slot goes back
                self.quotas.release(tenant_id, key)
            raise
        self._flush_start(head, named=name is not None, new=True)
        return self._started(head), True

    def _flush_start(self, head: Execution, named: bool, new: bool = False) -> None:
        try:
            if new and self.usage is not None:
                self._send_metered(head, self.usage)
            else:
                flush(head, self.executions, self.queue)
        except Exception as exc:
            log.exception("could not queue execution %s", head.id)
            # Undo the half-start so nothing is left without a way forward; a retry
            # with the same name re-creates it under the same id.
            try:
                self.executions.delete_unstarted(head)
                self.finished(head)  # its running slot, if it took one
            except Exception:  # pragma: no cover - both stores failing
                log.exception("could not undo half-started execution %s", head.id)
            hint = "retry with the same name" if named else "retry"
            raise Unavailable(f"the execution could not be queued; nothing was started, {hint}") from exc

    def _send_metered(self, head: Execution, ledger: UsageLedger) -> None:
        """A new execution's first flush: its start message carries the start's usage so far (the
        API's time up to here; what this process carried for the tenant). What the send itself
        uses (its request, its time) is carried into the tenant's next start from this process."""
        so_far = metered_so_far()
        used, seconds = so_far if so_far is not None else ({}, 0.0)
        carried = ledger.take_carried(head.tenant_id)
        sent = replace(head, outbox=with_start_usage(head.outbox, start_amounts(used, seconds, carried)))
        try:
            began = time.perf_counter()
            with metered() as sending:
                flush(sent, self.executions, self.queue)
        except BaseException:
            ledger.carry(head.tenant_id, carried)  # nothing was started: it stays for the next start
            raise
        ledger.carry(head.tenant_id, {**sending, "apiMs": (time.perf_counter() - began) * 1000})

    def _cancelled(self, head: Execution, unstarted: bool) -> None:
        """The API ended the execution (the processor never sees this commit): into the ledger.
        Cancelled ``unstarted`` (before its start's wake-up committed, which now never will),
        it counts as started here: its start message's amounts never count."""
        if self.usage is None:
            return
        transitions = sum(1 for event in head.pending_events if event.get("type") == STEP_STARTED)
        amounts = {f"executionsFinished.{head.state}": 1.0, "transitions": float(transitions)}
        if unstarted:
            amounts["executionsStarted"] = 1.0
        try:
            self.usage.record(head.tenant_id, amounts, "apiMs")
        except Exception:  # the execution is cancelled: a meter's failure must not undo that
            log.exception("could not record the cancel of %s in the usage ledger", head.id)

    def finished(self, head: Execution) -> None:
        """An execution ended (or was undone): give back its running slot (idempotent)."""
        if self.quotas is not None and head.parent_key is None:
            self.quotas.release(head.tenant_id, head.key)

    @staticmethod
    def _started(head: Execution) -> dict[str, Any]:
        return {
            "id": head.id,
            "state": head.state,
            "tenantId": head.tenant_id,
            "definitionId": head.definition_id,
            "definitionVersion": head.definition_version,
            **({"alias": head.alias} if head.alias is not None else {}),
        }

    # -- observe --------------------------------------------------------------------

    def _head(self, tenant_id: str, execution_id: str) -> Execution:
        try:
            owner, definition_id, key = split_execution_id(execution_id)
        except ValueError:
            raise NotFound(f"execution {execution_id!r} does not exist") from None
        head = self.executions.get(tenant_id, key) if owner == tenant_id else None
        if head is None or head.definition_id != definition_id:
            raise NotFound(f"execution {execution_id!r} does not exist")
        return head

    def _describe(self, head: Execution) -> dict[str, Any]:
        """What the API shows for one execution: values, never references."""
        body = head.describe()
        for name in ("input", "output"):
            if name in body:
                body[name] = self.payloads.resolve(head.tenant_id, head.key, body[name])
        return body

    def get(self, tenant_id: str, execution_id: str) -> dict[str, Any]:
        head = self._head(tenant_id, execution_id)
        body = self._describe(head)
        if self.iteration_service is not None:
            if isinstance(head.awaiting, FanInAwait) and not head.finished:
                progress = self.iteration_service.progress(head)
                if progress is not None:
                    body["progress"] = {"stepId": head.step, **progress}
            if "output" in body:
                assembled = self.iteration_service.assemble(tenant_id, body["output"])
                body["output"] = self._resolve_results(tenant_id, head.key, assembled)
        return body

    def _resolve_results(self, tenant_id: str, key: str, value: Any) -> Any:
        """Fan-out results assembled for display (at the top or one level down) may hold
        references to children's outputs too large for their result items."""
        if isinstance(value, list):
            return self.payloads.resolve_items(tenant_id, key, value)
        if isinstance(value, dict) and not payloads.looks_like_ref(value):
            return {
                k: self.payloads.resolve_items(tenant_id, key, v) if isinstance(v, list) else v
                for k, v in value.items()
            }
        return value

    def list(
        self,
        tenant_id: str,
        limit: int,
        token: str | None,
        states: Sequence[str] = (),
        definition_id: str | None = None,
    ) -> Page:
        page = self.executions.list_executions(tenant_id, limit, token, states, definition_id)
        return Page([head.summary() for head in page.items], page.next_token)

    def iterations(
        self, tenant_id: str, execution_id: str, limit: int, token: str | None, states: Sequence[str] = ()
    ) -> Page:
        head = self._head(tenant_id, execution_id)
        page = self.executions.list_iterations(tenant_id, head.key, limit, token, states)
        return Page([child.summary() for child in page.items], page.next_token)

    def history(self, tenant_id: str, execution_id: str, limit: int, token: str | None) -> Page:
        head = self._head(tenant_id, execution_id)
        page = self.executions.history(tenant_id, head.key, limit, token)
        events = list(page.items)
        if page.next_token is None and head.pending_events:
            # The last segment's events are in the head until flushed: show them anyway.
            last = events[-1]["id"] if events else 0
            events.extend(e for e in head.pending_events if e["id"] > last)
        return Page(self.payloads.resolve_events(tenant_id, head.key, events), page.next_token)

    # -- control --------------------------------------------------------------------

    def signal(
        self, tenant_id: str, execution_id: str, step_id: str, kind: WakeKind, token: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        """Complete, fail or heartbeat a step that awaits a callback, if ``token`` is its current token.

        The call is checked here, recorded in the head (so the sweeper re-sends it if its
        message is lost: sedo/domain/signals.py) and applied by the processor (which checks
        the token again), so a completion racing another one, or a timeout, is resolved by
        the execution's own sequence of transitions.
        """
        if kind not in CALLBACK_KINDS:
            raise BadRequest(f"{str(kind)!r} is not a completion call")
        if "cause" in data and isinstance(data["cause"], str):
            data = {**data, "cause": limits.clip_cause(data["cause"])}  # as any failure's cause is kept
        kept: dict[str, Any] | None = None
        for _ in range(10):
            head = self._head(tenant_id, execution_id)
            self._check_signal(head, step_id, kind, token, data)
            if "output" in data and kept is None:
                kept = self._signal_output(head, data)
            body = self._signal_message(head, kind, token, data if kept is None else {**data, "output": kept})
            recorded = signals.record(head, body, self.clock.now(), self.budget)
            if self.executions.commit(recorded.head, recorded.expected_seq):
                self.queue.send(recorded.send)
                return {"id": head.id, "stepId": step_id, "accepted": kind}
        raise Unavailable(f"execution {execution_id!r} is changing too fast to take the {kind} call; retry")

    def _check_signal(self, head: Execution, step_id: str, kind: WakeKind, token: str, data: dict[str, Any]) -> None:
        awaiting = head.awaiting
        if head.finished or not isinstance(awaiting, CallbackAwait) or awaiting.step != step_id:
            where = f"at {head.step!r}" if not head.finished else head.state
            raise Conflict(f"step {step_id!r} is not waiting for a completion (the execution is {where})")
        if not hmac.compare_digest(token.encode(), awaiting.token.encode()):
            raise Conflict(f"the task token does not match step {step_id!r}'s current await (stale or wrong token)")
        if kind == WakeKind.HEARTBEAT and not awaiting.heartbeat_seconds:
            raise BadRequest(f"step {step_id!r} takes no heartbeats (it has no heartbeatSeconds)")
        if "output" in data:  # it goes into the stash
            limits.check_stash_value(data["output"], f"the output of step {step_id!r}")
        if kind == "complete":
            self._check_answer(head, step_id, data.get("output"))

    @staticmethod
    def _signal_message(head: Execution, kind: WakeKind, token: str, data: dict[str, Any]) -> dict[str, Any]:
        body = WakeUp(
            tenant_id=head.tenant_id,
            key=head.key,
            seq=head.seq + 1,
            kind=kind,
            mid=f"api-{uuid.uuid4().hex}",
            data={"token": token, **data},
        ).to_body()
        size = len(json.dumps(body))
        if size > limits.MAX_SIGNAL_BYTES:
            raise TooLarge(f"the {kind} call is {size} bytes; at most {limits.MAX_SIGNAL_BYTES} are accepted")
        return body

    def _signal_output(self, head: Execution, data: dict[str, Any]) -> Any:
        """The output as the recorded message carries it: a reference when it is large (the
        head keeps the message) or shaped like one, else itself."""
        output = data["output"]
        compact = json.dumps(output, separators=(",", ":"))
        if len(compact) > limits.CLAIM_THRESHOLD_BYTES or payloads.looks_like_ref(output):
            return self.payloads.keep(head.tenant_id, head.key, output)
        return output

    def _check_answer(self, head: Execution, step_id: str, output: Any) -> None:
        """A callback step's ``inputSchema`` judges the answer, as a definition's judges input."""
        definition = self.definition_service.pinned(
            head.tenant_id, head.definition_id, head.definition_version, head.scope
        )
        step = definition.steps.get(step_id)
        schema = step.config.get("inputSchema") if step is not None else None
        problems = input_violations(schema, output, what=f"step {step_id!r}'s inputSchema")
        if problems:
            lines = "\n".join(p.message for p in problems)
            raise InvalidAnswer(f"the output does not pass step {step_id!r}'s inputSchema:\n{lines}", errors=problems)

    def cancel(self, tenant_id: str, execution_id: str, reason: str | None = None) -> dict[str, Any]:
        for _ in range(10):
            head = self._head(tenant_id, execution_id)
            if head.parent_key is not None:
                parent = head.iteration()["parentId"]
                raise Conflict(f"execution {execution_id!r} is an iteration of {parent!r}: cancel that execution")
            if head.finished:
                if head.state == CANCELLED:
                    flush(head, self.executions, self.queue)  # idempotent; finishes a cut-short cancel
                    self.finished(head)
                    return self._describe(head)
                raise Conflict(f"execution {execution_id!r} already ended as {head.state}")
            commit = engine.cancel(head, self.clock.now(), reason)
            put_history(head, self.executions)  # its segment, should its own flush be still to come
            if self.executions.commit(commit.head, commit.expected_seq):
                flush(commit.head, self.executions, self.queue)
                if self.events is not None:  # events (issue 15): the status change, the wait's end
                    self.events.moved_on(head, commit.head)
                    self.events.flushed(commit.head)
                self.finished(commit.head)
                self._cancelled(commit.head, unstarted=commit.expected_seq == 0)
                return self._describe(commit.head)
        raise Unavailable(f"execution {execution_id!r} is changing too fast to cancel; retry")
