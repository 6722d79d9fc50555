"""``parallel``: run fixed ``branches`` (each a list of steps) concurrently on the step's input.

The output is the list of branch outputs, in branch order. One failing branch fails the
step with ``States.BranchFailed`` (retry/catch apply) and cancels the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sedo.domain.definition import Step
from sedo.domain.errors import Problem
from sedo.domain.steps.base import Await, LanguageOptions, Outcome, SimpleStep, StepContext
from sedo.domain.steps.fanout import NESTED_STEPS, nested_problems


class Parallel(SimpleStep):
    name = "parallel"
    properties = {"branches": {"type": "array", "minItems": 1, "maxItems": 100, "items": NESTED_STEPS}}
    required = ("branches",)

    def check(self, raw: Mapping[str, Any], path: str, options: LanguageOptions) -> list[Problem]:
        problems: list[Problem] = []
        for index, branch in enumerate(raw["branches"]):
            problems += nested_problems(branch["steps"], f"{path}/branches/{index}", options)
        return problems

    def start(self, step: Step, ctx: StepContext) -> Outcome:
        branches = len(step.config["branches"])
        return Await(
            kind="fanin",
            data={"total": branches, "concurrency": branches, "tolerated": 0, "branches": True},
        )


STEP = Parallel()
