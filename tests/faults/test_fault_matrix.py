"""Executions x faults: run workloads through the real processor and emulator while
breaking things at named points, then prove every execution finished exactly once.

For each fault, ``EXECUTIONS`` executions of each workload (bench/workloads: the
README example, the 10-step flow, a small parallel + map, and a small map over S3) run through the real
Lambda handler and the moto server's SQS and DynamoDB, driven by tests.support.Harness
and tests/faults/delivery.py. A control execution of each workload first runs with
nothing broken; every faulted execution, and every iteration of its map and parallel
steps (children, judged against the control's child of the same step and index; of a map
in ``mode: inline``, whichever iterations became children this time, each judged on its own
when the control ran it inline), must:

- end ExecutionSucceeded with the control's output (not lost),
- have exactly as many successful commits as transitions, and as many transitions as
  the control (not forked, no step run twice),
- have the control's history: sequential event ids from 1, the same (type, stepId)
  list, exactly one terminal event (no duplicates after redelivery);

no other execution may exist or stay unfinished (nothing stranded), the queue must
drain and the DLQ stay empty. The matrix is printed at the end of the run
(tests/faults/matrix.py) with the run's seed: ``SEDO_FAULT_SEED`` picks it (random when
unset), ``SEDO_FAULT_EXECUTIONS`` the executions per workload and fault.
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

from bench.workload import Workload, load_all, stage_s3
from sedo.adapters.aws import client
from sedo.adapters.dynamodb.common import execution_key
from sedo.domain.execution import SUCCEEDED, TERMINAL_STATES, Execution, split_execution_id
from tests.faults import matrix
from tests.faults.delivery import Delivery, Trace
from tests.faults.injector import FaultInjector, FaultPlan, Point
from tests.faults.matrix import PROPERTY
from tests.support import Harness, events_of

pytestmark = pytest.mark.integration

TENANT = "faults"
#: Executions per workload and fault (``make test`` keeps the default; ``make chaos`` raises it).
EXECUTIONS = int(os.environ.get("SEDO_FAULT_EXECUTIONS") or 4)
WORKLOADS = load_all(names=["example", "ten-step", "fan-small", "s3map-small"])
#: A fan-out execution is 8 executions' work (the parent, 2 branches, 5 iterations): it runs
#: a quarter as often, so each workload costs about the same (the map over S3: 5 executions).
WEIGHT = {"fan-small": 4, "s3map-small": 4}


def _inline_maps(steps: list[Any]) -> set[str]:
    """The ids of the map steps in ``mode: inline`` among ``steps``, nested ones included."""
    found: set[str] = set()
    for step in steps:
        if step.get("type") == "map" and step.get("mode") == "inline":
            found.add(str(step["id"]))
        for nested in [step.get("iterator"), *step.get("branches", [])]:
            if isinstance(nested, dict):
                found |= _inline_maps(nested.get("steps", []))
    return found


#: Map steps whose iterations run inline where they need not wait: which of them became
#: children depends on each wake-up's inline budget (docs/DESIGN.md, *Inline iterations*),
#: so the control's children and a faulted run's may differ; the outputs may not.
INLINE_MAPS = {step for w in WORKLOADS for step in _inline_maps(w.document["steps"])}


def _count(workload: Workload) -> int:
    return max(1, EXECUTIONS // WEIGHT.get(workload.name, 1))


@dataclass(frozen=True)
class Scenario:
    fault: str
    plan: FaultPlan = field(default_factory=FaultPlan)
    copies: tuple[int, int] = (1, 1)
    reorder: bool = False
    botocore_retries: bool = False
    #: Faults fire while executions are started too (the API's create and first send).
    during_start: bool = False
    #: Batches the function times out in (after some of their records committed).
    timeout_rate: float = 0.0
    #: Batches one of whose records a second worker processes at the same time.
    overlap_rate: float = 0.0


SCENARIOS = [
    Scenario("none"),
    Scenario("crash-after-commit", FaultPlan({Point.CRASH_AFTER_COMMIT: 0.5})),
    Scenario("crash-after-send", FaultPlan({Point.CRASH_AFTER_SEND: 0.5})),
    Scenario("duplicate-delivery", copies=(2, 3)),
    Scenario("delayed-reordered", reorder=True),
    Scenario("ddb-throttle", FaultPlan({Point.DDB_THROTTLE: 0.07}), botocore_retries=True),
    Scenario("ddb-throttle-exhausted", FaultPlan({Point.DDB_THROTTLE_EXHAUSTED: 0.03})),
    Scenario("ddb-lost-response", FaultPlan({Point.DDB_LOST_RESPONSE: 0.3}), during_start=True),
    Scenario("sqs-failed-entries", FaultPlan({Point.SQS_FAILED_ENTRIES: 0.4})),
    Scenario("sqs-send-error", FaultPlan({Point.SQS_SEND_ERROR: 0.4})),
    Scenario("lambda-timeout", timeout_rate=0.3),
    Scenario("visibility-overlap", overlap_rate=0.5),
    Scenario(
        "all-at-once",
        FaultPlan(
            {
                Point.CRASH_AFTER_COMMIT: 0.15,
                Point.CRASH_AFTER_SEND: 0.15,
                Point.DDB_THROTTLE: 0.04,
                Point.DDB_THROTTLE_EXHAUSTED: 0.01,
                Point.DDB_LOST_RESPONSE: 0.05,
                Point.SQS_FAILED_ENTRIES: 0.15,
                Point.SQS_SEND_ERROR: 0.15,
            }
        ),
        copies=(1, 2),
        reorder=True,
        timeout_rate=0.1,
        overlap_rate=0.1,
    ),
]


@dataclass
class Reference:
    """The control run of one execution (and, by ``instance.index``, of its iterations)."""

    events: list[tuple[str, str | None]]
    seq: int
    output: Any
    children: dict[str, Reference] = field(default_factory=dict)


def _start(harness: Harness, workload: Workload, count: int) -> list[str]:
    return [
        harness.services.executions.start(TENANT, workload.definition_id, workload.input)[0]["id"] for _ in range(count)
    ]


def _head(harness: Harness, execution_id: str) -> Execution | None:
    _, _, key = split_execution_id(execution_id)
    return harness.adapters.executions.get(TENANT, key)


def _children(harness: Harness, head: Execution) -> dict[str, Execution]:
    """The iterations of ``head``'s map and parallel steps, by ``instance.index``."""
    page = harness.adapters.executions.list_iterations(TENANT, head.key, 10_000, None, ())
    return {child.key.split(".", 1)[1]: child for child in page.items}


