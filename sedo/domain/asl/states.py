"""One ASL state -> sedo steps.

Every state leaves its output (the next state's raw input) in the stash under
``state``; the start state reads the execution input instead when nothing loops back
to it. A state is one step where sedo can say it in one, more where it cannot: a task
whose ``ResultPath`` merges into its input stores the result under ``result`` and a
``transform`` merges it; each catcher that reshapes the input goes through a
``transform`` of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sedo.domain.asl.paths import (
    Context,
    Part,
    Refused,
    compose,
    is_dynamic,
    literal,
    parse_path,
    path_expression,
    pointer,
    selection,
    template,
)
from sedo.domain.asl.rules import choices
from sedo.domain.limits import MAX_SYNC_TIMEOUT_SECONDS, MAX_WAIT_SECONDS
from sedo.domain.timefmt import parse_ts

Step = dict[str, Any]
#: Translate a nested machine (map iterator, parallel branch): (machine, path, start base, execution) -> steps
Nested = Callable[[Any, str, str, "str | None"], list[Step]]

_COMMON = {"Type", "Comment", "Next", "End", "InputPath", "OutputPath"}
_RESULT = {"ResultSelector", "ResultPath", "Retry", "Catch"}
FIELDS: dict[str, set[str]] = {
    "Pass": _COMMON | {"Parameters", "Result", "ResultPath"},
    "Task": _COMMON | _RESULT | {"Resource", "Parameters", "TimeoutSeconds", "HeartbeatSeconds"},
    "Choice": {"Type", "Comment", "InputPath", "OutputPath", "Choices", "Default"},
    "Wait": _COMMON | {"Seconds", "Timestamp", "SecondsPath", "TimestampPath"},
    "Succeed": {"Type", "Comment", "InputPath", "OutputPath"},
    "Fail": {"Type", "Comment", "Error", "Cause"},
    "Parallel": _COMMON | _RESULT | {"Branches", "Parameters"},
    "Map": _COMMON
    | _RESULT
    | {"ItemProcessor", "Iterator", "ItemsPath", "ItemSelector", "Parameters", "MaxConcurrency"},
}
#: Fields of ASL that sedo has no equivalent for, and why.
NO_EQUIVALENT = {
    "Assign": "workflow variables (Assign) have no sedo equivalent",
    "Arguments": "Arguments belongs to JSONata, which sedo does not translate",
    "Output": "Output belongs to JSONata, which sedo does not translate",
    "QueryLanguage": "only JSONPath translates; JSONata does not",
    "ItemReader": "a Distributed Map reading items from S3 (ItemReader) has no sedo equivalent yet",
    "ResultWriter": "a Distributed Map writing results to S3 (ResultWriter) has no sedo equivalent",
    "ItemBatcher": "batching map items (ItemBatcher) has no sedo equivalent",
    "ToleratedFailureCount": "tolerated failures belong to Distributed Map, which sedo does not translate",
    "ToleratedFailurePercentage": "tolerated failures belong to Distributed Map, which sedo does not translate",
    "ToleratedFailureCountPath": "tolerated failures belong to Distributed Map, which sedo does not translate",
    "ToleratedFailurePercentagePath": "tolerated failures belong to Distributed Map, which sedo does not translate",
    "Label": "Label belongs to Distributed Map, which sedo does not translate",
    "MaxConcurrencyPath": "sedo's maxConcurrency is fixed in the definition, not read from the input",
    "TimeoutSecondsPath": "sedo's timeoutSeconds is fixed in the definition, not read from the input",
    "HeartbeatSecondsPath": "sedo's heartbeatSeconds is fixed in the definition, not read from the input",
    "Credentials": "sedo calls targets with its own role; it cannot assume another (Credentials)",
    "ErrorPath": "sedo's fail step has a fixed error; it cannot read it from the input",
    "CausePath": "sedo's fail step has a fixed cause; it cannot read it from the input",
}


@dataclass
class Scope:
    """One state machine (the root, a map iterator or a parallel branch) being translated."""

    path: str  #: JSON Pointer of the machine ("" for the root)
    start: str  #: the StartAt state
    start_base: str  #: where the start state finds its raw input in the stash
    execution: str | None  #: where the execution input is
    ids: dict[str, str]
    used: set[str]
    nested: Nested
    retargeted: bool = False  #: a transition goes back to the start: everything reads ``state``
    notes: list[str] = field(default_factory=list)

    def base(self, name: str) -> str:
        return self.start_base if name == self.start and not self.retargeted else "state"

    def alloc(self, preferred: str) -> str:
        candidate = preferred[:80]
        n = 2
        while candidate in self.used:
            suffix = f"-{n}"
            candidate = preferred[: 80 - len(suffix)] + suffix
            n += 1
        self.used.add(candidate)
        return candidate

    def where(self, name: str, *parts: object) -> str:
        return self.path + pointer("States", name, *parts)


def step_id_for(name: str) -> str:
    """A valid step id close to a state name (the caller makes it unique)."""
    text = re.sub(r"[^A-Za-z0-9_.-]+", "-", name)
    text = re.sub(r"^[^A-Za-z0-9]+", "", text)[:80].rstrip("-")
    return text or "state"


def translate_state(name: str, state: Mapping[str, Any], scope: Scope) -> list[Step]:
    kind = state.get("Type")
    handler = _HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise Refused(scope.where(name, "Type"), f"unknown state type {kind!r} (known: {', '.join(FIELDS)})")
    ctx = Context(current=_effective(state, scope.base(name), scope, name), execution=scope.execution, state_name=name)
    steps = handler(name, state, scope, ctx)
    comments = [state["Comment"]] if isinstance(state.get("Comment"), str) else []
    comments += ctx.notes
    if comments:
        steps[0]["comment"] = " | ".join(comments)
    return steps


def field_problems(name: str, state: Mapping[str, Any], scope: Scope) -> list[Refused]:
    allowed = FIELDS.get(str(state.get("Type")), set())
    found = []
    for key in state:
        if key in allowed or not allowed:
            continue
        if key == "QueryLanguage" and state[key] == "JSONPath":
            continue
        reason = NO_EQUIVALENT.get(key, f"{key!r} is not a field of a {state.get('Type')} state")
        found.append(Refused(scope.where(name, key), reason))
    return found


# --- data flow helpers ---------------------------------------------------------------


def _effective(state: Mapping[str, Any], base: str, scope: Scope, name: str) -> str:
    """The state's effective input: InputPath over its raw input."""
    return _filtered(state, "InputPath", base, scope, name)


