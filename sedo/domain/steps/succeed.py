"""``succeed``: end the execution successfully, with the step's input as output."""

from __future__ import annotations

from sedo.domain.definition import Step
from sedo.domain.steps.base import End, Outcome, SimpleStep, StepContext


class Succeed(SimpleStep):
    name = "succeed"
    decides_next = True
    excluded_common = ("retry", "catch", "timeoutSeconds", "resultPath")

    def start(self, step: Step, ctx: StepContext) -> Outcome:
        return End(succeeded=True, output=ctx.input)


STEP = Succeed()
