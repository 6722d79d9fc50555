"""The long-wait bench's own arithmetic (bench/longwaits.py, bench/scaledwaits.py), without a stack."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import instrument, longwaits, pricing, scaledwaits
from sedo.adapters.clock import FakeClock
from sedo.domain.timefmt import format_ts


def event(*bodies: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [{"body": json.dumps(body)} for body in bodies]}


def test_the_fake_clock_moves_to_when_sqs_would_deliver_a_batch() -> None:
    clock = FakeClock()
    seen: list[Any] = []
    deliver = longwaits.FakeClockDelivery(clock, lambda e, c: seen.append(clock.now()) or {})
    start = clock.now()
    deliver(event({"kind": "start"}), None)  # no due time: delivered now
    assert seen == [start]
    year = format_ts(start + timedelta(days=365))
    deliver(event({"kind": "timer", "due": year, "delay": 900}), None)  # a re-arm chunk: its delay on
    assert clock.now() == start + timedelta(seconds=900)
    soon = clock.now() + timedelta(seconds=539.5)
    deliver(event({"kind": "timer", "due": format_ts(soon), "delay": 540}), None)  # armed: at its due time
    assert clock.now() == soon
    deliver.to_due = True
    deliver(event({"kind": "timer", "due": year, "delay": 900}), None)
    assert clock.now() == start + timedelta(days=365)
    deliver(event({"kind": "timer", "due": format_ts(start), "delay": 0}), None)  # never back
    assert clock.now() == start + timedelta(days=365) and len(seen) == 5


def test_a_sweeps_share_is_what_it_did_beyond_as_many_fixed_runs() -> None:
    idle = instrument.Tally(rcu=16.0 * 4)
    idle.calls[("dynamodb", "Query")] = 32 * 4
    swept = instrument.Tally(rcu=16.0 * 3 + 2, wcu=8.0, sqs_billed=1, sqs_sent=2)
    swept.calls.update({("dynamodb", "Query"): 32 * 3, ("dynamodb", "BatchGetItem"): 2, ("sqs", "SendMessageBatch"): 1})
    beyond = longwaits._beyond(swept, idle, idle_runs=4, runs=3)
    assert beyond["calls"] == {("dynamodb", "BatchGetItem"): 2, ("sqs", "SendMessageBatch"): 1}
    assert beyond["rcu"] == 2 and beyond["wcu"] == 8 and beyond["sqsBilled"] == 1 and beyond["sqsSent"] == 2


def test_the_sweepers_memory_comes_from_the_template(tmp_path: Path) -> None:
    assert pricing.sweeper_memory_mb() == 128  # template.yaml's SweeperFunction today
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n  SweeperFunction:\n    Properties:\n      MemorySize: 256\n      Role: !GetAtt R.Arn\n"
    )
    assert pricing.sweeper_memory_mb(template) == 256
    assert pricing.sweeper_memory_mb(tmp_path / "missing.yaml") == pricing.SWEEPER_MEMORY_MB


class Sent:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def send(self, messages: Any) -> None:
        self.messages.extend(messages)


def test_armed_timers_note_how_late_their_whole_second_delay_makes_them() -> None:
    clock, queue = FakeClock(), Sent()
    armed = scaledwaits.ArmedTimers(queue, clock)
    due = clock.now() + timedelta(seconds=2.25)
    armed.send([{"kind": "timer", "due": format_ts(due), "delay": 3}, {"kind": "start"}])
    assert armed.rounding == [0.75] and len(queue.messages) == 2


def test_the_summary_shows_both_goals() -> None:
    pe = {"awsRequests": 14.8, "dynamodb": {"wcu": 17, "rcu": 5.2}, "sqs": {"messagesSent": 2}, "sfnTransitions": 1}
    year = {
        "executions": 5,
        "sweeps": [{}] * 8,
        "perExecution": pe,
        "perYearLongWaitUsd": 0.000015,
        "preSweeper": {"reArmsPerYear": 35040, "perYearLongWaitUsd": 0.0306, "priceTableFloorUsd": {"total": 0.021}},
        "stepFunctionsStandardUsd": 0.000025,
        "waitBeyondInstantStepUsd": 0.0000069,
        "sweeperShareUsd": 0.000003,
        "instantStepExecutionUsd": 0.0000082,
        "goalUsd": 0.00001,
        "meetsGoal": False,
        "waitBeyondInstantStepMeetsGoal": True,
    }
    scaled = {
        "executions": 20,
        "waitSeconds": 20,
        "maxDelaySeconds": 5,
        "armLeadSeconds": 3,
        "sweepEverySeconds": 1.0,
        "timerLatenessMs": {"p50": 500, "p99": 1062, "max": 1062, "n": 20},
        "armRoundingMs": {"p50": 354, "p99": 964, "max": 964, "n": 20},
        "goalP99Ms": 1000.0,
        "meetsGoal": False,
    }
    doc = {
        "longWaits": {
            "yearLongWait": year,
            "sweeperPerRunUsd": 2.7e-6,
            "sweeperPerMonthUsd": 0.119,
            "sweeper": {"breakEvenWaitsPerYear": 142_000},
            "scaled": scaled,
        }
    }
    text = "\n".join(longwaits.markdown_lines(doc))
    assert "**$0.00001500**" in text and "35,040 re-arms" in text and "$0.1190 a month" in text
    assert "spread over 142,000 year-long waits a year it adds the goal to each" in text
    assert "the whole execution does NOT meet it; the wait beyond an instant step meets it" in text
    assert "p99 1062 ms" in text and "NOT met" in text
    assert longwaits.markdown_lines({"longWaits": {"skipped": "not run"}}) == []
