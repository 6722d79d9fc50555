"""Executions x faults: run workloads through the real processor and emulator while
breaking things at named points, then prove every execution finished exactly once.

For each fault, ``EXECUTIONS`` executions of each workload (bench/workloads: the
README example and the 10-step flow) run through the real Lambda handler and the
moto server's SQS and DynamoDB, driven by tests.support.Harness. A control execution
of each workload first runs with nothing broken; every faulted execution must then:

- end ExecutionSucceeded with the control's output (not lost),
- have exactly as many successful commits as transitions, and as many transitions as
  the control (not forked, no step run twice),
- have the control's history: sequential event ids from 1, the same (type, stepId)
  list, exactly one terminal event (no duplicates after redelivery),

the queue must drain and the DLQ stay empty. The matrix is printed at the end of the
run (tests/faults/matrix.py).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from bench.workload import Workload, load_all
from sedo.adapters.dynamodb.common import execution_key
from sedo.domain.execution import SUCCEEDED, TERMINAL_STATES, split_execution_id
from sedo.domain.timefmt import parse_ts
from sedo.service_layer.observe import WakeReport
from tests.faults import matrix
from tests.faults.injector import FaultInjector, FaultPlan
from tests.faults.matrix import PROPERTY
from tests.support import Harness, events_of

pytestmark = pytest.mark.integration

TENANT = "faults"
#: Executions per workload and fault (``make test`` keeps the default; ``make chaos`` raises it).
EXECUTIONS = int(os.environ.get("SEDO_FAULT_EXECUTIONS") or 4)
WORKLOADS = load_all(names=["example", "ten-step"])

Deliver = Callable[[Harness, list[dict[str, Any]]], None]


class Trace:
    """What the processor did with each wake-up, per execution key (the processor's
    observer seam), so a failed row says how its execution got there."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}

    def wake_up(self, report: WakeReport) -> None:
        body = report.body if isinstance(report.body, dict) else {}
        error = f" {type(report.error).__name__}: {report.error}" if report.error is not None else ""
        line = f"{report.kind} seq={body.get('seq')} mid={body.get('mid')} -> {report.result}{error}"
        self.lines.setdefault(str(body.get("key")), []).append(line)

    def received(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            body = json.loads(message["Body"])
            count = message.get("Attributes", {}).get("ApproximateReceiveCount")
            line = f"received {body.get('kind')} seq={body.get('seq')} mid={body.get('mid')} count={count}"
            self.lines.setdefault(str(body.get("key")), []).append(line)


@dataclass
class Delivery:
    """How a batch reaches the handler; counts what happened."""

    rng: random.Random
    copies: tuple[int, int] = (1, 1)
    reorder: bool = False
    deliveries: int = 0
    failed_records: int = 0
    held: list[dict[str, Any]] = field(default_factory=list)
    trace: Trace = field(default_factory=Trace)

    def _invoke(self, harness: Harness, messages: list[dict[str, Any]]) -> set[str]:
        self.deliveries += len(messages)
        self.trace.received(messages)
        result = harness.invoke(messages)
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
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
            # Duplicates are the same receive handed over again (ApproximateReceiveCount unchanged,
            # like a message sent twice). A record any copy failed is never acked: as with Lambda,
            # SQS brings it back after the visibility timeout, with a higher receive count.
            failed: set[str] = set()
            for _ in range(self.rng.randint(*self.copies)):
                failed |= self._invoke(harness, batch)
            harness.ack([m for m in batch if m["MessageId"] not in failed])

    def deliver_late(self, harness: Harness) -> None:
        """The held-back copies, after everything finished: all must be dropped as stale."""
        for message in self.held:
            self._invoke(harness, [message])


def _advance_clock(harness: Harness, messages: list[dict[str, Any]]) -> None:
    dues = [parse_ts(b["due"]) for b in harness.bodies(messages) if b.get("due")]
    if dues and min(dues) > harness.clock.now():
        harness.clock.moment = min(dues)


@dataclass(frozen=True)
class Scenario:
    fault: str
    plan: FaultPlan = field(default_factory=FaultPlan)
    copies: tuple[int, int] = (1, 1)
    reorder: bool = False
    botocore_retries: bool = False
    #: Faults fire while executions are started too (the API's create and first send).
    during_start: bool = False


SCENARIOS = [
    Scenario("none"),
    Scenario("crash-after-commit", FaultPlan(crash_after_commit=0.5)),
    Scenario("crash-after-send", FaultPlan(crash_after_send=0.5)),
    Scenario("duplicate-delivery", copies=(2, 3)),
    Scenario("delayed-reordered", reorder=True),
    Scenario("ddb-throttle", FaultPlan(ddb_throttle=0.07), botocore_retries=True),
    Scenario("ddb-throttle-exhausted", FaultPlan(ddb_throttle_exhausted=0.08)),
    Scenario("ddb-lost-response", FaultPlan(ddb_lost_response=0.3), during_start=True),
    Scenario("sqs-failed-entries", FaultPlan(sqs_failed_entries=0.4)),
    Scenario("sqs-send-error", FaultPlan(sqs_send_error=0.4)),
    Scenario(
        "all-at-once",
        FaultPlan(
            crash_after_commit=0.15,
            crash_after_send=0.15,
            ddb_throttle=0.04,
            ddb_throttle_exhausted=0.04,
            sqs_failed_entries=0.15,
            sqs_send_error=0.15,
        ),
        copies=(1, 2),
        reorder=True,
    ),
]


@dataclass
class Reference:
    events: list[tuple[str, str | None]]
    seq: int
    output: Any


def _start(harness: Harness, workload: Workload, count: int) -> list[str]:
    return [
        harness.services.executions.start(TENANT, workload.definition_id, workload.input)[0]["id"] for _ in range(count)
    ]


def _head(harness: Harness, execution_id: str) -> Any:
    _, _, key = split_execution_id(execution_id)
    return harness.adapters.executions.get(TENANT, key)


def _reference(harness: Harness, workload: Workload) -> Reference:
    [execution_id] = _start(harness, workload, 1)
    harness.drain()
    head = _head(harness, execution_id)
    assert head.state == SUCCEEDED, f"the control execution of {workload.name} did not succeed: {head.state}"
    events = events_of(harness, TENANT, execution_id)
    return Reference([(e["type"], e.get("stepId")) for e in events], head.seq, head.output)


def _judge(harness: Harness, injector: FaultInjector, execution_id: str, ref: Reference) -> str:
    """``ok``, ``lost``, ``forked`` or ``bad_history``, with the first problem found."""
    head = _head(harness, execution_id)
    if head is None or head.state != SUCCEEDED:
        return "lost"
    key = injector.item_key(execution_key(TENANT, split_execution_id(execution_id)[2]))
    if injector.commits[key] != head.seq or head.seq != ref.seq or head.output != ref.output:
        return "forked"
    events = events_of(harness, TENANT, execution_id)
    ids = [e["id"] for e in events]
    shape = [(e["type"], e.get("stepId")) for e in events]
    terminal = [e for e in events if e["type"] in TERMINAL_STATES]
    if ids != list(range(1, len(events) + 1)) or shape != ref.events or len(terminal) != 1:
        return "bad_history"
    return "ok"


def _explain(harness: Harness, trace: Trace, execution_id: str, verdict: str) -> str:
    head = _head(harness, execution_id)
    key = split_execution_id(execution_id)[2]
    state = "no head" if head is None else f"{head.state} seq={head.seq} produced_by={head.produced_by}"
    awaiting = "" if head is None else f" awaiting={head.awaiting} outbox={head.outbox}"
    steps = "\n    ".join(trace.lines.get(key, []))
    return f"{execution_id}: {verdict} ({state}{awaiting})\n    {steps}"


def _stranded(harness: Harness, expected: int) -> list[str]:
    """Executions nobody asked for or that never ended (a start that half-happened)."""
    heads = list(harness.adapters.executions.list_executions(TENANT, 1000, None, (), None).items)
    problems = [f"{h.id}: stranded in {h.state} (seq {h.seq})" for h in heads if not h.finished]
    if len(heads) != expected:
        problems.append(f"{len(heads)} executions exist; {expected} were started")
    return problems


def _dlq_depth(harness: Harness) -> int:
    dlq_name = harness.queue_url.rsplit("/", 1)[-1].replace("execution-processor", "execution-dlq")
    url = harness.sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"]
    attributes = harness.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.fault for s in SCENARIOS])
