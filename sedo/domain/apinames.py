"""The API's JSON names for the fields of sedo's records: camelCase of the Python names."""

from __future__ import annotations

from typing import Any


def api_name(field: str) -> str:
    """``tenant_id`` -> ``tenantId``."""
    first, *rest = field.split("_")
    return first + "".join(part.capitalize() for part in rest)


def api_fields(record: object, *fields: str) -> dict[str, Any]:
    """``record``'s ``fields``, in that order, under their API names."""
    return {api_name(field): getattr(record, field) for field in fields}
