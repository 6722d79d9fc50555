"""``emit``: put one event on the event bus, for the execution's tenant (issue 15).

``event: {source, detailType, detail}``: ``detail`` is JMESPath over the stash (default:
the step's input). The put is at-least-once; the event carries a stable id per step
attempt (``sedo:event/<id>`` in its ``resources``) so consumers, sedo's own triggers and
event steps among them, deduplicate a repeated put. The output is ``{"eventId": <id>}``.
The bus is reached through the step's only door, the invoker (target ``{"event": ...}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sedo.domain.definition import Step
from sedo.domain.errors import SedoError
from sedo.domain.events.triggers import stable_id
from sedo.domain.expressions import ExpressionError, evaluate
from sedo.domain.failures import BAD_EXPRESSION, PAYLOAD_TOO_LARGE
from sedo.domain.limits import MAX_EVENT_DETAIL_BYTES, measure
from sedo.domain.steps.base import Done, Failed, InvokeRequest, Outcome, SimpleStep, StepContext

_NAME = {"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[^\\s].*$"}


class Emit(SimpleStep):
    name = "emit"
    required = ("event",)
    properties = {
        "event": {
            "type": "object",
            "additionalProperties": False,
            "required": ["source", "detailType"],
            "properties": {
                "source": {
                    **_NAME,
                    "not": {"const": "sedo"},
                    "description": "the event's source ('sedo' is sedo's own)",
                },
                "detailType": _NAME,
                "detail": {"type": "string", "minLength": 1, "description": "JMESPath over the stash: the detail"},
            },
        },
    }

    def expression_fields(self, raw: Mapping[str, Any]) -> list[tuple[str, str]]:
        detail = (raw.get("event") or {}).get("detail")
        return [("/event/detail", detail)] if isinstance(detail, str) else []

    def start(self, step: Step, ctx: StepContext) -> Outcome:
        config = step.config["event"]
        try:
            detail = evaluate(config["detail"], ctx.stash) if "detail" in config else ctx.input
        except ExpressionError as exc:
            return Failed(BAD_EXPRESSION, f"event.detail: {exc}")
        if not isinstance(detail, Mapping):
            detail = {"value": detail}  # EventBridge's detail is an object
        try:
            measure(detail, MAX_EVENT_DETAIL_BYTES, what="the event's detail")
        except SedoError as exc:  # too large or too deep
            return Failed(PAYLOAD_TOO_LARGE, exc.detail)
        key = stable_id(ctx.execution_id, step.id, ctx.task_token)
        result = ctx.invoker.invoke(
            InvokeRequest(
                target={
                    "event": {"tenantId": ctx.tenant_id, "source": config["source"], "detailType": config["detailType"]}
                },
                payload=dict(detail),
                idempotency_key=key,
                timeout_seconds=10,
            )
        )
        if result.error is not None:
            return Failed(result.error, result.cause or "")
        return Done(output={"eventId": key})


STEP = Emit()