def _shape(harness: Harness, execution_id: str) -> list[dict[str, Any]]:
    return events_of(harness, TENANT, execution_id)


def _reference_of(harness: Harness, head: Execution) -> Reference:
    events = _shape(harness, head.id)
    children = {k: _reference_of(harness, c) for k, c in _children(harness, head).items()}
    return Reference([(e["type"], e.get("stepId")) for e in events], head.seq, head.output, children)


def _reference(harness: Harness, workload: Workload) -> Reference:
    [execution_id] = _start(harness, workload, 1)
    harness.drain()
    head = _head(harness, execution_id)
    assert head is not None and head.state == SUCCEEDED, f"the control execution of {workload.name} did not succeed"
    return _reference_of(harness, head)


def _judge_head(harness: Harness, injector: FaultInjector, head: Execution | None, ref: Reference) -> str:
    """``ok``, ``lost``, ``forked`` or ``bad_history`` for one execution and its iterations."""
    if head is None or head.state != SUCCEEDED:
        return "lost"
    key = injector.item_key(execution_key(TENANT, head.key))
    if injector.commits[key] != head.seq or head.seq != ref.seq or head.output != ref.output:
        return "forked"
    events = _shape(harness, head.id)
    ids = [e["id"] for e in events]
    shape = [(e["type"], e.get("stepId")) for e in events]
    terminal = [e for e in events if e["type"] in TERMINAL_STATES]
    if ids != list(range(1, len(events) + 1)) or shape != ref.events or len(terminal) != 1:
        return "bad_history"
    children = _children(harness, head)
    inline = {str(e["id"]) for e in events if e["type"] == "StepStarted" and e.get("stepId") in INLINE_MAPS}
    for suffix in set(children) - set(ref.children):
        if suffix.split(".", 1)[0] not in inline:
            return "forked"  # an iteration the control did not have
        verdict = _judge_alone(harness, injector, children[suffix])  # an inline one that became a child
        if verdict != "ok":
            return verdict
    for suffix, child_ref in ref.children.items():
        child = children.get(suffix)
        if child is None and suffix.split(".", 1)[0] in inline:
            continue  # it ran inline this time: the parent's output has its result
        verdict = _judge_head(harness, injector, child, child_ref)
        if verdict != "ok":
            return verdict
    return "ok"


def _judge_alone(harness: Harness, injector: FaultInjector, head: Execution) -> str:
    """An iteration with no control to compare with: it succeeded, committed once per
    transition, and has a well-formed history (its result is in the parent's output)."""
    if head.state != SUCCEEDED:
        return "lost"
    if injector.commits[injector.item_key(execution_key(TENANT, head.key))] != head.seq:
        return "forked"
    events = _shape(harness, head.id)
    terminal = [e for e in events if e["type"] in TERMINAL_STATES]
    if [e["id"] for e in events] != list(range(1, len(events) + 1)) or len(terminal) != 1:
        return "bad_history"
    return "ok"


def _explain(harness: Harness, trace: Trace, execution_id: str, verdict: str) -> str:
    head = _head(harness, execution_id)
    state = "no head" if head is None else f"{head.state} seq={head.seq} produced_by={head.produced_by}"
    awaiting = "" if head is None else f" awaiting={head.awaiting} outbox={head.outbox}"
    lines = [f"{execution_id}: {verdict} ({state}{awaiting})"]
    keys = [] if head is None else [head.key, *(c.key for c in _children(harness, head).values())]
    for key in keys or [split_execution_id(execution_id)[2]]:
        lines += [f"  {key}:", *(f"    {line}" for line in trace.lines.get(key, []))]
    return "\n".join(lines)


