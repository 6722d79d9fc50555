"""A definition as a Mermaid flowchart: every step, every way out of it.

Solid arrows are ``next`` (choices labelled with their condition), dotted ones ``catch``
(labelled with the errors), a step with ``retry`` says so in its box, and map and
parallel steps hold their nested steps in subgraphs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

SHAPES = {"choice": ('{"', '"}'), "succeed": ('(["', '"])'), "fail": ('[["', '"]]'), "wait": ('[/"', '"/]')}


def _text(value: str) -> str:
    """Label text Mermaid shows as written: quotes, backticks and angle brackets as entities."""
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("`", "#96;"), ("<", "#lt;"), (">", "#gt;"), ("|", "#124;")):
        value = value.replace(char, code)
    return value


class _Chart:
    def __init__(self) -> None:
        self.lines: list[str] = ["flowchart TD"]
        self.count = 0

    def node_id(self) -> str:
        self.count += 1
        return f"n{self.count}"

    def steps(self, steps: Sequence[Mapping[str, Any]], indent: str, start: str, finish: str) -> None:
        ids = {str(step["id"]): self.node_id() for step in steps}
        if steps:
            self.lines.append(f"{indent}{start} --> {ids[str(steps[0]['id'])]}")
        for step in steps:
            node = ids[str(step["id"])]
            kind = str(step.get("type"))
            label = f"{step['id']}<br/><i>{kind}</i>"
            if step.get("retry"):
                tries = ", ".join(
                    f"{'/'.join(r.get('errors', ['any']))} x{r.get('maxAttempts', 3)}" for r in step["retry"]
                )
                label += f"<br/>retry {tries}"
            if kind in ("map", "parallel"):
                self._fanout(step, node, label, indent)
            else:
                left, right = SHAPES.get(kind, ('["', '"]'))
                self.lines.append(f"{indent}{node}{left}{_text(str(step['id']))}{label[len(str(step['id'])) :]}{right}")
            for choice in step.get("choices") or []:
                target = ids.get(str(choice.get("next")))
                if target:
                    self.lines.append(f'{indent}{node} -->|"{_text(str(choice.get("when")))}"| {target}')
            if step.get("default") in ids:
                self.lines.append(f'{indent}{node} -->|"default"| {ids[step["default"]]}')
            for catch in step.get("catch") or []:
                target = ids.get(str(catch.get("next")))
                if target:
                    errors = _text(", ".join(catch.get("errors") or ["any error"]))
                    self.lines.append(f'{indent}{node} -. "{errors}" .-> {target}')
            if step.get("next") in ids:
                self.lines.append(f"{indent}{node} --> {ids[step['next']]}")
            elif step.get("end") or kind == "succeed":
                self.lines.append(f"{indent}{node} --> {finish}")

    def _fanout(self, step: Mapping[str, Any], node: str, label: str, indent: str) -> None:
        branches = [step.get("iterator") or {}] if step.get("type") == "map" else list(step.get("branches") or [])
        self.lines.append(f'{indent}subgraph {node}["{_text(str(step["id"]))}{label[len(str(step["id"])) :]}"]')
        self.lines.append(f"{indent}  direction TB")
        for index, branch in enumerate(branches):
            begin, end = f"{node}_in{index}", f"{node}_out{index}"
            self.lines.append(f"{indent}  {begin}(( ))")
            self.lines.append(f"{indent}  {end}(( ))")
            self.steps(list(branch.get("steps") or []), indent + "  ", begin, end)
        self.lines.append(f"{indent}end")


def mermaid(document: Mapping[str, Any]) -> str:
    """The flowchart's Mermaid text for a validated definition document."""
    chart = _Chart()
    chart.lines.append("  start((start))")
    chart.lines.append("  finish((end))")
    chart.steps(list(document.get("steps") or []), "  ", "start", "finish")
    return "\n".join(chart.lines)
