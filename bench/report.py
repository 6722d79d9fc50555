"""The benchmark's figures: per-workload cost (bench/pricing.py), throughput against the
ceiling, latency; the results document (bench/results/latest.json, schema in
bench/README.md) and its markdown summary."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import cloud, instrument, longwaits, pricing, search
from bench.harness import TENANT, Bench, PhaseLog, WakeUpSample
from bench.stats import GOAL_LATENESS_P99_MS, round_to, summary_ms
from bench.workload import Workload
from sedo.config import REPO_ROOT

SCHEMA = "sedo-bench/1"
STEP_FUNCTIONS = "step_functions"
# -- figures ----------------------------------------------------------------------------------


def usage_of(bench: Bench, phase: str) -> pricing.Usage:
    log_ = bench.phases.get(phase, PhaseLog())
    granularity = 1
    return pricing.Usage(
        tally=bench.recorder.tally(phase),
        processor_invocations=len(log_.invocations),
        processor_billed_ms=pricing.billed_ms(log_.invocations, granularity),
        api_requests=len(log_.api),
        api_billed_ms=pricing.billed_ms(log_.api, granularity),
        log_bytes=log_.log_bytes,
    )


def workload_result(
    bench: Bench, workload: Workload, run: dict[str, Any], prices: dict[str, Any], sizing: pricing.LambdaSizing
) -> dict[str, Any]:
    phase = run["phase"]
    executions = len(run["ids"])
    usage = usage_of(bench, phase)
    tally = usage.tally
    lines = pricing.cost(usage, prices, sizing)
    samples = [s for s in bench.samples if s.phase == phase]
    committed = [s for s in samples if s.result == "committed"]
    transitions = run["stepsEntered"]
    sfn_price = float(prices[STEP_FUNCTIONS]["standard_per_million_transitions"])
    per_execution = lines["total"] / executions
    per_million = lines["total"] / transitions * 1_000_000 if transitions else None
    log_ = bench.phases[phase]

    def per(value: float) -> float:
        return round(value / executions, 6)

    return {
        "name": workload.name,
        "description": workload.description,
        "source": workload.source,
        "definitionId": workload.definition_id,
        "executions": executions,
        "states": run["states"],
        "elapsedSeconds": round(log_.ended - log_.started, 3),
        "wakeUpResults": dict(Counter(s.result for s in samples)),
        "perExecution": {
            "sfnTransitions": per(transitions),
            "wakeUps": per(len(committed)),
            "wakeUpsProcessed": per(len(samples)),
            "awsRequests": per(tally.requests() - tally.sqs_idle_polls),
            "requests": {
                component: bench.recorder.tally(phase, component).ops_per(executions)
                for component in ("api", "processor", "esm")
            },
            "dynamodb": {
                "wcu": per(tally.wcu),
                "rcu": per(tally.rcu),
                "gsiWcu": per(tally.gsi_wcu),
                "reportedByEmulator": {"wcu": per(tally.reported_wcu), "rcu": per(tally.reported_rcu)},
            },
            "sqs": {
                "billedRequests": per(tally.sqs_billed),
                "messagesSent": per(tally.sqs_sent),
                "messagesReceived": per(tally.sqs_received),
                "payloadBytes": per(tally.sqs_payload_bytes),
            },
            "lambda": {
                "processorInvocations": per(usage.processor_invocations),
                "processorBilledMs": per(usage.processor_billed_ms),
                "recordsPerInvocation": round(log_.records / max(1, usage.processor_invocations), 3),
                "apiRequests": per(usage.api_requests),
                "apiBilledMs": per(usage.api_billed_ms),
            },
            "logBytes": per(usage.log_bytes),
            "costUsd": {k: round(v / executions, 10) for k, v in lines.items()},
        },
        "idleSqsPolls": tally.sqs_idle_polls,
        "costPerExecutionUsd": round(per_execution, 10),
        "costPerMillionSfnTransitionsUsd": round_to(per_million, 4),
        "stepFunctionsPerExecutionUsd": round(transitions / executions * sfn_price / 1_000_000, 10),
        "stepFunctionsPerMillionUsd": sfn_price,
        "fractionOfStepFunctions": round_to(per_million / sfn_price if per_million else None, 4),
        "latency": latency(committed),
        "timerLatenessMs": summary_ms([s.lateness for s in committed if s.lateness is not None]),
        "totals": {"usd": lines, "sfnTransitions": transitions, "wakeUps": len(committed)},
        "alternatives": cloud.alternatives(bench, run, tally, lines, prices),
        **({"perItem": per_item(workload.items, executions, tally, lines)} if workload.items else {}),
    }


def per_item(items: int, executions: int, tally: instrument.Tally, lines: dict[str, float]) -> dict[str, Any]:
    """A fan-out workload's figures per iteration: everything the run cost, over its items."""
    count = items * executions
    return {
        "items": items,
        "awsRequests": round((tally.requests() - tally.sqs_idle_polls) / count, 4),
        "wcu": round(tally.wcu / count, 4),
        "rcu": round(tally.rcu / count, 4),
        "sqsBilledRequests": round(tally.sqs_billed / count, 4),
        "costUsd": round(lines["total"] / count, 10),
        "costPerMillionItemsUsd": round(lines["total"] / count * 1_000_000, 4),
    }


