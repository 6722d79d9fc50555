"""CloudWatch metrics (Powertools Metrics, embedded metric format) and X-Ray traces (Powertools Tracer).

Metrics go to the ``sedo`` namespace (``POWERTOOLS_METRICS_NAMESPACE``) as EMF blobs in the
functions' log lines, one blob per tenant and Lambda batch (the processor's
:class:`MetricsObserver`, fed by the observer seam sedo/service_layer/observe.py, writes when
the batch ends), one per refused or started execution in the API and one per rejected
trigger in the events handler:

| metric | unit | dimensions | from |
|---|---|---|---|
| ``Transitions`` | Count | service, tenantId | StepStarted events committed (Step Functions-equivalent) |
| ``WakeUps`` | Count | service, tenantId | wake-ups processed |
| ``ExecutionsFinished`` | Count | service, tenantId, state | top-level executions that ended, by final state |
| ``StepFailures`` | Count | service, tenantId | StepFailed events committed |
| ``WakeUpLatency`` | Milliseconds | service, tenantId | a timer's lateness: when its wake-up ran minus its due time |
| ``Throttles`` | Count | service, tenantId | wake-ups AWS throttled (retried shortly) |
| ``QuotaRefusals`` | Count | service, tenantId, quota | starts and creates refused by a quota (API) |
| ``StrandedExecutions`` | Count | service | executions the sweeper found overdue and re-sent (sweeper) |
| ``RejectedTriggers`` | Count | service, tenantId | events a trigger could not start an execution from (events handler) |

``WakeUps``, ``Transitions``, ``Throttles`` and ``StepFailures`` are also published with the
``service`` dimension only: the deployment's totals, which the alarms watch.

**The tenantId dimension.** Each distinct set of dimension values is a custom metric
CloudWatch bills per month, so a tenant costs about 8 metrics (one per row and final state).
For a deployment of tens to a few hundred tenants that is the useful choice (who is slow, who
bursts, who fails); beyond, set ``SEDO_METRICS_TENANT_DIMENSION=0`` and the same metrics are
published per deployment only (the usage ledger, ``GET .../usage``, still has each tenant's
counts). Step ids and definition ids are never dimensions (unbounded).

Metrics are written on Lambda (``AWS_LAMBDA_FUNCTION_NAME`` is set) or with ``SEDO_METRICS=1``;
``POWERTOOLS_METRICS_DISABLED=true`` switches them off.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

from sedo.domain.engine import Commit
from sedo.domain.execution import STEP_FAILED, STEP_STARTED
from sedo.service_layer.observe import PerTenant, WakeReport

NAMESPACE = "sedo"
#: Also published without tenantId, per deployment (alarms watch these).
DEPLOYMENT_METRICS = ("WakeUps", "Transitions", "Throttles", "StepFailures")
Writer = Callable[[str], None]


def metrics_enabled() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) or os.environ.get("SEDO_METRICS") == "1"


def _stdout(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Emitter:
    """Writes EMF blobs through Powertools (one blob per dimension set)."""

    def __init__(self, service: str = "sedo", tenant_dimension: bool = True, write: Writer | None = None) -> None:
        self.namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE
        self.service = service
        self.tenant_dimension = tenant_dimension
        self.write = write or _stdout

    def emit(self, dimensions: dict[str, str], values: dict[str, tuple[str, float]]) -> None:
        """``values``: metric name -> (unit, value); zero counts are left out (a latency of 0 is kept)."""
        from aws_lambda_powertools.metrics import EphemeralMetrics
        from aws_lambda_powertools.metrics.functions import is_metrics_disabled

        kept = {name: (unit, value) for name, (unit, value) in values.items() if value or unit != "Count"}
        if not kept or is_metrics_disabled():
            return
        metrics = EphemeralMetrics(namespace=self.namespace, service=self.service)
        for dimension, label in dimensions.items():
            if dimension != "tenantId" or self.tenant_dimension:
                metrics.add_dimension(name=dimension, value=label)
        for name, (unit, amount) in kept.items():
            metrics.add_metric(name=name, unit=unit, value=amount)
        self.write(json.dumps(metrics.serialize_metric_set(), separators=(",", ":")))


class MetricsObserver:
    """The processor's metrics: a wake-up observer that writes per tenant when a batch ends."""

    def __init__(self, emitter: Emitter) -> None:
        self.emitter = emitter
        self.batch: PerTenant[dict[str, Any]] = PerTenant(lambda: {"lateness": [], "finished": {}})

    def batch_began(self) -> None:
        self.batch.begin()

    def wake_up(self, report: WakeReport) -> None:
        with self.batch.lock:
            self._wake_up(report)

    def _wake_up(self, report: WakeReport) -> None:
        counts = self.batch.of(report)
        if counts is None:
            return
        _add(counts, "WakeUps", 1)
        if report.error is not None and _throttled(report.error):
            _add(counts, "Throttles", 1)
        if report.lateness is not None:
            counts["lateness"].append(max(0.0, report.lateness) * 1000)
        decision = report.decision
        if report.result != "committed" or not isinstance(decision, Commit):
            return
        events = decision.head.pending_events
        _add(counts, "Transitions", sum(1 for e in events if e.get("type") == STEP_STARTED))
        _add(counts, "StepFailures", sum(1 for e in events if e.get("type") == STEP_FAILED))
        head = decision.head
        if head.finished and head.parent_key is None:
            counts["finished"][head.state] = counts["finished"].get(head.state, 0) + 1

    def segment_ran(self, commit: Commit) -> None:
        """An inline iteration's segment: its transitions and step failures count."""
        events = commit.head.pending_events
        with self.batch.lock:
            counts = self.batch.of_tenant(commit.head.tenant_id)
            _add(counts, "Transitions", sum(1 for e in events if e.get("type") == STEP_STARTED))
            _add(counts, "StepFailures", sum(1 for e in events if e.get("type") == STEP_FAILED))

    def batch_done(self, records: int, seconds: float) -> None:
        batch = self.batch.take()
        deployment: dict[str, float] = {}
        for counts in batch.values():
            for name in DEPLOYMENT_METRICS:
                deployment[name] = deployment.get(name, 0) + counts.get(name, 0)
        # The deployment's totals (no tenantId): what the alarms watch (an alarm cannot sum a SEARCH).
        self.emitter.emit({}, {name: ("Count", value) for name, value in deployment.items()})
        for tenant, counts in batch.items():
            lateness = counts.pop("lateness")
            finished = counts.pop("finished")
            values = {name: ("Count", float(value)) for name, value in counts.items()}
            self.emitter.emit({"tenantId": tenant}, values)
            for state, count in finished.items():
                self.emitter.emit({"tenantId": tenant, "state": state}, {"ExecutionsFinished": ("Count", count)})
            if lateness:  # the worst of the batch: a dashboard's p99/max come from many batches
                self.emitter.emit({"tenantId": tenant}, {"WakeUpLatency": ("Milliseconds", max(lateness))})