def _output(state: Mapping[str, Any], expression: str, scope: Scope, name: str) -> str:
    """OutputPath over the state's output."""
    return _filtered(state, "OutputPath", expression, scope, name)


def _filtered(state: Mapping[str, Any], field: str, expression: str, scope: Scope, name: str) -> str:
    """InputPath or OutputPath over an expression: absent keeps it, null gives `{}`."""
    if field not in state:
        return expression
    if state[field] is None:
        return "`{}`"
    ctx = Context(current=expression, execution=scope.execution, state_name=name)
    return path_expression(state[field], ctx, scope.where(name, field))


def _result_keys(value: Any, where: str) -> list[str] | None:
    """ResultPath: None (discard the result), [] (replace the input) or the object keys to set."""
    if value is None:
        return None
    root, parts = parse_path(value, where)
    if root != "$" or any(isinstance(p, int) for p in parts):
        raise Refused(where, f"{value!r}: a ResultPath must name object fields below $")
    return [str(p) for p in parts]


def _merge(base: str, keys: list[str] | None, result: str) -> str:
    if keys is None:
        return base
    if not keys:
        return result
    return f"set_path({', '.join([base, result, *(literal(k) for k in keys)])})"


def _transition(state: Mapping[str, Any], scope: Scope, name: str) -> Step:
    has_next, end = "Next" in state, state.get("End") is True
    if has_next == end:
        raise Refused(scope.where(name), "a state needs either Next or End: true")
    if end:
        return {"end": True}
    target = state["Next"]
    if not isinstance(target, str) or target not in scope.ids:
        raise Refused(scope.where(name, "Next"), f"Next must name a state of this machine, not {target!r}")
    return {"next": scope.ids[target]}


