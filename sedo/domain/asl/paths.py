"""ASL's JSONPath, payload templates and intrinsic functions, as JMESPath over the stash.

A :class:`Context` says what ``$`` and ``$$`` mean where a path appears (JMESPath
expressions for the state's input, the execution input, the map item). Only
reference paths translate (``$``, ``.field``, ``['field']``, ``[n]``): wildcards,
filters, slices and recursive descent select differently in the two languages and
are refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import jmespath

from sedo.domain.functions import FUNCTIONS

Part = str | int
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SIMPLE = re.compile(r'^(@|[A-Za-z_][A-Za-z0-9_]*)((\.[A-Za-z_][A-Za-z0-9_]*)|(\."[^"\\]*")|(\[\d+\]))*$')
_OPTIONS = jmespath.Options(custom_functions=FUNCTIONS)


class Refused(Exception):
    """A construct with no faithful translation; ``path`` is the JSON Pointer in the ASL document."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


#: How the result of a task is seen: path parts below ``$`` -> an expression over ``base``.
ResultView = Callable[[str, list[Part], str], str]


@dataclass(frozen=True)
class Context:
    """What ``$`` and ``$$`` mean at one place of the ASL document."""

    current: str  #: JMESPath for ``$``
    execution: str | None  #: JMESPath for ``$$.Execution.Input``; None: not available here
    state_name: str
    item: tuple[str, str] | None = None  #: JMESPath for ``$$.Map.Item.Value`` and ``.Index``
    view: ResultView | None = None  #: how ``$`` paths read a task's result
    task_token: bool = False  #: ``$$.Task.Token`` entries may be dropped (the callback carries it)
    notes: list[str] = field(default_factory=list)

    def at(self, current: str) -> Context:
        return replace(self, current=current, view=None)


def pointer(*parts: object) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


# --- JSONPath -----------------------------------------------------------------


