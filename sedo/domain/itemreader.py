"""A map's items read from S3 (``itemReader``), the pure part: where each item is, and what it is.

An item source is a JSON array, JSON Lines (one value a line, blank lines skipped) or CSV
with a header row (RFC 4180 quoting: a quoted field may hold commas, quotes as ``""`` and
line breaks; each record becomes an object keyed by the header). It is never read whole:

- **indexing** (:func:`scan`) reads a byte range at a time and finds the items that end in
  it, validating each (a malformed one is an :class:`ItemReaderError` naming its line or
  element); :func:`children` groups them into the map's children (one item each, or batches
  of ``itemBatcher.maxItems``), each child a :class:`Child`: the byte range of its items,
  the number (line or element) of its first one and how many it holds;
- **resolving** (:func:`child_input`) parses one child's bytes back into its input.

Offsets are bytes of the object, so a later ranged read fetches exactly a child's items.
The I/O is :mod:`sedo.service_layer.itemsource`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from sedo.domain.limits import MAX_CSV_HEADER_BYTES, MAX_ITEM_BATCH_BYTES, MAX_ITEM_READER_ITEM_BYTES

FORMATS = ("json", "jsonl", "csv")
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"
#: The tokens that matter to find a JSON array's elements: strings (whose brackets and commas
#: do not count; group 1 is None when the string is cut off) and the structural characters.
_JSON_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(")?|[\[\]{},]', re.DOTALL)


class ItemReaderError(ValueError):
    """A malformed item source; ``where`` names the line (JSONL, CSV) or element (JSON)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where


@dataclass(frozen=True)
class Found:
    """One item of a buffer: its bytes ``[start, end)``, its number, and where the next begins."""

    start: int
    end: int
    number: int
    after: int
    number_after: int
    #: the item as parsed while scanning (JSON and JSON Lines; a CSV record is built on use)
    value: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Scanned:
    """What :func:`scan` found in a buffer: the complete items, where the scan stopped (the
    offset and number the next scan starts at), whether the source ended in this buffer, the
    CSV header once read, and whether a JSON array's ``[`` was passed."""

    items: list[Found]
    stop: int
    number: int
    finished: bool
    header: list[str] | None = None
    opened: bool = False


@dataclass(frozen=True)
class Child:
    """One child of a map over an item source: its items' bytes ``[start, end)`` of the object,
    the number of its first item and how many items it has."""

    start: int
    end: int
    number: int
    count: int

    def to_list(self) -> list[int]:
        return [self.start, self.end, self.number, self.count]

    @classmethod
    def from_list(cls, value: list[int]) -> Child:
        start, end, number, count = (int(v) for v in value)
        return cls(start, end, number, count)


def first_number(fmt: str) -> int:
    """The number of a source's first item: elements count from 0, lines from 1."""
    return 0 if fmt == "json" else 1


def where(fmt: str, number: int) -> str:
    return f"element {number}" if fmt == "json" else f"line {number}"


def scan(
    fmt: str,
    buf: bytes,
    *,
    at_start: bool,
    number: int,
    final: bool,
    header: list[str] | None = None,
    opened: bool = False,
) -> Scanned:
    """The complete items of ``buf``, bytes of the source from an item boundary on (or its start,
    ``at_start``); ``final`` when ``buf`` reaches the source's end. Offsets are ``buf``'s."""
    pos = len(_BOM) if at_start and buf.startswith(_BOM) else 0
    if fmt == "json":
        return _scan_json(buf, pos, number, final, opened or not at_start)
    if fmt == "jsonl":
        return _scan_jsonl(buf, pos, number, final)
    if fmt == "csv":
        return _scan_csv(buf, pos, number, final, header)
    raise ValueError(f"unknown item source format {fmt!r}")


