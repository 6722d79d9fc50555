"""Request validation as Connexion does it, with sedo's problem shape and words.

Connexion stops at the first bad parameter and answers with ``str(ValidationError)``:
the schema and the instance dumped, under ``about:blank``. These validators check
the same things against the same spec but report every violation at once, as
``errors`` (``{"in", "parameter", "message"}`` for parameters, ``{"path", "message"}``
with a JSON Pointer for bodies), with a ``detail`` that says what to change. Broken
JSON is a 400 whose ``errors`` names the line and column, like invalid YAML; an empty
body is fine where the spec says the body is optional.
"""

from __future__ import annotations

import copy
import json
import typing as t

from connexion.datastructures import MediaTypeDict
from connexion.exceptions import ProblemException
from connexion.json_schema import Draft4RequestValidator
from connexion.lifecycle import ConnexionRequest
from connexion.validators import (
    FormDataValidator,
    JSONRequestBodyValidator,
    MultiPartFormDataValidator,
    ParameterValidator,
)
from jsonschema import Draft4Validator, ValidationError
from starlette.datastructures import Headers

PROBLEM_BASE = "https://sedo.dev/problems/"
BAD_REQUEST = PROBLEM_BASE + "bad-request"
INVALID_PARAMETERS = PROBLEM_BASE + "invalid-parameters"


def _show(value: t.Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


_TYPES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "an object",
    "array": "an array",
    "null": "null",
}

# validator -> (the bound in words, what follows the limit)
_BOUNDS = {
    "minimum": ("at least", ", not {value}"),
    "maximum": ("at most", ", not {value}"),
    "minLength": ("at least", " characters long"),
    "maxLength": ("at most", " characters long"),
}


