"""Request body validation as Connexion does it, with sedo's problem shape for broken JSON:
a syntax error is a 400 whose ``errors`` names the line and column, like invalid YAML."""

from __future__ import annotations

import json
import typing as t

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import ProblemException
from connexion.validators import FormDataValidator, JSONRequestBodyValidator, MultiPartFormDataValidator


class SedoJSONRequestBodyValidator(JSONRequestBodyValidator):  # type: ignore[misc]
    async def _parse(self, stream: t.AsyncGenerator[bytes, None], scope: t.Any) -> t.Any:
        body = b"".join([message async for message in stream]).decode(self._encoding)
        if not body:
            return None
        try:
            return json.loads(body)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise ProblemException(
                status=400,
                title="bad request",
                detail=f"the body is not valid JSON: {exc.msg} ({where})",
                type="https://sedo.dev/problems/bad-request",
                ext={"errors": [{"path": "/", "message": f"not valid JSON: {exc.msg} ({where})"}]},
            ) from exc


VALIDATOR_MAP = {
    "body": MediaTypeDict(
        {
            "*/*json": SedoJSONRequestBodyValidator,
            "application/x-www-form-urlencoded": FormDataValidator,
            "multipart/form-data": MultiPartFormDataValidator,
        }
    ),
}
