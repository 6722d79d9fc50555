"""Task states: Lambda functions and HTTP endpoints, as sedo ``invoke`` steps.

- A function ARN (``arn:aws:lambda:...:function:name``): the payload is the effective
  input, the result is the function's.
- ``arn:aws:states:::lambda:invoke``: ``Parameters.FunctionName`` and ``Payload``; the
  result is ``{Payload, StatusCode, ...}`` of which only ``Payload`` and ``StatusCode``
  (200) can be reproduced, so the state must select from them.
- ``...lambda:invoke.waitForTaskToken``: ``waitForCompletion: true``; the result is what
  the completion call sends.
- ``arn:aws:states:::http:invoke``: an ``http`` target; only ``ResponseBody`` of the
  result can be reproduced.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from sedo.domain.asl.paths import Context, Part, Refused, compose, template
from sedo.domain.asl.states import Scope, Step, _with_result, register, selection
from sedo.domain.limits import MAX_SYNC_TIMEOUT_SECONDS

_FUNCTION_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:(?P<name>[A-Za-z0-9_-]{1,64})(?::(?P<qualifier>[A-Za-z0-9_$-]{1,128}))?$"
)
_FUNCTION_NAME = re.compile(
    r"^(?:arn:aws[a-z-]*:lambda:[a-z0-9-]+:)?(?:\d{12}:function:)?(?P<name>[A-Za-z0-9_-]{1,64})(?::(?P<qualifier>[A-Za-z0-9_$-]{1,128}))?$"
)
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
HTTP_INVOKE = "arn:aws:states:::http:invoke"


def _metadata(what: str, keep: str) -> str:
    return (
        f"the result of {what} also carries fields sedo cannot reproduce (response metadata): select "
        f"from {keep} with ResultSelector or OutputPath, or discard the result with ResultPath: null"
    )


def _lambda_view(where: str, parts: list[Part], base: str) -> str:
    if parts and parts[0] == "Payload":
        return compose(base, parts[1:])
    if parts == ["StatusCode"]:
        return "`200`"
    raise Refused(where, _metadata("lambda:invoke", "$.Payload"))


def _http_view(where: str, parts: list[Part], base: str) -> str:
    if parts and parts[0] == "ResponseBody":
        return compose(base, parts[1:])
    raise Refused(where, _metadata("http:invoke", "$.ResponseBody"))


def _function(value: Any, where: str, qualifier: Any = None) -> str:
    match = _FUNCTION_NAME.match(value) if isinstance(value, str) else None
    if match is None:
        raise Refused(where, f"{value!r} is not a Lambda function name or ARN")
    qualifiers = [q for q in (match.group("qualifier"), qualifier) if q]
    if len(qualifiers) > 1 and qualifiers[0] != qualifiers[1]:
        raise Refused(where, "the function ARN and Qualifier name different qualifiers")
    return match.group("name") + (f":{qualifiers[0]}" if qualifiers else "")


def _parameters(state: Mapping[str, Any], scope: Scope, name: str) -> Mapping[str, Any]:
    params = state.get("Parameters")
    if not isinstance(params, Mapping):
        raise Refused(scope.where(name, "Parameters"), "this resource needs Parameters (an object)")
    return params


def _payload(params: Mapping[str, Any], key: str, ctx: Context, scope: Scope, name: str) -> str | None:
    where = scope.where(name, "Parameters")
    if f"{key}.$" in params:
        return selection(params[f"{key}.$"], ctx, f"{where}/{key}.$")
    if key in params:
        return template(params[key], ctx, f"{where}/{key}")
    return None


def _check_keys(params: Mapping[str, Any], allowed: set[str], scope: Scope, name: str, what: str) -> None:
    for key in params:
        if key not in allowed:
            raise Refused(scope.where(name, "Parameters", key), f"{key!r} does not translate for {what}")


def _lambda(state: Mapping[str, Any], scope: Scope, name: str, ctx: Context, step: Step, callback: bool) -> None:
    params = _parameters(state, scope, name)
    _check_keys(
        params, {"FunctionName", "Payload", "Payload.$", "Qualifier", "InvocationType"}, scope, name, "a Lambda task"
    )
    if params.get("InvocationType", "RequestResponse") != "RequestResponse":
        raise Refused(
            scope.where(name, "Parameters", "InvocationType"),
            "only RequestResponse invocations translate (sedo waits for the function's result)",
        )
    if "FunctionName" not in params:
        raise Refused(
            scope.where(name, "Parameters"), "give a fixed FunctionName (sedo does not pick functions at run time)"
        )
    step["function"] = _function(
        params["FunctionName"], scope.where(name, "Parameters", "FunctionName"), params.get("Qualifier")
    )
    payload = _payload(params, "Payload", ctx, scope, name)
    if payload is None:
        raise Refused(
            scope.where(name, "Parameters"), "give Payload or Payload.$ (sedo always sends the function a payload)"
        )
    step["input"] = payload
    if callback:
        step["waitForCompletion"] = True


def _http(state: Mapping[str, Any], scope: Scope, name: str, ctx: Context, step: Step) -> None:
    params = _parameters(state, scope, name)
    allowed = {"ApiEndpoint", "Method", "Authentication", "Headers", "QueryParameters", "RequestBody", "RequestBody.$"}
    _check_keys(params, allowed, scope, name, "an HTTP task")
    url, method = params.get("ApiEndpoint"), params.get("Method")
    if not isinstance(url, str) or not re.match(r"^https?://", url):
        raise Refused(scope.where(name, "Parameters", "ApiEndpoint"), "give a fixed http(s) ApiEndpoint")
    if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        raise Refused(
            scope.where(name, "Parameters", "Method"), f"sedo calls GET, POST, PUT, PATCH or DELETE, not {method!r}"
        )
    query = params.get("QueryParameters")
    if query is not None:
        if not isinstance(query, Mapping) or not all(isinstance(v, str) for v in query.values()):
            raise Refused(
                scope.where(name, "Parameters", "QueryParameters"), "only fixed string query parameters translate"
            )
        url += ("&" if "?" in url else "?") + urlencode(dict(query))
    http: Step = {"url": url, "method": method}
    headers = params.get("Headers")
    if headers is not None:
        if not isinstance(headers, Mapping) or not all(
            isinstance(v, str) and not k.endswith(".$") for k, v in headers.items()
        ):
            raise Refused(scope.where(name, "Parameters", "Headers"), "only fixed string headers translate")
        http["headers"] = dict(headers)
    step["http"] = http
    body = _payload(params, "RequestBody", ctx, scope, name)
    if body is None and method != "GET":
        raise Refused(
            scope.where(name, "Parameters"), f"sedo sends the step input as the {method} body: give RequestBody"
        )
    if body is not None:
        if method == "GET":
            raise Refused(scope.where(name, "Parameters", "RequestBody"), "a GET request carries no body")
        step["input"] = body
    if "Authentication" in params:
        ctx.notes.append(
            "the EventBridge connection (Authentication) is not carried over: give its credentials as http.headers"
        )


def _task(name: str, state: Mapping[str, Any], scope: Scope, ctx: Context) -> list[Step]:
    resource = state.get("Resource")
    where = scope.where(name, "Resource")
    step: Step = {"id": scope.ids[name], "type": "invoke"}
    view = None
    callback = False
    if not isinstance(resource, str):
        raise Refused(where, "a Task state needs a Resource ARN")
    plain = _FUNCTION_ARN.match(resource)
    if plain:
        step["function"] = _function(resource, where)
        step["input"] = (
            template(state["Parameters"], ctx, scope.where(name, "Parameters"))
            if "Parameters" in state
            else ctx.current
        )
    elif resource in (LAMBDA_INVOKE, LAMBDA_INVOKE + ".waitForTaskToken"):
        callback = resource.endswith(".waitForTaskToken")
        if callback:
            ctx = Context(
                current=ctx.current, execution=ctx.execution, state_name=name, task_token=True, notes=ctx.notes
            )
        _lambda(state, scope, name, ctx, step, callback)
        view = None if callback else _lambda_view
    elif resource == HTTP_INVOKE:
        _http(state, scope, name, ctx, step)
        view = _http_view
    elif resource.endswith(".sync") or resource.endswith(".sync:2"):
        raise Refused(where, f"{resource}: sedo cannot run another service's job to completion (.sync)")
    else:
        raise Refused(
            where,
            f"{resource} is an integration sedo does not have: sedo invokes Lambda functions (a function ARN or "
            f"{LAMBDA_INVOKE}) and HTTP endpoints ({HTTP_INVOKE})",
        )
    if callback and not any("$$.Task.Token" in note or "task token" in note for note in ctx.notes):
        raise Refused(
            scope.where(name, "Parameters"), "a .waitForTaskToken task must pass $$.Task.Token in its Payload"
        )
    timeout = state.get("TimeoutSeconds")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            raise Refused(scope.where(name, "TimeoutSeconds"), "TimeoutSeconds must be a positive integer")
        if not callback and timeout > MAX_SYNC_TIMEOUT_SECONDS:
            raise Refused(
                scope.where(name, "TimeoutSeconds"),
                f"sedo waits at most {MAX_SYNC_TIMEOUT_SECONDS} s for a synchronous call, not {timeout}",
            )
        step["timeoutSeconds"] = timeout
    heartbeat = state.get("HeartbeatSeconds")
    if heartbeat is not None:
        if not callback:
            raise Refused(
                scope.where(name, "HeartbeatSeconds"), "sedo takes heartbeats only for .waitForTaskToken tasks"
            )
        if isinstance(heartbeat, bool) or not isinstance(heartbeat, int) or heartbeat < 1:
            raise Refused(scope.where(name, "HeartbeatSeconds"), "HeartbeatSeconds must be a positive integer")
        step["heartbeatSeconds"] = heartbeat
    return _with_result(name, state, scope, step, view, never_null=False)


register("Task", _task)
