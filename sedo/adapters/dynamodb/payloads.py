"""Values kept apart from execution heads: items of the executions table, or S3 objects.

A value of execution ``<executionKey>`` whose stored text is at most
:data:`~sedo.domain.limits.MAX_ITEM_PAYLOAD_BYTES` is the item ``pk=<tenant>#<executionKey>#v``,
``sk=<sha256>`` with the text in ``v``; a larger one is the object
``<tenant>/<executionKey>/<sha256>.json`` of the payload bucket. A reference carries the
value's size, so a reader knows where to look without asking. Both writes are plain puts of
content-addressed keys: a repeated write stores the same bytes again, nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sedo.adapters.dynamodb.common import _n, _s
from sedo.domain.limits import MAX_ITEM_PAYLOAD_BYTES, MAX_WAIT_SECONDS


class PayloadBucketMissing(RuntimeError):
    """A value too large for an item, and no payload bucket configured (SEDO_PAYLOAD_BUCKET)."""


class DynamoPayloadStore:
    def __init__(
        self,
        client: Any,
        table: str,
        s3: Callable[[], Any] | None = None,
        bucket: str = "",
        retention_days: int = 0,
    ) -> None:
        self.client = client
        self.table = table
        #: Makes the S3 client on first use: most executions never need it, so cold starts skip it.
        self._s3_factory = s3
        self._s3: Any = None
        self.bucket = bucket
        #: Values expire (DynamoDB TTL; the bucket's lifecycle rule) this long after they are
        #: written: the retention plus the longest wait, as history written before the end.
        self.retention_seconds = retention_days * 86400

    @staticmethod
    def _pk(tenant_id: str, key: str) -> dict[str, str]:
        return _s(f"{tenant_id}#{key}#v")

    @staticmethod
    def _object_key(tenant_id: str, key: str, sha: str) -> str:
        return f"{tenant_id}/{key}/{sha}.json"

    @property
    def s3(self) -> Any:
        if self._s3_factory is None or not self.bucket:
            raise PayloadBucketMissing(
                f"a value larger than {MAX_ITEM_PAYLOAD_BYTES // 1024} KiB needs the payload bucket "
                "(SEDO_PAYLOAD_BUCKET), and none is configured"
            )
        if self._s3 is None:
            self._s3 = self._s3_factory()
        return self._s3

    def put(self, tenant_id: str, key: str, values: Mapping[str, str]) -> None:
        for sha, text in values.items():
            if len(text) > MAX_ITEM_PAYLOAD_BYTES:
                self.s3.put_object(
                    Bucket=self.bucket,
                    Key=self._object_key(tenant_id, key, sha),
                    Body=text.encode("ascii"),
                    ContentType="application/json",
                )
                continue
            item = {"pk": self._pk(tenant_id, key), "sk": _s(sha), "v": _s(text)}
            if self.retention_seconds:
                item["expiresAt"] = _n(int(time.time()) + self.retention_seconds + MAX_WAIT_SECONDS)
            self.client.put_item(TableName=self.table, Item=item)

    def get(self, tenant_id: str, wanted: Sequence[tuple[str, str, int]]) -> dict[tuple[str, str], str]:
        found: dict[tuple[str, str], str] = {}
        in_table = [(key, sha) for key, sha, size in wanted if size <= MAX_ITEM_PAYLOAD_BYTES]
        for start in range(0, len(in_table), 100):
            keys = [{"pk": self._pk(tenant_id, key), "sk": _s(sha)} for key, sha in in_table[start : start + 100]]
            pending: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
            while pending:
                response = self.client.batch_get_item(RequestItems=pending)
                for item in response.get("Responses", {}).get(self.table, []):
                    key = item["pk"]["S"][len(tenant_id) + 1 : -len("#v")]
                    found[(key, item["sk"]["S"])] = item["v"]["S"]
                pending = response.get("UnprocessedKeys") or {}
        for key, sha, size in wanted:
            if size <= MAX_ITEM_PAYLOAD_BYTES:
                continue
            try:
                response = self.s3.get_object(Bucket=self.bucket, Key=self._object_key(tenant_id, key, sha))
            except self.s3.exceptions.NoSuchKey:
                continue
            found[(key, sha)] = response["Body"].read().decode("ascii")
        return found
