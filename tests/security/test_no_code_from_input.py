"""Identifiers are constrained by the spec, and no user string is ever run as code.

Both are read from the sources (openapi/sedo.yaml, sedo/, processor/), so a
parameter or a module added later is held to the same rules.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from tests.security.operations import spec

ROOT = Path(__file__).resolve().parents[2]


def _resolve(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def _parameters(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
                parameter = _resolve(document, parameter)
                found.append((f"{method.upper()} {path} {parameter['in']}:{parameter['name']}", parameter))
    return found


def _bounded_string(schema: dict[str, Any]) -> bool:
    if "enum" in schema:
        return True
    pattern = schema.get("pattern")
    if not isinstance(pattern, str) or not pattern.startswith("^") or not pattern.endswith("$"):
        return False
    # an anchored pattern whose repetitions are all bounded, or a maxLength
    return "maxLength" in schema or not re.search(r"(?<!\\)[*+]|\{\d+,\}", pattern)


@pytest.mark.parametrize(("where", "parameter"), _parameters(spec()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_path_and_query_parameter_is_constrained_by_the_spec(where: str, parameter: dict[str, Any]) -> None:
    schema = _resolve(spec(), parameter["schema"])
    kind = schema.get("type")
    if kind == "integer":
        assert "minimum" in schema and ("maximum" in schema or parameter["name"] == "version"), where
    elif kind == "array":
        assert "maxItems" in schema and _bounded_string(_resolve(spec(), schema["items"])), where
    else:
        assert kind == "string" and _bounded_string(schema), f"{where}: give it an anchored, bounded pattern"
    if parameter["in"] == "path":
        assert parameter["required"] is True, where


#: Calls that run text as code, or deserialise into arbitrary objects.
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "execfile"}
FORBIDDEN_ATTRIBUTES = {
    ("pickle", "loads"),
    ("pickle", "load"),
    ("marshal", "loads"),
    ("yaml", "unsafe_load"),
    ("yaml", "full_load"),
    ("os", "system"),
    ("os", "popen"),
}
#: Where dynamic imports are deliberate and read only the deployment's own configuration.
ALLOWED_DYNAMIC_IMPORTS = {
    "sedo/adapters/invokers.py",  # SEDO_LOCAL_FUNCTIONS: module:function names for the local stack
    "sedo/bootstrap.py",  # optional adapters by module name
}


def _sources() -> list[Path]:
    return sorted([*(ROOT / "sedo").rglob("*.py"), *(ROOT / "processor").rglob("*.py")])


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_user_string_is_evaluated_as_code(path: Path) -> None:
    relative = str(path.relative_to(ROOT))
    tree = ast.parse(path.read_text(), filename=relative)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names]
            module = getattr(node, "module", None) or ""
            assert not {"pickle", "marshal", "shelve", "dill"} & {module, *names}, f"{relative}:{node.lineno}"
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name):
            assert func.id not in FORBIDDEN_CALLS, f"{relative}:{node.lineno}: {func.id}()"
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            pair = (func.value.id, func.attr)
            assert pair not in FORBIDDEN_ATTRIBUTES, f"{relative}:{node.lineno}: {'.'.join(pair)}()"
            if pair == ("yaml", "load"):  # which loader: ruff's S506 checks it, with a reason where waived
                assert any(k.arg == "Loader" for k in node.keywords), f"{relative}:{node.lineno}: yaml.load()"
            if pair == ("importlib", "import_module"):
                assert relative in ALLOWED_DYNAMIC_IMPORTS, f"{relative}:{node.lineno}: a dynamic import"
        if isinstance(func, ast.Attribute) and func.attr in ("run", "Popen", "call", "check_output"):
            shell = next((k.value for k in node.keywords if k.arg == "shell"), None)
            assert not (isinstance(shell, ast.Constant) and shell.value), f"{relative}:{node.lineno}: shell=True"
