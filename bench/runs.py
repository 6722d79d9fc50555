"""``make bench``: cost, throughput against the emulator's ceiling, latency, cold imports.

One run, against one moto server on 127.0.0.1 (see bench/README.md for every method):

1. cold imports: ``processor.handler`` and ``sedo.entrypoints.api.app`` in fresh interpreters;
2. cost and latency: each workload (bench/workloads) started through the real API over HTTP
   and run to completion by the real processor Lambda handler, fed by the local SQS event
   source mapping, with real queue timers; every AWS request counted and priced;
3. throughput: executions of every workload pre-loaded, then processed flat out;
4. ceiling: the same per-wake-up mix of bare SQS and DynamoDB calls, no orchestration.
5. events (issue 15, bench/events.py): ``--events`` events on the bus start executions through
   the events handler, on a moto server of its own once the first is down.

Writes bench/results/latest.json (and a timestamped copy) and prints a markdown summary.
The stack is bench/harness.py, the figures and the document bench/report.py; this module
runs the workloads and rounds. ``--quick`` (or ``SEDO_BENCH_QUICK=1``) runs everything
tiny, to check the bench end to end in about a minute: its figures mean nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import events, fairness, instrument, longwaits, pricing, report
from bench.harness import RESULTS, TENANT, Bench, say
from bench.stats import summary_ms, windowed_rate
from bench.workload import Workload, load_all, stage_s3
from sedo.config import REPO_ROOT

COLD_IMPORT_MODULES = ("processor.handler", "sedo.entrypoints.api.app")
#: ``--quick``: executions scaled by this, at most this many fan-out items, one round of this many.
QUICK_SCALE, QUICK_ITEMS, QUICK_THROUGHPUT_EXECUTIONS = 0.1, 20, 12
#: ``--quick``: year-long waits and scaled long waits (bench/longwaits.py).
QUICK_YEAR_WAITS, QUICK_SCALED_WAITS = 5, 6
#: ``--quick``: events put for the events workload (bench/events.py).
QUICK_EVENTS = 30


# -- cold imports -----------------------------------------------------------------------------


def cold_imports(runs: int) -> dict[str, Any]:
    code = "import time; t = time.perf_counter(); import {m}; print(time.perf_counter() - t)"
    results: dict[str, Any] = {}
    for module in COLD_IMPORT_MODULES:
        imports, processes = [], []
        for _ in range(runs):
            started = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", code.format(m=module)],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            processes.append(time.perf_counter() - started)
            imports.append(float(out.stdout.strip().splitlines()[-1]))
        results[module] = {
            "importMsMedian": round(statistics.median(imports) * 1000, 1),
            "processMsMedian": round(statistics.median(processes) * 1000, 1),
            "importMs": [round(v * 1000, 1) for v in imports],
            "runs": runs,
        }
        say(f"cold import {module}: {results[module]['importMsMedian']} ms (median of {runs})")
    return results


# -- workloads and rounds ----------------------------------------------------------------------


def cost_run(bench: Bench, workload: Workload, count: int) -> dict[str, Any]:
    bench.upload(workload)
    if workload.s3 is not None:
        from sedo.adapters.aws import client

        stage_s3(client("s3", bench.settings), workload)  # uncounted setup
    phase = f"cost:{workload.name}"
    ids: list[str] = []
    with bench.in_phase(phase) as log_, bench.event_source():
        for _ in range(count):
            started = time.perf_counter()
            response = bench.http.post(
                f"/sedo/tenants/{TENANT}/definitions/{workload.definition_id}/execute",
                json={"input": workload.input},
            )
            log_.api.append(time.perf_counter() - started)
            if response.status_code != 201:
                raise RuntimeError(f"workload {workload.name}: execute answered {response.status_code}")
            ids.append(response.json()["id"])
        bench.wait_finished({(TENANT, i.rsplit(":", 1)[-1]) for i in ids}, timeout=workload.timeout)
        bench.wait_queue_empty()
    checked = bench.verify(ids, workload.fans_out)
    say(f"{workload.name}: {count} executions in {log_.ended - log_.started:.1f} s")
    return {"phase": phase, "ids": ids, **checked}


def throughput_run(bench: Bench, plan: list[tuple[Workload, int]], phase: str) -> dict[str, Any]:
    ids: list[str] = []
    with bench.in_phase(f"{phase}-load"):
        for workload, count in plan:
            for _ in range(count):
                started, _created = bench.api_services.executions.start(TENANT, workload.definition_id, workload.input)
                ids.append(started["id"])
    with bench.in_phase(phase) as log_, bench.event_source():
        bench.wait_finished({(TENANT, i.rsplit(":", 1)[-1]) for i in ids}, timeout=600)
        bench.wait_queue_empty()
    checked = bench.verify(ids, any(w.fans_out for w, _ in plan))
    committed = bench.committed(phase)
    rate, window = windowed_rate([s.ended for s in committed])
    say(f"{phase}: sedo, {len(committed)} wake-ups in {log_.ended - log_.started:.1f} s, {rate:.1f}/s sustained")
    return {
        "phase": phase,
        "executions": len(ids),
        "wakeUps": len(committed),
        "stepsEntered": checked["stepsEntered"],
        "elapsedSeconds": round(log_.ended - log_.started, 3),
        "wakeUpsPerSecond": round(rate, 2),
        "sfnTransitionsPerSecond": round(rate * checked["stepsEntered"] / max(1, len(committed)), 2),
        "windowSeconds": round(window, 3),
    }


def timer_baseline(bench: Bench, count: int = 30) -> dict[str, Any]:
    """The emulator's own lateness for bare SQS message timers of 1-3 s (no sedo involved)."""
    sqs = bench.observer_sqs
    queue_url = sqs.create_queue(QueueName=f"sedo-bench-timers-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    due: dict[str, float] = {}
    for index in range(count):
        delay = 1 + index % 3
        due[str(index)] = time.monotonic() + delay
        sqs.send_message(QueueUrl=queue_url, MessageBody=str(index), DelaySeconds=delay)
    lateness: list[float] = []
    deadline = time.monotonic() + 30
    while len(lateness) < count and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        now = time.monotonic()
        lateness.extend(now - due[m["Body"]] for m in messages)
        if messages:
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
    sqs.delete_queue(QueueUrl=queue_url)
    return summary_ms(lateness)


def ceiling_run(
    bench: Bench, chains: list[int], head_bytes: int, history_bytes: int, message_bytes: int, phase: str
) -> dict[str, Any]:
    """Bare SQS and DynamoDB calls in the mix one wake-up makes, with no orchestration."""
    from sedo.adapters.aws import client

    ddb = bench.recorder.instrument(client("dynamodb", bench.settings), "ceiling")
    sqs = bench.recorder.instrument(client("sqs", bench.settings), "ceiling")
    queue_url = bench.settings.queue_url
    executions, history = bench.settings.executions_table, bench.settings.history_table
    tenant = "ceiling-" + uuid.uuid4().hex[:6]
    fixed = len("pk") + len(tenant) + len("sk") + 8 + len("dpk") + len(tenant) + 10 + len("seq") + 2
    fixed += len("state") + 16 + len("doc")
    filler = "x" * max(0, head_bytes - fixed)
    history_filler = "x" * max(0, history_bytes - 40)

    def head(key: str, seq: int) -> dict[str, Any]:
        return {
            "pk": {"S": tenant},
            "sk": {"S": key},
            "dpk": {"S": f"{tenant}#ceiling"},
            "seq": {"N": str(seq)},
            "state": {"S": "ExecutionStarted"},
            "doc": {"S": filler},
        }

    def message(key: str, hop: int, hops: int) -> str:
        body = {"tenantId": tenant, "key": key, "seq": hop, "hops": hops, "pad": ""}
        text = json.dumps(body, separators=(",", ":"))
        body["pad"] = "x" * max(0, message_bytes - len(text))
        return json.dumps(body, separators=(",", ":"))

    keys = [f"c{index:06d}" for index in range(len(chains))]
    with bench.in_phase(f"{phase}-load"):
        for key in keys:
            ddb.put_item(TableName=executions, Item=head(key, 0))
        entries = [
            {"Id": str(i), "MessageBody": message(key, 0, hops)}
            for i, (key, hops) in enumerate(zip(keys, chains, strict=True))
        ]
        for start in range(0, len(entries), 10):
            batch = [dict(e, Id=str(j)) for j, e in enumerate(entries[start : start + 10])]
            sqs.send_message_batch(QueueUrl=queue_url, Entries=batch)

    total = sum(chains)
    done: list[float] = []
    stop = threading.Event()

    def hop(body: dict[str, Any]) -> None:
        key, seq, hops = body["key"], int(body["seq"]), int(body["hops"])
        ddb.get_item(TableName=executions, Key={"pk": {"S": tenant}, "sk": {"S": key}}, ConsistentRead=True)
        try:
            ddb.put_item(
                TableName=executions,
                Item=head(key, seq + 1),
                ConditionExpression="seq = :expected",
                ExpressionAttributeValues={":expected": {"N": str(seq)}},
            )
        except ddb.exceptions.ConditionalCheckFailedException:
            return  # a redelivery: like sedo, ack and stop
        if seq + 1 < hops:  # like sedo: an execution's last segment stays in its head
            ddb.put_item(
                TableName=history,
                Item={
                    "pk": {"S": f"{tenant}#{key}"},
                    "sk": {"N": str(seq + 1)},
                    "seq": {"N": str(seq + 1)},
                    "events": {"S": history_filler},
                },
            )
            sqs.send_message_batch(
                QueueUrl=queue_url, Entries=[{"Id": "0", "MessageBody": message(key, seq + 1, hops)}]
            )
        with bench.lock:
            done.append(time.monotonic())

    def worker() -> None:
        while not stop.is_set():
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            )
            for m in messages:
                hop(json.loads(m["Body"]))
            if messages:
                sqs.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                )

    with bench.in_phase(phase) as log_:
        threads = [threading.Thread(target=worker, daemon=True) for _ in range(bench.workers)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 600
        while len(done) < total and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        for thread in threads:
            thread.join(10)
    if len(done) < total:
        raise RuntimeError(f"the ceiling run did {len(done)} of {total} hops")
    rate, window = windowed_rate(done)
    say(f"{phase}: bare calls, {total} hops in {log_.ended - log_.started:.1f} s, {rate:.1f}/s sustained")
    return {
        "phase": phase,
        "chains": len(chains),
        "hops": total,
        "elapsedSeconds": round(log_.ended - log_.started, 3),
        "wakeUpsPerSecond": round(rate, 2),
        "windowSeconds": round(window, 3),
        "itemBytes": {"head": head_bytes, "history": history_bytes, "message": message_bytes},
    }


def throughput_and_ceiling(
    bench: Bench, runs: list[tuple[Workload, dict[str, Any]]], executions: int, scale: float, rounds: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Interleaved rounds of sedo flat out and of the bare-call ceiling (S C, C S, S C, ...).

    The machine is shared: pairing each sedo round with a ceiling round run right next to it
    (alternating which goes first) keeps slow spells from landing on one side only. Figures are
    medians over rounds; the ratio is the median of the per-round ratios.
    """
    workloads = [w for w, _ in runs if w.throughput]
    if not workloads:  # e.g. --workloads map: nothing to run flat out
        return report.skipped_throughput()
    weights = [w.executions for w in workloads]
    per_round = max(len(workloads), round(executions * scale / rounds))
    # the same definitions with 1 s waits: the same wake-ups, less idle time at the tail
    fast = [w.with_waits(1).with_id(f"{w.definition_id}-tp") for w in workloads]
    for workload in fast:
        bench.upload(workload)
    plan = [(w, max(1, round(per_round * n / sum(weights)))) for w, n in zip(fast, weights, strict=True)]
    # hops per ceiling chain: each workload's committed wake-ups per execution in its cost run
    hops = [max(1, round(len(bench.committed(r["phase"])) / len(r["ids"]))) for w, r in runs if w.throughput]
    chains = [n for (_, count), n in zip(plan, hops, strict=True) for _ in range(count)]
    sedo_rounds: list[dict[str, Any]] = []
    ceiling_rounds: list[dict[str, Any]] = []

    def sedo(index: int) -> None:
        sedo_rounds.append(throughput_run(bench, plan, f"throughput#{index}"))

    def ceiling(index: int) -> None:
        phases = [r["phase"] for r in sedo_rounds]
        tally = instrument.Tally()
        for phase in phases:
            tally.add(bench.recorder.tally(phase))
        processor_sizes = [m for phase in phases for m in bench.recorder.tally(phase, "processor").message_sizes]
        head = tally.put_sizes.get(bench.settings.executions_table, [])
        history = tally.put_sizes.get(bench.settings.history_table, [])
        ceiling_rounds.append(
            ceiling_run(
                bench,
                chains,
                head_bytes=round(statistics.mean(head)) if head else 1000,
                history_bytes=round(statistics.mean(history)) if history else 500,
                message_bytes=round(statistics.mean(processor_sizes)) if processor_sizes else 300,
                phase=f"ceiling#{index}",
            )
        )

    for index in range(1, rounds + 1):
        order = (sedo, ceiling) if index % 2 else (ceiling, sedo)
        for step in order:
            step(index)

    return report.throughput_summary(bench, rounds, sedo_rounds, ceiling_rounds)


# -- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every workload's executions")
    parser.add_argument("--workloads", nargs="*", help="workload names (default: every file in bench/workloads)")
    parser.add_argument("--workers", type=int, default=2, help="processor workers (event source pollers)")
    parser.add_argument(
        "--throughput-executions",
        type=int,
        default=1500,
        help="executions in the throughput run, over its rounds (500 a round by default: enough in flight across timers)",
    )
    parser.add_argument("--cold-runs", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved sedo/ceiling throughput rounds")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    parser.add_argument("--year-waits", type=int, default=20, help="year-long waits priced on a fake clock (0: none)")
    parser.add_argument(
        "--scaled-waits", type=int, default=20, help="scaled long waits timed on the system clock (0: none)"
    )
    parser.add_argument(
        "--fairness-burst", type=int, default=200, help="executions the noisy tenant bursts (0: no fairness phase)"
    )
    parser.add_argument("--fairness-probes", type=int, default=10, help="the quiet tenant's timed executions")
    parser.add_argument(
        "--events", type=int, default=200, help="events put for the events workload, bench/events.py (0: none)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("SEDO_BENCH_QUICK", "") == "1",
        help=f"a smoke run (also SEDO_BENCH_QUICK=1): scale {QUICK_SCALE}, fan-outs of at most {QUICK_ITEMS} items, "
        f"one round of {QUICK_THROUGHPUT_EXECUTIONS} throughput executions, one cold import; figures not comparable",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.scale, args.rounds, args.cold_runs = QUICK_SCALE, 1, 1
        args.throughput_executions = QUICK_THROUGHPUT_EXECUTIONS
        args.year_waits = min(args.year_waits, QUICK_YEAR_WAITS)
        args.scaled_waits = min(args.scaled_waits, QUICK_SCALED_WAITS)
        args.fairness_burst, args.fairness_probes = min(args.fairness_burst, 30), min(args.fairness_probes, 4)
        args.events = min(args.events, QUICK_EVENTS)

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for noisy in ("sedo", "connexion", "uvicorn", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    started_at = datetime.now(UTC)
    clock = time.monotonic()
    workloads = load_all(names=args.workloads or None, range_cap=QUICK_ITEMS if args.quick else None)
    prices = pricing.load_prices()
    sizing = pricing.lambda_sizing(prices)
    say(f"workloads: {', '.join(w.name for w in workloads)}; scale {args.scale}{' (quick)' if args.quick else ''}")

    cold = cold_imports(args.cold_runs)
    with Bench(args.workers, REPO_ROOT / ".local" / "bench") as bench:
        # Fan-outs (not in the throughput rounds) run last: their thousands of iterations
        # would otherwise fill the emulator's tables (and moto walks a table on every Query).
        scale: float = args.scale

        def count(w: Workload) -> int:
            return max(1, round(w.executions * scale))

        baselines: dict[str, dict[str, Any]] = {}  # searchBaseline: the runs without search attributes

        def measured(w: Workload) -> tuple[Workload, dict[str, Any]]:
            run = cost_run(bench, w, count(w))
            if w.search_baseline:  # right after it, on the same tables
                baselines[w.name] = cost_run(bench, w.without_search(), count(w))
            return w, run

        runs = [measured(w) for w in workloads if w.throughput]
        throughput, ceiling = throughput_and_ceiling(bench, runs, args.throughput_executions, scale, args.rounds)
        fair = fairness.run(bench, args.fairness_burst, args.fairness_probes)  # a second tenant while one bursts
        # before the fan-outs too: the sweeper queries the due index once a second
        long_waits = longwaits.run(bench, args.year_waits, args.scaled_waits, prices, sizing, quick=args.quick)
        runs += [measured(w) for w in workloads if not w.throughput]
        runs.sort(key=lambda run: workloads.index(run[0]))
        emulator_timers = timer_baseline(bench)
        output: Path = args.output
        doc = report.document(
            bench=bench,
            workers=args.workers,
            started_at=started_at,
            duration_seconds=time.monotonic() - clock,
            output=output,
            prices=prices,
            sizing=sizing,
            runs=runs,
            throughput=throughput,
            ceiling=ceiling,
            emulator_timers=emulator_timers,
            cold=cold,
            long_waits=long_waits,
            baselines=baselines,
        )
    if fair is not None:
        doc["fairness"] = fair
    # events (issue 15): a stack of its own (a second moto server), once the main one is down
    triggered = events.run(args.events, args.workers) if args.events > 0 else None
    if triggered is not None:
        doc["events"] = triggered
        say(f"events: {triggered['events']} events, {triggered['eventsStartedPerSecond']:g} started per second")
    report.write(doc, output, started_at)
    print(report.markdown(doc) + fairness.markdown(fair) + events.markdown(triggered))
    return 0