def _stranded(harness: Harness, expected: int) -> list[str]:
    """Executions nobody asked for or that never ended (a start that half-happened)."""
    heads: list[Execution] = []
    token: str | None = None
    while True:
        page = harness.adapters.executions.list_executions(TENANT, 1000, token, (), None)
        heads += page.items
        token = page.next_token
        if token is None:
            break
    problems = [f"{h.id}: stranded in {h.state} (seq {h.seq})" for h in heads if not h.finished]
    if len(heads) != expected:
        problems.append(f"{len(heads)} executions exist; {expected} were started")
    return problems


def _leftovers(harness: Harness, trace: Trace) -> str:
    """What is still in the queue once everything finished, with the trace of its execution."""
    time.sleep(1)  # in flight: back after the harness queue's visibility timeout
    lines = [f"{harness.depth()} messages left in the queue after every execution finished:"]
    for message in harness.receive(wait=2):
        body = json.loads(message["Body"])
        lines.append(f"  {body} (attributes {message.get('Attributes')})")
        lines += [f"    {line}" for line in trace.lines.get(str(body.get("key")), [])]
    return "\n".join(lines)


def _dlq_depth(harness: Harness) -> int:
    attributes = harness.sqs.get_queue_attributes(
        QueueUrl=harness.dlq_url(), AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.fault for s in SCENARIOS])
def test_every_execution_finishes_exactly_once(
    fault_stack: Any, scenario: Scenario, record_property: Callable[[str, object], None]
) -> None:
    started = time.monotonic()
    harness = Harness(fault_stack)
    seed = matrix.scenario_seed(scenario.fault)
    injector = FaultInjector(scenario.plan, seed=seed).install_on(harness)
    references: dict[str, Reference] = {}
    ids: dict[str, list[str]] = {}
    for workload in WORKLOADS:
        stage_s3(client("s3", harness.settings), workload)  # a map over S3: its buckets and items
        harness.services.definitions.create(TENANT, workload.document)
        references[workload.name] = _reference(harness, workload)
    injector.active = scenario.during_start
    for workload in WORKLOADS:
        ids[workload.name] = _start(harness, workload, _count(workload))

    delivery = Delivery(
        random.Random(seed),
        copies=scenario.copies,
        reorder=scenario.reorder,
        timeout_rate=scenario.timeout_rate,
        overlap_rate=scenario.overlap_rate,
    )
    harness.processor.observer = delivery.trace
    injector.active = True
    try:
        harness.drain(delivery, max_rounds=10_000 + 100 * sum(len(v) for v in ids.values()))
    finally:
        injector.active = False
    delivery.deliver_late(harness)
    harness.drain()  # what a late copy re-flushed: nothing of it may commit (judged below)

    outcomes: dict[str, int] = {"ok": 0, "lost": 0, "forked": 0, "bad_history": 0}
    problems: list[str] = []
    for workload in WORKLOADS:
        for execution_id in ids[workload.name]:
            verdict = _judge_head(harness, injector, _head(harness, execution_id), references[workload.name])
            outcomes[verdict] += 1
            if verdict != "ok":
                problems.append(_explain(harness, delivery.trace, execution_id, verdict))
    executions = sum(len(v) for v in ids.values())
    stranded = _stranded(harness, executions + len(WORKLOADS))
    problems.extend(stranded)
    dlq = _dlq_depth(harness)
    injected = {**injector.counts, "lambda-timeout": delivery.timeouts, "visibility-overlap": delivery.overlaps}
    row = {
        "order": SCENARIOS.index(scenario),
        "seed": matrix.base_seed(),
        "fault": scenario.fault,
        "executions": executions,
        **outcomes,
        "stranded": len(stranded),
        "injected": {k: v for k, v in injected.items() if v},
        "retried": injector.retried,
        "failed_records": delivery.failed_records,
        "deliveries": delivery.deliveries,
        "seconds": time.monotonic() - started,
        "dlq": dlq,
    }
    record_property(PROPERTY, json.dumps(row))

    assert not problems, "\n".join(problems)
    assert dlq == 0, f"{dlq} messages reached the DLQ"
    assert harness.depth() == 0, _leftovers(harness, delivery.trace)
    if scenario.plan != FaultPlan():
        assert sum(injector.counts.values()) > 0, "the fault never fired: the test proved nothing"
    if scenario.botocore_retries:
        assert injector.retried > 0, "botocore never retried a throttled call"
    if scenario.copies != (1, 1) or scenario.reorder:
        assert delivery.deliveries > executions, "no message was delivered twice or late"
    if scenario.timeout_rate:
        assert delivery.timeouts > 0, "no invocation timed out"
    if scenario.overlap_rate:
        assert delivery.overlaps > 0, "no record was processed by two workers at once"
