"""DynamoDB's capacity arithmetic: item sizes and the units a read or a write consumes.

Pure. Sizes follow DynamoDB's item-size rules: an attribute costs its name's UTF-8 length plus
its value (S: UTF-8 length; N: one byte per two significant digits, plus one; B: its bytes;
BOOL and NULL: 1; a list or map: 3 bytes plus 1 per element plus the elements; sets: the sum
of their members). A write consumes one WCU per started KB of the item (at least 1), a read 1
RCU per started 4 KB when strongly consistent and half that when eventually consistent;
transactions consume twice as much. The local stack's partition limits
(sedo/entrypoints/local/capacity.py) and the usage ledger's meter (sedo/entrypoints/metering.py)
both count with it.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any

KB = 1024
READ_UNIT_BYTES = 4 * KB


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one AttributeValue (``{"S": "x"}``, ``{"M": {...}}``...) as DynamoDB counts them."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return _number_size(str(inner))
    if kind == "B":
        return _binary_size(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode()) for s in inner)
    if kind == "NS":
        return sum(_number_size(str(n)) for n in inner)
    if kind == "BS":
        return sum(_binary_size(b) for b in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(str(k).encode()) + value_size(v) for k, v in inner.items())
    raise ValueError(f"not a DynamoDB attribute value: {kind!r}")


def item_size(item: Mapping[str, Mapping[str, Any]] | None) -> int:
    """Bytes of an item (attribute names plus values)."""
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def _number_size(text: str) -> int:
    digits = text.lstrip("+-").lower().split("e", 1)[0].replace(".", "").strip("0")
    return (len(digits) + 1) // 2 + 1


def _binary_size(data: Any) -> int:
    if isinstance(data, bytes | bytearray):
        return len(data)
    # On the wire (and in a JSON body) binary values are base64 text.
    return len(base64.b64decode(str(data)))


def write_units(size: int, transactional: bool = False) -> float:
    """WCU of writing an item of ``size`` bytes: 1 per started KB, at least 1; twice in a transaction."""
    units = max(1, math.ceil(size / KB))
    return float(units * (2 if transactional else 1))


def read_units(size: int, consistent: bool = False, transactional: bool = False) -> float:
    """RCU of reading ``size`` bytes: 1 per started 4 KB, at least 1; half when eventually
    consistent; twice (and always consistent) in a transaction."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    if transactional:
        return float(units * 2)
    return float(units) if consistent else units / 2


__all__ = ["KB", "READ_UNIT_BYTES", "item_size", "read_units", "value_size", "write_units"]