def _follow(step_id: str, expression: str, then: Step) -> Step:
    return {"id": step_id, "type": "transform", "expression": expression, "resultPath": "state", **then}


def _error_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name:
        raise Refused(where, f"an error name must be a non-empty string, not {name!r}")
    http = re.fullmatch(r"States\.Http\.StatusCode\.(\d{3})", name)
    if http:
        return f"Http.{http.group(1)}"
    return "States.PayloadTooLarge" if name == "States.DataLimitExceeded" else name


def _errors(rule: Mapping[str, Any], where: str, fanout: bool) -> list[str]:
    names = rule.get("ErrorEquals")
    if not isinstance(names, list) or not names:
        raise Refused(f"{where}/ErrorEquals", "ErrorEquals needs a non-empty array of error names")
    mapped = [_error_name(n, f"{where}/ErrorEquals/{i}") for i, n in enumerate(names)]
    if fanout and mapped != ["States.ALL"]:
        raise Refused(
            f"{where}/ErrorEquals",
            "a failed iteration or branch fails a sedo map or parallel step with States.ItemsFailed or "
            "States.BranchFailed, not with its own error: only [States.ALL] matches the same failures",
        )
    return mapped


_RETRY_FIELDS = {
    "IntervalSeconds": ("intervalSeconds", 0, 86400),
    "MaxAttempts": ("maxAttempts", 0, 100),
    "BackoffRate": ("backoffRate", 1, 10),
    "MaxDelaySeconds": ("maxDelaySeconds", 0, 31_622_400),
}


def _retry(state: Mapping[str, Any], scope: Scope, name: str, fanout: bool) -> list[Step]:
    rules = state.get("Retry", [])
    if not isinstance(rules, list):
        raise Refused(scope.where(name, "Retry"), "Retry must be an array of retriers")
    found: list[Step] = []
    for index, rule in enumerate(rules):
        where = scope.where(name, "Retry", index)
        if not isinstance(rule, Mapping):
            raise Refused(where, "a retrier must be an object")
        retry: Step = {"errors": _errors(rule, where, fanout)}
        for key, value in rule.items():
            if key in ("ErrorEquals", "Comment"):
                continue
            if key == "JitterStrategy" and value in ("FULL", "NONE"):
                retry["jitter"] = value
            elif key in _RETRY_FIELDS and isinstance(value, (int, float)) and not isinstance(value, bool):
                sedo_name, low, high = _RETRY_FIELDS[key]
                if not low <= value <= high:
                    raise Refused(f"{where}/{key}", f"sedo takes {key} from {low} to {high}, not {value}")
                retry[sedo_name] = value
            else:
                raise Refused(f"{where}/{key}", f"{key}: {value!r} does not translate to a sedo retry")
        found.append(retry)
    return found