def children(
    found: list[Found], finished: bool, max_items: int | None, max_bytes: int = MAX_ITEM_BATCH_BYTES
) -> tuple[list[Child], Found | None]:
    """Group items into children: one each (``max_items`` None), or batches of at most
    ``max_items`` items and ``max_bytes`` bytes. A batch still open at the end of an unfinished
    source is left out, and its first item returned: the next scan starts there."""
    if max_items is None:
        return [Child(f.start, f.end, f.number, 1) for f in found], None
    done: list[Child] = []
    batch: list[Found] = []
    for item in found:
        if batch and (len(batch) >= max_items or item.end - batch[0].start > max_bytes):
            done.append(Child(batch[0].start, batch[-1].end, batch[0].number, len(batch)))
            batch = []
        batch.append(item)
    if batch and (finished or len(batch) >= max_items):
        done.append(Child(batch[0].start, batch[-1].end, batch[0].number, len(batch)))
        batch = []
    return done, (batch[0] if batch else None)


def child_input(fmt: str, data: bytes, child: Child, header: list[str] | None, batched: bool) -> Any:
    """A child's input from its bytes: its item, or ``{"items": [...]}`` with a batcher."""
    if fmt == "json":
        data += b"]"  # the bytes are elements and separators inside the array
    scanned = scan(fmt, data, at_start=False, number=child.number, final=True, header=header, opened=True)
    if fmt == "csv":
        items: list[Any] = [_record(data[f.start : f.end], f.number, header) for f in scanned.items]
    else:
        items = [f.value for f in scanned.items]  # parsed by the scan
    if len(items) != child.count:
        raise ItemReaderError(where(fmt, child.number), f"expected {child.count} item(s), found {len(items)}")
    return {"items": items} if batched else items[0]


def batched(items: list[Any], max_items: int) -> list[dict[str, Any]]:
    """The children of a map with a batcher over items it selected itself."""
    return [{"items": items[i : i + max_items]} for i in range(0, len(items), max_items)]


# -- JSON array --------------------------------------------------------------------------------


def _scan_json(buf: bytes, pos: int, number: int, final: bool, opened: bool) -> Scanned:
    items: list[Found] = []
    if not opened:
        pos = _skip(buf, pos)
        if pos >= len(buf):
            return Scanned([], pos if final else 0, number, final)  # an empty object: no items
        if buf[pos : pos + 1] != b"[":
            raise ItemReaderError("byte 0", "a json item source must be a JSON array")
        pos += 1
    begin, depth = pos, 0
    for match in _JSON_TOKEN.finditer(buf, pos):
        token = match.group(0)
        if token[:1] == b'"':
            if match.group(1) is None:
                break  # a string cut off by the end of the buffer
            continue
        if token in (b"[", b"{"):
            depth += 1
            continue
        if depth > 0 and token != b",":
            depth -= 1
            continue
        if depth > 0:
            continue
        if token == b"}":
            raise ItemReaderError(where("json", number), "a '}' without its '{'")
        start, end = _strip(buf, begin, match.start())
        if start < end:
            _check_size(end - start, "json", number)
            value = _loads(buf[start:end], where("json", number))
            items.append(Found(start, end, number, match.end(), number + 1, value))
            number += 1
        elif token == b"," or number > 0:
            raise ItemReaderError(where("json", number), "an empty element (two commas, or a comma before ']')")
        begin = match.end()
        if token == b"]":
            if final and _skip(buf, begin) < len(buf):
                raise ItemReaderError(where("json", number), "text after the end of the array")
            return Scanned(items, len(buf), number, True, opened=True)
    if final:
        raise ItemReaderError(where("json", number), "the array or a string in it is not closed")
    _check_size(len(buf) - begin, "json", number, cut=True)
    return Scanned(items, begin, number, False, opened=True)


# -- JSON Lines ----------------------------------------------------------------------------------


def _scan_jsonl(buf: bytes, pos: int, number: int, final: bool) -> Scanned:
    items: list[Found] = []
    while pos < len(buf):
        newline = buf.find(b"\n", pos)
        if newline < 0 and not final:
            _check_size(len(buf) - pos, "jsonl", number, cut=True)
            break
        end = after = len(buf) if newline < 0 else newline
        after = end if newline < 0 else newline + 1
        start, end = _strip(buf, pos, end)
        if start < end:
            _check_size(end - start, "jsonl", number)
            value = _loads(buf[start:end], where("jsonl", number))
            items.append(Found(start, end, number, after, number + 1, value))
        number, pos = number + 1, after
    return Scanned(items, pos, number, final and pos >= len(buf))


