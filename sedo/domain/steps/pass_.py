"""``pass``: output a literal ``value``, or the step's input; no side effect.

With ``input``/``output`` expressions and ``resultPath`` it sets or reshapes stash values.
"""

from __future__ import annotations

from sedo.domain.definition import Step
from sedo.domain.steps.base import Done, Outcome, SimpleStep, StepContext


class Pass(SimpleStep):
    name = "pass"
    properties = {"value": {"description": "A literal JSON value to output."}}

    def start(self, step: Step, ctx: StepContext) -> Outcome:
        return Done(output=step.config.get("value", ctx.input))


STEP = Pass()
