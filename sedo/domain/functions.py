"""sedo's own JMESPath functions, beside the standard ones.

Each is pure and bounded (no I/O, no unbounded output), so expressions stay data. They
cover what JMESPath alone cannot say: JSON text in and out, string formatting and
splitting, glob matching, timestamps, presence of a path (as opposed to a null value),
setting a value at a path, and a few array and math helpers. ``uuid`` and
``random_int`` are the only ones whose result is not a function of their arguments.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import uuid as _uuid
from typing import Any

from jmespath import functions
from jmespath.exceptions import JMESPathError

from sedo.domain.limits import MAX_FUNCTION_ITEMS, MAX_FUNCTION_STRING
from sedo.domain.timefmt import parse_ts

HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


class FunctionError(JMESPathError):
    """A sedo function given arguments it cannot work with."""


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _integral(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise FunctionError(f"{what} must be an integer, not {_compact(value)}")
    return int(value)


class SedoFunctions(functions.Functions):
    @functions.signature({"types": ["string"]}, {"types": [], "variadic": True})
    def _func_format(self, template: str, *args: Any) -> str:
        """``{}`` takes the next argument (strings as they are, other values as JSON);
        ``\\{``, ``\\}`` and ``\\\\`` are literal braces and backslash."""
        out: list[str] = []
        used = 0
        i = 0
        while i < len(template):
            char = template[i]
            if char == "\\" and i + 1 < len(template) and template[i + 1] in "{}\\":
                out.append(template[i + 1])
                i += 2
                continue
            if template.startswith("{}", i):
                if used >= len(args):
                    raise FunctionError(f"format: the template has more {{}} than the {len(args)} arguments")
                arg = args[used]
                out.append(arg if isinstance(arg, str) else _compact(arg))
                used += 1
                i += 2
                continue
            out.append(char)
            i += 1
        if used != len(args):
            raise FunctionError(f"format: {len(args)} arguments for {used} {{}} in the template")
        text = "".join(out)
        if len(text) > MAX_FUNCTION_STRING:
            raise FunctionError(f"format: the result is longer than {MAX_FUNCTION_STRING} characters")
        return text

    @functions.signature({"types": []})
    def _func_to_json(self, value: Any) -> str:
        """The value as compact JSON text (a string too: ``"a"`` becomes ``"\\"a\\""``)."""
        return _compact(value)

    @functions.signature({"types": ["string"]})
    def _func_from_json(self, text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise FunctionError(f"from_json: not JSON text: {exc}") from exc

    @functions.signature()
    def _func_uuid(self) -> str:
        """A random version 4 UUID."""
        return str(_uuid.uuid4())

    @functions.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_add(self, a: Any, b: Any) -> Any:
        """The sum; integers stay integers."""
        total = a + b
        return int(total) if isinstance(a, int) and isinstance(b, int) else total

    @functions.signature({"types": ["number"]}, {"types": ["number"]}, {"types": ["number", "null"]})
    def _func_random_int(self, start: Any, end: Any, seed: Any) -> int:
        """An integer in [start, end); with a (non-null) seed, always the same one."""
        low, high = _integral(start, "random_int start"), _integral(end, "random_int end")
        if high <= low:
            raise FunctionError("random_int: end must be greater than start")
        generator = random.Random(_integral(seed, "random_int seed")) if seed is not None else random.SystemRandom()
        return generator.randrange(low, high)

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_split(self, text: str, delimiters: str) -> list[str]:
        """Split at every character of ``delimiters``; empty pieces are dropped."""
        if not delimiters:
            raise FunctionError("split: give at least one delimiter character")
        pieces: list[str] = []
        current: list[str] = []
        for char in text:
            if char in delimiters:
                if current:
                    pieces.append("".join(current))
                current = []
            else:
                current.append(char)
        if current:
            pieces.append("".join(current))
        return pieces

    @functions.signature({"types": ["array"]}, {"types": ["number"]})
    def _func_partition(self, items: list[Any], size: Any) -> list[list[Any]]:
        """Chunks of ``size`` items (the last may be shorter)."""
        n = _integral(size, "partition size")
        if n < 1:
            raise FunctionError("partition: the size must be at least 1")
        return [items[i : i + n] for i in range(0, len(items), n)]

    @functions.signature({"types": ["number"]}, {"types": ["number"]}, {"types": ["number"]})
    def _func_range(self, start: Any, end: Any, step: Any) -> list[int]:
        """Integers from ``start`` to ``end`` inclusive, ``step`` apart."""
        first, last, by = _integral(start, "range start"), _integral(end, "range end"), _integral(step, "range step")
        if by == 0:
            raise FunctionError("range: the step must not be 0")
        values = range(first, last + (1 if by > 0 else -1), by)
        if len(values) > MAX_FUNCTION_ITEMS:
            raise FunctionError(f"range: {len(values)} items; at most {MAX_FUNCTION_ITEMS}")
        return list(values)

    @functions.signature({"types": ["array"]})
    def _func_unique(self, items: list[Any]) -> list[Any]:
        """The items without repeats, first occurrences in order."""
        seen: set[str] = set()
        kept: list[Any] = []
        for item in items:
            key = json.dumps(item, sort_keys=True)
            if key not in seen:
                seen.add(key)
                kept.append(item)
        return kept

    @functions.signature({"types": ["array"]}, {"types": ["number"]})
    def _func_item_at(self, items: list[Any], index: Any) -> Any:
        i = _integral(index, "item_at index")
        if not 0 <= i < len(items):
            raise FunctionError(f"item_at: index {i} is outside the array of {len(items)} items")
        return items[i]

    @functions.signature({"types": ["string"]})
    def _func_base64_encode(self, text: str) -> str:
        return base64.b64encode(text.encode()).decode("ascii")

    @functions.signature({"types": ["string"]})
    def _func_base64_decode(self, text: str) -> str:
        try:
            return base64.b64decode(text, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise FunctionError(f"base64_decode: not base64-encoded UTF-8: {exc}") from exc

    @functions.signature({"types": ["string"]}, {"types": ["string"]})
    def _func_hash(self, text: str, algorithm: str) -> str:
        """Hex digest with MD5, SHA-1, SHA-256, SHA-384 or SHA-512."""
        name = HASHES.get(algorithm)
        if name is None:
            raise FunctionError(f"hash: unknown algorithm {algorithm!r} (one of {', '.join(HASHES)})")
        return hashlib.new(name, text.encode(), usedforsecurity=False).hexdigest()

    @functions.signature({"types": []}, {"types": []}, {"types": ["string", "number"], "variadic": True})
    def _func_set_path(self, document: Any, value: Any, *keys: Any) -> Any:
        """A copy of ``document`` with ``value`` at the path of object keys, objects created
        on the way; a non-object on the way is an error."""
        if not keys:
            return value
        if not isinstance(document, dict):
            raise FunctionError(f"set_path: cannot set {keys[0]!r} on {_compact(document)[:80]}")
        copy = dict(document)
        inner = copy.get(keys[0]) if keys[0] in copy else {}
        copy[str(keys[0])] = self._func_set_path(inner, value, *keys[1:])
        return copy

    @functions.signature({"types": []}, {"types": ["string", "number"], "variadic": True})
    def _func_has_path(self, value: Any, *parts: Any) -> bool:
        """True when the path of object keys (strings) and array indices (numbers) exists,
        even if it holds null."""
        for part in parts:
            if isinstance(part, str) and isinstance(value, dict) and part in value:
                value = value[part]
            elif not isinstance(part, str) and isinstance(value, list) and 0 <= int(part) < len(value):
                value = value[int(part)]
            else:
                return False
        return True

    @functions.signature({"types": []}, {"types": ["string"]})
    def _func_glob_match(self, text: Any, pattern: str) -> bool:
        """``*`` matches any characters; ``\\*`` and ``\\\\`` are literal. False for non-strings."""
        if not isinstance(text, str):
            return False
        tokens: list[str | None] = []  # None: a wildcard
        i = 0
        while i < len(pattern):
            if pattern[i] == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "*\\":
                tokens.append(pattern[i + 1])
                i += 2
            else:
                tokens.append(None if pattern[i] == "*" else pattern[i])
                i += 1
        return _glob(tokens, text)

    @functions.signature({"types": []})
    def _func_epoch_seconds(self, text: Any) -> float | None:
        """Seconds since 1970 of an RFC 3339 timestamp; null for anything else."""
        try:
            return parse_ts(text).timestamp()
        except ValueError:
            return None

    @functions.signature({"types": ["array"]}, {"types": []})
    def _func_items_with(self, items: list[Any], context: Any) -> list[dict[str, Any]]:
        """``[{value, index, context}]`` per item: lets ``map(&...)`` see more than the item."""
        return [{"value": item, "index": i, "context": context} for i, item in enumerate(items)]


def _glob(tokens: list[str | None], text: str) -> bool:
    """Iterative wildcard matching (no backtracking blow-up)."""
    t = s = 0
    star = -1
    mark = 0
    while s < len(text):
        if t < len(tokens) and tokens[t] is not None and tokens[t] == text[s]:
            t += 1
            s += 1
        elif t < len(tokens) and tokens[t] is None:
            star, mark = t, s
            t += 1
        elif star >= 0:
            t = star + 1
            mark += 1
            s = mark
        else:
            return False
    while t < len(tokens) and tokens[t] is None:
        t += 1
    return t == len(tokens)


FUNCTIONS = SedoFunctions()
#: Names an expression may call: JMESPath's own and sedo's.
FUNCTION_NAMES = frozenset(FUNCTIONS.FUNCTION_TABLE)
