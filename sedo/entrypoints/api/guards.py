"""Request bodies, checked before anything parses them (ASGI middleware).

Connexion parses JSON bodies to validate them, and ``json.loads`` recurses once per
nesting level; a handler parses YAML. This middleware runs first (after
authentication): it reads the body up to :data:`~sedo.domain.limits.MAX_REQUEST_BYTES`
(413 past it, whether or not ``Content-Length`` says so) and refuses JSON that nests
deeper than :data:`~sedo.domain.limits.MAX_DEPTH` (400), then replays the body to
the rest of the stack. The errors are sedo's own, so they render as problem+json.
"""

from __future__ import annotations

from typing import Any

from sedo.domain import limits
from sedo.domain.errors import BadRequest, TooLarge

Scope = dict[str, Any]
Message = dict[str, Any]


class PathGuard:
    """Refuse paths with control characters (``%0A`` and friends) before routing.

    Connexion's router (Starlette, whose ``.*`` stops at a newline) and Flask's (Werkzeug)
    disagree on such paths: Flask dispatched to an operation Connexion had not routed,
    which crashed with a 500. No sedo id may contain them, so this is a 400.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and any(ord(c) < 0x20 or ord(c) == 0x7F for c in scope.get("path", "")):
            raise BadRequest("the path contains control characters; ids never do")
        await self.app(scope, receive, send)


class BodyGuard:
    def __init__(self, app: Any, max_bytes: int = limits.MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> TooLarge:
        return TooLarge(
            f"the request body is larger than {limits.size_text(self.max_bytes)}; definitions may be at most "
            f"{limits.size_text(limits.MAX_DEFINITION_BYTES)} (as compact JSON)"
        )

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        content_type = ""
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise BadRequest("the Content-Length header is not a number") from None
                if declared > self.max_bytes:
                    raise self._too_large()
            elif name == b"content-type":
                content_type = value.decode("latin-1").lower()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and "json" in content_type and limits.json_text_too_deep(body):
            raise limits.TooDeep(f"the body nests objects and arrays more than {limits.MAX_DEPTH} levels deep")

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # type: ignore[no-any-return]

        await self.app(scope, replay, send)
