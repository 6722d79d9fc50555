"""``map``: run ``iterator.steps`` once per item of an array, concurrently, and collect the outputs.

``items`` (JMESPath over the step's input) selects the array; each iteration is a child
execution whose stash is ``{"input": <item>, "index": <i>}``. ``maxConcurrency`` bounds the
iterations in flight (0: all at once); each one that finishes starts the next. The output
is the list of iteration outputs in item order (failed iterations: null). Up to
``toleratedFailureCount`` (or ``toleratedFailurePercentage``) iterations may fail; beyond
that the step fails with ``States.ItemsFailed`` (retry/catch apply) and the running
iterations are cancelled.

Maps over S3 (the I/O: sedo/service_layer/itemsource.py): ``itemReader: {bucket, key,
format}`` instead of ``items`` reads the items from an object (``json``: an array, ``jsonl``:
one value a line, ``csv``: records with a header row), a byte range at a time; a missing or
malformed object fails the step with ``States.ItemReaderFailed``, naming the line or element.
``itemBatcher: {maxItems}`` gives each child ``{"items": [...]}`` with up to ``maxItems``
items. ``resultWriter: {bucket, prefix}`` writes the children's results to S3 as JSON Lines
and makes the step's output the manifest of what it wrote, instead of the results.

``mode: inline`` runs an iteration that needs no waiting inside the map's own wake-ups,
without an execution of its own (docs/DESIGN.md, *Inline iterations*): about two writes an
item instead of seven; an iteration that waits becomes a child execution as in the default
``mode: executions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sedo.domain.definition import Step
from sedo.domain.errors import Problem
from sedo.domain.expressions import ExpressionError, evaluate
from sedo.domain.failures import BAD_EXPRESSION
from sedo.domain.itemreader import FORMATS
from sedo.domain.limits import MAX_ITEM_BATCH_ITEMS, MAX_MAP_CONCURRENCY, MAX_MAP_ITEMS
from sedo.domain.protocol import FanInAwait
from sedo.domain.steps.base import Await, CheckContext, Done, Failed, Outcome, SimpleStep, StepContext
from sedo.domain.steps.nested import NESTED_STEPS

#: How a map runs its iterations: each as a child execution, or inline where it need not wait.
EXECUTIONS, INLINE = "executions", "inline"
MODES = (EXECUTIONS, INLINE)

#: An S3 bucket name (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
BUCKET = {"type": "string", "pattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": required, "properties": properties}


def fan_in_limits(config: Mapping[str, Any], total: int) -> tuple[int, int]:
    """How many iterations of ``total`` run at once, and how many may fail."""
    tolerated = int(config.get("toleratedFailureCount", 0))
    if "toleratedFailurePercentage" in config:
        tolerated = int(total * float(config["toleratedFailurePercentage"]) / 100)
    return int(config.get("maxConcurrency", 0)) or total, tolerated


class Map(SimpleStep):
    name = "map"
    properties = {
        "items": {"type": "string", "minLength": 1},
        "itemReader": _object(
            {
                "bucket": BUCKET,
                "key": {"type": "string", "minLength": 1, "maxLength": 1024},
                "format": {"enum": list(FORMATS)},
            },
            ["bucket", "key", "format"],
        ),
        "itemBatcher": _object(
            {"maxItems": {"type": "integer", "minimum": 1, "maximum": MAX_ITEM_BATCH_ITEMS}}, ["maxItems"]
        ),
        "resultWriter": _object({"bucket": BUCKET, "prefix": {"type": "string", "maxLength": 512}}, ["bucket"]),
        "iterator": NESTED_STEPS,
        "maxConcurrency": {"type": "integer", "minimum": 0, "maximum": MAX_MAP_CONCURRENCY},
        "toleratedFailureCount": {"type": "integer", "minimum": 0},
        "toleratedFailurePercentage": {"type": "number", "minimum": 0, "maximum": 100},
        "mode": {"enum": list(MODES)},
    }
    required = ("iterator",)
    expressions = ("/items",)

    def check(self, raw: Mapping[str, Any], path: str, ctx: CheckContext) -> list[Problem]:
        problems = ctx.nested(raw["iterator"]["steps"], f"{path}/iterator")
        if "toleratedFailureCount" in raw and "toleratedFailurePercentage" in raw:
            problems.append(Problem(path, "give toleratedFailureCount or toleratedFailurePercentage, not both"))
        if ("items" in raw) == ("itemReader" in raw):
            problems.append(
                Problem(path, "give items (a JMESPath expression) or itemReader (an S3 object), one of them")
            )
        for field, allowed, parameter in (
            ("itemReader", ctx.options.map_item_buckets, "MapItemBuckets"),
            ("resultWriter", ctx.options.map_result_buckets, "MapResultBuckets"),
        ):
            bucket = raw[field].get("bucket") if isinstance(raw.get(field), Mapping) else None
            if bucket is not None and allowed is not None and bucket not in allowed:
                names = ", ".join(allowed) or "none"
                message = f"bucket {bucket!r} is not one this deployment's maps may use ({parameter}: {names})"
                problems.append(Problem(f"{path}/{field}/bucket", message))
        return problems

    def start(self, step: Step, ctx: StepContext) -> Outcome:
        if "itemReader" in step.config:
            # The items are in S3: the fan-out indexes them, then knows the total and the limits.
            concurrency, tolerated = fan_in_limits(step.config, 0)
            return Await(FanInAwait(step=step.id, total=0, concurrency=concurrency, tolerated=tolerated))
        try:
            items = evaluate(step.config["items"], ctx.input)
        except ExpressionError as exc:
            return Failed(BAD_EXPRESSION, f"items: {exc}")
        if not isinstance(items, list):
            return Failed(BAD_EXPRESSION, f"items must select an array, not {type(items).__name__}")
        if len(items) > MAX_MAP_ITEMS:
            return Failed(BAD_EXPRESSION, f"{len(items)} items; a map takes at most {MAX_MAP_ITEMS}")
        if not items and "resultWriter" not in step.config:
            return Done(output=[])
        total = len(items)
        if "itemBatcher" in step.config:
            total = -(-total // int(step.config["itemBatcher"]["maxItems"]))  # sedo.domain.itemreader.batched
        concurrency, tolerated = fan_in_limits(step.config, total)
        # The items are not kept: the fan-out recomputes them from the stash, which
        # does not change while the step waits (see sedo.domain.iterations.iteration_inputs).
        return Await(FanInAwait(step=step.id, total=total, concurrency=concurrency, tolerated=tolerated))


STEP = Map()
