"""The step types of the language: one module each, registered here."""

from __future__ import annotations

from collections.abc import Mapping

from sedo.domain.steps import (
    callback,
    choice,
    echo,
    emit,
    event,
    fail,
    invoke,
    map,
    parallel,
    pass_,
    succeed,
    transform,
    wait,
)
from sedo.domain.steps.base import StepType

STEP_TYPES: Mapping[str, StepType] = {
    m.STEP.name: m.STEP
    for m in (echo, wait, pass_, transform, choice, succeed, fail, invoke, callback, map, parallel, emit, event)
}