def _catch(
    state: Mapping[str, Any], scope: Scope, name: str, step_id: str, fanout: bool
) -> tuple[list[Step], list[Step]]:
    """(sedo catchers, transform steps that shape the input the catchers go to)."""
    rules = state.get("Catch", [])
    if not isinstance(rules, list):
        raise Refused(scope.where(name, "Catch"), "Catch must be an array of catchers")
    catchers: list[Step] = []
    extra: list[Step] = []
    base = scope.base(name)
    for index, rule in enumerate(rules):
        where = scope.where(name, "Catch", index)
        if not isinstance(rule, Mapping):
            raise Refused(where, "a catcher must be an object")
        unknown = sorted(set(rule) - {"ErrorEquals", "Next", "ResultPath", "Comment"})
        if unknown:
            raise Refused(
                f"{where}/{unknown[0]}", NO_EQUIVALENT.get(unknown[0], f"{unknown[0]!r} is not a catcher field")
            )
        errors = _errors(rule, where, fanout)
        target = rule.get("Next")
        if not isinstance(target, str) or target not in scope.ids:
            raise Refused(f"{where}/Next", f"Next must name a state of this machine, not {target!r}")
        keys = _result_keys(rule.get("ResultPath", "$"), f"{where}/ResultPath")
        if fanout and keys is not None:
            raise Refused(
                f"{where}/ResultPath",
                "sedo reports a failed map or parallel step as States.ItemsFailed or States.BranchFailed, not "
                "with the iteration's own error: only ResultPath: null keeps the same output",
            )
        if keys is None and base == "state":
            catchers.append({"errors": errors, "next": scope.ids[target]})
            continue
        helper = scope.alloc(f"{step_id}.catch-{index}")
        catchers.append({"errors": errors, "next": helper})
        error = "{Error: error.error, Cause: error.cause}"
        extra.append(_follow(helper, _merge(base, keys, error), {"next": scope.ids[target]}))
    return catchers, extra


def _with_result(
    name: str,
    state: Mapping[str, Any],
    scope: Scope,
    primary: Step,
    view: Callable[[str, list[Part], str], str] | None,
    never_null: bool,
    fanout: bool = False,
) -> list[Step]:
    """Retry, Catch, ResultSelector, ResultPath, OutputPath and the transition of a step with a result."""
    base = scope.base(name)
    then = _transition(state, scope, name)
    retry = _retry(state, scope, name, fanout)
    if retry:
        primary["retry"] = retry
    catchers, extra = _catch(state, scope, name, primary["id"], fanout)
    if catchers:
        primary["catch"] = catchers
    keys = _result_keys(state.get("ResultPath", "$"), scope.where(name, "ResultPath"))
    selector = state.get("ResultSelector")

    def seen(where: str, parts: list[Part], at: str) -> str:
        return view(where, parts, at) if view is not None else compose(at, parts)

    def selected() -> str:
        """The result after ResultSelector, as an expression over the raw result (``@``)."""
        if selector is None:
            return seen(scope.where(name), [], "@")
        if not isinstance(selector, Mapping):
            raise Refused(scope.where(name, "ResultSelector"), "ResultSelector must be an object")
        at = "@" if never_null or not is_dynamic(selector) else "r"
        ctx = Context(current=at, execution=scope.execution, state_name=name, view=_viewing(seen, at))
        shaped = template(selector, ctx, scope.where(name, "ResultSelector"))
        return shaped if at == "@" else f"set_path(`{{}}`, @, 'r') | {shaped}"

    steps = [primary]
    if keys is None:
        if "OutputPath" in state or base != "state" or then.get("end"):
            helper = scope.alloc(f"{primary['id']}.output")
            primary["next"] = helper
            steps.append(_follow(helper, _output(state, base, scope, name), then))
        else:
            primary.update(then)
    elif not keys:
        if selector is None and view is not None and isinstance(state.get("OutputPath"), str):
            root, parts = parse_path(state["OutputPath"], scope.where(name, "OutputPath"))
            output = view(scope.where(name, "OutputPath"), parts, "@") if root == "$" else selected()
        else:
            output = _output(state, selected(), scope, name)
        if output != "@":
            primary["output"] = output
        primary["resultPath"] = "state"
        primary.update(then)
    else:
        output = selected()
        if output != "@":
            primary["output"] = output
        primary["resultPath"] = "result"
        helper = scope.alloc(f"{primary['id']}.result")
        primary["next"] = helper
        steps.append(_follow(helper, _output(state, _merge(base, keys, "result"), scope, name), then))
    return steps + extra


