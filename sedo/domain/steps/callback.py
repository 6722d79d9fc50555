"""``callback``: wait for a completion call carrying the step's task token.

For human approvals and other outside events: the token is shown on the execution
(``awaiting.taskToken``) and in the step's StepStarted event; someone calls
``POST .../executions/{id}/steps/{stepId}/complete`` (or ``/fail``, ``/heartbeat``).

``inputSchema`` (optional) is a JSON Schema for the answer: the API checks the output
of every ``/complete`` call against it (a 400 naming every violation, as for execution
input), and the console draws its form for the waiting step from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sedo.domain.definition import Step
from sedo.domain.errors import Problem
from sedo.domain.protocol import CallbackAwait
from sedo.domain.steps.base import Await, CheckContext, Outcome, SimpleStep, StepContext

HEARTBEAT = {"type": "integer", "minimum": 1, "maximum": 31_622_400}


class Callback(SimpleStep):
    name = "callback"
    properties = {"heartbeatSeconds": HEARTBEAT, "inputSchema": {"type": ["object", "boolean"]}}

    def check(self, raw: Mapping[str, Any], path: str, ctx: CheckContext) -> list[Problem]:
        if "inputSchema" not in raw:
            return []
        return ctx.schema(raw["inputSchema"], f"{path}/inputSchema")

    def start(self, step: Step, ctx: StepContext) -> Outcome:
        return Await(CallbackAwait(step=step.id, heartbeat_seconds=step.config.get("heartbeatSeconds")))


STEP = Callback()
