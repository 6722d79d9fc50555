"""Objects of maps over S3 (item sources, results), and in-memory stand-ins for unit tests.

Reads are ranged GetObject calls guarded by the ETag the map saw when it began, so a
source replaced while its map runs fails the step instead of mixing two versions. Writes
are plain PutObject calls of fixed keys: a repeated write stores the same bytes again.

An answer that is only for now (SlowDown past S3's 5,500 reads a second per prefix, a 5xx)
is raised as it is, not as :class:`ObjectError`: the wake-up is retried like any throttled
one (sedo/entrypoints/processor.py) instead of failing its map.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from sedo.adapters.aws import transient
from sedo.service_layer.itemsource import ObjectError


class S3Objects:
    def __init__(self, s3: Callable[[], Any]) -> None:
        #: Makes the S3 client on first use: most wake-ups never need it, so cold starts skip it.
        self._factory = s3
        self._s3: Any = None

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = self._factory()
        return self._s3

    def head(self, bucket: str, key: str) -> tuple[int, str]:
        try:
            response = self.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if transient(exc):
                raise
            raise ObjectError(_reason(exc, "cannot be read")) from None
        return int(response["ContentLength"]), str(response["ETag"])

    def get_range(self, bucket: str, key: str, start: int, end: int, etag: str) -> bytes:
        if end <= start:
            return b""
        try:
            response = self.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}", IfMatch=etag)
        except ClientError as exc:
            if transient(exc):
                raise
            raise ObjectError(_reason(exc, "cannot be read")) from None
        body: bytes = response["Body"].read()
        return body

    def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        try:
            self.s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
        except ClientError as exc:
            if transient(exc):
                raise
            raise ObjectError(_reason(exc, "cannot be written")) from None


def _reason(exc: ClientError, what: str) -> str:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    if code in ("PreconditionFailed", "412"):
        return "the object changed since the map began reading it"
    if code in ("NoSuchKey", "404", "NotFound"):
        return "no such object"
    if code == "NoSuchBucket":
        return "no such bucket"
    if code in ("AccessDenied", "403", "Forbidden"):
        return f"access denied: the object {what} by this deployment"
    return f"the object {what}: {code} {error.get('Message', '')}".strip()


class MemoryObjects:
    """Objects in a dict, with the ETag and ranges S3 gives."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.buckets: set[str] = set()

    def head(self, bucket: str, key: str) -> tuple[int, str]:
        body = self._get(bucket, key)
        return len(body), _etag(body)

    def get_range(self, bucket: str, key: str, start: int, end: int, etag: str) -> bytes:
        body = self._get(bucket, key)
        if _etag(body) != etag:
            raise ObjectError("the object changed since the map began reading it")
        return body[start:end]

    def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        if bucket not in self.buckets:
            raise ObjectError("no such bucket")
        self.objects[(bucket, key)] = bytes(body)

    def _get(self, bucket: str, key: str) -> bytes:
        if (bucket, key) not in self.objects:
            raise ObjectError("no such object")
        return self.objects[(bucket, key)]


def _etag(body: bytes) -> str:
    return f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'


class MemoryItemIndex:
    def __init__(self) -> None:
        self.chunks: dict[tuple[str, str, int, int], list[list[int]]] = {}

    def put(self, tenant_id: str, parent_key: str, instance: int, chunk: int, entries: list[list[int]]) -> None:
        self.chunks[(tenant_id, parent_key, instance, chunk)] = copy.deepcopy(entries)

    def get(self, tenant_id: str, parent_key: str, instance: int, chunks: Sequence[int]) -> dict[int, list[list[int]]]:
        return {
            c: copy.deepcopy(self.chunks[(tenant_id, parent_key, instance, c)])
            for c in chunks
            if (tenant_id, parent_key, instance, c) in self.chunks
        }
