"""After a commit: write the segment's history, then send its outbox.

Both are idempotent (history items have fixed keys; receivers drop stale messages
by ``seq``), so a redelivered message may run this again harmlessly.
"""

from __future__ import annotations

from sedo.domain.execution import Execution, history_in_head
from sedo.service_layer.ports import ExecutionStore, Queue


def put_history(head: Execution, executions: ExecutionStore) -> None:
    """The head's segment into its history item, unless its events stay in the head
    (:func:`~sedo.domain.execution.history_in_head`: unstarted or finished)."""
    if head.pending_events and not history_in_head(head):
        executions.put_history(head)


def flush(head: Execution, executions: ExecutionStore, queue: Queue) -> None:
    put_history(head, executions)
    ready = [message for message in head.outbox if not message.get("deferred")]
    if ready:
        queue.send(ready)
