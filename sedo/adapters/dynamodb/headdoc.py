"""How an execution head's document is stored: its ``doc`` attribute.

DynamoDB bills a write unit per started KB of the larger of the item before and after, and
every commit rewrites the whole head. A head is compact JSON with repeated names (its
pending events, its outbox, its input under ``input`` and ``stash.input``), so it deflates
well: the README example's heads go from 1.0-1.4 KB to about 0.45 KB, one write unit a
commit instead of two. ``doc`` is therefore a binary attribute holding the zlib stream of
the document's compact JSON when that is smaller, else the JSON as a string (a tiny or
incompressible head). Reading accepts both, so heads written before compression still load.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from sedo.domain.execution import Execution

#: zlib's level: the heads are small; 6 (the default) is as good as 9 for them and faster.
LEVEL = 6


def doc_value(document: dict[str, Any]) -> dict[str, Any]:
    """The ``doc`` attribute value of a head document."""
    text = json.dumps(document, separators=(",", ":")).encode()
    packed = zlib.compress(text, LEVEL)
    return {"B": packed} if len(packed) < len(text) else {"S": text.decode()}


def document_of(item: dict[str, Any]) -> dict[str, Any]:
    """The head document an item holds (compressed or not)."""
    value = item["doc"]
    if "B" in value:
        return dict(json.loads(zlib.decompress(value["B"])))
    return dict(json.loads(value["S"]))


def head_of(item: dict[str, Any]) -> Execution:
    """The head an item holds."""
    return Execution.from_document(document_of(item))
