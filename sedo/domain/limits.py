"""What sedo accepts, in one place: sizes, nesting, expression and schema limits.

Every limit here exists so that no request and no workflow can make sedo run
unbounded or produce a record its stores cannot hold:

- a DynamoDB item holds at most 400 KB (the execution head, a definition version,
  a history segment); an SQS message at most 256 KB;
- JSON and YAML parsers, the definition validator and JMESPath recurse, so nesting
  is capped well below Python's recursion limit;
- a tenant's ``inputSchema`` runs on every execution's input, so it is checked when
  it is stored (size, depth, regular expressions that can backtrack for ever,
  references that never end) and evaluated under a step budget.

The checks are pure functions of their arguments: the API, the definition language,
the engine and the step library call them. Sizes are measured as sedo stores values:
compact JSON with non-ASCII characters escaped (``json.dumps(v, separators=(",", ":"))``).

Nothing here evaluates user text as code: JMESPath and JSON Schema are data
languages, and regular expressions are only compiled after the checks below.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from sedo.domain.errors import BadRequest, TooLarge

KIB = 1024

MIB = 1024 * KIB

#: An HTTP request body (JSON or YAML), before parsing. On AWS a request reaches the API
#: function through API Gateway (10 MB payloads) as a synchronous Lambda invocation, whose
#: event (headers, request context and the body as an escaped JSON string) may be at most
#: 6 MB: 5 MiB of body leaves room for the rest. sedo stops here, so a body is never
#: buffered or parsed beyond what can reach it on AWS.
MAX_REQUEST_BYTES = 5 * MIB
#: A definition, as stored (compact JSON): one DynamoDB item per version.
MAX_DEFINITION_BYTES = 256 * KIB
#: An execution's input (compact JSON). Values larger than CLAIM_THRESHOLD_BYTES are kept
#: apart from the execution head (the claim check, sedo/domain/payloads.py), so the input is
#: bounded by what one wake-up holds in memory, not by an item. Through the API it is also
#: bounded by MAX_REQUEST_BYTES.
MAX_INPUT_BYTES = 10 * MIB
#: One value a step writes into the stash (its output, an error), or a callback's output.
MAX_STASH_VALUE_BYTES = 10 * MIB
#: The whole execution head (state, stash, outbox, pending events), as stored. DynamoDB's
#: item limit is 400 KB including attribute names and keys; this leaves room for them.
MAX_HEAD_BYTES = 350 * KIB
#: A value at a claim position of the head (the input, a stash value, the output, an event's
#: input or output) larger than this (compact JSON) is stored apart and referenced.
CLAIM_THRESHOLD_BYTES = 4 * KIB
#: A value stored apart up to this size is an item of the executions table; a larger one an
#: object in the payload bucket (S3).
MAX_ITEM_PAYLOAD_BYTES = 300 * KIB
#: A segment stops (and goes on in a ``continue`` wake-up) before a step once its history
#: events take this much of the head; they are flushed at each commit.
MAX_SEGMENT_EVENTS_BYTES = 64 * KIB
#: What one step may add to the head besides its stash value: its events, the output, the
#: outbox. A stash value fails its step with States.PayloadTooLarge when the head without
#: its events would pass MAX_HEAD_BYTES - MAX_SEGMENT_EVENTS_BYTES - MAX_STEP_SLACK_BYTES.
MAX_STEP_SLACK_BYTES = 32 * KIB

#: Nesting of JSON/YAML documents and values: objects and arrays inside each other.
MAX_DEPTH = 64

#: A bearer token (the Authorization value after ``Bearer``): longer ones are refused
#: before any parsing (sedo/auth/verifier.py).
MAX_TOKEN_LENGTH = 16 * KIB
#: The lifetime of a token ``sedo token`` mints for the local stack (sedo/auth/local.py).
MAX_LOCAL_TTL_SECONDS = 366 * 86400

#: JMESPath expressions: length, and nesting of brackets/parentheses.
MAX_EXPRESSION_LENGTH = 4096
MAX_EXPRESSION_DEPTH = 32

#: ``inputSchema``: size (compact JSON), nesting, regular expressions, and the number of
#: keyword evaluations one validation may take (JSON Schema's ``anyOf``/``$ref`` can
#: otherwise combine into exponential work).
MAX_SCHEMA_BYTES = 64 * KIB
MAX_SCHEMA_DEPTH = 32
MAX_PATTERN_LENGTH = 1024
MAX_SCHEMA_STEPS = 100_000
#: A reference costs more than other keywords (it is resolved each time): it counts as this many steps.
MAX_SCHEMA_REF_STEPS = 25

#: Steps in one definition (or one nested step list of a map or parallel).
MAX_STEPS = 500
#: Branches of one parallel step.
MAX_BRANCHES = 100
#: Items one map step iterates over, and the iterations it may run at once.
MAX_MAP_ITEMS = 100_000
MAX_MAP_CONCURRENCY = 10_000
#: Maps over S3 (a map's ``itemReader``, ``itemBatcher``, ``resultWriter``): the bytes one
#: wake-up reads while it indexes the object (a ranged GetObject), the largest item (a JSON
#: element, a JSON line, a CSV record), the items and bytes of one batch, the bytes of one
#: ranged read that resolves a fan-out page's children, and the lines of one results object.
MAX_ITEM_READER_SCAN_BYTES = 1 * MIB
MAX_ITEM_READER_ITEM_BYTES = 256 * KIB
MAX_ITEM_BATCH_ITEMS = 10_000
MAX_ITEM_BATCH_BYTES = 256 * KIB
MAX_ITEM_READER_RANGE_BYTES = 8 * MIB
MAX_RESULT_OBJECT_LINES = 1000
#: The header row of a CSV item source, as carried in the scan's cursor.
MAX_CSV_HEADER_BYTES = 16 * KIB
#: The longest wait step: one year (and a day), long enough for any workflow, short enough to catch typos.
MAX_WAIT_SECONDS = 366 * 24 * 3600
#: A synchronous invoke waits at most this long for its target (longer: ``waitForCompletion``).
MAX_SYNC_TIMEOUT_SECONDS = 60
#: A request or response body of an invoke step: Lambda's synchronous payload limit (6 MB).
#: A large result is kept apart from the execution head like any large stash value.
MAX_INVOKE_PAYLOAD_BYTES = 6 * MIB
#: A completion call travels in one SQS message (256 KiB at most); an output that would make
#: it larger is stored apart first and the message carries its reference.
MAX_SIGNAL_BYTES = 200 * KIB
#: sedo's own JMESPath functions: the longest array ``range`` and ``partition`` build, and
#: the longest string ``format`` builds.
MAX_FUNCTION_ITEMS = 1000
MAX_FUNCTION_STRING = 262_144
#: The cause of a failure as sedo keeps it (in events, the stash of a catch, the head): an
#: error message may quote the data it failed on, so longer causes are cut.
MAX_CAUSE_CHARS = 4096
#: SQS's longest message timer; longer waits re-arm.
MAX_SQS_DELAY_SECONDS = 900

# -- operating executions (issue 18: aliases, pause/resume, search attributes, bulk) ----
#: Versions one alias may route to, and aliases per definition.
MAX_ALIAS_ROUTES = 2
MAX_ALIASES = 20
#: Search attributes one definition may declare, and the longest value indexed (a longer
#: one, or one that is not a string, number or boolean, is not indexed).
MAX_SEARCH_ATTRIBUTES = 10
MAX_SEARCH_VALUE_CHARS = 256
#: Wake-ups a paused execution holds (callback completions, fan-ins); more are re-armed.
MAX_HELD_MESSAGES = 20
#: A held message's compact JSON at most this large; a larger one is re-armed instead.
MAX_HELD_MESSAGE_BYTES = 8 * KIB
#: How long a wake-up that a paused execution cannot hold waits before it comes back.
MAX_PAUSED_REARM_SECONDS = 60
#: Executions one bulk-operation wake-up acts on (a bounded batch), and the filter's attributes.
MAX_BULK_BATCH = 25
MAX_BULK_FILTER_ATTRIBUTES = 5
#: The refusals a bulk operation keeps, to show which executions failed and why (the rest are counted).
MAX_BULK_ERRORS_SHOWN = 10


class TooDeep(BadRequest):
    title = "too deeply nested"


# --- sizes and nesting of values ----------------------------------------------------


def _scalar_size(value: Any) -> int:
    if value is None or value is True:
        return 4
    if value is False:
        return 5
    kind = type(value)
    if kind is str:
        # printable ASCII without a quote or backslash is written as it is (json.dumps escapes
        # everything outside " "-"~"); anything else is measured by json itself
        if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
            return len(value) + 2
        return len(json.dumps(value))
    if kind is int:
        return len(str(value))
    if kind is float and math.isfinite(value):
        return len(repr(value))
    if isinstance(value, (str, int, float)):
        return len(json.dumps(value))
    return len(json.dumps(str(value)))


def measure(value: Any, max_bytes: int, max_depth: int = MAX_DEPTH, what: str = "the value") -> int:
    """The compact-JSON size of ``value``; :class:`TooLarge` / :class:`TooDeep` past the limits.

    Walks the value without serialising it and stops as soon as a limit is passed, so
    it is cheap even for values built to be huge (a JMESPath result that repeats the
    same list many times is measured by reference, and abandoned at ``max_bytes``).
    """
    total = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            depth += 1
            if depth > max_depth:
                raise TooDeep(f"{what} nests objects and arrays more than {max_depth} levels deep")
            total += 1 + max(1, len(node))  # braces and commas
            for key, child in node.items():
                total += _scalar_size(key if isinstance(key, str) else str(key)) + 1
                stack.append((child, depth))
        elif isinstance(node, (list, tuple)):
            depth += 1
            if depth > max_depth:
                raise TooDeep(f"{what} nests objects and arrays more than {max_depth} levels deep")
            total += 1 + max(1, len(node))
            stack.extend((child, depth) for child in node)
        elif isinstance(node, str) and len(node) > max_bytes:
            total += len(node)
        else:
            total += _scalar_size(node)
        if total > max_bytes:
            raise TooLarge(f"{what} is larger than {size_text(max_bytes)} as JSON; make it smaller")
    return total


def depth_of(value: Any) -> int:
    """How deeply objects and arrays nest in ``value`` (a scalar is 0, ``[]`` is 1)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
            deepest = max(deepest, depth + 1)
        elif isinstance(node, (list, tuple)):
            stack.extend((child, depth + 1) for child in node)
            deepest = max(deepest, depth + 1)
    return deepest


