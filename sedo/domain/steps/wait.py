"""``wait``: pause for ``seconds`` or ``until`` an RFC 3339 timestamp.

``secondsFrom`` and ``untilFrom`` take the same from the step's input with a JMESPath
expression (a non-negative integer; a timestamp); a value of another kind fails the
step with States.Runtime.

Waits of any length: the engine turns the due time into SQS message timers of at
most 900 s and re-arms them until the due time is reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sedo.domain.definition import Step
from sedo.domain.errors import Problem
from sedo.domain.expressions import ExpressionError, evaluate
from sedo.domain.failures import BAD_EXPRESSION, RUNTIME
from sedo.domain.limits import MAX_WAIT_SECONDS
from sedo.domain.protocol import TimerAwait, WakeKind
from sedo.domain.steps.base import Await, CheckContext, Done, Failed, Outcome, SimpleStep, StepContext, Wake
from sedo.domain.timefmt import format_ts, parse_ts


class Wait(SimpleStep):
    name = "wait"
    properties = {
        "seconds": {"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
        "until": {"type": "string", "description": "RFC 3339 timestamp, e.g. 2030-01-01T00:00:00Z"},
        "secondsFrom": {"type": "string", "minLength": 1, "description": "JMESPath: the seconds, from the input"},
        "untilFrom": {"type": "string", "minLength": 1, "description": "JMESPath: the timestamp, from the input"},
    }
    expressions = ("/secondsFrom", "/untilFrom")

    def check(self, raw: Mapping[str, Any], path: str, ctx: CheckContext) -> list[Problem]:
        given = [k for k in ("seconds", "until", "secondsFrom", "untilFrom") if k in raw]
        if len(given) != 1:
            if "secondsFrom" in raw or "untilFrom" in raw:
                return [
                    Problem(path, "a wait step needs exactly one of 'seconds', 'until', 'secondsFrom' or 'untilFrom'")
                ]
            return [Problem(path, "a wait step needs exactly one of 'seconds' or 'until'")]
        has_until = "until" in raw
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

    def due(self, step: Step, now: datetime, data: Any = None) -> datetime:
        """When the wait ends; ValueError when ``secondsFrom``/``untilFrom`` select a wrong value."""
        config = step.config
        if "until" in config:
            return parse_ts(config["until"])
        if "untilFrom" in config:
            return parse_ts(evaluate(config["untilFrom"], data))
        seconds = evaluate(config["secondsFrom"], data) if "secondsFrom" in config else config["seconds"]
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds != int(seconds):
            raise ValueError(f"the seconds to wait must be an integer, not {seconds!r}")
        if not 0 <= seconds <= MAX_WAIT_SECONDS:
            raise ValueError(f"the seconds to wait must be between 0 and {MAX_WAIT_SECONDS}, not {seconds}")
        return now + timedelta(seconds=int(seconds))

    def start(self, step: Step, ctx: StepContext) -> Outcome:
        try:
            due = self.due(step, ctx.now, ctx.input)
        except ExpressionError as exc:
            return Failed(BAD_EXPRESSION, str(exc))
        except ValueError as exc:
            return Failed(RUNTIME, str(exc))
        if due <= ctx.now:
            return Done(output={"waitedUntil": format_ts(due)})
        return Await(TimerAwait(step=step.id, due=format_ts(due)))

    def resume(self, step: Step, ctx: StepContext, wake: Wake) -> Outcome:
        if wake.kind != WakeKind.TIMER:
            return Failed(RUNTIME, f"wait step resumed by {wake.kind!r}")
        return Done(output={"waitedUntil": str(wake.data.get("due", format_ts(ctx.now)))})


STEP = Wait()
