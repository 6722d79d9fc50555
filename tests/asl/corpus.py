"""The ASL corpus: state machines, each with an input and what Step Functions produces for it.

Each ``corpus/*.json`` holds ``stateMachine`` (ASL, JSONPath), ``input``, and either
``output`` (the execution's output) or ``error`` (``{error, cause}`` of a failed
execution); ``complete`` is what a callback task is completed with. The outputs were
worked out by hand from the Amazon States Language specification, not by running
the translator.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
FUNCTIONS = HERE / "functions.yaml"
CASES = sorted((HERE / "corpus").glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def function_names() -> tuple[str, ...]:
    return tuple(yaml.safe_load(FUNCTIONS.read_text()))


def definition_id(path: Path) -> str:
    return "asl-" + path.stem