def size_text(n: int) -> str:
    """A size as sedo's messages give it: ``5 MiB``, ``64 KiB``, ``1000 bytes``."""
    if n % MIB == 0:
        return f"{n // MIB} MiB"
    return f"{n // KIB} KiB" if n % KIB == 0 else f"{n} bytes"


def clip_cause(cause: str) -> str:
    """A failure's cause, cut to :data:`MAX_CAUSE_CHARS` (saying so)."""
    if len(cause) <= MAX_CAUSE_CHARS:
        return cause
    return cause[: MAX_CAUSE_CHARS - 30] + f"... ({len(cause) - MAX_CAUSE_CHARS + 30} more characters)"


def check_input(value: Any) -> None:
    measure(value, MAX_INPUT_BYTES, MAX_DEPTH, "the execution input")


def check_stash_value(value: Any, what: str = "the step's result") -> None:
    """For the engine and step library: before a value goes into the stash."""
    measure(value, MAX_STASH_VALUE_BYTES, MAX_DEPTH, what)


# --- text, before it is parsed ----------------------------------------------------

# A JSON string (with escapes), or one bracket. Strings are matched whole so the
# brackets inside them do not count.
_JSON_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
_OPEN = frozenset(b"[{")


def json_text_too_deep(text: bytes | str, max_depth: int = MAX_DEPTH) -> bool:
    """Whether JSON text nests deeper than ``max_depth``; a linear scan, no parsing.

    ``json.loads`` recurses once per level, so this runs first: a body of 100 000
    ``[`` is refused in microseconds instead of exhausting the stack.
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return False
    depth = 0
    for match in _JSON_TOKENS.finditer(data):
        first = data[match.start()]
        if first in _OPEN:
            depth += 1
            if depth > max_depth:
                return True
        elif first != 0x22:  # a closing bracket
            depth -= 1
    return False


# --- JMESPath -----------------------------------------------------------------------

# JMESPath quoting: 'raw strings', "quoted identifiers" and `JSON literals`.
_EXPRESSION_TOKENS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[\[\]{}()`]")


def expression_problem(text: Any) -> str | None:
    """Why a JMESPath expression may not be stored, or None when it may.

    Checks length and nesting before compiling (the parser recurses), then compiles.
    Evaluation is bounded by the data it runs on; callers then check the size of the
    result with :func:`check_stash_value` before storing it (an expression such as
    ``[@, @] | [@, @] | ...`` doubles its input at each stage).
    """
    if not isinstance(text, str):
        return "an expression must be a string"
    if len(text) > MAX_EXPRESSION_LENGTH:
        return f"the expression is {len(text)} characters long; at most {MAX_EXPRESSION_LENGTH} are allowed"
    depth = 0
    in_literal = False
    for match in _EXPRESSION_TOKENS.finditer(text):
        lexeme = match.group()
        if lexeme == "`":
            in_literal = not in_literal
            continue
        first = lexeme[0]
        if first in "'\"":
            continue
        if first in "[{(":
            depth += 1
            if depth > MAX_EXPRESSION_DEPTH:
                return f"the expression nests brackets more than {MAX_EXPRESSION_DEPTH} levels deep"
        else:
            depth -= 1
    import jmespath
    from jmespath.exceptions import JMESPathError

    try:
        jmespath.compile(text)
    except JMESPathError as exc:
        return "not a valid JMESPath expression: " + " ".join(str(exc).split())
    except RecursionError:  # pragma: no cover - the depth check comes first
        return f"the expression nests more than {MAX_EXPRESSION_DEPTH} levels deep"
    return None


# -- tenants: quotas and the usage ledger (sedo/service_layer/quotas.py, usage.py) --------------

#: Running executions one counter shard holds (a set of keys: about 30 bytes each, so a shard
#: stays within one write unit); a tenant's running count spreads over max/this shards...
MAX_RUNNING_PER_SHARD = 32
#: ...and at most this many (past 256 x 32 running, shards hold more).
MAX_RUNNING_SHARDS = 256
#: Starts a second one token-bucket shard admits; faster quotas spread over more shards...
MAX_STARTS_PER_SHARD = 100
#: ...at most this many.
MAX_START_SHARDS = 16
#: The usage ledger's shards per tenant: a batch's counts land on one of them at random. A
#: ledger write is 1-2 WCU per Lambda batch, so 16 keep a tenant's ledger under 1,000 WCU/s per
#: key past 10,000 transitions/s (bench/README.md, perTenant). Reads sum every shard, so a
#: ledger written with fewer shards (8 before) reads whole.
MAX_USAGE_SHARDS = 16
#: The days one usage request may span.
MAX_USAGE_DAYS = 93
#: The largest quota an admin may set (each of the three).
MAX_QUOTA_VALUE = 1_000_000


__all__ = [
    "CLAIM_THRESHOLD_BYTES",
    "MAX_DEFINITION_BYTES",
    "MAX_DEPTH",
    "MAX_EXPRESSION_DEPTH",
    "MAX_EXPRESSION_LENGTH",
    "MAX_HEAD_BYTES",
    "MAX_INPUT_BYTES",
    "MAX_ITEM_PAYLOAD_BYTES",
    "MAX_PATTERN_LENGTH",
    "MAX_QUOTA_VALUE",
    "MAX_REQUEST_BYTES",
    "MAX_RUNNING_PER_SHARD",
    "MAX_RUNNING_SHARDS",
    "MAX_SCHEMA_BYTES",
    "MAX_STARTS_PER_SHARD",
    "MAX_START_SHARDS",
    "MAX_STASH_VALUE_BYTES",
    "MAX_USAGE_DAYS",
    "MAX_USAGE_SHARDS",
    "TooDeep",
    "TooLarge",
    "check_input",
    "check_stash_value",
    "depth_of",
    "expression_problem",
    "json_text_too_deep",
    "measure",
    "size_text",
]

# --- events (issue 15: EventBridge triggers, emit and event steps) ---------------------------
#: A trigger's or event step's pattern as compact JSON (EventBridge's own limit for a rule's pattern).
MAX_EVENT_PATTERN_BYTES = 4096
#: Triggers one definition may declare.
MAX_TRIGGERS = 20
#: Events one event step may wait for (its output holds them all).
MAX_EVENT_COUNT = 100
#: How far back an event step may look for events that arrived before it waited.
MAX_LOOKBACK_SECONDS = 24 * 3600
#: Events per POST .../events (EventBridge's PutEvents takes at most 10 entries).
MAX_EVENTS_PER_PUT = 10
#: An event's detail as compact JSON (EventBridge's entry limit is 256 KB).
MAX_EVENT_DETAIL_BYTES = 200 * KIB
#: How long the events handler trusts its cached trigger index (seconds).
TRIGGER_CACHE_SECONDS = 10
#: Fields one event step may correlate on.
MAX_CORRELATE_FIELDS = 10
#: An event kept in an item (the lookback log, a step's receipt) beyond this keeps only its envelope.
MAX_EVENT_ITEM_BYTES = 300 * KIB
#: How long a rejected trigger stays visible to its tenant (seconds).
REJECTED_TRIGGER_TTL_SECONDS = 14 * 86400
