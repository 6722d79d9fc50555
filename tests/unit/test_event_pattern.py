"""EventBridge event patterns (sedo/domain/events/pattern.py): matching and validation."""

from __future__ import annotations

from typing import Any

import pytest

from sedo.domain.events.pattern import matches, pattern_problems

EVENT: dict[str, Any] = {
    "id": "e-1",
    "source": "shop.orders",
    "detail-type": "OrderPlaced",
    "resources": ["sedo:tenant/123"],
    "detail": {
        "orderId": "o-42",
        "amount": 120.5,
        "items": 3,
        "tags": ["gift", "express"],
        "customer": {"tier": "gold", "email": "Ann@Example.com"},
        "lines": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 1}],
        "coupon": None,
        "paid": False,
        "ip": "10.0.3.7",
    },
}

MATCHING = [
    {"source": ["shop.orders"]},
    {"source": ["other", "shop.orders"], "detail-type": ["OrderPlaced"]},
    {"detail": {"orderId": ["o-42"]}},
    {"detail": {"amount": [120.5]}},
    {"detail": {"items": [3.0]}},  # numbers compare as numbers
    {"detail": {"tags": ["express"]}},  # an array field matches when any element does
    {"detail": {"customer": {"tier": ["gold"]}}},
    {"detail": {"lines": {"sku": ["B2"]}}},  # a nested pattern over an array of objects
    {"detail": {"coupon": [None]}},
    {"detail": {"paid": [False]}},
    {"detail": {"orderId": [{"prefix": "o-"}]}},
    {"detail": {"orderId": [{"suffix": "42"}]}},
    {"detail": {"customer": {"email": [{"equals-ignore-case": "ann@example.com"}]}}},
    {"detail": {"customer": {"email": [{"prefix": {"equals-ignore-case": "ANN@"}}]}}},
    {"detail": {"orderId": [{"wildcard": "o-*2"}]}},
    {"detail": {"customer": {"tier": [{"anything-but": ["silver", "bronze"]}]}}},
    {"detail": {"customer": {"tier": [{"anything-but": "silver"}]}}},
    {"detail": {"orderId": [{"anything-but": {"prefix": "x-"}}]}},
    {"detail": {"amount": [{"numeric": [">", 100, "<=", 200]}]}},
    {"detail": {"items": [{"numeric": ["=", 3]}]}},
    {"detail": {"orderId": [{"exists": True}]}},
    {"detail": {"refund": [{"exists": False}]}},
    {"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}},
    {"$or": [{"source": ["nope"]}, {"detail": {"items": [3]}}]},
    {"resources": [{"prefix": "sedo:tenant/"}]},
]

NOT_MATCHING = [
    {"source": ["shop.payments"]},
    {"source": ["shop.orders"], "detail-type": ["OrderShipped"]},  # every field must match
    {"detail": {"orderId": ["O-42"]}},  # exact values are case-sensitive
    {"detail": {"items": ["3"]}},  # a string is not a number
    {"detail": {"missing": ["x"]}},  # a missing field matches only exists: false
    {"detail": {"missing": [{"anything-but": "x"}]}},
    {"detail": {"missing": [None]}},  # null matches a null value, not a missing one
    {"detail": {"orderId": [{"exists": False}]}},
    {"detail": {"customer": {"tier": [{"anything-but": ["gold"]}]}}},
    {"detail": {"orderId": [{"anything-but": {"prefix": "o-"}}]}},
    {"detail": {"amount": [{"numeric": [">", 200]}]}},
    {"detail": {"amount": [{"numeric": [">=", 0, "<", 120.5]}]}},
    {"detail": {"orderId": [{"numeric": [">", 0]}]}},  # numeric needs a number
    {"detail": {"paid": [0]}},  # false is not 0
    {"detail": {"orderId": [{"prefix": "x"}]}},
    {"detail": {"items": [{"prefix": "3"}]}},  # prefix needs a string
    {"detail": {"orderId": [{"wildcard": "o-*3"}]}},
    {"detail": {"ip": [{"cidr": "10.1.0.0/16"}]}},
    {"detail": {"lines": {"sku": ["C3"]}}},
    {"detail": {"orderId": {"nested": ["x"]}}},  # a nested pattern over a string
    {"$or": [{"source": ["a"]}, {"source": ["b"]}]},
]


@pytest.mark.parametrize("pattern", MATCHING)
def test_matches(pattern: dict[str, Any]) -> None:
    assert pattern_problems(pattern) == []
    assert matches(pattern, EVENT)


@pytest.mark.parametrize("pattern", NOT_MATCHING)
def test_does_not_match(pattern: dict[str, Any]) -> None:
    assert pattern_problems(pattern) == []
    assert not matches(pattern, EVENT)


def test_exists_false_on_a_missing_object() -> None:
    assert matches({"detail": {"refund": {"amount": [{"exists": False}]}}}, EVENT)
    assert not matches({"detail": {"refund": {"amount": [1]}}}, EVENT)


@pytest.mark.parametrize(
    ("pattern", "path", "words"),
    [
        ([], "", "is an object"),
        ({}, "", "at least one field"),
        ({"source": "shop.orders"}, "/source", "array"),
        ({"source": []}, "/source", "empty array"),
        ({"detail": {}}, "/detail", "at least one field"),
        ({"detail": {"a": [{"prefix": 1}]}}, "/detail/a/0/prefix", "string"),
        ({"detail": {"a": [{"prefix": "x", "suffix": "y"}]}}, "/detail/a/0", "exactly one"),
        ({"detail": {"a": [{"regex": "x"}]}}, "/detail/a/0/regex", "unknown content filter"),
        ({"detail": {"a": [{"numeric": [">", "1"]}]}}, "/detail/a/0/numeric/1", "number"),
        ({"detail": {"a": [{"numeric": [">>", 1]}]}}, "/detail/a/0/numeric/0", "operator"),
        ({"detail": {"a": [{"numeric": [">", 1, ">", 2]}]}}, "/detail/a/0/numeric", "one lower"),
        ({"detail": {"a": [{"numeric": [">", 1, "<"]}]}}, "/detail/a/0/numeric", "[op, n]"),
        ({"detail": {"a": [{"numeric": ["<", 1e10]}]}}, "/detail/a/0/numeric/1", "between"),
        ({"detail": {"a": [{"exists": "yes"}]}}, "/detail/a/0/exists", "true or false"),
        ({"detail": {"a": [{"anything-but": {"wildcard": "x"}}]}}, "/detail/a/0/anything-but", "prefix"),
        ({"detail": {"a": [{"anything-but": [{"x": 1}]}]}}, "/detail/a/0/anything-but/0", "strings or numbers"),
        ({"detail": {"a": [{"cidr": "not-a-net"}]}}, "/detail/a/0/cidr", "IP network"),
        ({"detail": {"a": [{"wildcard": "a**"}]}}, "/detail/a/0/wildcard", "two *"),
        ({"detail": {"a": [["x"]]}}, "/detail/a/0", "content filter"),
        ({"$or": [{"source": ["x"]}]}, "/$or", "at least two"),
        ({"$or": [{"source": ["x"]}, {}]}, "/$or/1", "non-empty"),
        ({"detail": {"a~b/c": ["x", {"prefix": 2}]}}, "/detail/a~0b~1c/1/prefix", "string"),
        ({"detail": {"a": ["x" * 5000]}}, "", "at most 4096"),
    ],
)
def test_bad_patterns_name_their_path(pattern: Any, path: str, words: str) -> None:
    problems = pattern_problems(pattern)
    assert problems, pattern
    assert problems[0].path == path
    assert words in problems[0].message


def test_every_problem_at_once() -> None:
    problems = pattern_problems({"source": "x", "detail": {"a": [{"exists": 1}], "b": []}})
    assert [p.path for p in problems] == ["/source", "/detail/a/0/exists", "/detail/b"]
