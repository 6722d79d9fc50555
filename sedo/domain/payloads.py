"""The claim check: large values of an execution head are kept apart; the head keeps a reference.

A head has **claim positions**: its ``input``, each stash value, its ``output``, and the
``input`` and ``output`` of each pending history event. A value at a position is stored
apart when its compact JSON is larger than :data:`~sedo.domain.limits.CLAIM_THRESHOLD_BYTES`,
or when it has the shape of a reference itself (so every reference found at a position is
one sedo wrote, and a user's value that happens to look like one comes back as it was).
In its place the head holds ``{"sedo:ref": {"sha256": <hex>, "bytes": <n>}}``.

Values are content-addressed per execution: the key is the SHA-256 of the compact JSON,
so storing a value twice (a redelivered wake-up, the input under ``input`` and
``stash.input``, an output kept under its ``resultPath`` and in its event) writes the same
item again at most, and a value that did not change since the head was read is not
written at all. A reference may name another execution of the same tenant (``key``): a
map's child whose result is too large for the fan-out's result item is referenced where
the child stored it.

A reference may also name a **source** (``"source": {...}``): a child of a map over S3 keeps
its input (and so ``stash.input`` and its ExecutionSubmitted event's input, the same value)
where it is in the item source, whatever its size: the object (bucket, key, the ETag the map
pinned), its format, CSV header and batching, and the child's byte range, first item number
and item count (:class:`Source`). Nothing is stored apart for it; resolving reads the range
again and checks its digest and size, so an object changed under the map is an error, never
other data. A value resolved from a source keeps its reference when the head is stored again.

Everything here is pure: :mod:`sedo.service_layer.payloads` does the reads and writes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sedo.domain import limits
from sedo.domain.errors import SedoError
from sedo.domain.execution import Execution

REF_KEY = "sedo:ref"
#: Fields of a history event that are claim positions.
EVENT_FIELDS = ("input", "output")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Source:
    """Where a map-over-S3 child's input is in its item source: the object as the map pinned
    it (``etag``), how it is read (``format``, the CSV ``header``, ``batched`` with an
    itemBatcher), and the child's bytes ``[start, end)``, first item ``number`` and ``count``."""

    bucket: str
    key: str
    etag: str
    format: str
    header: tuple[str, ...] | None
    batched: bool
    start: int
    end: int
    number: int
    count: int

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"bucket": self.bucket, "key": self.key, "etag": self.etag, "format": self.format}
        if self.header is not None:
            body["header"] = list(self.header)
        if self.batched:
            body["batched"] = True
        body["range"] = [self.start, self.end, self.number, self.count]
        return body

    @classmethod
    def from_body(cls, body: Any) -> Source | None:
        """The source ``body`` names, or None when it is not one sedo writes."""
        if not isinstance(body, dict):
            return None
        texts = [body.get(k) for k in ("bucket", "key", "etag", "format")]
        header, batched, span = body.get("header"), body.get("batched", False), body.get("range")
        if not all(isinstance(t, str) for t in texts) or not isinstance(batched, bool):
            return None
        if header is not None and not (isinstance(header, list) and all(isinstance(h, str) for h in header)):
            return None
        if not (isinstance(span, list) and len(span) == 4 and all(_natural(n) for n in span)):
            return None
        bucket, key, etag, fmt = (str(t) for t in texts)
        start, end, number, count = (int(n) for n in span)
        names = tuple(header) if header is not None else None
        return cls(bucket, key, etag, fmt, names, batched, start, end, number, count)

    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key} bytes {self.start}-{self.end}"


def _natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


@dataclass(frozen=True)
class Ref:
    """Where a value kept apart is: its digest and size, and the execution holding it
    (``key``; None: the execution whose head holds the reference), or the item source it
    is read from (``source``: nothing is stored apart)."""

    sha256: str
    bytes: int
    key: str | None = None
    source: Source | None = None

    def to_value(self) -> dict[str, Any]:
        body: dict[str, Any] = {"sha256": self.sha256, "bytes": self.bytes}
        if self.key is not None:
            body["key"] = self.key
        if self.source is not None:
            body["source"] = self.source.to_body()
        return {REF_KEY: body}

    def owner(self, head_key: str) -> str:
        return self.key if self.key is not None else head_key


def looks_like_ref(value: Any) -> bool:
    return isinstance(value, dict) and REF_KEY in value


