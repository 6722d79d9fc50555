"""``invoke``: call a Lambda function (``function``) or an HTTP(S) service (``http``).

The payload is the step's input (select it with ``input``). By default the call is
synchronous and its result is the step's output. With ``waitForCompletion: true``
the target is started asynchronously with ``{"taskToken", "executionId", "stepId",
"input"}`` and the step waits for a completion call carrying that token.

Calls are at-least-once: each carries the idempotency key
``executionId/stepId/attempt`` (Lambda: ``clientContext.custom.idempotencyKey``;
HTTP: the ``Idempotency-Key`` header) so the target can deduplicate.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from sedo.domain.definition import Step
from sedo.domain.errors import Problem
from sedo.domain.limits import MAX_SYNC_TIMEOUT_SECONDS
from sedo.domain.protocol import CallbackAwait
from sedo.domain.steps.base import (
    Await,
    CheckContext,
    Done,
    Failed,
    InvokeRequest,
    Outcome,
    SimpleStep,
    StepContext,
)
from sedo.domain.steps.callback import HEARTBEAT

#: A synchronous call never waits longer than this (it holds a processor invocation).
DEFAULT_SYNC_TIMEOUT_SECONDS = 30


def function_allowed(name: str, allowed: tuple[str, ...]) -> bool:
    return any(fnmatchcase(name, pattern) for pattern in allowed)


class Invoke(SimpleStep):
    name = "invoke"
    properties = {
        "function": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$",
            "description": "Lambda function name (optionally :qualifier), on the deployment's allow-list.",
        },
        "http": {
            "type": "object",
            "additionalProperties": False,
            "required": ["url"],
            "properties": {
                "url": {"type": "string", "pattern": "^https?://[^\\s/$.?#].[^\\s]*$", "maxLength": 2048},
                "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
                "headers": {
                    "type": "object",
                    "maxProperties": 50,
                    "additionalProperties": {"type": "string", "maxLength": 4096},
                },
            },
        },
        "waitForCompletion": {"type": "boolean"},
        "heartbeatSeconds": HEARTBEAT,
    }

    def check(self, raw: Mapping[str, Any], path: str, ctx: CheckContext) -> list[Problem]:
        problems: list[Problem] = []
        if ("function" in raw) == ("http" in raw):
            problems.append(Problem(path, "an invoke step needs exactly one of 'function' or 'http'"))
        name = raw.get("function")
        if isinstance(name, str) and ctx.options.allowed_functions is not None:
            bare = name.split(":", 1)[0]
            if not function_allowed(bare, ctx.options.allowed_functions):
                allowed = ", ".join(ctx.options.allowed_functions) or "none configured"
                problems.append(
                    Problem(
                        f"{path}/function",
                        f"function {bare!r} is not on this deployment's invoke allow-list ({allowed})",
                    )
                )
        if "heartbeatSeconds" in raw and not raw.get("waitForCompletion"):
            problems.append(Problem(f"{path}/heartbeatSeconds", "heartbeatSeconds needs waitForCompletion: true"))
        timeout = raw.get("timeoutSeconds")
        if not raw.get("waitForCompletion") and isinstance(timeout, int) and timeout > MAX_SYNC_TIMEOUT_SECONDS:
            problems.append(
                Problem(
                    f"{path}/timeoutSeconds",
                    f"a synchronous invoke waits at most {MAX_SYNC_TIMEOUT_SECONDS} s; "
                    "use waitForCompletion: true for longer work",
                )
            )
        return problems

    def start(self, step: Step, ctx: StepContext) -> Outcome:
        config = step.config
        target = {"function": config["function"]} if "function" in config else {"http": config["http"]}
        asynchronous = bool(config.get("waitForCompletion"))
        payload = ctx.input
        if asynchronous:
            payload = {
                "taskToken": ctx.task_token,
                "executionId": ctx.execution_id,
                "stepId": step.id,
                "input": ctx.input,
            }
        timeout = min(float(config.get("timeoutSeconds", DEFAULT_SYNC_TIMEOUT_SECONDS)), MAX_SYNC_TIMEOUT_SECONDS)
        result = ctx.invoker.invoke(
            InvokeRequest(
                target=target,
                payload=payload,
                idempotency_key=f"{ctx.execution_id}/{step.id}/{ctx.attempt}",
                timeout_seconds=timeout,
                asynchronous=asynchronous,
            )
        )
        if result.error is not None:
            return Failed(result.error, result.cause or "")
        if asynchronous:
            return Await(CallbackAwait(step=step.id, heartbeat_seconds=config.get("heartbeatSeconds")))
        return Done(output=result.output)


STEP = Invoke()
