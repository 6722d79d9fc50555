"""The pure part of maps over S3: finding items in byte ranges, batching, resolving."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sedo.domain.itemreader import ItemReaderError, child_input, children, first_number, scan

JSON = b'[1, {"a": [1, 2, "x,]\\"y"]}, "s\\"q", null, [[]], {"k": "\xc3\xa9"}]'
JSONL = b'{"n": 1}\n\n[2, 3]\r\n"four"\n5'
CSV = b'id,name,note\r\n1,"a, ""b""",plain\r\n2,"two\nlines",x\n\n3,c,\n'


def read_all(fmt: str, data: bytes, step: int, batch: int | None = None) -> list[Any]:
    """Index ``data`` in ranges of ``step`` bytes, as the fan-out does, then resolve every child."""
    offset, number, header, opened, kids = 0, first_number(fmt), None, False, []
    while True:
        end = min(len(data), offset + step)
        found = scan(fmt, data[offset:end], at_start=offset == 0, number=number, final=end >= len(data),
                     header=header, opened=opened)  # fmt: skip
        done, unfinished = children(found.items, found.finished, batch)
        kids += [type(c)(offset + c.start, offset + c.end, c.number, c.count) for c in done]
        header, opened = found.header, found.opened
        if found.finished:
            break
        following = (
            (offset + unfinished.start, unfinished.number) if unfinished else (offset + found.stop, found.number)
        )
        assert following[0] > offset, "no progress"
        offset, number = following
    return [child_input(fmt, data[c.start : c.end], c, header, batch is not None) for c in kids]


@pytest.mark.parametrize("step", [40, 64, 100, 10_000])
def test_a_json_array_read_in_ranges_gives_its_elements(step: int) -> None:
    assert read_all("json", JSON, step) == json.loads(JSON)


@pytest.mark.parametrize("step", [30, 64, 10_000])
def test_json_lines_skip_blank_lines(step: int) -> None:
    assert read_all("jsonl", JSONL, step) == [{"n": 1}, [2, 3], "four", 5]


@pytest.mark.parametrize("step", [40, 64, 10_000])
def test_csv_has_a_header_row_and_rfc4180_quoting(step: int) -> None:
    assert read_all("csv", CSV, step) == [
        {"id": "1", "name": 'a, "b"', "note": "plain"},
        {"id": "2", "name": "two\nlines", "note": "x"},
        {"id": "3", "name": "c", "note": ""},
    ]


@pytest.mark.parametrize("step", [64, 10_000])
def test_batches_hold_up_to_max_items(step: int) -> None:
    batches = read_all("jsonl", b"".join(b"%d\n" % i for i in range(7)), step, batch=3)
    assert batches == [{"items": [0, 1, 2]}, {"items": [3, 4, 5]}, {"items": [6]}]
    assert read_all("json", JSON, step, batch=4) == [{"items": json.loads(JSON)[:4]}, {"items": json.loads(JSON)[4:]}]


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
@pytest.mark.parametrize("data", [b"", b"  \n", b"\xef\xbb\xbf"])
def test_an_empty_object_has_no_items(fmt: str, data: bytes) -> None:
    assert read_all(fmt, data, 100) == []
    assert read_all("json", b" [ ] ", 100) == [] and read_all("csv", b"a,b\n", 100) == []


#: Malformed objects by format: the bytes, and what the error says of them.
MALFORMED: dict[str, list[tuple[bytes, str]]] = {
    "jsonl": [
        (b'{"a": 1}\n{"a": 2}\n{"a": \n', "line 3: not JSON"),
        (b"1\n\nNaN\n", "line 3: not JSON"),
    ],
    "csv": [
        (b"a,b\n1,2\n3\n", "line 3: 1 field(s); the header has 2"),
        (b'a,b\n1,2\n"3,4\n', "line 3: a quoted field is not closed"),
        (b'a,b\n1,"x"y,2\n', "line 2: not a CSV record"),
        (b"a,a\n1,2\n", "line 1: the header row needs distinct"),
    ],
    "json": [
        (b"[1, 2,, 3]", "element 2: an empty element"),
        (b"[1, 2,]", "element 2: an empty element"),
        (b"[1, {bad}]", "element 1: not JSON"),
        (b'{"a": 1}', "a json item source must be a JSON array"),
        (b"[1, 2", "element 1: the array or a string in it is not closed"),
        (b"[1] 2", "text after the end of the array"),
    ],
}


@pytest.mark.parametrize(
    ("fmt", "data", "message"), [(fmt, data, message) for fmt, cases in MALFORMED.items() for data, message in cases]
)
def test_a_malformed_item_is_named_by_its_line_or_element(fmt: str, data: bytes, message: str) -> None:
    for step in (12, 10_000):
        with pytest.raises(ItemReaderError, match=message.replace("(", r"\(").replace(")", r"\)")):
            read_all(fmt, data, step)
