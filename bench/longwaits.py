"""Long waits in ``make bench``: what a year-long wait costs, and how late a deferred timer fires.

Two phases on the bench's moto stack, each with adapters of its own built by
``sedo.bootstrap`` and counted by the bench's Recorder (bench/README.md, "Long waits"):

1. **A year-long wait's cost** (:func:`year_long_waits`). Executions of ``wait seconds:
   31536000`` run through the real processor handler and a real
   :class:`~sedo.service_layer.sweeper.Sweeper` with durable timers on, on a FakeClock
   shared by the API services, the processor and the sweeper. They start, run to their
   wait (the timer is deferred: nothing is sent), the clock goes through the year with a
   sweep at a few points, then at the arm point (the sweep finds the head and sends the
   timer), SQS delivers it at its due time, and they finish. The sweeper's fixed cost per
   run (its queries of an index with no due entries) is measured apart, on runs before the
   executions start, and is a deployment's cost (``sweeperPerRunUsd``), not a wait's; a
   wait's share of the sweeps is what they did beyond those fixed runs. The pre-sweeper
   cost is measured the same way: the same executions without durable timers, a few of
   their 900 s re-arms, times the 35,040 a year takes.
2. **Timer lateness of long waits, scaled** (bench/scaledwaits.py): the same deferred-timer
   path on the system clock, with SQS's reach, the arm lead and the sweeps scaled down.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bench import instrument, pricing, scaledwaits
from bench.harness import RESULTS, TENANT, Bench, LambdaHandler, PhaseLog, say
from bench.stats import GOAL_PER_YEAR_LONG_WAIT_USD
from sedo.domain import limits, liveness
from sedo.domain.timefmt import parse_ts
from sedo.service_layer.processing import Processed

if TYPE_CHECKING:
    from sedo.adapters.clock import FakeClock
    from sedo.bootstrap import ApiServices
    from sedo.entrypoints.local.esm import EventSourceMapping
    from sedo.service_layer.sweeper import Sweeper, SweepReport

YEAR_SECONDS = 365 * 24 * 3600
#: Re-arms a year-long wait took before durable timers: one per 900 s chunk.
REARMS_PER_YEAR = YEAR_SECONDS // limits.MAX_SQS_DELAY_SECONDS
#: The sweeper's schedule: template.yaml's SweepRate default, rate(1 minute); a month is a
#: twelfth of a year.
SWEEP_EVERY_SECONDS = 60
RUNS_PER_MONTH = YEAR_SECONDS // 12 // SWEEP_EVERY_SECONDS
#: Where the year-long waits are swept before the arm point (seconds after they started).
SWEEP_POINTS = (
    ("3 minutes", 180),
    ("1 day", 86_400),
    ("3 months", 91 * 86_400),
    ("6 months", 182 * 86_400),
    ("9 months", 273 * 86_400),
    ("364 days", 364 * 86_400),
)
YEAR_DEFINITION = "bench-year-wait"
#: The same execution with an instant step in place of the wait: what the wait adds is the difference.
INSTANT_DEFINITION = "bench-instant-step"


# -- a fake clock's SQS timers -----------------------------------------------------------------


class FakeClockDelivery:
    """Plays SQS's message timers on a fake clock. The queue of this phase sends with
    DelaySeconds 0 (the same request, billed the same), and before a batch reaches the
    processor the clock moves to when SQS would have delivered it: the message's delay
    on, at most its due time; with ``to_due``, straight to its due time (to finish
    executions left waiting)."""

    def __init__(self, clock: FakeClock, inner: LambdaHandler) -> None:
        self.clock = clock
        self.inner = inner
        self.to_due = False

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        moments: list[datetime] = []
        for record in event.get("Records", []):
            body = json.loads(record["body"])
            if body.get("due") is None:
                continue
            due = parse_ts(body["due"])
            later = self.clock.moment + timedelta(seconds=int(body.get("delay", 0)))
            moments.append(due if self.to_due else min(due, later))
        if moments:
            self.clock.moment = max(self.clock.moment, *moments)
        return self.inner(event, context)


def _depth(bench: Bench) -> int:
    names = [f"ApproximateNumberOfMessages{s}" for s in ("", "NotVisible", "Delayed")]
    attributes = bench.observer_sqs.get_queue_attributes(QueueUrl=bench.settings.queue_url, AttributeNames=names)
    return sum(int(v) for v in attributes["Attributes"].values())


def _drain(bench: Bench, esm: EventSourceMapping, enough: Callable[[], bool] | None = None) -> None:
    """Poll until the queue is empty (or ``enough()``), as the event source would."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if enough is not None and enough():
            return
        if esm.poll_once() == 0 and _depth(bench) == 0:
            return
    raise RuntimeError("the long-wait queue did not drain within 300 s")


