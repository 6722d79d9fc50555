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
