"""``callback``: wait for a completion call carrying the step's task token.

For human approvals and other outside events: the token is shown on the execution
(``awaiting.taskToken``) and in the step's StepStarted event; someone calls
``POST .../executions/{id}/steps/{stepId}/complete`` (or ``/fail``, ``/heartbeat``).
"""

from __future__ import annotations

from sedo.domain.definition import Step
from sedo.domain.protocol import CallbackAwait
from sedo.domain.steps.base import Await, Outcome, SimpleStep, StepContext

HEARTBEAT = {"type": "integer", "minimum": 1, "maximum": 31_622_400}


class Callback(SimpleStep):
    name = "callback"
    properties = {"heartbeatSeconds": HEARTBEAT}

    def start(self, step: Step, ctx: StepContext) -> Outcome:
        return Await(CallbackAwait(step=step.id, heartbeat_seconds=step.config.get("heartbeatSeconds")))


STEP = Callback()