def test_every_execution_finishes_exactly_once(
    fault_stack: Any, scenario: Scenario, record_property: Callable[[str, object], None]
) -> None:
    started = time.monotonic()
    harness = Harness(fault_stack)
    order = SCENARIOS.index(scenario)
    seed = matrix.scenario_seed(scenario.fault)
    injector = FaultInjector(scenario.plan, seed=seed).install(
        harness.adapters.executions.client,  # type: ignore[attr-defined]
        harness.adapters.queue.client,  # type: ignore[attr-defined]
    )
    references: dict[str, Reference] = {}
    ids: dict[str, list[str]] = {}
    for workload in WORKLOADS:
        harness.services.definitions.create(TENANT, workload.document)
        references[workload.name] = _reference(harness, workload)
    injector.active = scenario.during_start
    for workload in WORKLOADS:
        ids[workload.name] = _start(harness, workload, EXECUTIONS)

    delivery = Delivery(random.Random(seed), copies=scenario.copies, reorder=scenario.reorder)
    harness.processor.observer = delivery.trace
    injector.active = True
    try:
        harness.drain(delivery)
    finally:
        injector.active = False
    delivery.deliver_late(harness)

    outcomes: dict[str, int] = {"ok": 0, "lost": 0, "forked": 0, "bad_history": 0}
    problems: list[str] = []
    for workload in WORKLOADS:
        for execution_id in ids[workload.name]:
            verdict = _judge(harness, injector, execution_id, references[workload.name])
            outcomes[verdict] += 1
            if verdict != "ok":
                problems.append(_explain(harness, delivery.trace, execution_id, verdict))
    executions = sum(len(v) for v in ids.values())
    stranded = _stranded(harness, executions + len(WORKLOADS))
    problems.extend(stranded)
    dlq = _dlq_depth(harness)
    row = {
        "order": order,
        "seed": matrix.base_seed(),
        "fault": scenario.fault,
        "executions": executions,
        **outcomes,
        "injected": dict(injector.counts),
        "retried": injector.retried,
        "failed_records": delivery.failed_records,
        "deliveries": delivery.deliveries,
        "seconds": time.monotonic() - started,
        "dlq": dlq,
        "stranded": len(stranded),
    }
    record_property(PROPERTY, json.dumps(row))

    assert not problems, "\n".join(problems)
    assert dlq == 0, f"{dlq} messages reached the DLQ"
    assert harness.depth() == 0
    if scenario.plan != FaultPlan():
        assert sum(injector.counts.values()) > 0, "the fault never fired: the test proved nothing"
    if scenario.botocore_retries:
        assert injector.retried > 0, "botocore never retried a throttled call"
    if scenario.copies != (1, 1) or scenario.reorder:
        assert delivery.deliveries > executions, "no message was delivered twice or late"
