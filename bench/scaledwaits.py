"""Timer lateness of long waits in ``make bench``, scaled (bench/README.md, "Long waits").

A real long wait cannot run in a bench, so the deferral is scaled down: the processor's
Budget and the sweeper take a 10 s reach instead of SQS's 900 s, arm 8 s ahead instead of
600 s (room for a sweep run on a loaded emulator, which can take seconds), round due times
to 1 s instead of 60 s, and a SweeperThread sweeps every second (on AWS: once a minute), on
the system clock. A 30 s wait is then beyond reach and deferred, the code path of any wait
over 15 minutes: committed with a deferred timer that nobody sends, found by a sweep 8 s
before it is due, sent with the remaining delay.
Lateness is the processor's clock when the timer commits minus its due time (the observer
seam's ``lateness``), at light load (one execution started every half second).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bench.harness import TENANT, Bench, say
from bench.stats import GOAL_LATENESS_P99_MS, summary_ms
from sedo.domain.timefmt import parse_ts

if TYPE_CHECKING:
    from sedo.service_layer.ports import Clock, Queue
    from sedo.service_layer.sweeper import SweepReport

SCALED_DEFINITION = "bench-scaled-wait"
#: Short waits at the same light load, for the same goal (sent by the commit, never deferred).
SHORT_DEFINITION = "bench-short-wait"


@dataclass(frozen=True)
class Scaled:
    """The scaled long wait: the deployment's 900 s reach, 600 s lead, 60 s rounding and
    1-minute sweeps, shrunk so that a 30 s wait takes the deferred path."""

    wait_seconds: int = 30
    #: The short waits' length: within the reach, so their timer is sent at the commit.
    short_wait_seconds: int = 3
    max_delay_seconds: int = 10
    arm_lead_seconds: int = 8
    due_resolution_seconds: int = 1
    sweep_seconds: float = 1.0
    #: Light load: one execution started every this many seconds.
    stagger_seconds: float = 0.5


def wait_definition(definition_id: str, seconds: int) -> dict[str, Any]:
    return {"id": definition_id, "steps": [{"id": "nap", "type": "wait", "seconds": seconds, "end": True}]}


class ArmedTimers:
    """The sweeper's queue, noting for each timer it sends how long after its due time its
    whole-second delay makes it visible (``rounding``, seconds; negative: before): SQS delays
    are whole seconds, and a sweep sends at any fraction of a second before the due time (the
    nearest whole second: at most half a second either way)."""

    def __init__(self, inner: Queue, clock: Clock) -> None:
        self.inner = inner
        self.clock = clock
        self.rounding: list[float] = []

    def send(self, messages: Sequence[dict[str, Any]]) -> None:
        now = self.clock.now()
        for message in messages:
            if message.get("kind") == "timer" and message.get("due"):
                visible = now + timedelta(seconds=int(message.get("delay", 0)))
                self.rounding.append((visible - parse_ts(message["due"])).total_seconds())
        self.inner.send(messages)


def scaled_lateness(bench: Bench, count: int, scaled: Scaled = Scaled()) -> dict[str, Any]:
    """``count`` scaled long waits on the system clock, one started every
    ``stagger_seconds`` (light load); their timers' lateness (module docstring)."""
    from sedo import bootstrap
    from sedo.entrypoints.processor import make_handler
    from sedo.entrypoints.sweeper import SweeperThread

    settings = replace(bench.settings, durable_timers=True, max_delay_seconds=scaled.max_delay_seconds)
    budget = replace(
        bootstrap.budget_from(settings),
        max_delay_seconds=scaled.max_delay_seconds,
        arm_lead_seconds=scaled.arm_lead_seconds,
        due_resolution_seconds=scaled.due_resolution_seconds,
    )
    bench.phase = bench.recorder.phase = "setup"
    adapters = bench.instrumented(bootstrap.aws_adapters(settings), "processor", per_wakeup=True)
    processor = bootstrap.processor(adapters, settings, bench.logger, observer=bench, budget=budget)
    services = bootstrap.api_services(bench.instrumented(bootstrap.aws_adapters(settings), "api"), settings)
    sweeper_adapters = bench.instrumented(bootstrap.aws_adapters(settings), "sweeper")
    armed_timers = ArmedTimers(sweeper_adapters.queue, sweeper_adapters.clock)
    sweeper = bootstrap.sweeper(replace(sweeper_adapters, queue=armed_timers), settings, budget)
    services.definitions.create(TENANT, wait_definition(SCALED_DEFINITION, scaled.wait_seconds))
    bench.definition_ids.add(SCALED_DEFINITION)
    reports: list[SweepReport] = []
    thread = SweeperThread(lambda: reports.append(sweeper.sweep()), scaled.sweep_seconds)

    services.definitions.create(TENANT, wait_definition(SHORT_DEFINITION, scaled.short_wait_seconds))
    bench.definition_ids.add(SHORT_DEFINITION)

    def staggered(phase: str, definition_id: str, wait_seconds: int) -> list[float]:
        """``count`` executions, one every ``stagger_seconds``, to their end: their timers' lateness."""
        ids: list[str] = []
        with bench.in_phase(phase) as log_, bench.event_source(bench.timed(make_handler(processor, bench.logger))):
            for _ in range(count):
                started = time.perf_counter()
                ids.append(services.executions.start(TENANT, definition_id, {})[0]["id"])
                log_.api.append(time.perf_counter() - started)
                time.sleep(scaled.stagger_seconds)
            bench.wait_finished({(TENANT, i.rsplit(":", 1)[-1]) for i in ids}, timeout=wait_seconds + 120)
            bench.wait_queue_empty()
        bench.verify(ids)
        timers = [s for s in bench.committed(phase) if s.kind == "timer" and s.lateness is not None]
        return [s.lateness for s in timers if s.lateness is not None]

    phase = "longwait:lateness"
    thread.start()
    try:
        lateness = staggered(phase, SCALED_DEFINITION, scaled.wait_seconds)
        # short waits (within SQS's reach, sent at the commit) at the same light load
        short = summary_ms(staggered("longwait:short-lateness", SHORT_DEFINITION, scaled.short_wait_seconds))
    finally:
        thread.stop()
    summary = summary_ms(lateness)
    armed = sum(r.armed for r in reports)
    say(
        f"scaled long waits: {count} x {scaled.wait_seconds} s, {armed} timers armed by {len(reports)} sweeps, "
        f"lateness p50 {summary['p50']} ms p99 {summary['p99']} ms; "
        f"{scaled.short_wait_seconds} s waits at the same load: p50 {short['p50']} ms p99 {short['p99']} ms"
    )
    return {
        "executions": count,
        "waitSeconds": scaled.wait_seconds,
        "maxDelaySeconds": scaled.max_delay_seconds,
        "armLeadSeconds": scaled.arm_lead_seconds,
        "dueResolutionSeconds": scaled.due_resolution_seconds,
        "sweepEverySeconds": scaled.sweep_seconds,
        "startedEverySeconds": scaled.stagger_seconds,
        "sweeps": len(reports),
        "timersArmed": armed,
        "messagesResent": sum(r.resent for r in reports),
        "sweepMs": _sweep_ms(reports, bench, phase),
        "timerLatenessMs": summary,
        "armRoundingMs": summary_ms(armed_timers.rounding),
        "goalP99Ms": GOAL_LATENESS_P99_MS,
        "meetsGoal": summary["p99"] is not None and summary["p99"] <= GOAL_LATENESS_P99_MS,
        "shortWaitSeconds": scaled.short_wait_seconds,
        "shortWaitLatenessMs": short,
        "shortWaitsMeetGoal": short["p99"] is not None and short["p99"] <= GOAL_LATENESS_P99_MS,
    }


