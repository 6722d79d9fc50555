"""``wait``: pause for ``seconds`` or ``until`` an RFC 3339 timestamp.

Waits of any length: the engine turns the due time into SQS message timers of at
most 900 s and re-arms them until the due time is reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sedo.domain.definition import Step
from sedo.domain.errors import Problem
from sedo.domain.failures import RUNTIME
from sedo.domain.limits import MAX_WAIT_SECONDS
from sedo.domain.protocol import TimerAwait, WakeKind
from sedo.domain.steps.base import Await, CheckContext, Done, Failed, Outcome, SimpleStep, StepContext, Wake
from sedo.domain.timefmt import format_ts, parse_ts


class Wait(SimpleStep):
    name = "wait"
    properties = {
        "seconds": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
        "until": {"type": "string", "description": "RFC 3339 timestamp, e.g. 2030-01-01T00:00:00Z"},
    }

    def check(self, raw: Mapping[str, Any], path: str, ctx: CheckContext) -> list[Problem]:
        has_seconds, has_until = "seconds" in raw, "until" in raw
        if has_seconds == has_until:
            return [Problem(path, "a wait step needs exactly one of 'seconds' or 'until'")]
        if has_until:
            try:
                parse_ts(raw["until"])
            except ValueError:
                return [
                    Problem(
                        f"{path}/until",
                        f"{raw['until']!r} is not an RFC 3339 timestamp with a time zone "
                        "(for example 2030-01-01T00:00:00Z)",
                    )
                ]
        return []

    def due(self, step: Step, now: datetime) -> datetime:
        if "until" in step.config:
            return parse_ts(step.config["until"])
        return now + timedelta(seconds=int(step.config["seconds"]))

    def start(self, step: Step, ctx: StepContext) -> Outcome:
        due = self.due(step, ctx.now)
        if due <= ctx.now:
            return Done(output={"waitedUntil": format_ts(due)})
        return Await(TimerAwait(step=step.id, due=format_ts(due)))

    def resume(self, step: Step, ctx: StepContext, wake: Wake) -> Outcome:
        if wake.kind != WakeKind.TIMER:
            return Failed(RUNTIME, f"wait step resumed by {wake.kind!r}")
        return Done(output={"waitedUntil": str(wake.data.get("due", format_ts(ctx.now)))})


STEP = Wait()
