"""Fan-in: how a map or parallel step attempt ends once its iterations are in, and its
results when they are too large for the step's output (sedo/service_layer/iterations.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sedo.domain import failures
from sedo.domain.execution import Execution
from sedo.service_layer.ports import IterationCounter, IterationStore

#: Results up to this size (JSON, all iterations) are inlined into the step's output;
#: larger ones are stored apart and referenced, and assembled when the execution is read.
INLINE_RESULTS_BYTES = 48 * 1024  # below limits.MAX_STASH_VALUE_BYTES
RESULTS_REF = "sedo:results"

#: Writes the next results of a map with a ``resultWriter`` (counter, how far): the outcome or None.
Writer = Callable[[IterationCounter, dict[str, Any]], dict[str, Any] | None]


def gather(
    store: IterationStore, parent: Execution, data: dict[str, Any] | None, write: Writer
) -> dict[str, Any] | None:
    """How the waiting step of ``parent`` ends, or None if its iterations are not all in yet
    (or, with a ``resultWriter``, its results are still being written: ``data`` says how far,
    and ``write`` writes the next of them: sedo/service_layer/itemsource.py)."""
    counter = store.counter(parent.tenant_id, parent.key, parent.instance)
    if counter is None:
        return None
    meta = counter.meta or {}
    if "failure" in meta:  # a map over S3 that could not start (sedo/service_layer/itemsource.py)
        return {"status": "failed", **meta["failure"]}
    if counter.closed and isinstance((data or {}).get("failure"), dict):  # ... or could not go on
        return {"status": "failed", **(data or {})["failure"]}
    if counter.failed > counter.tolerated:
        store.close(parent.tenant_id, parent.key, parent.instance)
        failed = store.results(parent.tenant_id, parent.key, parent.instance, failed_only=True, limit=10)
        listed = "; ".join(f"[{r['index']}] {r.get('error')}: {r.get('cause') or ''}".strip() for r in failed)
        what = "branch" if counter.branches else "iteration"
        return {
            "status": "failed",
            "error": failures.BRANCH_FAILED if counter.branches else failures.ITEMS_FAILED,
            "cause": f"{counter.failed} {what}(s) failed, {counter.tolerated} tolerated: {listed}",
        }
    if counter.done < counter.total:
        return None
    if "writer" in meta:
        return write(counter, data or {})
    if counter.bytes > INLINE_RESULTS_BYTES:
        reference = {"parentKey": parent.key, "instance": parent.instance, "count": counter.total}
        return {"status": "succeeded", "output": {RESULTS_REF: reference}}
    results = store.results(parent.tenant_id, parent.key, parent.instance)
    return {"status": "succeeded", "output": [r.get("output") for r in results]}


def assemble(store: IterationStore, tenant_id: str, value: Any) -> Any:
    """Replace stored-apart results (at the top level or one level down) by the list."""
    if isinstance(value, dict) and RESULTS_REF in value:
        ref = value[RESULTS_REF]
        results = store.results(tenant_id, ref["parentKey"], int(ref["instance"]))
        return [r.get("output") for r in results]
    if isinstance(value, dict):
        return {
            k: assemble(store, tenant_id, v) if isinstance(v, dict) and RESULTS_REF in v else v
            for k, v in value.items()
        }
    return value