# -- counting ------------------------------------------------------------------------------------


def _tally(bench: Bench, phase: str, components: tuple[str, ...]) -> instrument.Tally:
    total = instrument.Tally()
    for component in components:
        total.add(bench.recorder.tally(phase, component))
    return total


def _beyond(tally: instrument.Tally, idle: instrument.Tally, idle_runs: int, runs: int) -> dict[str, Any]:
    """What ``runs`` sweeps did beyond ``runs`` fixed (idle) sweeps: calls, units, SQS."""
    scale = runs / max(1, idle_runs)
    calls = {key: max(0.0, n - idle.calls.get(key, 0) * scale) for key, n in tally.calls.items()}
    return {
        "calls": {key: n for key, n in calls.items() if n > 1e-9},
        "wcu": max(0.0, tally.wcu - idle.wcu * scale),
        "rcu": max(0.0, tally.rcu - idle.rcu * scale),
        "sqsBilled": max(0.0, tally.sqs_billed - idle.sqs_billed * scale),
        "sqsSent": max(0.0, tally.sqs_sent - idle.sqs_sent * scale),
    }


def _by_table(tally: instrument.Tally, count: int) -> dict[str, dict[str, float]]:
    """Units per ``count`` by table (``table/index`` for index writes and queries)."""
    out: dict[str, dict[str, float]] = {}
    for (table, index, _), load in tally.partitions.items():
        entry = out.setdefault(f"{table}/{index}" if index else table, {"wcu": 0.0, "rcu": 0.0})
        entry["wcu"] += load.wcu / count
        entry["rcu"] += load.rcu / count
    return {name: {k: round(v, 4) for k, v in units.items()} for name, units in sorted(out.items())}


def _per(value: float, count: int) -> float:
    return round(value / max(1, count), 6)


def _sweeper_sizing(sizing: pricing.LambdaSizing) -> pricing.LambdaSizing:
    """The processor's sizing with the sweeper function's memory (template.yaml, else 128 MB)."""
    memory = pricing.sweeper_memory_mb()
    return replace(sizing, processor_memory_mb=memory, source=f"{sizing.source}; sweeper {memory} MB")


# -- 1. a year-long wait's cost ------------------------------------------------------------------


@dataclass
class _YearStack:
    clock: FakeClock
    services: ApiServices
    sweeper: Sweeper
    durable: FakeClockDelivery
    durable_esm: EventSourceMapping
    rearm: FakeClockDelivery
    rearm_esm: EventSourceMapping
    sweep_ms: dict[str, list[float]]

    def sweep(self, bench: Bench) -> SweepReport:
        started = time.perf_counter()
        report = self.sweeper.sweep()
        self.sweep_ms.setdefault(bench.phase, []).append((time.perf_counter() - started) * 1000)
        return report


