"""``echo``: log a message and record it as the step's output."""

from __future__ import annotations

from sedo.domain.definition import Step
from sedo.domain.steps.base import Done, Outcome, SimpleStep, StepContext


class Echo(SimpleStep):
    name = "echo"
    properties = {
        "message": {"type": "string", "maxLength": 4096, "description": "What to log."},
    }
    required = ("message",)

    def start(self, step: Step, ctx: StepContext) -> Outcome:
        message = str(step.config["message"])
        return Done(output={"message": message}, log=message)


STEP = Echo()