def _sweep_ms(reports: list[SweepReport], bench: Bench, phase: str) -> dict[str, Any]:
    """The sweeper's time per run in the phase: its calls' time, as the recorder timed them."""
    tally = bench.recorder.tally(phase, "sweeper")
    return {"awsIoPerRun": round(tally.seconds * 1000 / max(1, len(reports)), 3)}


def markdown_lines(scaled: dict[str, Any] | None) -> list[str]:
    if not scaled:
        return []
    late, rounding = scaled["timerLatenessMs"], scaled["armRoundingMs"]
    lines = [
        "",
        f"Timer lateness of long waits, scaled ({scaled['executions']} waits of {scaled['waitSeconds']} s beyond "
        f"a {scaled['maxDelaySeconds']} s reach, armed {scaled['armLeadSeconds']} s ahead by a sweep every "
        f"{scaled['sweepEverySeconds']:g} s): p50 {late['p50']} ms, p99 {late['p99']} ms, max {late['max']} ms "
        f"(goal p99 <= {scaled['goalP99Ms']:g} ms: {'met' if scaled['meetsGoal'] else 'NOT met'}). Of it, the "
        f"whole-second delay the sweeper sends with: p50 {rounding['p50']} ms, p99 {rounding['p99']} ms from the due time.",
    ]
    short = scaled.get("shortWaitLatenessMs")
    if short:
        lines.append(
            f"Short waits ({scaled['shortWaitSeconds']} s, sent at the commit) at the same load: p50 {short['p50']} ms, "
            f"p99 {short['p99']} ms (goal: {'met' if scaled['shortWaitsMeetGoal'] else 'NOT met'})."
        )
    return lines
