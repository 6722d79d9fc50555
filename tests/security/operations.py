"""Every operation of openapi/sedo.yaml, as requests the security tests can send.

Generated from the spec, so an operation added later is covered by every matrix
without touching the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "sedo.yaml"
METHODS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    path_params: tuple[str, ...]
    body_types: tuple[str, ...]
    body_required: bool
    security: Any

    @property
    def public(self) -> bool:
        return self.security == []

    def url(self, values: dict[str, str]) -> str:
        url = self.path
        for name in self.path_params:
            url = url.replace("{" + name + "}", values.get(name, "x1"))
        return url

    def __str__(self) -> str:
        return self.operation_id


@lru_cache(maxsize=1)
def _spec_text_and_document(text: str) -> dict[str, Any]:
    return dict(yaml.safe_load(text))


def spec() -> dict[str, Any]:
    """The spec as it is now (parsed once per version of the file); callers must not mutate it."""
    return _spec_text_and_document(SPEC_PATH.read_text())


def operations() -> list[Operation]:
    document = spec()
    found = []
    for path, item in document["paths"].items():
        shared = item.get("parameters", [])
        for method in METHODS:
            if method not in item:
                continue
            operation = item[method]
            parameters = [*shared, *operation.get("parameters", [])]
            names = []
            for parameter in parameters:
                if "$ref" in parameter:
                    parameter = document["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
                if parameter["in"] == "path":
                    names.append(parameter["name"])
            body = operation.get("requestBody") or {}
            found.append(
                Operation(
                    operation_id=operation["operationId"],
                    method=method.upper(),
                    path=path,
                    path_params=tuple(names),
                    body_types=tuple(body.get("content", {})),
                    body_required=bool(body.get("required")),
                    security=operation.get("security", document.get("security")),
                )
            )
    return found


PROTECTED = [op for op in operations() if not op.public]
WITH_BODY = [op for op in PROTECTED if op.body_types]