def _year_stack(bench: Bench) -> _YearStack:
    from sedo import bootstrap
    from sedo.adapters.clock import FakeClock
    from sedo.entrypoints.local.esm import EventSourceMapping
    from sedo.entrypoints.processor import make_handler

    clock = FakeClock(datetime(2030, 1, 1, tzinfo=UTC))
    durable = replace(bench.settings, durable_timers=True)
    # the queue sends with DelaySeconds 0; FakeClockDelivery plays the delays on the clock
    immediate = replace(durable, max_delay_seconds=0)

    def adapters(component: str) -> bootstrap.Adapters:
        return bench.instrumented(
            bootstrap.aws_adapters(immediate, clock), component, per_wakeup=component == "processor"
        )

    processor_adapters = adapters("processor")
    services = bootstrap.api_services(adapters("api"), durable)
    sweeper = bootstrap.sweeper(adapters("sweeper"), durable)

    def delivery(settings: Any) -> tuple[FakeClockDelivery, EventSourceMapping]:
        processor = bootstrap.processor(processor_adapters, settings, bench.logger, observer=bench)
        deliver = FakeClockDelivery(clock, make_handler(processor, bench.logger))
        esm = EventSourceMapping(
            bench.esm_sqs,
            bench.settings.queue_url,
            bench.timed(deliver),
            bench.settings.region,
            workers=1,
            wait_seconds=0,
            function_timeout=0,
        )
        return deliver, esm

    with_sweeper, with_sweeper_esm = delivery(durable)
    rearm, rearm_esm = delivery(replace(durable, durable_timers=False))  # before the sweeper
    return _YearStack(clock, services, sweeper, with_sweeper, with_sweeper_esm, rearm, rearm_esm, {})


def _start(bench: Bench, stack: _YearStack, definition_id: str, count: int, log_: PhaseLog) -> list[str]:
    ids: list[str] = []
    for _ in range(count):
        started = time.perf_counter()
        summary, _created = stack.services.executions.start(TENANT, definition_id, {})
        log_.api.append(time.perf_counter() - started)  # one API call each (in-process: a lower bound)
        ids.append(summary["id"])
    return ids


def year_long_waits(
    bench: Bench,
    count: int,
    prices: dict[str, Any],
    sizing: pricing.LambdaSizing,
    idle_sweeps: int = 5,
    rearm_rounds: int = 4,
) -> dict[str, Any]:
    """Phase 1: ``count`` year-long waits with durable timers, priced per wait (module docstring)."""
    bench.phase = bench.recorder.phase = "setup"
    stack = _year_stack(bench)
    stack.services.definitions.create(TENANT, scaledwaits.wait_definition(YEAR_DEFINITION, YEAR_SECONDS))
    instant = {"id": INSTANT_DEFINITION, "steps": [{"id": "nap", "type": "echo", "message": "now", "end": True}]}
    stack.services.definitions.create(TENANT, instant)
    bench.definition_ids |= {YEAR_DEFINITION, INSTANT_DEFINITION}

    with bench.in_phase("longwait:sweeper-idle"):
        idle_reports = [stack.sweep(bench) for _ in range(idle_sweeps)]
    sweeper = _sweeper_cost(bench, idle_reports, stack.sweep_ms["longwait:sweeper-idle"], prices, sizing)

    phase = "longwait:year"
    sweeps: list[dict[str, Any]] = []
    with bench.in_phase(phase) as log_:
        t0 = stack.clock.moment
        ids = _start(bench, stack, YEAR_DEFINITION, count, log_)
        _drain(bench, stack.durable_esm)  # each runs to its wait; the timer is deferred
        waiting_depth = _depth(bench)
        heads = [bench.observer_services.executions.get(TENANT, i) for i in ids]
        due = max(parse_ts(h["waitingUntil"]) for h in heads)
        # a sweep a minute finds the head at the latest a minute after its due time (ten
        # minutes before the timer's, rounded up to the minute): sweep there
        arm_at = due - timedelta(seconds=liveness.ARM_LEAD_SECONDS - liveness.DUE_RESOLUTION_SECONDS)
        points = [(label, t0 + timedelta(seconds=after)) for label, after in SWEEP_POINTS] + [("arm", arm_at)]
        for label, moment in points:
            stack.clock.moment = moment
            sweeps.append(_swept(bench, stack, label))
        _drain(bench, stack.durable_esm)  # SQS delivers the timers at their due time; they finish
        stack.clock.advance(180)
        sweeps.append(_swept(bench, stack, "after the end"))
    checked = bench.verify(ids)

    with bench.in_phase("longwait:instant") as log_:
        instant_ids = _start(bench, stack, INSTANT_DEFINITION, count, log_)
        _drain(bench, stack.durable_esm)
    bench.verify(instant_ids)
    instant_usd = _workflow_cost(bench, "longwait:instant", prices, sizing)[2]["total"] / count
    rearms = _rearm_cost(bench, stack, count, rearm_rounds, prices, sizing)
    result = _year_result(bench, phase, ids, checked, sweeps, sweeper, rearms, prices, sizing)
    result["queueDepthWhileWaiting"] = waiting_depth
    marginal = result["perYearLongWaitUsd"] - instant_usd
    result |= {
        "instantStepExecutionUsd": round(instant_usd, 12),
        "waitBeyondInstantStepUsd": round(marginal, 12),
        "waitBeyondInstantStepMeetsGoal": marginal <= GOAL_PER_YEAR_LONG_WAIT_USD,
    }
    say(
        f"year-long waits: {count} executions, {len(sweeps)} sweeps, "
        f"${result['perYearLongWaitUsd']:.8f} per wait (before the sweeper ${rearms['perYearLongWaitUsd']:.6f}); "
        f"sweeper ${sweeper['perRunUsd']:.8f} per run"
    )
    return {"yearLongWait": result, "sweeper": sweeper}