def _add(counts: dict[str, Any], name: str, value: float) -> None:
    counts[name] = counts.get(name, 0) + value


def _throttled(error: BaseException) -> bool:
    from sedo.adapters.aws import throttled

    return throttled(error)


def quota_refused(emitter: Emitter) -> Callable[[str, str], None]:
    """The API's QuotaService ``on_refusal``: one EMF blob per refusal."""

    def refused(tenant_id: str, quota: str) -> None:
        emitter.emit({"tenantId": tenant_id, "quota": quota}, {"QuotaRefusals": ("Count", 1.0)})

    return refused


def tenant_count(emitter: Emitter) -> Callable[[str, str, int], None]:
    """The event service's metric sink (sedo/service_layer/events.py ``Metric``): a Count of
    ``name`` for a tenant, one EMF blob per call (``RejectedTriggers``)."""

    def count(name: str, tenant_id: str, value: int) -> None:
        emitter.emit({"tenantId": tenant_id}, {name: ("Count", float(value))})

    return count


def stranded(emitter: Emitter, count: int) -> None:
    """The sweeper found ``count`` executions whose awaited wake-up was missing, and re-sent it."""
    emitter.emit({}, {"StrandedExecutions": ("Count", float(count))})


# -- traces ----------------------------------------------------------------------------------


def tracer() -> Any:
    """Powertools Tracer when the function's tracing is Active (template.yaml ``Tracing``), else None."""
    if os.environ.get("SEDO_TRACING") != "Active" or not os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return None
    from aws_lambda_powertools import Tracer

    return Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "sedo", patch_modules=["boto3", "botocore"])


def traced(handler: Callable[[dict[str, Any], Any], dict[str, Any]]) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """``handler`` inside a Powertools Tracer segment when tracing is Active (unchanged otherwise)."""
    active = tracer()
    if active is None:
        return handler
    wrapped: Callable[[dict[str, Any], Any], dict[str, Any]] = active.capture_lambda_handler(handler)
    return wrapped


__all__ = [
    "Emitter",
    "MetricsObserver",
    "metrics_enabled",
    "quota_refused",
    "stranded",
    "tenant_count",
    "traced",
    "tracer",
]
