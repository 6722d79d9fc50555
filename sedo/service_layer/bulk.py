"""Bulk operations: cancel, redrive, pause or resume every execution a filter matches.

``POST /bulk`` stores the operation (``page`` 0) and queues its first ``bulk`` wake-up.
The processor runs one bounded batch per wake-up (:data:`sedo.domain.limits.MAX_BULK_BATCH`
executions): it lists the next matches from the operation's cursor (only the tenant's
own executions: every listing and every key is under the tenant), applies the action to
each, then writes the progress with a write conditional on the ``page`` it read, and
queues the next batch. A redelivered batch whose progress another delivery wrote already
changes no count; actions are idempotent (cancelling a cancelled execution, pausing a
paused one, resuming a running one change nothing), so repeating is safe. A named
operation (``name``) is created once: posting it again returns it, and re-queues its
current batch (the way to restart one whose message was lost).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sedo.domain import limits
from sedo.domain.errors import BadRequest, Conflict, NotFound, SedoError
from sedo.domain.execution import Execution, WakeUp, new_execution_key
from sedo.domain.protocol import WakeKind
from sedo.domain.timefmt import format_ts
from sedo.service_layer.operate import Filter, OperationsService
from sedo.service_layer.operate_ports import BulkOperation, BulkStore

log = logging.getLogger("sedo.bulk")

ACTIONS = ("cancel", "redrive", "pause", "resume")


class BulkService:
    def __init__(self, operations: OperationsService, store: BulkStore) -> None:
        self.operations = operations
        self.store = store
        self.queue = operations.queue
        self.clock = operations.clock
        self.actions: dict[str, Callable[[str, str], Any]] = {
            "cancel": lambda tenant, execution: operations.service.cancel(tenant, execution, "bulk operation"),
            "redrive": operations.redrive,
            "pause": operations.pause,
            "resume": operations.resume,
        }

    def start(self, tenant_id: str, body: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        action = body.get("action")
        if action not in ACTIONS:
            raise BadRequest(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
        where = body.get("filter") or {}
        Filter.from_body(where)  # every problem before anything is stored
        name = body.get("name")
        now = format_ts(self.clock.now())
        if name is None:
            operation_id = new_execution_key(int(self.clock.now().timestamp() * 1000))
        else:
            operation_id = "n" + hashlib.sha256(f"{tenant_id}\n{name}".encode()).hexdigest()[:24]
        operation = BulkOperation(tenant_id, operation_id, str(action), dict(where), now, now, name=name)
        if not self.store.create(operation):
            existing = self.get_operation(tenant_id, operation_id)
            if (existing.action, existing.filter) != (operation.action, operation.filter):
                raise Conflict(f"bulk operation {name!r} exists with another action or filter")
            if existing.state == "running":
                self._send(existing)  # safe to repeat: a batch that already ran is dropped
            return existing.describe(), False
        self._send(operation)
        return operation.describe(), True

    def get_operation(self, tenant_id: str, operation_id: str) -> BulkOperation:
        operation = self.store.get(tenant_id, operation_id)
        if operation is None:
            raise NotFound(f"bulk operation {operation_id!r} does not exist")
        return operation

    def get(self, tenant_id: str, operation_id: str) -> dict[str, Any]:
        return self.get_operation(tenant_id, operation_id).describe()

    def _send(self, operation: BulkOperation) -> None:
        message = WakeUp(
            tenant_id=operation.tenant_id,
            key=operation.id,
            seq=operation.page,
            kind=WakeKind.BULK,
            mid=f"bulk.{operation.page}",
        )
        self.queue.send([message.to_body()])

    # -- the processor's: one batch ----------------------------------------------------

    def run(self, tenant_id: str, operation_id: str, page: int, redelivered: bool) -> bool:
        """Run batch ``page``; True when this call wrote its progress."""
        operation = self.store.get(tenant_id, operation_id)
        if operation is None or operation.state != "running" or operation.page != page:
            if redelivered and operation is not None and operation.state == "running" and operation.page == page + 1:
                self._send(operation)  # our progress was written; the next batch's message may not have been
            return False
        where = Filter.from_body(operation.filter)
        heads, following = self.operations.find(tenant_id, where, limits.MAX_BULK_BATCH, operation.cursor)
        for head in heads:
            self._apply(operation, head)
        operation.matched += len(heads)
        operation.page, operation.cursor = page + 1, following
        operation.updated_at = format_ts(self.clock.now())
        if following is None:
            operation.state = "succeeded"
        if not self.store.advance(operation, page):
            return False  # another delivery of this batch wrote first
        if following is not None:
            self._send(operation)
        log.info(
            "bulk batch done",
            extra={"tenantId": tenant_id, "operationId": operation_id, "page": page, "matched": len(heads)},
        )
        return True

    def _apply(self, operation: BulkOperation, head: Execution) -> None:
        try:
            self.actions[operation.action](head.tenant_id, head.id)
        except SedoError as exc:
            operation.failed += 1
            if len(operation.errors) < limits.MAX_BULK_ERRORS_SHOWN:
                operation.errors.append({"executionId": head.id, "detail": exc.detail})
            return
        operation.done += 1