def parse_path(text: str, where: str) -> tuple[str, list[Part]]:
    """``("$" | "$$", parts)`` of a reference path; :class:`Refused` for anything else."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise Refused(where, f"{text!r} is not a JSONPath (it must start with $)")
    root = "$$" if text.startswith("$$") else "$"
    rest = text[len(root) :]
    parts: list[Part] = []
    i = 0
    unsupported = f"{text!r}: only reference paths ($, .field, ['field'], [index]) translate faithfully"
    while i < len(rest):
        if rest.startswith(".."):
            raise Refused(where, unsupported + "; recursive descent (..) does not")
        if rest[i] == ".":
            match = re.match(r"[^.\[\]*?@()' \"]+", rest[i + 1 :])
            if not match:
                raise Refused(where, unsupported)
            parts.append(match.group())
            i += 1 + len(match.group())
        elif rest[i] == "[":
            match = re.match(r"\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]|\[\"((?:[^\"\\]|\\.)*)\"\]", rest[i:])
            if not match:
                raise Refused(where, unsupported + "; wildcards, filters, slices and negative indices do not")
            if match.group(1) is not None:
                parts.append(int(match.group(1)))
            else:
                quoted = match.group(2) if match.group(2) is not None else match.group(3)
                parts.append(re.sub(r"\\(.)", r"\1", quoted))
            i += len(match.group())
        else:
            raise Refused(where, unsupported)
    return root, parts


def compose(base: str, parts: list[Part]) -> str:
    """JMESPath selecting ``parts`` below the value of ``base``."""
    expression = base
    for part in parts:
        step = f"[{part}]" if isinstance(part, int) else (part if _IDENTIFIER.match(part) else json.dumps(part))
        if expression == "@":
            expression = step
        elif _SIMPLE.match(expression) or (expression.startswith("[") and _SIMPLE.match("@" + expression)):
            expression = expression + step if step.startswith("[") else f"{expression}.{step}"
        else:
            expression = f"({expression})" + (step if step.startswith("[") else f".{step}")
    return expression


def literal(value: Any) -> str:
    """A JMESPath literal for a JSON value (raw strings where they read well)."""
    if isinstance(value, str) and "'" not in value and "\\" not in value:
        text = f"'{value}'"
    else:
        text = "`" + json.dumps(value, separators=(",", ":")).replace("`", "\\`") + "`"
    found = jmespath.search(text, None, options=_OPTIONS)
    if json.dumps(found, sort_keys=True) != json.dumps(value, sort_keys=True):  # pragma: no cover - a guard
        raise ValueError(f"cannot write {value!r} as a JMESPath literal")
    return text


def resolve(text: str, ctx: Context, where: str) -> tuple[str, list[Part]]:
    """(base expression, parts) of a path in ``ctx``: for ``has_path`` and :func:`path_expression`."""
    root, parts = parse_path(text, where)
    if root == "$":
        if ctx.view is not None:
            return ctx.view(where, parts, ctx.current), []
        return ctx.current, parts
    head = parts[:2]
    if head == ["Execution", "Input"]:
        if ctx.execution is None:  # pragma: no cover - the translator always carries it when needed
            raise Refused(where, f"{text!r}: the execution input is not available here")
        return ctx.execution, parts[2:]
    if head == ["Map", "Item"] and ctx.item is not None and parts[2:3] in (["Value"], ["Index"]):
        return (ctx.item[0] if parts[2] == "Value" else ctx.item[1]), parts[3:]
    if parts == ["State", "Name"]:
        return literal(ctx.state_name), []
    if head == ["Map", "Item"]:
        raise Refused(where, f"{text!r}: $$.Map.Item is only available in a Map state's ItemSelector")
    raise Refused(
        where,
        f"{text!r}: sedo expressions see the execution input ($$.Execution.Input), the map item "
        "($$.Map.Item.Value/Index, in ItemSelector) and the state name ($$.State.Name); nothing else of the "
        "context object",
    )


def path_expression(text: str, ctx: Context, where: str) -> str:
    base, parts = resolve(text, ctx, where)
    return compose(base, parts)


# --- intrinsic functions ---------------------------------------------------------

#: States.X -> (sedo/JMESPath function, argument counts allowed); None: written another way.
_INTRINSICS: dict[str, tuple[str | None, tuple[int, ...]]] = {
    "States.Format": ("format", ()),
    "States.StringToJson": ("from_json", (1,)),
    "States.JsonToString": ("to_json", (1,)),
    "States.Array": (None, ()),
    "States.ArrayPartition": ("partition", (2,)),
    "States.ArrayContains": ("contains", (2,)),
    "States.ArrayRange": ("range", (3,)),
    "States.ArrayGetItem": ("item_at", (2,)),
    "States.ArrayLength": ("length", (1,)),
    "States.ArrayUnique": ("unique", (1,)),
    "States.Base64Encode": ("base64_encode", (1,)),
    "States.Base64Decode": ("base64_decode", (1,)),
    "States.Hash": ("hash", (2,)),
    "States.JsonMerge": ("merge", (3,)),
    "States.MathRandom": ("random_int", (2, 3)),
    "States.MathAdd": ("add", (2,)),
    "States.StringSplit": ("split", (2,)),
    "States.UUID": ("uuid", (0,)),
}
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<word>true|false|null)(?![\w.])|(?P<call>States\.[A-Za-z0-9]+)\s*\(|(?P<path>\$\$?[^,()\s]*)"
    r"|(?P<punct>[,)]))"
)


def intrinsic(text: str, ctx: Context, where: str) -> str:
    """JMESPath for an intrinsic function call such as ``States.Format('{}', $.name)``."""
    expression, end = _call(text, 0, ctx, where)
    if text[end:].strip():
        raise Refused(where, f"{text!r}: unexpected text after the function call: {text[end:].strip()!r}")
    return expression


def _call(text: str, start: int, ctx: Context, where: str) -> tuple[str, int]:
    match = _TOKEN.match(text, start)
    if not match or not match.group("call"):
        raise Refused(where, f"{text!r} is not an intrinsic function call")
    name = match.group("call")
    if name not in _INTRINSICS:
        raise Refused(where, f"{name} has no sedo equivalent (known: {', '.join(sorted(_INTRINSICS))})")
    args: list[str] = []
    raw: list[str] = []
    position = match.end()
    while True:
        token = _TOKEN.match(text, position)
        if token is None:
            raise Refused(where, f"{text!r}: cannot read the arguments of {name}")
        if token.group("punct") == ")" and not args:
            position = token.end()
            break
        argument, position, source = _argument(text, position, ctx, where)
        args.append(argument)
        raw.append(source)
        token = _TOKEN.match(text, position)
        if token is None or token.group("punct") is None:
            raise Refused(where, f"{text!r}: expected ',' or ')' after an argument of {name}")
        position = token.end()
        if token.group("punct") == ")":
            break
    function, counts = _INTRINSICS[name]
    if counts and len(args) not in counts:
        raise Refused(where, f"{name} takes {' or '.join(map(str, counts))} arguments, not {len(args)}")
    if name == "States.Format" and (not args or not raw[0].startswith("'")):
        raise Refused(where, "States.Format needs a literal template string as its first argument")
    if name == "States.Array":
        return "[" + ", ".join(args) + "]" if args else "`[]`", position
    if name == "States.MathRandom" and len(args) == 2:
        args.append("`null`")
    if name == "States.JsonMerge":
        if raw[2] != "false":
            raise Refused(where, "States.JsonMerge merges shallowly only: its third argument must be false")
        args = args[:2]
    return f"{function}({', '.join(args)})", position


def _argument(text: str, position: int, ctx: Context, where: str) -> tuple[str, int, str]:
    token = _TOKEN.match(text, position)
    if token is None:
        raise Refused(where, f"{text!r}: cannot read an argument at character {position}")
    if token.group("call"):
        expression, end = _call(text, position, ctx, where)
        return expression, end, text[position:end]
    source = token.group().strip()
    if token.group("string") is not None:
        body = token.group("string")[1:-1]
        # \' and \\ are the literal's own escapes; \{ and \} stay for States.Format.
        value = re.sub(r"\\(['\\])", r"\1", body)
        return literal(value), token.end(), source
    if token.group("number") is not None:
        return literal(json.loads(token.group("number"))), token.end(), source
    if token.group("word") is not None:
        return literal(json.loads(token.group("word"))), token.end(), source
    if token.group("path") is not None:
        return path_expression(token.group("path"), ctx, where), token.end(), source
    raise Refused(where, f"{text!r}: unexpected {source!r}")


# --- payload templates -----------------------------------------------------------


def is_dynamic(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(str(k).endswith(".$") or is_dynamic(v) for k, v in value.items())
    if isinstance(value, list):
        return any(is_dynamic(v) for v in value)
    return False


def template(value: Any, ctx: Context, where: str) -> str:
    """JMESPath building a payload template (Parameters, ItemSelector, ResultSelector...)."""
    if not is_dynamic(value):
        return literal(value)
    if isinstance(value, list):
        return "[" + ", ".join(template(v, ctx, f"{where}/{i}") for i, v in enumerate(value)) + "]"
    entries: list[str] = []
    names: set[str] = set()
    for key, item in value.items():
        inner = pointer(key)
        name = key[:-2] if key.endswith(".$") else key
        if name in names:
            raise Refused(where + inner, f"the field {name!r} is given twice (with and without .$)")
        names.add(name)
        label = name if _IDENTIFIER.match(name) else json.dumps(name)
        if not key.endswith(".$"):
            entries.append(f"{label}: {template(item, ctx, where + inner)}")
            continue
        if item == "$$.Task.Token" and ctx.task_token:
            ctx.notes.append(
                f"{where + inner}: the task token is not part of the payload; the function receives "
                "{taskToken, executionId, stepId, input} with this payload as input"
            )
            continue
        if not isinstance(item, str):
            raise Refused(where + inner, f"a field ending in .$ needs a path or an intrinsic function, not {item!r}")
        if item.startswith("States."):
            entries.append(f"{label}: {intrinsic(item, ctx, where + inner)}")
        else:
            entries.append(f"{label}: {path_expression(item, ctx, where + inner)}")
    return "{" + ", ".join(entries) + "}" if entries else "`{}`"


def selection(value: Any, ctx: Context, where: str) -> str:
    """A ``.$``-style value on its own (``Payload.$``, ``RequestBody.$``): a path or an intrinsic."""
    if isinstance(value, str) and value.startswith("States."):
        return intrinsic(value, ctx, where)
    return path_expression(value, ctx, where)