def _swept(bench: Bench, stack: _YearStack, label: str) -> dict[str, Any]:
    report = stack.sweep(bench)
    ms = stack.sweep_ms[bench.phase][-1]
    return {"at": label, **report.as_dict(), "queueDepthAfter": _depth(bench), "ms": round(ms, 1)}


def _sweeper_cost(
    bench: Bench,
    reports: list[SweepReport],
    durations_ms: list[float],
    prices: dict[str, Any],
    sizing: pricing.LambdaSizing,
) -> dict[str, Any]:
    """One scheduled run of the sweeper on an index with no due entry: the deployment's fixed cost."""
    runs = len(reports)
    tally = bench.recorder.tally("longwait:sweeper-idle", "sweeper")
    billed = pricing.billed_ms([d / 1000 for d in durations_ms]) / runs
    counts = pricing.Counts(
        write_units=tally.wcu / runs,
        read_units=tally.rcu / runs,
        sqs_requests=round(tally.sqs_billed / runs),
        processor_invocations=1,
        processor_billed_ms=billed,
        api_requests=0,
        api_billed_ms=0,
        log_bytes=0,
    )
    sweeper_sizing = _sweeper_sizing(sizing)
    lines = _lambda_lines(pricing.priced(counts, prices, sweeper_sizing))
    return {
        "runsMeasured": runs,
        "dueFound": sum(r.due for r in reports),
        "schedule": f"rate({SWEEP_EVERY_SECONDS // 60} minute)",
        "memoryMb": sweeper_sizing.processor_memory_mb,
        "perRun": {
            "requests": tally.ops_per(runs),
            "rcu": round(tally.rcu / runs, 4),
            "wcu": round(tally.wcu / runs, 4),
            "billedMs": round(billed, 1),
            "costUsd": {k: round(v, 12) for k, v in lines.items()},
        },
        "perRunUsd": round(lines["total"], 12),
        "runsPerMonth": RUNS_PER_MONTH,
        "perMonthUsd": round(lines["total"] * RUNS_PER_MONTH, 6),
        # not in a wait's cost: spread over a year's waits it is within the goal from this many on
        "breakEvenWaitsPerYear": math.ceil(lines["total"] * RUNS_PER_MONTH * 12 / GOAL_PER_YEAR_LONG_WAIT_USD),
    }


def _lambda_lines(lines: dict[str, float]) -> dict[str, float]:
    """Cost lines of a function that is not the processor, named for what they are."""
    names = {"lambdaProcessorRequests": "lambdaRequests", "lambdaProcessorDuration": "lambdaDuration"}
    return {names.get(k, k): v for k, v in lines.items() if v or k == "total"}


