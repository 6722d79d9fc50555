"""Timestamps: UTC, RFC 3339, millisecond precision."""

from __future__ import annotations

import re
from datetime import UTC, datetime

#: RFC 3339 date-time (section 5.6): a full date, 'T', a full time and a zone; nothing else
#: of ISO 8601 (week dates, ordinal dates, basic format, missing seconds) is accepted.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$",
)


def format_ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_ts(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (a time zone is required); ValueError otherwise."""
    if not isinstance(text, str) or not _RFC3339.match(text):
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    normalized = text.upper().replace("Z", "+00:00")
    if "." in normalized:  # Python takes at most 6 fractional digits
        head, _, rest = normalized.partition(".")
        digits = re.match(r"\d+", rest)
        assert digits is not None
        normalized = f"{head}.{digits.group()[:6].ljust(6, '0')}{rest[len(digits.group()) :]}"
    try:
        return datetime.fromisoformat(normalized).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"not a valid timestamp: {text!r} ({exc})") from exc