def as_ref(value: Any) -> Ref | None:
    """The reference ``value`` is, or None when it is a plain value."""
    if not (isinstance(value, dict) and len(value) == 1 and isinstance(value.get(REF_KEY), dict)):
        return None
    body = value[REF_KEY]
    sha, size, key = body.get("sha256"), body.get("bytes"), body.get("key")
    if not (isinstance(sha, str) and _SHA256.match(sha) and isinstance(size, int) and size >= 0):
        return None
    if key is not None and not isinstance(key, str):
        return None
    source = Source.from_body(body["source"]) if "source" in body else None
    if "source" in body and source is None:
        return None
    return Ref(sha, size, key, source)


def encode(value: Any) -> str:
    """The stored form of a value: compact JSON, non-ASCII escaped (so its length is its size)."""
    return json.dumps(value, separators=(",", ":"))


def decode(text: str) -> Any:
    return json.loads(text)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _capped_size(value: Any, cap: int) -> int | None:
    """The stored size of ``value``, or None past ``cap`` (walked only up to the cap)."""
    if value is None or isinstance(value, bool | int | float):
        return len(json.dumps(value))
    try:
        return limits.measure(value, cap, max_depth=10**6)
    except SedoError:
        return None


#: The stored size of a reference: a value stored apart costs the head this much.
REF_BYTES = len(encode(Ref("0" * 64, 10**9).to_value()))


def stored_apart(value: Any) -> bool:
    """Whether a value at a claim position is kept apart from the head."""
    return looks_like_ref(value) or _capped_size(value, limits.CLAIM_THRESHOLD_BYTES) is None


def position_cost(value: Any) -> int:
    """What a value at a claim position adds to the stored head (at most :data:`REF_BYTES` if
    it is kept apart), computed without serialising more than the threshold of it."""
    if looks_like_ref(value):
        ref = as_ref(value)  # a source reference weighs what it names (a CSV header: up to 16 KiB)
        return len(encode(value)) if ref is not None and ref.source is not None else REF_BYTES
    size = _capped_size(value, limits.CLAIM_THRESHOLD_BYTES)
    return REF_BYTES if size is None else size


def event_cost(event: Mapping[str, Any]) -> int:
    """What one history event adds to the stored head."""
    rest = {k: v for k, v in event.items() if k not in EVENT_FIELDS}
    cost = (_capped_size(rest, limits.MAX_HEAD_BYTES) or limits.MAX_HEAD_BYTES) + 1
    return cost + sum(position_cost(event[f]) + len(f) + 4 for f in EVENT_FIELDS if f in event)


def head_cost_without_stash(head: Execution) -> int:
    """The stored size of the head without its stash and pending events (their costs are
    kept apart by the segment as they change)."""
    bare = replace(head, input=None, output=None, stash={}, pending_events=[])
    return len(encode(bare.to_document())) + position_cost(head.input) + position_cost(head.output)


# --- hydration: references -> values ------------------------------------------------


@dataclass
class Claims:
    """What hydrating a head resolved: each value it put in place of a reference (by
    identity, so an unchanged value keeps its reference without being serialised again),
    and the digests the execution's store holds already (no write needed)."""

    resolved: dict[int, tuple[Any, Ref]] = field(default_factory=dict)
    stored: set[tuple[str, str]] = field(default_factory=set)
    #: Values an item source holds, by digest: an equal value is referenced there too.
    sources: dict[str, Ref] = field(default_factory=dict)

    def remember(self, value: Any, ref: Ref, head_key: str) -> None:
        self.resolved[id(value)] = (value, ref)
        if ref.source is not None:  # the store does not hold it: it is read from the source
            self.sources[ref.sha256] = ref
        else:
            self.stored.add((ref.owner(head_key), ref.sha256))

    @classmethod
    def at_source(cls, value: Any, source: Source, head_key: str) -> Claims:
        """Claims that ``value`` (a new child's input) is at ``source``, whatever its size, when
        it is an object or an array. A number, string, boolean or null stays inline: it is small,
        and may be the very object other positions hold (``stash.index`` 0 and an item 0)."""
        claims = cls()
        if isinstance(value, dict | list):
            text = encode(value)
            claims.remember(value, Ref(digest(text), len(text), source=source), head_key)
        return claims

    def ref_for(self, value: Any) -> Ref | None:
        entry = self.resolved.get(id(value))
        return entry[1] if entry is not None and entry[0] is value else None


def head_refs(head: Execution) -> list[Ref]:
    """The references a wake-up must resolve to run the head: its input, stash and output."""
    found = [as_ref(head.input), as_ref(head.output), *(as_ref(v) for v in head.stash.values())]
    return _unique(r for r in found if r is not None)


