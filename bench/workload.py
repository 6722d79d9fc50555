"""Workloads: a definition, an input and a number of executions, one YAML file each.

Drop a file into bench/workloads/ to add one; ``make bench`` runs every file there
and the fault-injection tests run a chosen few. A workload file holds:

``name``
    Short name used in results (defaults to the file name).
``description``
    One line for the results table.
``definition``
    Either a path (relative to the repository root) to a definition file, or the
    definition document inline.
``patch``
    Optional: ``{stepId: {field: value}}`` replaced in the definition's steps, e.g.
    to shorten a 45 s wait to 3 s.
``merge``
    Optional: fields deep-merged into the definition document (mappings merge, anything
    else replaces), e.g. ``searchAttributes`` and the input schema's properties they read.
``input``
    The execution input (the same for every execution). Anywhere inside it,
    ``{$range: N}`` stands for the list ``[0, 1, ..., N-1]`` (large map inputs).
``executions``
    How many executions ``make bench`` runs (``--scale`` multiplies it).
``items``
    Optional: for a fan-out workload, the iterations per execution; the results then
    carry ``perItem`` figures (each execution's cost and requests divided by it).
``optional``
    ``true``: run only when named with ``--workloads``.
``throughput``
    ``false``: leave it out of the throughput rounds (fan-outs, whose iterations dwarf them).
``timeout``
    Seconds its cost run may take (default 300).
``searchBaseline``
    ``true``: after its cost run, run it again with the definition's ``searchAttributes``
    removed (the same input and count, under the id ``<id>-plain``); the results' ``searchIndex``
    is what the search index adds (bench/search.py).
``s3``
    Optional, for a map over S3: ``{bucket, key, results}``. Before its run the bench creates
    the buckets ``bucket`` and ``results`` in the emulator and writes ``items`` JSON lines
    ``{"id": i, "amount": i % 97}`` to ``key`` (uncounted setup).

``load_all(..., range_cap=N)`` (the bench's ``--quick``) shrinks every ``{$range: M}`` and
``items`` to at most N, for a smoke run.

Workloads with ``invoke`` steps call the functions the processor's invoker is
configured with (locally: definitions/functions/local.yaml).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from sedo.config import REPO_ROOT

WORKLOADS_DIR = Path(__file__).resolve().parent / "workloads"


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    document: dict[str, Any]
    input: Any
    executions: int
    source: str
    optional: bool = False
    throughput: bool = True
    items: int | None = None
    timeout: float = 300.0
    s3: dict[str, Any] | None = None
    search_baseline: bool = False

    @property
    def fans_out(self) -> bool:
        """Whether a step of it is a map or parallel (its iterations' steps count too)."""
        return any(step.get("type") in ("map", "parallel") for step in self.document.get("steps", []))

    @property
    def definition_id(self) -> str:
        return str(self.document["id"])

    def with_id(self, definition_id: str) -> Workload:
        """The same workload under another definition id (to run it twice in one stack)."""
        document = copy.deepcopy(self.document)
        document["id"] = definition_id
        return replace(self, document=document)

    def without_search(self) -> Workload:
        """The same workload with no ``searchAttributes`` (the baseline of ``searchBaseline``)."""
        document = copy.deepcopy(self.document)
        document.pop("searchAttributes", None)
        document["id"] = f"{self.definition_id}-plain"
        return replace(self, name=f"{self.name}-plain", document=document, search_baseline=False)

    def with_waits(self, seconds: int) -> Workload:
        """The same workload with every ``seconds`` wait set to ``seconds`` (throughput runs)."""
        document = copy.deepcopy(self.document)
        for step in document.get("steps", []):
            if step.get("type") == "wait" and "seconds" in step:
                step["seconds"] = seconds
        return replace(self, document=document)


def stage_s3(s3: Any, workload: Workload) -> None:
    """A map over S3's buckets and its item source (``s3``), written before it runs."""
    if workload.s3 is None:
        return
    for name in (workload.s3["bucket"], workload.s3["results"]):
        try:
            s3.create_bucket(Bucket=name)
        except s3.exceptions.ClientError as exc:  # staged before (another run on the same emulator)
            if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise
    lines = (json.dumps({"id": i, "amount": i % 97}) + "\n" for i in range(workload.items or 0))
    s3.put_object(Bucket=workload.s3["bucket"], Key=workload.s3["key"], Body="".join(lines).encode())


def _apply_patch(document: dict[str, Any], patch: dict[str, Any], source: str) -> None:
    steps = {step.get("id"): step for step in document.get("steps", [])}
    for step_id, fields in (patch or {}).items():
        if step_id not in steps:
            raise ValueError(f"{source}: patch names step {step_id!r}, which the definition does not have")
        steps[step_id].update(fields)


def _merge(document: dict[str, Any], extra: dict[str, Any]) -> None:
    for name, value in extra.items():
        if isinstance(value, dict) and isinstance(document.get(name), dict):
            _merge(document[name], value)
        else:
            document[name] = copy.deepcopy(value)


def load(path: Path, range_cap: int | None = None) -> Workload:
    raw = yaml.safe_load(path.read_text())
    source = str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
    definition = raw["definition"]
    if isinstance(definition, str):
        document = yaml.safe_load((REPO_ROOT / definition).read_text())
    else:
        document = copy.deepcopy(definition)
    _apply_patch(document, raw.get("patch") or {}, source)
    _merge(document, raw.get("merge") or {})
    return Workload(
        name=str(raw.get("name") or path.stem),
        description=str(raw.get("description") or ""),
        document=document,
        input=_expand(raw.get("input", {}), range_cap),
        executions=int(raw.get("executions", 20)),
        source=source,
        optional=bool(raw.get("optional", False)),
        throughput=bool(raw.get("throughput", True)),
        items=_capped(int(raw["items"]), range_cap) if raw.get("items") else None,
        timeout=float(raw.get("timeout", 300)),
        s3=dict(raw["s3"]) if raw.get("s3") else None,
        search_baseline=bool(raw.get("searchBaseline", False)),
    )


def _expand(value: Any, range_cap: int | None = None) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$range"}:
            return list(range(_capped(int(value["$range"]), range_cap)))
        return {k: _expand(v, range_cap) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, range_cap) for v in value]
    return value


def _capped(count: int, cap: int | None) -> int:
    return count if cap is None else min(count, cap)


def load_all(
    directory: Path = WORKLOADS_DIR, names: list[str] | None = None, range_cap: int | None = None
) -> list[Workload]:
    """Every workload in ``directory`` (sorted by file name), or just ``names``, in that order."""
    found = {w.name: w for w in (load(p, range_cap) for p in sorted(directory.glob("*.yaml")))}
    if names is None:
        return [w for w in found.values() if not w.optional]
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"no workload named {missing} in {directory} (have {sorted(found)})")
    return [found[n] for n in names]