def _workflow_cost(
    bench: Bench, phase: str, prices: dict[str, Any], sizing: pricing.LambdaSizing
) -> tuple[instrument.Tally, pricing.Usage, dict[str, float]]:
    """What a phase's API, processor and event source used, and its price by line item."""
    log_ = bench.phases[phase]
    workflow = _tally(bench, phase, ("api", "processor", "esm"))
    usage = pricing.Usage(
        tally=workflow,
        processor_invocations=len(log_.invocations),
        processor_billed_ms=pricing.billed_ms(log_.invocations),
        api_requests=len(log_.api),
        api_billed_ms=pricing.billed_ms(log_.api),
        log_bytes=log_.log_bytes,
    )
    return workflow, usage, pricing.cost(usage, prices, sizing)


def _year_result(
    bench: Bench,
    phase: str,
    ids: list[str],
    checked: dict[str, Any],
    sweeps: list[dict[str, Any]],
    sweeper: dict[str, Any],
    rearms: dict[str, Any],
    prices: dict[str, Any],
    sizing: pricing.LambdaSizing,
) -> dict[str, Any]:
    count = len(ids)
    workflow, usage, lines = _workflow_cost(bench, phase, prices, sizing)
    # the sweeps' share: what they did beyond as many fixed runs (their queries of the index);
    # their time beyond a fixed run's, of the runs that found something (the others are fixed runs)
    swept = bench.recorder.tally(phase, "sweeper")
    idle = bench.recorder.tally("longwait:sweeper-idle", "sweeper")
    beyond = _beyond(swept, idle, sweeper["runsMeasured"], len(sweeps))
    idle_ms = sweeper["perRun"]["billedMs"]
    beyond_ms = sum(max(0.0, math.ceil(s["ms"]) - idle_ms) for s in sweeps if s["due"])
    sweep_lines = _lambda_lines(
        pricing.priced(
            pricing.Counts(beyond["wcu"], beyond["rcu"], round(beyond["sqsBilled"]), 0, beyond_ms, 0, 0, 0),
            prices,
            _sweeper_sizing(sizing),
        )
    )
    total = lines["total"] + sweep_lines["total"]
    transitions = checked["stepsEntered"]
    sfn = transitions / count * float(prices["step_functions"]["standard_per_million_transitions"]) / 1e6
    per_wait = total / count
    cost_usd = {k: round(v / count, 12) for k, v in lines.items() if k != "total"}
    cost_usd |= {f"sweeper.{k}": round(v / count, 12) for k, v in sweep_lines.items() if k != "total"}
    api_lines = ("lambdaApiRequests", "lambdaApiDuration", "apiGatewayRequests")
    return {
        "executions": count,
        "waitSeconds": YEAR_SECONDS,
        "states": checked["states"],
        "sweeps": sweeps,
        "perExecution": {
            "sfnTransitions": _per(transitions, count),
            "wakeUps": _per(len(bench.committed(phase)), count),
            "awsRequests": _per(workflow.requests() - workflow.sqs_idle_polls + sum(beyond["calls"].values()), count),
            "requests": {
                **{c: bench.recorder.tally(phase, c).ops_per(count) for c in ("api", "processor", "esm")},
                "sweeper": {
                    service: {op: round(n / count, 4) for (s, op), n in sorted(beyond["calls"].items()) if s == service}
                    for service in sorted({s for s, _ in beyond["calls"]})
                },
            },
            "dynamodb": {
                "wcu": _per(workflow.wcu + beyond["wcu"], count),
                "rcu": _per(workflow.rcu + beyond["rcu"], count),
                "byTable": _by_table(workflow, count),
            },
            "sqs": {
                "billedRequests": _per(workflow.sqs_billed + beyond["sqsBilled"], count),
                "messagesSent": _per(workflow.sqs_sent + beyond["sqsSent"], count),
                "messagesReceived": _per(workflow.sqs_received, count),
            },
            "lambda": {
                "processorInvocations": _per(usage.processor_invocations, count),
                "processorBilledMs": _per(usage.processor_billed_ms, count),
                "apiRequests": _per(usage.api_requests, count),
                "sweeperBilledMs": _per(beyond_ms, count),
            },
            "costUsd": cost_usd | {"total": round(per_wait, 12)},
        },
        "perYearLongWaitUsd": round(per_wait, 12),
        "sweeperShareUsd": round(sweep_lines["total"] / count, 12),
        "apiShareUsd": round(sum(lines[k] for k in api_lines) / count, 12),
        "goalUsd": GOAL_PER_YEAR_LONG_WAIT_USD,
        "meetsGoal": per_wait <= GOAL_PER_YEAR_LONG_WAIT_USD,
        "preSweeper": rearms,
        "stepFunctionsStandardUsd": round(sfn, 12),
        "fractionOfPreSweeper": round(per_wait / rearms["perYearLongWaitUsd"], 6)
        if rearms["perYearLongWaitUsd"]
        else None,
        "fractionOfStepFunctions": round(per_wait / sfn, 4) if sfn else None,
    }


