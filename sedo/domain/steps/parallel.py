"""``parallel``: run fixed ``branches`` (each a list of steps) concurrently on the step's input.

The output is the list of branch outputs, in branch order. One failing branch fails the
step with ``States.BranchFailed`` (retry/catch apply) and cancels the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sedo.domain.definition import Step
from sedo.domain.errors import Problem
from sedo.domain.limits import MAX_BRANCHES
from sedo.domain.protocol import FanInAwait
from sedo.domain.steps.base import Await, CheckContext, Outcome, SimpleStep, StepContext
from sedo.domain.steps.nested import NESTED_STEPS


class Parallel(SimpleStep):
    name = "parallel"
    properties = {"branches": {"type": "array", "minItems": 1, "maxItems": MAX_BRANCHES, "items": NESTED_STEPS}}
    required = ("branches",)

    def check(self, raw: Mapping[str, Any], path: str, ctx: CheckContext) -> list[Problem]:
        problems: list[Problem] = []
        for index, branch in enumerate(raw["branches"]):
            problems += ctx.nested(branch["steps"], f"{path}/branches/{index}")
        return problems

    def start(self, step: Step, ctx: StepContext) -> Outcome:
        branches = len(step.config["branches"])
        return Await(FanInAwait(step=step.id, total=branches, concurrency=branches, tolerated=0, branches=True))


STEP = Parallel()
