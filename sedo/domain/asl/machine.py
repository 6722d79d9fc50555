"""A whole ASL state machine -> a sedo definition document, or every problem at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from sedo.domain.asl import tasks  # noqa: F401 - registers the Task state
from sedo.domain.asl.paths import Refused, pointer
from sedo.domain.asl.states import Scope, Step, field_problems, step_id_for, translate_state
from sedo.domain.errors import InvalidDefinition, Problem

_TOP_FIELDS = {"Comment", "StartAt", "States", "TimeoutSeconds", "Version", "QueryLanguage"}


@dataclass
class Translation:
    document: dict[str, Any]
    #: (JSON Pointer of the state, its name, the step id it became) for names that changed
    renamed: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class _Run:
    problems: list[Problem] = field(default_factory=list)
    renamed: list[tuple[str, str, str]] = field(default_factory=list)

    def machine(self, asl: Any, path: str, start_base: str, execution: str | None) -> list[Step]:
        if not isinstance(asl, Mapping):
            self.problems.append(Problem(path, "a state machine must be an object with StartAt and States"))
            return []
        states = asl.get("States")
        start = asl.get("StartAt")
        if not isinstance(states, Mapping) or not states:
            self.problems.append(Problem(path + "/States", "States must be a non-empty object"))
            return []
        if not isinstance(start, str) or start not in states:
            self.problems.append(Problem(path + "/StartAt", f"StartAt must name a state, not {start!r}"))
            return []
        for key in asl:
            if key not in _TOP_FIELDS | {"ProcessorConfig"} or (key == "QueryLanguage" and asl[key] != "JSONPath"):
                message = (
                    "only JSONPath translates; JSONata does not"
                    if key == "QueryLanguage"
                    else f"{key!r} is not a field of a state machine"
                )
                self.problems.append(Problem(path + pointer(key), message))
        scope = Scope(path, start, start_base, execution, ids={}, used=set(), nested=self.machine)
        for name in states:
            step_id = scope.alloc(step_id_for(name))
            scope.ids[name] = step_id
            if step_id != name:
                self.renamed.append((scope.where(name), name, step_id))
        scope.retargeted = start in {t for s in states.values() if isinstance(s, Mapping) for t in _targets(s)}
        steps: list[Step] = []
        if scope.retargeted:
            init = scope.alloc("start")
            steps.append(
                {
                    "id": init,
                    "type": "transform",
                    "expression": start_base,
                    "resultPath": "state",
                    "next": scope.ids[start],
                }
            )
        for name in [start, *(n for n in states if n != start)]:
            state = states[name]
            if not isinstance(state, Mapping):
                self.problems.append(Problem(scope.where(name), "a state must be an object"))
                continue
            refused = field_problems(name, state, scope)
            if refused:
                self.problems.extend(Problem(r.path, r.message) for r in refused)
                continue
            try:
                steps.extend(translate_state(name, state, scope))
            except Refused as exc:
                self.problems.append(Problem(exc.path, exc.message))
        return steps


def _targets(state: Mapping[str, Any]) -> list[str]:
    found = [state.get("Next"), state.get("Default")]
    for key in ("Choices", "Catch"):
        rules = state.get(key)
        if isinstance(rules, list):
            found += [r.get("Next") for r in rules if isinstance(r, Mapping)]
    return [t for t in found if isinstance(t, str)]


def translate(asl: Any, definition_id: str) -> Translation:
    """The sedo definition equivalent to an ASL state machine (JSONPath).

    :class:`InvalidDefinition` lists every construct that has no faithful
    translation, each at its JSON Pointer in the ASL document.
    """
    run = _Run()
    if not isinstance(asl, Mapping):
        raise InvalidDefinition([Problem("", "an ASL state machine must be an object with StartAt and States")])
    steps = run.machine(asl, "", "input", "input")
    document: dict[str, Any] = {"id": definition_id}
    if isinstance(asl.get("Comment"), str):
        document["description"] = asl["Comment"]
    timeout = asl.get("TimeoutSeconds")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 31_622_400:
            run.problems.append(
                Problem("/TimeoutSeconds", f"sedo bounds an execution from 1 to 31622400 s, not {timeout!r}")
            )
        else:
            document["timeoutSeconds"] = timeout
    document["steps"] = steps
    if run.problems:
        raise InvalidDefinition(run.problems)
    return Translation(document, run.renamed)


def render_yaml(translation: Translation, source: str = "") -> str:
    """The definition as YAML, with the renamed states listed in comments first."""
    lines = [f"# Translated from Amazon States Language{f' ({source})' if source else ''} by sedo import-asl."]
    if translation.renamed:
        lines.append("# State names that are not step ids, and the ids they became:")
        lines += [f"#   {where}: {name!r} -> {step_id}" for where, name, step_id in translation.renamed]
    body = yaml.safe_dump(translation.document, sort_keys=False, allow_unicode=True, width=120)
    return "\n".join(lines) + "\n" + body
