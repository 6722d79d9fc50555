"""Definitions several test modules run, built from what sets them apart."""

from __future__ import annotations


def echo_wait_echo(
    definition_id: str, steps: tuple[str, str, str], seconds: int, messages: tuple[str, str] | None = None
) -> str:
    """YAML for the smallest definition that waits: an echo step, a wait of ``seconds`` and an echo
    step, named ``steps``; each echo says its own name unless ``messages`` says what."""
    first, pause, last = steps
    said_first, said_last = messages or (first, last)
    return (
        f"id: {definition_id}\n"
        "steps:\n"
        f"  - {{id: {first}, type: echo, message: {said_first}, next: {pause}}}\n"
        f"  - {{id: {pause}, type: wait, seconds: {seconds}, next: {last}}}\n"
        f"  - {{id: {last}, type: echo, message: {said_last}, end: true}}\n"
    )


def identity_map(definition_id: str, then: str | None = None, input_schema: str | None = None) -> str:
    """YAML for a map over ``input.items`` whose iterator passes each item on unchanged (one
    transform step, ``double``), with no maxConcurrency; the map ends the execution unless
    ``then`` names a succeed step to go on to; ``input_schema`` (flow YAML) is its inputSchema."""
    lines = [f"id: {definition_id}"]
    if input_schema is not None:
        lines.append(f"inputSchema: {input_schema}")
    lines += [
        "steps:",
        "  - id: each",
        "    type: map",
        "    items: input.items",
        "    iterator:",
        "      steps:",
        '        - {id: double, type: transform, expression: "input", end: true}',
    ]
    lines += [f"    next: {then}", f"  - {{id: {then}, type: succeed}}"] if then else ["    end: true"]
    return "\n".join(lines) + "\n"
