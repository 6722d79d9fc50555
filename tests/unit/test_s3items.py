"""The S3 adapter of maps over S3 (sedo/adapters/s3items.py): what can never succeed is an
ObjectError that fails the map step, naming why; what is only for now stays retryable."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from sedo.adapters.aws import throttled, transient
from sedo.adapters.s3items import S3Objects
from sedo.service_layer.itemsource import ObjectError


def error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


class Failing:
    def __init__(self, exc: ClientError) -> None:
        self.exc = exc

    def __getattr__(self, name: str) -> Any:
        def call(**_: Any) -> Any:
            raise self.exc

        return call


def calls(objects: S3Objects) -> list[Any]:
    return [
        lambda: objects.head("b", "k"),
        lambda: objects.get_range("b", "k", 0, 10, '"e"'),
        lambda: objects.put("b", "k", b"x", "application/json"),
    ]


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        ("PreconditionFailed", 412, "changed since the map began"),
        ("NoSuchKey", 404, "no such object"),
        ("AccessDenied", 403, "access denied"),
    ],
)
def test_what_can_never_succeed_is_an_object_error_naming_why(code: str, status: int, reason: str) -> None:
    objects = S3Objects(lambda: Failing(error(code, status)))
    for call in calls(objects):
        with pytest.raises(ObjectError, match=reason):
            call()


@pytest.mark.parametrize(("code", "status"), [("SlowDown", 503), ("InternalError", 500), ("ServiceUnavailable", 503)])
def test_what_is_only_for_now_is_raised_as_it_is_for_a_retry(code: str, status: int) -> None:
    objects = S3Objects(lambda: Failing(error(code, status)))
    for call in calls(objects):
        with pytest.raises(ClientError) as caught:
            call()
        assert transient(caught.value)
        assert throttled(caught.value) == (code == "SlowDown")