def describe(error: ValidationError) -> str:
    """One violation in words: what is wrong and what would be right (never the schema dump)."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    value = error.instance
    kind = error.validator
    if kind == "type":
        expected = schema.get("type")
        names = [expected] if isinstance(expected, str) else list(expected or [])
        wanted = " or ".join(_TYPES.get(n, n) for n in names)
        bounds = []
        if "minimum" in schema:
            bounds.append(f"at least {schema['minimum']}")
        if "maximum" in schema:
            bounds.append(f"at most {schema['maximum']}")
        extra = f" ({', '.join(bounds)})" if bounds else ""
        return f"must be {wanted}{extra}, not {_show(value)}"
    if kind in _BOUNDS:
        bound, unit = _BOUNDS[kind]
        return f"must be {bound} {schema.get(kind)}{unit.format(value=_show(value))}"
    if kind == "enum":
        choices = ", ".join(str(c) for c in schema.get("enum", []))
        return f"must be one of {choices}; {_show(value)} is not"
    if kind == "pattern":
        return f"{_show(value)} does not match the pattern {schema.get('pattern')}"
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return f"needs the property {missing!r}"
    if kind == "additionalProperties":
        allowed = ", ".join(sorted(schema.get("properties", {}))) or "none"
        known = set(schema.get("properties", {}))
        unknown = sorted(str(k) for k in (value if isinstance(value, dict) else {}) if k not in known)
        listed = ", ".join(repr(k) for k in unknown)
        return f"has unknown {'property' if len(unknown) == 1 else 'properties'} {listed} (allowed: {allowed})"
    if kind in ("minItems", "maxItems", "minProperties", "maxProperties"):
        return error.message.replace(_show(value), "the value", 1) if len(_show(value)) > 40 else error.message
    return error.message


def _pointer(error: ValidationError) -> str:
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in error.absolute_path]
    return "/" + "/".join(parts) if parts else "/"


def _bad_request(detail: str, errors: list[dict[str, str]], type_: str = BAD_REQUEST) -> ProblemException:
    return ProblemException(status=400, title="bad request", detail=detail, type=type_, ext={"errors": errors})


class SedoParameterValidator(ParameterValidator):  # type: ignore[misc]
    """Every bad query, path or header parameter at once, each named and explained."""

    def validate_request(self, request: ConnexionRequest) -> None:
        errors: list[dict[str, str]] = []
        if self.strict_validation:
            known = [p["name"] for p in self.parameters.get("query", [])] + list(self.security_query_params)
            # A parameter with ``x-sedo-prefix`` stands for every name with that prefix (attr.<name>).
            prefixes = tuple(p["x-sedo-prefix"] for p in self.parameters.get("query", []) if "x-sedo-prefix" in p)
            extra = self.validate_query_parameter_list(request, security_params=self.security_query_params)
            for name in sorted(n for n in extra if not (prefixes and n.startswith(prefixes) and n not in prefixes)):
                takes = ", ".join(known) if known else "no query parameters"
                errors.append(
                    {
                        "in": "query",
                        "parameter": name,
                        "message": f"is not a parameter of this operation (it takes {takes})",
                    }
                )
        sources = {
            "query": request.query_params,
            "path": request.path_params,
            "header": request.headers,
            "cookie": request.cookies,
        }
        for where, values in sources.items():
            seen: set[str] = set()
            for param in self.parameters.get(where, []):
                name = param["name"]
                if name in seen:  # declared on the path and on the operation
                    continue
                seen.add(name)
                value = values.get(name.replace("-", "_") if where == "path" else name)
                message = self._check(param, value)
                if message:
                    errors.append({"in": where, "parameter": name, "message": message})
        if errors:
            lines = "; ".join(f"{e['in']} parameter {e['parameter']!r} {e['message']}" for e in errors)
            raise _bad_request(f"fix the request's parameters: {lines}", errors, INVALID_PARAMETERS)

    @staticmethod
    def _check(param: dict[str, t.Any], value: t.Any) -> str | None:
        if value is None:
            return "is required" if param.get("required") else None
        schema = copy.deepcopy(param.get("schema", param))
        checker = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
        found = sorted(checker.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
        if not found:
            return None
        error = found[0]
        where = ", ".join(f"item {p + 1}" if isinstance(p, int) else str(p) for p in error.absolute_path)
        return f"({where}) {describe(error)}" if where else describe(error)


class SedoJSONRequestBodyValidator(JSONRequestBodyValidator):  # type: ignore[misc]
    async def wrap_receive(self, receive: t.Any, *, scope: t.Any) -> t.Any:
        if self._required and not int(Headers(scope=scope).get("content-length", 0) or 0):
            raise _bad_request(
                "this operation needs a JSON body; send one (Content-Type: application/json)",
                [{"path": "/", "message": "the body is empty"}],
            )
        return await super().wrap_receive(receive, scope=scope)

    async def _parse(self, stream: t.AsyncGenerator[bytes, None], scope: t.Any) -> t.Any:
        body = b"".join([message async for message in stream]).decode(self._encoding)
        if not body:
            return None
        try:
            return json.loads(body)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise _bad_request(
                f"the body is not valid JSON: {exc.msg} ({where})",
                [{"path": "/", "message": f"not valid JSON: {exc.msg} ({where})"}],
            ) from exc

    def _validate(self, body: t.Any) -> dict[str, t.Any] | None:
        if body is None:
            if self._required:
                raise _bad_request("this operation needs a JSON body; send one", [{"path": "/", "message": "empty"}])
            return None  # an optional body that was left out
        validator = Draft4RequestValidator(self._schema, format_checker=Draft4Validator.FORMAT_CHECKER)
        found = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.absolute_path])
        if found:
            errors = [{"path": _pointer(e), "message": describe(e)} for e in found]
            lines = "; ".join(f"{e['path']}: {e['message']}" for e in errors)
            noun = "problem" if len(errors) == 1 else "problems"
            raise _bad_request(
                f"the body does not match the operation's schema ({len(errors)} {noun}): {lines}", errors
            )
        return None


VALIDATOR_MAP = {
    "parameter": SedoParameterValidator,
    "body": MediaTypeDict(
        {
            "*/*json": SedoJSONRequestBodyValidator,
            "application/x-www-form-urlencoded": FormDataValidator,
            "multipart/form-data": MultiPartFormDataValidator,
        }
    ),
}
