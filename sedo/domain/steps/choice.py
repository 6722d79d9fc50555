"""``choice``: the first ``when`` (a JMESPath condition over the step's input) that is true
picks ``next``; otherwise ``default``; with neither, the step fails with States.NoChoiceMatched.

Its output is its input (shaped by ``output``, stored under ``resultPath`` like any step's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sedo.domain.definition import Step
from sedo.domain.expressions import ExpressionError, evaluate, truthy
from sedo.domain.failures import BAD_EXPRESSION, NO_CHOICE_MATCHED
from sedo.domain.steps.base import Done, Failed, Outcome, SimpleStep, StepContext


class Choice(SimpleStep):
    name = "choice"
    decides_next = True
    properties = {
        "choices": {
            "type": "array",
            "minItems": 1,
            "maxItems": 100,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["when", "next"],
                "properties": {"when": {"type": "string", "minLength": 1}, "next": {"type": "string"}},
            },
        },
        "default": {"type": "string"},
    }
    required = ("choices",)

    def targets(self, raw: Mapping[str, Any], path: str) -> list[tuple[str, str]]:
        found = [
            (f"{path}/choices/{i}/next", c["next"])
            for i, c in enumerate(raw.get("choices") or [])
            if isinstance(c, Mapping) and isinstance(c.get("next"), str)
        ]
        if isinstance(raw.get("default"), str):
            found.append((f"{path}/default", raw["default"]))
        return found

    def expression_fields(self, raw: Mapping[str, Any]) -> list[tuple[str, str]]:
        return [
            (f"/choices/{i}/when", c["when"])
            for i, c in enumerate(raw.get("choices") or [])
            if isinstance(c, Mapping) and isinstance(c.get("when"), str)
        ]

    def start(self, step: Step, ctx: StepContext) -> Outcome:
        for index, choice in enumerate(step.config["choices"]):
            try:
                matched = truthy(evaluate(choice["when"], ctx.input))
            except ExpressionError as exc:
                return Failed(BAD_EXPRESSION, f"choices[{index}].when: {exc}")
            if matched:
                return Done(output=ctx.input, next=choice["next"])
        if "default" in step.config:
            return Done(output=ctx.input, next=step.config["default"])
        return Failed(NO_CHOICE_MATCHED, f"no choice of step {step.id!r} matched and it has no default")


STEP = Choice()