def _viewing(seen: Callable[[str, list[Part], str], str], at: str) -> Callable[[str, list[Part], str], str]:
    return lambda where, parts, current: seen(where, parts, at)


# --- the state types ---------------------------------------------------------------


def _pass(name: str, state: Mapping[str, Any], scope: Scope, ctx: Context) -> list[Step]:
    base = scope.base(name)
    if "Result" in state:
        result = literal(state["Result"])
    elif "Parameters" in state:
        result = template(state["Parameters"], ctx, scope.where(name, "Parameters"))
    else:
        result = ctx.current
    keys = _result_keys(state.get("ResultPath", "$"), scope.where(name, "ResultPath"))
    expression = _output(state, _merge(base, keys, result), scope, name)
    return [_follow(scope.ids[name], expression, _transition(state, scope, name))]


def _succeed(name: str, state: Mapping[str, Any], scope: Scope, ctx: Context) -> list[Step]:
    return [{"id": scope.ids[name], "type": "succeed", "input": _output(state, ctx.current, scope, name)}]


def _fail(name: str, state: Mapping[str, Any], scope: Scope, ctx: Context) -> list[Step]:
    error, cause = state.get("Error"), state.get("Cause")
    if not isinstance(error, str) or not error:
        raise Refused(scope.where(name), "a Fail state without an Error name has no sedo equivalent (give Error)")
    step: Step = {"id": scope.ids[name], "type": "fail", "error": error}
    if cause is not None:
        if not isinstance(cause, str):
            raise Refused(scope.where(name, "Cause"), "Cause must be a string")
        step["cause"] = cause
    return [step]


def _choice(name: str, state: Mapping[str, Any], scope: Scope, ctx: Context) -> list[Step]:
    step: Step = {"id": scope.ids[name], "type": "choice", "choices": choices(state, ctx, scope.where(name), scope.ids)}
    if "Default" in state:
        if state["Default"] not in scope.ids:
            raise Refused(scope.where(name, "Default"), f"Default must name a state, not {state['Default']!r}")
        step["default"] = scope.ids[state["Default"]]
    if scope.base(name) != "state" or "InputPath" in state or "OutputPath" in state:
        step["output"] = _output(state, ctx.current, scope, name)
        step["resultPath"] = "state"
    return [step]


def _wait(name: str, state: Mapping[str, Any], scope: Scope, ctx: Context) -> list[Step]:
    step: Step = {"id": scope.ids[name], "type": "wait"}
    given = [k for k in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if k in state]
    if len(given) != 1:
        raise Refused(
            scope.where(name), "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath"
        )
    key, value = given[0], state[given[0]]
    where = scope.where(name, key)
    if key == "Seconds":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_WAIT_SECONDS:
            raise Refused(where, f"sedo waits a whole number of seconds up to {MAX_WAIT_SECONDS}, not {value!r}")
        step["seconds"] = value
    elif key == "Timestamp":
        try:
            parse_ts(value)
        except ValueError:
            raise Refused(where, f"{value!r} is not an RFC 3339 timestamp with a time zone") from None
        step["until"] = value
    else:
        step["secondsFrom" if key == "SecondsPath" else "untilFrom"] = path_expression(value, ctx, where)
    then = _transition(state, scope, name)
    if scope.base(name) != "state" or "InputPath" in state or "OutputPath" in state or then.get("end"):
        helper = scope.alloc(f"{step['id']}.output")
        step["next"] = helper
        return [step, _follow(helper, _output(state, ctx.current, scope, name), then)]
    step.update(then)
    return [step]


def _nested_needs_execution(machine: Any) -> bool:
    import json

    return "$$.Execution" in json.dumps(machine)