def _rearm_cost(
    bench: Bench, stack: _YearStack, count: int, rounds: int, prices: dict[str, Any], sizing: pricing.LambdaSizing
) -> dict[str, Any]:
    """The same waits without durable timers: ``rounds`` 900 s re-arms each, counted and priced
    per re-arm, times the 35,040 a year takes; and the price table's floor for them."""
    with bench.in_phase("longwait:rearm-load") as load:
        ids = _start(bench, stack, YEAR_DEFINITION, count, load)
        _drain(bench, stack.rearm_esm, lambda: _depth(bench) == count and not _pending_starts(bench, ids))
    phase = "longwait:rearm"
    target = rounds * count

    def rearmed() -> int:
        return sum(1 for s in bench.samples if s.phase == phase and s.result == Processed.REARMED)

    with bench.in_phase(phase):
        _drain(bench, stack.rearm_esm, lambda: rearmed() >= target)
    done = rearmed()
    with bench.in_phase("longwait:rearm-finish"):
        stack.rearm.to_due = True  # jump to the due time: these executions finish too
        _drain(bench, stack.rearm_esm)
    bench.verify(ids)
    log_ = bench.phases[phase]
    tally = bench.recorder.tally(phase)
    usage = pricing.Usage(
        tally=tally,
        processor_invocations=len(log_.invocations),
        processor_billed_ms=pricing.billed_ms(log_.invocations),
        api_requests=0,
        api_billed_ms=0,
        log_bytes=log_.log_bytes,
    )
    lines = pricing.cost(usage, prices, sizing)
    per_rearm = lines["total"] / max(1, done)
    sqs_price = float(prices["sqs"]["standard_requests_per_million"]) / 1e6
    lambda_price = float(prices["lambda"]["requests_per_million"]) / 1e6
    floor = {"sqsRequests": REARMS_PER_YEAR * sqs_price, "lambdaRequests": REARMS_PER_YEAR * lambda_price}
    return {
        "reArmsPerYear": REARMS_PER_YEAR,
        "reArmsMeasured": done,
        "perReArm": {
            "requests": tally.ops_per(done),
            "wcu": _per(tally.wcu, done),
            "rcu": _per(tally.rcu, done),
            "sqsBilledRequests": _per(tally.sqs_billed, done),
            "processorInvocations": _per(usage.processor_invocations, done),
            "costUsd": {k: round(v / max(1, done), 12) for k, v in lines.items()},
        },
        "perYearLongWaitUsd": round(per_rearm * REARMS_PER_YEAR, 8),
        "priceTableFloorUsd": {k: round(v, 8) for k, v in floor.items()} | {"total": round(sum(floor.values()), 8)},
    }


def _pending_starts(bench: Bench, ids: list[str]) -> bool:
    """Whether some of ``ids`` have not reached their wait yet."""
    return any(bench.observer_services.executions.get(TENANT, i)["state"] != "StepStarted" for i in ids)


# -- the results -----------------------------------------------------------------------------------


