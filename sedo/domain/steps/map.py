"""``map``: run ``iterator.steps`` once per item of an array, concurrently, and collect the outputs.

``items`` (JMESPath over the step's input) selects the array; each iteration is a child
execution whose stash is ``{"input": <item>, "index": <i>}``. ``maxConcurrency`` bounds the
iterations in flight (0: all at once); each one that finishes starts the next. The output
is the list of iteration outputs in item order (failed iterations: null). Up to
``toleratedFailureCount`` (or ``toleratedFailurePercentage``) iterations may fail; beyond
that the step fails with ``States.ItemsFailed`` (retry/catch apply) and the running
iterations are cancelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sedo.domain.definition import Step
from sedo.domain.errors import Problem
from sedo.domain.expressions import ExpressionError, evaluate
from sedo.domain.failures import BAD_EXPRESSION
from sedo.domain.limits import MAX_MAP_CONCURRENCY, MAX_MAP_ITEMS
from sedo.domain.protocol import FanInAwait
from sedo.domain.steps.base import Await, CheckContext, Done, Failed, Outcome, SimpleStep, StepContext
from sedo.domain.steps.nested import NESTED_STEPS


class Map(SimpleStep):
    name = "map"
    properties = {
        "items": {"type": "string", "minLength": 1},
        "iterator": NESTED_STEPS,
        "maxConcurrency": {"type": "integer", "minimum": 0, "maximum": MAX_MAP_CONCURRENCY},
        "toleratedFailureCount": {"type": "integer", "minimum": 0},
        "toleratedFailurePercentage": {"type": "number", "minimum": 0, "maximum": 100},
    }
    required = ("items", "iterator")
    expressions = ("/items",)

    def check(self, raw: Mapping[str, Any], path: str, ctx: CheckContext) -> list[Problem]:
        problems = ctx.nested(raw["iterator"]["steps"], f"{path}/iterator")
        if "toleratedFailureCount" in raw and "toleratedFailurePercentage" in raw:
            problems.append(Problem(path, "give toleratedFailureCount or toleratedFailurePercentage, not both"))
        return problems

    def start(self, step: Step, ctx: StepContext) -> Outcome:
        try:
            items = evaluate(step.config["items"], ctx.input)
        except ExpressionError as exc:
            return Failed(BAD_EXPRESSION, f"items: {exc}")
        if not isinstance(items, list):
            return Failed(BAD_EXPRESSION, f"items must select an array, not {type(items).__name__}")
        if len(items) > MAX_MAP_ITEMS:
            return Failed(BAD_EXPRESSION, f"{len(items)} items; a map takes at most {MAX_MAP_ITEMS}")
        if not items:
            return Done(output=[])
        total = len(items)
        tolerated = int(step.config.get("toleratedFailureCount", 0))
        if "toleratedFailurePercentage" in step.config:
            tolerated = int(total * float(step.config["toleratedFailurePercentage"]) / 100)
        concurrency = int(step.config.get("maxConcurrency", 0)) or total
        # The items are not kept: the fan-out recomputes them from the stash, which
        # does not change while the step waits (see sedo.domain.iterations.iteration_inputs).
        return Await(FanInAwait(step=step.id, total=total, concurrency=concurrency, tolerated=tolerated))


STEP = Map()