def latency(samples: list[WakeUpSample]) -> dict[str, Any]:
    return {
        "engineMs": summary_ms([s.engine for s in samples]),
        "awsIoMs": summary_ms([s.aws for s in samples]),
        "otherMs": summary_ms([max(0.0, s.total - s.engine - s.aws - s.invoke) for s in samples]),
        "wakeUpMs": summary_ms([s.total for s in samples]),
        "awsCallsPerWakeUp": round(statistics.mean(s.aws_calls for s in samples), 3) if samples else None,
    }


def batch_flush(bench: Bench) -> dict[str, Any]:
    """The AWS I/O of the flushes Lambda batches make at their end, over every phase."""
    flushes = [f for log_ in bench.phases.values() for f in log_.flushes]
    return {
        "wallMs": summary_ms([seconds for seconds, _ in flushes]),
        "awsCallsPerFlush": round(statistics.mean(calls for _, calls in flushes), 3) if flushes else None,
    }


def throughput_summary(
    bench: Bench, rounds: int, sedo_rounds: list[dict[str, Any]], ceiling_rounds: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``throughput`` (with ``ratioToCeiling``) and ``ceiling`` figures of interleaved rounds."""

    def total(phases: list[str], component: str | None = None) -> instrument.Tally:
        tally = instrument.Tally()
        for phase in phases:
            tally.add(bench.recorder.tally(phase, component))
        return tally

    sedo_phases = [r["phase"] for r in sedo_rounds]
    wakeups = sum(r["wakeUps"] for r in sedo_rounds)
    ratios = [
        s["wakeUpsPerSecond"] / c["wakeUpsPerSecond"]
        for s, c in zip(sedo_rounds, ceiling_rounds, strict=True)
        if c["wakeUpsPerSecond"]
    ]
    throughput = {
        "rounds": rounds,
        "executions": sum(r["executions"] for r in sedo_rounds),
        "wakeUps": wakeups,
        "stepsEntered": sum(r["stepsEntered"] for r in sedo_rounds),
        "elapsedSeconds": round(sum(r["elapsedSeconds"] for r in sedo_rounds), 3),
        "wakeUpsPerSecond": round(statistics.median(r["wakeUpsPerSecond"] for r in sedo_rounds), 2),
        "sfnTransitionsPerSecond": round(statistics.median(r["sfnTransitionsPerSecond"] for r in sedo_rounds), 2),
        "perRound": [
            {"wakeUpsPerSecond": s["wakeUpsPerSecond"], "ceilingWakeUpsPerSecond": c["wakeUpsPerSecond"]}
            for s, c in zip(sedo_rounds, ceiling_rounds, strict=True)
        ],
        "opsPerWakeUp": {
            "processor": total(sedo_phases, "processor").ops_per(wakeups),
            "esm": total(sedo_phases, "esm").ops_per(wakeups),
        },
        "latency": latency([s for s in bench.samples if s.phase in sedo_phases and s.result == "committed"]),
        "wakeUpResults": dict(Counter(s.result for s in bench.samples if s.phase in sedo_phases)),
        "ratioToCeiling": round(statistics.median(ratios), 3) if ratios else None,
    }
    hops_total = sum(r["hops"] for r in ceiling_rounds)
    ceiling_summary = {
        "rounds": rounds,
        "chains": sum(r["chains"] for r in ceiling_rounds),
        "hops": hops_total,
        "elapsedSeconds": round(sum(r["elapsedSeconds"] for r in ceiling_rounds), 3),
        "wakeUpsPerSecond": round(statistics.median(r["wakeUpsPerSecond"] for r in ceiling_rounds), 2),
        "itemBytes": ceiling_rounds[-1]["itemBytes"],
        "opsPerWakeUp": total([r["phase"] for r in ceiling_rounds]).ops_per(hops_total),
    }
    return throughput, ceiling_summary


def skipped_throughput() -> tuple[dict[str, Any], dict[str, Any]]:
    """``throughput`` and ``ceiling`` of a run with no workload to run flat out (e.g. ``--workloads map``)."""
    skipped = "no workload of this run takes part in the throughput rounds"
    return {"rounds": 0, "wakeUpsPerSecond": None, "ratioToCeiling": None, "skipped": skipped}, {
        "rounds": 0,
        "wakeUpsPerSecond": None,
        "skipped": skipped,
    }


def environment(workers: int) -> dict[str, Any]:
    from importlib.metadata import version

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadAverage": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "workers": workers,
        "packages": {p: version(p) for p in ("moto", "boto3", "botocore", "aws-lambda-powertools", "connexion")},
        "gitCommit": git("rev-parse", "HEAD"),
        "gitDirty": bool(git("status", "--porcelain", "--untracked-files=no")),
    }


METHODS = {
    "emulator": "moto server (one process) on 127.0.0.1; every figure is from one run on a shared machine: "
    "percentiles and medians, never a best-of. Timings include the emulator's own latency.",
    "cost": "Each workload's executions are started through the real API over HTTP (uvicorn + Connexion) and "
    "run to completion by the real processor Lambda handler (sedo.entrypoints.processor.make_handler), fed by the local "
    "SQS event source mapping (sedo.entrypoints.local.esm) with real queue timers. botocore event hooks on the "
    "adapters' own clients count every AWS request by component, service and operation. DynamoDB capacity units "
    "are computed from item sizes by DynamoDB's rules (moto reports a constant; its figure is kept as "
    "reportedByEmulator). SQS requests are billed per 64 KB chunk; idle polls (empty receives) are excluded "
    "from per-execution cost (on AWS they are the event source's fixed cost). Lambda: one request per "
    "invocation, duration = measured handler wall time rounded up to 1 ms, at the memory size in 'lambda'. "
    "API: one HTTP API request and one API Lambda invocation per call, duration = client-observed latency. "
    "CloudWatch Logs: bytes the processor logged plus a fixed size of Lambda's platform lines per invocation. "
    "Storage, data transfer, X-Ray and the API's access logs are not included.",
    "sfnTransitions": "Step Functions bills each state entered: here, the StepStarted events in each "
    "execution's history (every step entered, every retry attempt).",
    "throughput": "Executions of every workload (their definitions with 1 s waits, so the same wake-ups with "
    "less idle tail) are started with the event source stopped, then processed flat out by the same number of "
    "workers; the rate counts committed wake-ups between the 10th and 90th percentile of completion times "
    "(leaves out ramp-up and the tail of timers). Rounds of sedo and of the ceiling alternate (S C, C S, ...) so "
    "that noise from a shared machine hits both; figures are medians over rounds.",
    "ceiling": "The same workers run bare boto3 calls in the mix one wake-up makes: ReceiveMessage (batch of "
    "up to 10), then per message a strongly consistent GetItem, a conditional PutItem of a head of the same "
    "size, a PutItem of a history item of the same size, a SendMessageBatch of one message of the same size "
    "(but not on an execution's last wake-up), then DeleteMessageBatch. ratioToCeiling = the median over "
    "rounds of sedo's wake-ups per second / the ceiling's in the same round.",
    "batchFlush": "Per processor invocation: the wall time and AWS calls of the flush it makes once its wake-ups "
    "are done (history and list items in BatchWriteItem, then side by side outboxes in SendMessageBatch, "
    "status-change events in PutEvents, running slots given back: sedo/service_layer/batchflush.py); not part "
    "of any wake-up's latency below.",
    "latency": "Per committed wake-up: engine = time inside sedo.domain.engine.advance (pure compute; synchronous "
    "invokes subtracted); awsIo = time inside botocore calls during the wake-up; other = the rest "
    "(JSON, parsing, logging). Timer lateness = the processor's clock when a wait's timer wake-up runs minus "
    "the due time, at light load (the cost runs; SQS delays are whole seconds; includes polling). "
    "emulatorTimerLatenessMs: the same for bare SQS messages with DelaySeconds 1-3 and one long-polling "
    "receiver, no sedo: the floor the emulator sets.",
    "scale": "A cloud model (moto enforces no limit): every capacity unit is charged to the partition key "
    "value and item it lands on (GSI writes and queries to the index's); keys are grouped into classes by shape "
    "(<tenant>, <key>, <definition>, <n>, plain words; else <other>) and scope (iteration, execution, tenant, "
    "deployment). One key of a class takes the class's units / its distinct keys; per transition (or map item) of "
    "the work sharing it, that divides DynamoDB's 1,000 WCU/s and 3,000 RCU/s per partition into a ceiling. "
    "perTenant: the lowest ceiling of tenant and deployment classes; perMap: of the map's own, tenant and deployment "
    "classes, per item; perDeployment: the lowest of processor concurrency (ESM MaximumConcurrency x BatchSize / "
    "(BatchSize x measured wake-up time)), each table's 40,000 units/s on-demand quota, and deployment classes.",
    "alternatives": "The same executions priced on Step Functions Standard (transitions), Express (one request "
    "per execution + its measured duration, rounded up to 100 ms, x 64 MB) and Lambda durable functions (one "
    "operation per transition, the history bytes as checkpointed data, retained 14 days, one Lambda request per "
    "wake-up and sedo's processor duration as its compute).",
    "longWaits": "yearLongWait: executions of one year-long wait with durable timers on, on adapters of their own "
    "with a FakeClock shared by the API services, the processor handler and a real Sweeper, every client counted; SQS "
    "delays are played on the clock; sweeps at a few points through the year and at the arm point (540 s before the "
    "due time); a wait's share of the sweeps is what they did beyond as many idle runs, whose cost is the sweeper's "
    "fixed cost (sweeperPerRunUsd; per month at rate(1 minute)). preSweeper: the same waits with durable timers off, "
    "priced per 900 s re-arm, times 35,040. scaled: the deferred-timer path on the system clock with a 10 s reach, an "
    "8 s arm lead, a 1 s due resolution and a sweep a second; lateness = processor clock at the timer's commit - due.",
    "coldImport": "A fresh interpreter per run imports the module; importMs is measured inside it, processMs "
    "includes interpreter start-up; median of the runs.",
}


# -- markdown ---------------------------------------------------------------------------------


def _usd(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"${value:,.{digits}f}"


def markdown(doc: dict[str, Any]) -> str:
    env = doc["environment"]
    lines = [
        f"## sedo bench - {doc['startedAt']} ({env['gitCommit'][:10]}{' dirty' if env['gitDirty'] else ''})",
        "",
        f"moto {env['packages']['moto']} on 127.0.0.1, {env['cpus']} CPUs, {env['workers']} processor workers. "
        "One run on a shared machine: timings are noisy (medians and percentiles).",
        f"Lambda {doc['lambda']['architecture']}: processor {doc['lambda']['processorMemoryMb']} MB, "
        f"API {doc['lambda']['apiMemoryMb']} MB ({doc['lambda']['source']}); prices: sedo/prices.yaml "
        f"({doc['prices']['region']}, on-demand).",
        "",
        "### Cost",
        "",
        "| workload | executions | SFN transitions/exec | wake-ups/exec | AWS requests/exec | WCU/exec | RCU/exec "
        "| sedo $/execution | sedo $/M transitions | Step Functions $/M | sedo / SFN |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in doc["workloads"]:
        pe = w["perExecution"]
        lines.append(
            f"| {w['name']} | {w['executions']} | {pe['sfnTransitions']:g} | {pe['wakeUps']:g} | "
            f"{pe['awsRequests']:g} | {pe['dynamodb']['wcu']:g} | {pe['dynamodb']['rcu']:g} | "
            f"{_usd(w['costPerExecutionUsd'], 8)} | {_usd(w['costPerMillionSfnTransitionsUsd'])} | "
            f"{_usd(w['stepFunctionsPerMillionUsd'])} | {w['fractionOfStepFunctions']:.1%} |"
        )
    s = doc["summary"]
    lines.append(
        f"| **all** | {s['executions']} | | | | | | | **{_usd(s['costPerMillionSfnTransitionsUsd'])}** | "
        f"{_usd(s['stepFunctionsPerMillionUsd'])} | **{s['fractionOfStepFunctions']:.1%}** |"
    )
    biggest = sorted(s["costBreakdownUsdPerMillionTransitions"].items(), key=lambda kv: -kv[1])[:4]
    lines += [
        "",
        "Per million transitions, the largest lines: " + ", ".join(f"{k} {_usd(v)}" for k, v in biggest) + ".",
    ]
    fanouts = [w for w in doc["workloads"] if "perItem" in w]
    if fanouts:
        lines += [
            "",
            "Fan-out, per item: "
            + "; ".join(
                f"{w['name']} ({w['perItem']['items']:,} items in {w['elapsedSeconds']:g} s): "
                f"{w['perItem']['awsRequests']:g} AWS requests, {w['perItem']['wcu']:g} WCU, "
                f"{w['perItem']['rcu']:g} RCU, {_usd(w['perItem']['costUsd'], 8)} "
                f"({_usd(w['perItem']['costPerMillionItemsUsd'])} per million items)"
                for w in fanouts
            )
            + ".",
        ]
    lines += search.markdown_lines(doc)
    lines += cloud.markdown_lines(doc)
    lines += longwaits.markdown_lines(doc)
    if doc["throughput"].get("wakeUpsPerSecond") is None:
        lines += ["", "### Throughput", "", "(not measured: no workload in this run takes part in throughput rounds)"]
    else:
        lines += _throughput_lines(doc)
    lines += [
        "",
        "### Latency per wake-up (ms)",
        "",
        "| | p50 | p99 | n |",
        "|---|---:|---:|---:|",
    ]
    return _rest(doc, lines)


def _throughput_lines(doc: dict[str, Any]) -> list[str]:
    return [
        "",
        "### Throughput",
        "",
        "| sedo wake-ups/s | SFN transitions/s | raw ceiling wake-ups/s | sedo / ceiling |",
        "|---:|---:|---:|---:|",
        f"| {doc['throughput']['wakeUpsPerSecond']:g} | {doc['throughput']['sfnTransitionsPerSecond']:g} | "
        f"{doc['ceiling']['wakeUpsPerSecond']:g} | **{doc['ratioToCeiling']:.2f}** |",
        "",
        f"({doc['throughput']['rounds']} interleaved rounds, medians: {doc['throughput']['executions']} executions, "
        f"{doc['throughput']['wakeUps']} wake-ups; ceiling {doc['ceiling']['hops']} bare wake-up mixes; sustained "
        "rates between the 10th and 90th percentile of completions; ratio = median of the per-round ratios "
        + ", ".join(
            f"{r['wakeUpsPerSecond']:g}/{r['ceilingWakeUpsPerSecond']:g}" for r in doc["throughput"]["perRound"]
        )
        + ")",
    ]


def _rest(doc: dict[str, Any], lines: list[str]) -> str:
    lat = doc["latency"]
    for label, key in (
        ("engine (advance, pure compute)", "engineMs"),
        ("AWS I/O (botocore calls)", "awsIoMs"),
        ("other (JSON, logging)", "otherMs"),
        ("whole wake-up", "wakeUpMs"),
    ):
        lines.append(f"| {label} | {lat[key]['p50']} | {lat[key]['p99']} | {lat[key]['n']} |")
    flushed = doc.get("batchFlush", {}).get("wallMs")
    if flushed and flushed.get("n"):
        lines.append(f"| batch flush, per invocation (wall) | {flushed['p50']} | {flushed['p99']} | {flushed['n']} |")
    late = doc["timerLatenessMs"]
    lines.append(f"| timer lateness, 1-3 s waits | {late['p50']} | {late['p99']} | {late['n']} |")
    long = doc.get("timerLateness", {}).get("longWaits")
    if long:
        lines.append(f"| timer lateness, long waits (deferred, scaled) | {long['p50']} | {long['p99']} | {long['n']} |")
    light = doc.get("timerLateness", {}).get("shortWaitsLightLoad")
    if light:
        lines.append(f"| timer lateness, 3 s waits, light load | {light['p50']} | {light['p99']} | {light['n']} |")
    base = doc["emulatorTimerLatenessMs"]
    lines.append(f"| (emulator alone: bare SQS timers) | {base['p50']} | {base['p99']} | {base['n']} |")
    lines += [
        "",
        "### Cold import (fresh interpreter, median)",
        "",
        "| module | import ms | process ms |",
        "|---|---:|---:|",
    ]
    for module, figures in doc["coldImport"].items():
        lines.append(f"| {module} | {figures['importMsMedian']} | {figures['processMsMedian']} |")
    if doc["errors"]["count"]:
        lines += [
            "",
            f"{doc['errors']['count']} wake-ups raised (SQS redelivered them), first: {doc['errors']['first'][0]}",
        ]
    lines += ["", f"Results: {doc['resultsFile']} (schema {SCHEMA}, see bench/README.md)"]
    return "\n".join(lines)


# -- the document ------------------------------------------------------------------------------


def document(
    *,
    bench: Bench,
    workers: int,
    started_at: datetime,
    duration_seconds: float,
    output: Path,
    prices: dict[str, Any],
    sizing: pricing.LambdaSizing,
    runs: list[tuple[Workload, dict[str, Any]]],
    throughput: dict[str, Any],
    ceiling: dict[str, Any],
    emulator_timers: dict[str, Any],
    cold: dict[str, Any],
    long_waits: dict[str, Any] | None = None,
    baselines: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The results document (schema ``sedo-bench/1``, bench/README.md) of a finished run;
    ``baselines``: by workload name, the run without its search attributes (``searchBaseline``)."""
    results = [workload_result(bench, w, r, prices, sizing) for w, r in runs]
    for (workload, run), result in zip(runs, results, strict=True):
        if workload.name in (baselines or {}):
            result["searchIndex"] = search_index(bench, workload, run, (baselines or {})[workload.name], prices, sizing)
    cost_samples = [s for s in bench.samples if s.phase.startswith("cost:") and s.result == "committed"]
    all_committed = [s for s in bench.samples if s.result == "committed"]
    sfn_price = float(prices[STEP_FUNCTIONS]["standard_per_million_transitions"])
    transitions = sum(r["totals"]["sfnTransitions"] for r in results)
    total_usd = sum(r["totals"]["usd"]["total"] for r in results)
    breakdown: Counter[str] = Counter()
    for r in results:
        for k, v in r["totals"]["usd"].items():
            if k != "total":
                breakdown[k] += v
    per_million = total_usd / transitions * 1_000_000 if transitions else None
    throughput = dict(throughput)
    return {
        "schema": SCHEMA,
        "startedAt": started_at.isoformat(timespec="seconds"),
        "durationSeconds": round(duration_seconds, 1),
        "resultsFile": str(output.relative_to(REPO_ROOT) if output.is_relative_to(REPO_ROOT) else output),
        "environment": environment(workers),
        "methods": METHODS,
        "prices": prices,
        "lambda": {
            "processorMemoryMb": sizing.processor_memory_mb,
            "apiMemoryMb": sizing.api_memory_mb,
            "architecture": sizing.architecture,
            "source": sizing.source,
        },
        "workloads": results,
        "summary": {
            "executions": sum(r["executions"] for r in results),
            "sfnTransitions": transitions,
            "costUsd": round(total_usd, 10),
            "costPerMillionSfnTransitionsUsd": round_to(per_million, 4),
            "stepFunctionsPerMillionUsd": sfn_price,
            "fractionOfStepFunctions": round_to(per_million / sfn_price if per_million else None, 4),
            "costBreakdownUsdPerMillionTransitions": {
                k: round(v / transitions * 1_000_000, 4) for k, v in sorted(breakdown.items())
            }
            if transitions
            else {},
            "alternatives": cloud.alternatives_summary(results),
        },
        "throughput": throughput,
        "ceiling": ceiling,
        "ratioToCeiling": throughput.pop("ratioToCeiling"),
        "scale": cloud.scale(bench, [(w, r) for w, r in runs if not w.search_baseline]),  # bench/search.py
        "latency": latency(all_committed),
        "batchFlush": batch_flush(bench),
        "latencyLightLoad": latency(cost_samples),
        "timerLatenessMs": summary_ms([s.lateness for s in cost_samples if s.lateness is not None]),
        "emulatorTimerLatenessMs": emulator_timers,
        "longWaits": long_waits or {"skipped": "not run"},
        "timerLateness": timer_lateness(cost_samples, long_waits),
        "coldImport": cold,
        "errors": {"count": len(bench.errors), "first": bench.errors[:20]},
    }


def search_index(
    bench: Bench,
    workload: Workload,
    run: dict[str, Any],
    baseline: dict[str, Any],
    prices: dict[str, Any],
    sizing: pricing.LambdaSizing,
) -> dict[str, Any]:
    """``workloads[].searchIndex`` (bench/search.py): the run with search attributes against its baseline."""
    return search.figures(
        (usage_of(bench, run["phase"]), len(run["ids"])),
        (usage_of(bench, baseline["phase"]), len(baseline["ids"])),
        list(workload.document.get("searchAttributes") or {}),
        prices,
        sizing,
        table=bench.settings.executions_table,
        tenant=TENANT,
    )


def timer_lateness(cost_samples: list[WakeUpSample], long_waits: dict[str, Any] | None) -> dict[str, Any]:
    """``timerLateness`` (ms): short waits (the cost runs' 1-3 s waits: ``timerLatenessMs``),
    long waits (the scaled deferred timers: ``longWaits.scaled.timerLatenessMs``) and short
    waits at their light load (``longWaits.scaled.shortWaitLatenessMs``)."""
    scaled = (long_waits or {}).get("scaled")
    return {
        "shortWaits": summary_ms([s.lateness for s in cost_samples if s.lateness is not None]),
        "longWaits": scaled["timerLatenessMs"] if scaled else None,
        "shortWaitsLightLoad": scaled.get("shortWaitLatenessMs") if scaled else None,
        "goalP99Ms": GOAL_LATENESS_P99_MS,
    }


def write(doc: dict[str, Any], output: Path, started_at: datetime) -> None:
    """``output`` (bench/results/latest.json by default) and a timestamped copy next to it."""
    output.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    output.write_text(text)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    (output.parent / f"{stamp}.json").write_text(text)