def run(
    bench: Bench,
    year_waits: int,
    scaled_waits: int,
    prices: dict[str, Any],
    sizing: pricing.LambdaSizing,
    quick: bool = False,
) -> dict[str, Any]:
    """Both phases: the results' ``longWaits`` object (bench/README.md)."""
    if year_waits <= 0 and scaled_waits <= 0:
        return {"skipped": "no long waits in this run (--year-waits 0 --scaled-waits 0)"}
    out: dict[str, Any] = {}
    if year_waits > 0:
        year = year_long_waits(bench, year_waits, prices, sizing, rearm_rounds=2 if quick else 4)
        out |= {
            "perYearLongWaitUsd": year["yearLongWait"]["perYearLongWaitUsd"],
            "sweeperPerRunUsd": year["sweeper"]["perRunUsd"],
            "sweeperPerMonthUsd": year["sweeper"]["perMonthUsd"],
            **year,
        }
    if scaled_waits > 0:
        out["scaled"] = scaledwaits.scaled_lateness(bench, scaled_waits)
    return out


def markdown_lines(doc: dict[str, Any]) -> list[str]:
    """The summary's "Long waits" section."""
    waits = doc.get("longWaits") or {}
    if "skipped" in waits:
        return []
    lines = ["", "### Long waits", ""]
    year = waits.get("yearLongWait")
    if year:
        pe, pre = year["perExecution"], year["preSweeper"]
        lines += [
            "| a year-long wait | AWS requests | WCU | RCU | SQS messages | $ per wait |",
            "|---|---:|---:|---:|---:|---:|",
            f"| sedo, durable timers ({year['executions']} waits, {len(year['sweeps'])} sweeps) | "
            f"{pe['awsRequests']:g} | {pe['dynamodb']['wcu']:g} | {pe['dynamodb']['rcu']:g} | "
            f"{pe['sqs']['messagesSent']:g} | **${year['perYearLongWaitUsd']:.8f}** |",
            f"| before the sweeper: its {pre['reArmsPerYear']:,} re-arms alone (measured per re-arm) | | | | | "
            f"${pre['perYearLongWaitUsd']:.6f} |",
            f"| (its floor: 1 SQS + 1 Lambda request per re-arm) | | | | | ${pre['priceTableFloorUsd']['total']:.6f} |",
            f"| Step Functions Standard (transitions: {pe['sfnTransitions']:g}) | | | | | "
            f"${year['stepFunctionsStandardUsd']:.6f} |",
            f"| (an execution of one instant step instead: the wait adds "
            f"${year['waitBeyondInstantStepUsd']:.8f}, the sweeper's share ${year['sweeperShareUsd']:.8f}) | | | | | "
            f"${year['instantStepExecutionUsd']:.8f} |",
            "",
            f"Goal ${year['goalUsd']:.5f} per year-long wait: the whole execution "
            f"{'meets it' if year['meetsGoal'] else 'does NOT meet it'}; the wait beyond an instant step "
            f"{'meets it' if year['waitBeyondInstantStepMeetsGoal'] else 'does NOT meet it'}. "
            f"The sweeper's fixed cost (a run a minute, on an index with nothing due): "
            f"${waits['sweeperPerRunUsd']:.8f} per run, ${waits['sweeperPerMonthUsd']:.4f} a month, not in the figures "
            f"above: spread over {waits['sweeper']['breakEvenWaitsPerYear']:,} year-long waits a year it adds the goal to each.",
        ]
    lines += scaledwaits.markdown_lines(waits.get("scaled"))
    return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.longwaits``: both phases alone on a stack of their own (``make bench``'s ``longWaits``)."""
    import argparse
    import logging

    from sedo.config import REPO_ROOT

    parser = argparse.ArgumentParser(prog="python -m bench.longwaits", description=main.__doc__)
    parser.add_argument("--year-waits", type=int, default=20)
    parser.add_argument("--scaled-waits", type=int, default=20)
    parser.add_argument("--output", default=str(RESULTS / "longwaits.json"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    prices = pricing.load_prices()
    with Bench(2, REPO_ROOT / ".local" / "bench-longwaits") as bench:
        doc = {"longWaits": run(bench, args.year_waits, args.scaled_waits, prices, pricing.lambda_sizing(prices))}
    with open(args.output, "w") as out:
        json.dump(doc, out, indent=2)
    print("\n".join(markdown_lines(doc)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
