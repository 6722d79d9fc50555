"""``fail``: end the execution as failed with an ``error`` code and a ``cause``."""

from __future__ import annotations

from sedo.domain.definition import Step
from sedo.domain.steps.base import End, Outcome, SimpleStep, StepContext


class Fail(SimpleStep):
    name = "fail"
    decides_next = True
    properties = {
        "error": {"type": "string", "minLength": 1, "maxLength": 256},
        "cause": {"type": "string", "maxLength": 4096},
    }
    required = ("error",)
    excluded_common = ("retry", "catch", "timeoutSeconds", "resultPath", "output")

    def start(self, step: Step, ctx: StepContext) -> Outcome:
        return End(succeeded=False, error=step.config["error"], cause=step.config.get("cause", ""))


STEP = Fail()
