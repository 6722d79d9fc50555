"""How the fault matrix hands batches to the processor, playing Lambda's event source
mapping with its failure modes, and a trace of what happened to each execution.

``Delivery`` is the ``deliver`` callback of :meth:`tests.support.Harness.drain`. Besides
the plain invoke-then-ack it can:

- hand a batch over several times (``copies``: a duplicate receive, same receive count);
- hold messages back and deliver them late and out of order (``reorder``);
- stop the function mid-batch (``timeout_rate``): Lambda's function timeout after ``k``
  records committed; nothing is reported back, nothing is acked, and every record of the
  batch returns after the visibility timeout with a higher receive count;
- let a record's visibility timeout expire while it is still being processed
  (``overlap_rate``): a second worker receives the same message (receive count + 1) and
  processes it concurrently, on another thread, with the same handler.
"""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sedo.domain.timefmt import parse_ts
from sedo.service_layer.observe import WakeReport
from tests.support import FunctionTimedOut, Harness


class Trace:
    """What the processor did with each wake-up, per execution key (the processor's
    observer seam), so a failed row says how its execution got there."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def _add(self, key: Any, line: str) -> None:
        with self._lock:
            self.lines.setdefault(str(key), []).append(f"[{threading.current_thread().name}] {line}")

    def wake_up(self, report: WakeReport) -> None:
        body = report.body if isinstance(report.body, dict) else {}
        error = f" {type(report.error).__name__}: {report.error}" if report.error is not None else ""
        self._add(
            body.get("key"), f"{report.kind} seq={body.get('seq')} mid={body.get('mid')} -> {report.result}{error}"
        )

    def received(self, messages: list[dict[str, Any]], note: str = "") -> None:
        for message in messages:
            body = json.loads(message["Body"])
            count = message.get("Attributes", {}).get("ApproximateReceiveCount")
            line = f"received{note} {body.get('kind')} seq={body.get('seq')} mid={body.get('mid')} count={count}"
            self._add(body.get("key"), line)


def received_again(message: dict[str, Any]) -> dict[str, Any]:
    """The same message as a second receive would return it (receive count + 1)."""
    attributes = dict(message.get("Attributes", {}))
    attributes["ApproximateReceiveCount"] = str(int(attributes.get("ApproximateReceiveCount", "1")) + 1)
    return {**message, "Attributes": attributes}


@dataclass
class Delivery:
    """How a batch reaches the handler; counts what happened."""

    rng: random.Random
    copies: tuple[int, int] = (1, 1)
    reorder: bool = False
    timeout_rate: float = 0.0
    overlap_rate: float = 0.0
    deliveries: int = 0
    failed_records: int = 0
    timeouts: int = 0
    overlaps: int = 0
    held: list[dict[str, Any]] = field(default_factory=list)
    trace: Trace = field(default_factory=Trace)
    _timed_out: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _invoke(
        self, harness: Harness, messages: list[dict[str, Any]], time_out_after: int | None = None, note: str = ""
    ) -> set[str]:
        with self._lock:
            self.deliveries += len(messages)
        self.trace.received(messages, note)
        result = harness.invoke(messages, time_out_after)
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        with self._lock:
            self.failed_records += len(failed)
        return failed

    def __call__(self, harness: Harness, messages: list[dict[str, Any]]) -> None:
        if self.reorder:
            self.held.extend(messages)
            self.rng.shuffle(self.held)
            cut = len(self.held) // 2 + 1
            now, self.held[:] = self.held[:cut], self.held[cut:]
            _advance_clock(harness, now)
            batches = [[m] for m in reversed(now)]  # one at a time, newest first
        else:
            batches = [messages]
        for batch in batches:
            _advance_clock(harness, batch, latest=True)
            if self._times_out(batch):
                self._time_out(harness, batch)
                continue
            if self.overlap_rate and self.rng.random() < self.overlap_rate:
                failed = self._overlap(harness, batch)
            else:
                # Duplicates are the same receive handed over again (ApproximateReceiveCount unchanged,
                # like a message sent twice). A record any copy failed is never acked: as with Lambda,
                # SQS brings it back after the visibility timeout, with a higher receive count.
                failed = set()
                for _ in range(self.rng.randint(*self.copies)):
                    failed |= self._invoke(harness, batch)
            harness.ack([m for m in batch if m["MessageId"] not in failed])

    def _times_out(self, batch: list[dict[str, Any]]) -> bool:
        """Whether this invocation times out: at most once per message, so that redelivery,
        not the DLQ, must repair the damage (as with the injector's faults)."""
        if not self.timeout_rate or self.rng.random() >= self.timeout_rate:
            return False
        ids = {m["MessageId"] for m in batch}
        if ids & self._timed_out:
            return False
        self._timed_out |= ids
        return True

    def _time_out(self, harness: Harness, batch: list[dict[str, Any]]) -> None:
        """The function stops after ``k`` records (``0 <= k < len(batch)``): the invocation
        fails, nothing is acked, the whole batch comes back after the visibility timeout."""
        self.timeouts += 1
        try:
            self._invoke(harness, batch, time_out_after=self.rng.randrange(len(batch)), note=" (times out)")
        except FunctionTimedOut:
            return
        raise AssertionError("the invocation was to time out")

    def _overlap(self, harness: Harness, batch: list[dict[str, Any]]) -> set[str]:
        """One record's visibility timeout expires while this worker still processes the
        batch: a second worker receives it and processes it at the same time.

        Each worker acks on its own, as on AWS: the second one deletes the message when
        *it* succeeded, whatever became of the first worker's attempt (and the first one
        deletes it, too, when it succeeded: SQS may honour its older receipt handle)."""
        self.overlaps += 1
        chosen = self.rng.choice(batch)
        stagger = self.rng.uniform(0, 0.05)  # where in the first worker's run the second one starts
        errors: list[BaseException] = []

        def second_worker() -> None:
            try:
                time.sleep(stagger)
                again = received_again(chosen)
                if not self._invoke(harness, [again], note=" (second worker)"):
                    harness.ack([again])
            except BaseException as exc:  # surfaced below, on the test's thread
                errors.append(exc)

        thread = threading.Thread(target=second_worker, name="worker-2")
        thread.start()
        try:
            failed = self._invoke(harness, batch)
        finally:
            thread.join()
        if errors:
            raise errors[0]
        return failed

    def deliver_late(self, harness: Harness) -> None:
        """The held-back copies, after everything finished. Each is dropped as stale, or, when
        it is an older receipt of the very SQS message that produced its execution's head,
        re-flushes that head's outbox (sedo/service_layer/processing.py): what that sends
        again is for the caller to drain, and must be stale in turn."""
        for message in self.held:
            self._invoke(harness, [message])


def _advance_clock(harness: Harness, messages: list[dict[str, Any]], latest: bool = False) -> None:
    """Move the fake clock to the batch's earliest due time (``latest``: to its latest, so
    every timer of the batch fires, late rather than re-armed again and again)."""
    dues = [parse_ts(b["due"]) for b in harness.bodies(messages) if b.get("due")]
    if dues:
        due = max(dues) if latest else min(dues)
        if due > harness.clock.now():
            harness.clock.moment = due