def event_refs(events: Iterable[Mapping[str, Any]]) -> list[Ref]:
    return _unique(r for e in events for f in EVENT_FIELDS if f in e and (r := as_ref(e[f])) is not None)


def _unique(refs: Iterable[Ref]) -> list[Ref]:
    return list(dict.fromkeys(refs))


Texts = Mapping[tuple[str, str], str]
"""Stored values by (owning execution key, digest)."""


class _Resolver:
    """Decodes each stored value once, so a value referenced twice is one object."""

    def __init__(self, head_key: str, texts: Texts, claims: Claims | None) -> None:
        self.head_key = head_key
        self.texts = texts
        self.claims = claims
        self.values: dict[tuple[str, str], Any] = {}

    def __call__(self, value: Any) -> Any:
        ref = as_ref(value)
        if ref is None:
            return value
        where = (ref.owner(self.head_key), ref.sha256)
        if where not in self.values:
            if where not in self.texts:
                raise KeyError(f"value {ref.sha256} of execution {where[0]} is not stored")
            self.values[where] = decode(self.texts[where])
            if self.claims is not None:
                self.claims.remember(self.values[where], ref, self.head_key)
        return self.values[where]


def hydrate(head: Execution, texts: Texts, claims: Claims) -> Execution:
    """The head with the references of its input, stash and output replaced by their values.
    The references of its pending events stay (the engine starts new events), and are
    remembered so that dehydrating the head keeps them as they are."""
    for event in head.pending_events:
        for name in EVENT_FIELDS:
            ref = as_ref(event.get(name))
            if ref is not None:
                claims.remember(event[name], ref, head.key)
    resolve = _Resolver(head.key, texts, claims)
    return replace(
        head,
        input=resolve(head.input),
        output=resolve(head.output),
        stash={k: resolve(v) for k, v in head.stash.items()},
    )


def hydrate_events(head_key: str, events: list[dict[str, Any]], texts: Texts) -> list[dict[str, Any]]:
    resolve = _Resolver(head_key, texts, None)
    return [{**e, **{f: resolve(e[f]) for f in EVENT_FIELDS if f in e}} for e in events]


def hydrate_value(head_key: str, value: Any, texts: Texts, claims: Claims | None = None) -> Any:
    return _Resolver(head_key, texts, claims)(value)


# --- dehydration: values -> references ----------------------------------------------


def dehydrate(head: Execution, claims: Claims | None = None) -> tuple[Execution, dict[str, str]]:
    """The head as stored, and the values it keeps apart that the store does not hold yet
    (digest -> stored text). ``claims``: what hydration resolved (an unchanged value keeps
    its reference; a known digest is not written again)."""
    claims = claims or Claims()
    new: dict[str, str] = {}
    made: dict[int, tuple[Any, dict[str, Any]]] = {}

    def claim(value: Any) -> Any:
        known = claims.ref_for(value)
        if known is not None:
            return known.to_value()
        if id(value) in made and made[id(value)][0] is value:
            return made[id(value)][1]
        if not stored_apart(value):
            return value
        text = encode(value)
        sha = digest(text)
        at_source = claims.sources.get(sha)
        if at_source is None and (head.key, sha) not in claims.stored:
            new[sha] = text
        reference = (at_source or Ref(sha, len(text))).to_value()
        made[id(value)] = (value, reference)
        return reference

    return _map_positions(head, claim), new


def _map_positions(head: Execution, claim: Callable[[Any], Any]) -> Execution:
    return replace(
        head,
        input=claim(head.input),
        output=claim(head.output),
        stash={k: claim(v) for k, v in head.stash.items()},
        pending_events=[{**e, **{f: claim(e[f]) for f in EVENT_FIELDS if f in e}} for e in head.pending_events],
    )


def stored_head_bytes(head: Execution) -> int:
    """The size of a head as stored (compact JSON of its document)."""
    return len(encode(head.to_document()))


__all__ = [
    "EVENT_FIELDS",
    "REF_BYTES",
    "REF_KEY",
    "Claims",
    "Ref",
    "Source",
    "as_ref",
    "decode",
    "dehydrate",
    "digest",
    "encode",
    "event_cost",
    "event_refs",
    "head_cost_without_stash",
    "head_refs",
    "hydrate",
    "hydrate_events",
    "hydrate_value",
    "looks_like_ref",
    "position_cost",
    "stored_apart",
    "stored_head_bytes",
]
