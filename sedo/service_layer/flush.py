"""After a commit: write the segment's history, then send its outbox.

Both are idempotent (history items have fixed keys; receivers drop stale messages
by ``seq``), so a redelivered message may run this again harmlessly.
"""

from __future__ import annotations

from sedo.domain.execution import Execution
from sedo.service_layer.ports import ExecutionStore, Queue


def flush(head: Execution, executions: ExecutionStore, queue: Queue) -> None:
    if head.pending_events:
        executions.put_history(head)
    ready = [message for message in head.outbox if not message.get("deferred")]
    if ready:
        queue.send(ready)
