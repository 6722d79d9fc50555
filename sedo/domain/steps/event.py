"""``event``: wait for events of the execution's tenant (issue 15).

``pattern`` (an EventBridge pattern naming its ``source`` exactly), ``correlate``
(``{<JMESPath over the event>: <JMESPath over the stash>}``: every such field of the event
must equal the value the stash gives when the step starts), ``count`` (a number or JMESPath
over the stash, default 1), ``lookbackSeconds`` (events that arrived this long before the
step started waiting count too; default 0), ``timeoutSeconds`` (then ``States.Timeout``).

The output is the event (``count`` 1) or the list of ``count`` events, in arrival order.
Events are counted by their id (sedo's stable id for events it put), so a duplicate
delivery never counts twice. The events handler records matching events for the step
attempt and sends the ``event`` wake-up once enough are in (sedo/service_layer/events.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sedo.domain.definition import Step
from sedo.domain.errors import Problem
from sedo.domain.events.triggers import indexed_pattern_problems
from sedo.domain.expressions import ExpressionError, evaluate
from sedo.domain.failures import BAD_EXPRESSION, RUNTIME
from sedo.domain.limits import MAX_CORRELATE_FIELDS, MAX_EVENT_COUNT, MAX_LOOKBACK_SECONDS
from sedo.domain.protocol import EventAwait
from sedo.domain.steps.base import Await, CheckContext, Failed, Outcome, SimpleStep, StepContext
from sedo.domain.timefmt import format_ts


class EventStep(SimpleStep):
    name = "event"
    required = ("pattern",)
    properties = {
        "pattern": {"type": "object", "description": "an EventBridge event pattern"},
        "correlate": {
            "type": "object",
            "maxProperties": MAX_CORRELATE_FIELDS,
            "additionalProperties": {"type": "string", "minLength": 1},
            "description": "JMESPath over the event -> JMESPath over the stash; all must be equal",
        },
        "count": {
            "oneOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_EVENT_COUNT},
                {"type": "string", "minLength": 1},
            ]
        },
        "lookbackSeconds": {"type": "integer", "minimum": 0, "maximum": MAX_LOOKBACK_SECONDS},
    }

    def check(self, raw: Mapping[str, Any], path: str, ctx: CheckContext) -> list[Problem]:
        return indexed_pattern_problems(raw["pattern"], f"{path}/pattern", "an event step's pattern")

    def expression_fields(self, raw: Mapping[str, Any]) -> list[tuple[str, str]]:
        fields = [
            (f"/correlate/{k.replace('~', '~0').replace('/', '~1')}", v)
            for k, v in (raw.get("correlate") or {}).items()
        ]
        if isinstance(raw.get("count"), str):
            fields.append(("/count", raw["count"]))
        return fields

    def start(self, step: Step, ctx: StepContext) -> Outcome:
        config = step.config
        try:
            correlate = {field: evaluate(expr, ctx.stash) for field, expr in (config.get("correlate") or {}).items()}
            count = (
                evaluate(config["count"], ctx.stash) if isinstance(config.get("count"), str) else config.get("count", 1)
            )
        except ExpressionError as exc:
            return Failed(BAD_EXPRESSION, str(exc))
        missing = sorted(field for field, value in correlate.items() if value is None)
        if missing:
            return Failed(RUNTIME, f"correlate: no value to wait for in {missing[0]!r} (the stash gives null)")
        if isinstance(count, bool) or not isinstance(count, (int, float)) or count != int(count):
            return Failed(RUNTIME, f"count must be a whole number, not {count!r}")
        if not 1 <= count <= MAX_EVENT_COUNT:
            return Failed(RUNTIME, f"count must be between 1 and {MAX_EVENT_COUNT}, not {int(count)}")
        since = ctx.now - timedelta(seconds=int(config.get("lookbackSeconds", 0)))
        return Await(
            EventAwait(
                step=step.id,
                pattern=dict(config["pattern"]),
                correlate=correlate,
                count=int(count),
                since=format_ts(since),
            )
        )


STEP = EventStep()