def _map(name: str, state: Mapping[str, Any], scope: Scope, ctx: Context) -> list[Step]:
    processor_key = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
    processor = state.get(processor_key)
    if not isinstance(processor, Mapping):
        raise Refused(scope.where(name), "a Map state needs an ItemProcessor (or Iterator)")
    config = processor.get("ProcessorConfig", {})
    if isinstance(config, Mapping) and config.get("Mode", "INLINE") != "INLINE":
        raise Refused(
            scope.where(name, processor_key, "ProcessorConfig", "Mode"),
            "a Distributed Map has no sedo equivalent yet; use an inline map (Mode: INLINE)",
        )
    if "ItemSelector" in state and "Parameters" in state:
        raise Refused(scope.where(name, "Parameters"), "give ItemSelector or Parameters, not both")
    selector_key = "ItemSelector" if "ItemSelector" in state else "Parameters"
    items = ctx.current
    if "ItemsPath" in state:
        items = path_expression(state["ItemsPath"], ctx, scope.where(name, "ItemsPath"))
    carry = _nested_needs_execution(processor)
    step: Step = {"id": scope.ids[name], "type": "map"}
    if selector_key in state or carry:
        selector = state.get(selector_key)
        needs_exec = carry or _nested_needs_execution(selector)
        context = {"input": ctx.current} if selector is not None else {}
        if needs_exec and scope.execution is not None:
            context["exec"] = scope.execution
        fields = ", ".join(f"{k}: {v}" for k, v in context.items())
        item_ctx = Context(current="context.input", execution="context.exec", state_name=name, item=("value", "index"))
        item = "value" if selector is None else template(selector, item_ctx, scope.where(name, selector_key))
        if carry:
            item = f"{{state: {item}, exec: context.exec}}"
        step["items"] = f"map(&{item}, items_with({items}, {'{' + fields + '}' if fields else '`{}`'}))"
    else:
        step["items"] = items
    child_base, child_exec = ("input.state", "input.exec") if carry else ("input", None)
    step["iterator"] = {"steps": scope.nested(processor, scope.where(name, processor_key), child_base, child_exec)}
    if "MaxConcurrency" in state:
        value = state["MaxConcurrency"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
            raise Refused(
                scope.where(name, "MaxConcurrency"), f"sedo takes MaxConcurrency from 0 to 10000, not {value!r}"
            )
        step["maxConcurrency"] = value
    return _with_result(name, state, scope, step, None, never_null=True, fanout=True)


def _parallel(name: str, state: Mapping[str, Any], scope: Scope, ctx: Context) -> list[Step]:
    branches = state.get("Branches")
    if not isinstance(branches, list) or not branches:
        raise Refused(scope.where(name), "a Parallel state needs a non-empty Branches array")
    payload = (
        template(state["Parameters"], ctx, scope.where(name, "Parameters")) if "Parameters" in state else ctx.current
    )
    carry = _nested_needs_execution(branches)
    if carry:
        payload = f"{{state: {payload}, exec: {scope.execution}}}"
    child_base, child_exec = ("input.state", "input.exec") if carry else ("input", None)
    step: Step = {
        "id": scope.ids[name],
        "type": "parallel",
        "input": payload,
        "branches": [
            {"steps": scope.nested(b, scope.where(name, "Branches", i), child_base, child_exec)}
            for i, b in enumerate(branches)
        ],
    }
    return _with_result(name, state, scope, step, None, never_null=True, fanout=True)


_HANDLERS: dict[str, Callable[[str, Mapping[str, Any], Scope, Context], list[Step]]] = {
    "Pass": _pass,
    "Succeed": _succeed,
    "Fail": _fail,
    "Choice": _choice,
    "Wait": _wait,
    "Map": _map,
    "Parallel": _parallel,
}


def register(kind: str, handler: Callable[[str, Mapping[str, Any], Scope, Context], list[Step]]) -> None:
    _HANDLERS[kind] = handler


__all__ = [
    "FIELDS",
    "MAX_SYNC_TIMEOUT_SECONDS",
    "Scope",
    "field_problems",
    "selection",
    "step_id_for",
    "translate_state",
]
