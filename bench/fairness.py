"""Fairness (`fairness` in the results): a second tenant's timer lateness while the first bursts.

Tenant ``fair-b`` runs ``--fairness-probes`` executions of a 2 s wait, one every half second,
twice: alone (``fairness:idle``), then while tenant ``fair-a`` has ``--fairness-burst``
executions of ten steps around a 1 s wait queued at once (``fairness:burst``). Lateness is the
processor's clock when a timer's wake-up commits minus its due time (the observer seam's
``lateness``), per tenant. On moto this shows what sedo itself does: one queue, batches of up
to 10 records taken in arrival order, each a bounded segment, so a tenant's timer waits behind
the burst's backlog; the bound is the backlog's drain time (wake-ups queued ahead / wake-ups a
second). On AWS, messages carry the tenant as ``MessageGroupId``: SQS fair queues then deliver
the quiet tenant's messages ahead of the noisy tenant's backlog, so its lateness stays near
the idle figure; the burst itself is bounded by the tenant's quotas (``startsPerSecond``,
``maxRunningExecutions``).
"""

from __future__ import annotations

import time
from typing import Any

from bench.harness import Bench, say
from bench.stats import summary_ms

NOISY = "fair-a"
QUIET = "fair-b"
PROBE = {
    "id": "fair-probe",
    "steps": [
        {"id": "start", "type": "echo", "message": "probe", "next": "pause"},
        {"id": "pause", "type": "wait", "seconds": 2, "next": "end"},
        {"id": "end", "type": "echo", "message": "done", "end": True},
    ],
}
BURST = {
    "id": "fair-burst",
    "steps": [
        *({"id": f"s{i}", "type": "echo", "message": f"step {i}", "next": f"s{i + 1}"} for i in range(4)),
        {"id": "s4", "type": "wait", "seconds": 1, "next": "s5"},
        *({"id": f"s{i}", "type": "echo", "message": f"step {i}", "next": f"s{i + 1}"} for i in range(5, 9)),
        {"id": "s9", "type": "echo", "message": "last", "end": True},
    ],
}


def run(bench: Bench, burst: int, probes: int) -> dict[str, Any] | None:
    if burst <= 0 or probes <= 0:
        return None
    for tenant, document in ((NOISY, BURST), (QUIET, PROBE)):
        bench.api_services.definitions.create(tenant, document)
    idle = _phase(bench, "fairness:idle", 0, probes)
    loaded = _phase(bench, "fairness:burst", burst, probes)
    result = {
        "burstExecutions": burst,
        "probes": probes,
        "quietTenantLatenessIdle": idle[QUIET],
        "quietTenantLatenessDuringBurst": loaded[QUIET],
        "noisyTenantLatenessDuringBurst": loaded[NOISY],
        "onAws": "messages carry MessageGroupId=tenant; SQS fair queues serve the quiet tenant ahead of the burst",
    }
    say(
        f"fairness: {QUIET}'s timer lateness p99 {idle[QUIET].get('p99')} ms alone, "
        f"{loaded[QUIET].get('p99')} ms while {NOISY} bursts {burst} executions"
    )
    return result


def _phase(bench: Bench, phase: str, burst: int, probes: int) -> dict[str, dict[str, Any]]:
    keys: set[tuple[str, str]] = set()

    def start(tenant: str, definition: str) -> None:
        started, _ = bench.api_services.executions.start(tenant, definition, {})
        keys.add((tenant, started["id"].rsplit(":", 1)[-1]))

    with bench.in_phase(phase), bench.event_source():
        for _ in range(burst):
            start(NOISY, "fair-burst")
        for _ in range(probes):
            start(QUIET, "fair-probe")
            time.sleep(0.5)
        bench.wait_finished(keys, timeout=600)
        bench.wait_queue_empty()
    lateness: dict[str, list[float]] = {NOISY: [], QUIET: []}
    with bench.lock:
        for sample in bench.samples:
            if sample.phase == phase and sample.lateness is not None and sample.tenant in lateness:
                lateness[sample.tenant].append(sample.lateness)
    return {tenant: summary_ms(values) for tenant, values in lateness.items()}


def markdown(result: dict[str, Any] | None) -> str:
    if not result:
        return ""
    idle, loaded = result["quietTenantLatenessIdle"], result["quietTenantLatenessDuringBurst"]
    return (
        "\n### Fairness\n\n"
        f"- {QUIET}'s 2 s timers: lateness p50/p99 {idle.get('p50')}/{idle.get('p99')} ms alone, "
        f"{loaded.get('p50')}/{loaded.get('p99')} ms while {NOISY} bursts {result['burstExecutions']} executions "
        "(one queue on moto; SQS fair queues on AWS serve the quiet tenant first)\n"
    )