# -- CSV with a header row -------------------------------------------------------------------------


def _scan_csv(buf: bytes, pos: int, number: int, final: bool, header: list[str] | None) -> Scanned:
    items: list[Found] = []
    while pos < len(buf):
        record = _csv_record(buf, pos, number, final)
        if record is None:
            break
        end, after, lines = record
        if buf[pos:end].strip(_WHITESPACE):
            if header is None:
                if end - pos > MAX_CSV_HEADER_BYTES:
                    raise ItemReaderError(where("csv", number), f"the header is over {MAX_CSV_HEADER_BYTES} bytes")
                header = _header(_fields(buf[pos:end], number), number)
            else:
                _check_size(end - pos, "csv", number)
                _record(buf[pos:end], number, header)
                items.append(Found(pos, end, number, after, number + lines))
        number, pos = number + lines, after
    return Scanned(items, pos, number, final and pos >= len(buf), header)


def _csv_record(buf: bytes, pos: int, number: int, final: bool) -> tuple[int, int, int] | None:
    """The end of the record at ``pos`` (a line break outside quotes), where the next begins,
    and the lines it spans; None when it runs past the buffer."""
    quotes, scan_from, lines = 0, pos, 0
    while True:
        newline = buf.find(b"\n", scan_from)
        stop = len(buf) if newline < 0 else newline
        quotes += buf.count(b'"', scan_from, stop)
        lines += 1
        if newline >= 0 and quotes % 2 == 0:
            end = newline - 1 if newline > pos and buf[newline - 1 : newline] == b"\r" else newline
            return end, newline + 1, lines
        if newline < 0:
            if not final:
                _check_size(len(buf) - pos, "csv", number, cut=True)
                return None
            if quotes % 2:
                raise ItemReaderError(where("csv", number), "a quoted field is not closed")
            return len(buf), len(buf), lines
        scan_from = newline + 1


def _fields(raw: bytes, number: int) -> list[str]:
    try:
        text = raw.decode("utf-8")
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ItemReaderError(where("csv", number), f"not a CSV record: {exc}") from None
    if len(rows) != 1:  # pragma: no cover - a record is cut at line breaks outside quotes
        raise ItemReaderError(where("csv", number), "not one CSV record")
    return rows[0]


def _header(fields: list[str], number: int) -> list[str]:
    if any(not name for name in fields) or len(set(fields)) != len(fields):
        raise ItemReaderError(where("csv", number), "the header row needs distinct, non-empty column names")
    return fields


def _record(raw: bytes, number: int, header: list[str] | None) -> dict[str, str]:
    fields = _fields(raw, number)
    if header is None or len(fields) != len(header):
        columns = len(header) if header is not None else 0
        raise ItemReaderError(where("csv", number), f"{len(fields)} field(s); the header has {columns}")
    return dict(zip(header, fields, strict=True))


# -- helpers ---------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _loads(raw: bytes, at: str) -> Any:
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ItemReaderError(at, f"not JSON: {exc}") from None


def _skip(buf: bytes, pos: int) -> int:
    while pos < len(buf) and buf[pos] in _WHITESPACE:
        pos += 1
    return pos


def _strip(buf: bytes, start: int, end: int) -> tuple[int, int]:
    while start < end and buf[start] in _WHITESPACE:
        start += 1
    while end > start and buf[end - 1] in _WHITESPACE:
        end -= 1
    return start, end


def _check_size(size: int, fmt: str, number: int, cut: bool = False) -> None:
    if size > MAX_ITEM_READER_ITEM_BYTES:
        what = "is still not complete after" if cut else "is"
        raise ItemReaderError(
            where(fmt, number),
            f"the item {what} {size} bytes; at most {MAX_ITEM_READER_ITEM_BYTES} are read as one item",
        )
