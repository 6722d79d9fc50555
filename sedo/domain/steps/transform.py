"""``transform``: evaluate a JMESPath ``expression`` over the step's input (the stash by default)."""

from __future__ import annotations

from sedo.domain.definition import Step
from sedo.domain.expressions import ExpressionError, evaluate
from sedo.domain.failures import BAD_EXPRESSION
from sedo.domain.steps.base import Done, Failed, Outcome, SimpleStep, StepContext


class Transform(SimpleStep):
    name = "transform"
    properties = {"expression": {"type": "string", "minLength": 1}}
    required = ("expression",)
    expressions = ("/expression",)

    def start(self, step: Step, ctx: StepContext) -> Outcome:
        try:
            return Done(output=evaluate(step.config["expression"], ctx.input))
        except ExpressionError as exc:
            return Failed(BAD_EXPRESSION, str(exc))


STEP = Transform()
