"""The pure parts of the storage layout (sedo/adapters/dynamodb/layout.py)."""

from __future__ import annotations

import pytest

from sedo.adapters.dynamodb import layout


@pytest.mark.parametrize("total", [1, 15, 16, 17, 1599, 1600, 1601, 3333, 10_000])
def test_buckets_partition_the_iterations_exactly(total: int) -> None:
    members: dict[int, int] = {}
    for index in range(total):
        bucket = layout.bucket_of(index)
        members[bucket] = members.get(bucket, 0) + 1
    assert all(layout.bucket_size(b, total) == n for b, n in members.items())
    assert max(members.values()) <= layout.BUCKET
