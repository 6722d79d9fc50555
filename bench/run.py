"""``make bench``: cost, throughput against the emulator's ceiling, latency, cold imports.

One run, against one moto server on 127.0.0.1 (see bench/README.md for every method):

1. cold imports: ``processor.handler`` and ``sedo.entrypoints.api.app`` in fresh interpreters;
2. cost and latency: each workload (bench/workloads) started through the real API over HTTP
   and run to completion by the real processor Lambda handler, fed by the local SQS event
   source mapping, with real queue timers; every AWS request counted and priced;
3. throughput: executions of every workload pre-loaded, then processed flat out;
4. ceiling: the same per-wake-up mix of bare SQS and DynamoDB calls, no orchestration.

Writes bench/results/latest.json (and a timestamped copy) and prints a markdown summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import instrument, pricing
from bench.workload import Workload, load_all
from sedo.config import REPO_ROOT, Settings

RESULTS = Path(__file__).resolve().parent / "results"
SCHEMA = "sedo-bench/1"
TENANT = "bench"
COLD_IMPORT_MODULES = ("processor.handler", "sedo.entrypoints.api.app")
STEP_FUNCTIONS = "step_functions"

log = logging.getLogger("sedo.bench")


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- statistics -------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (no interpolation); None without samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(-(-p * len(ordered) // 100)))
    return ordered[min(rank, len(ordered)) - 1]


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    values = [s * 1000 for s in seconds]
    return {
        "p50": _round(percentile(values, 50)),
        "p99": _round(percentile(values, 99)),
        "max": _round(max(values) if values else None),
        "n": len(values),
    }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def windowed_rate(stamps: list[float], low: float = 0.1, high: float = 0.9) -> tuple[float, float]:
    """Completions per second between the ``low`` and ``high`` fractions of all completions.

    Leaves out the ramp-up and the tail (the last executions' timers), so it measures the
    sustained rate. Returns (rate, window seconds).
    """
    ordered = sorted(stamps)
    if len(ordered) < 10:
        span = (ordered[-1] - ordered[0]) if len(ordered) > 1 else 0.0
        return (len(ordered) / span if span > 0 else 0.0), span
    first, last = int(low * len(ordered)), int(high * len(ordered)) - 1
    span = ordered[last] - ordered[first]
    return ((last - first) / span if span > 0 else 0.0), span


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


# -- the instrumented stack ---------------------------------------------------------------------


class CountingStream:
    """Where the processor's logger writes: counts the bytes CloudWatch Logs would ingest."""

    def __init__(self) -> None:
        self.bytes = 0
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            self.bytes += len(text.encode())
        return len(text)

    def flush(self) -> None:
        pass


@dataclass
class WakeUpSample:
    phase: str
    kind: str
    result: str
    total: float
    engine: float
    aws: float
    aws_calls: int
    invoke: float
    ended: float
    lateness: float | None = None


@dataclass
class _State(threading.local):
    engine: float = 0.0
    invoke: float = 0.0
    decision: Any = None
    lateness: float | None = None


@dataclass
class PhaseLog:
    invocations: list[float] = field(default_factory=list)  # processor handler durations, seconds
    records: int = 0
    api: list[float] = field(default_factory=list)  # API request durations, seconds
    log_bytes: int = 0
    started: float = 0.0
    ended: float = 0.0


class Bench:
    def __init__(self, workers: int, state_dir: Path) -> None:
        self.workers = workers
        self.state_dir = state_dir
        self.samples: list[WakeUpSample] = []
        self.errors: list[str] = []
        self.finished: set[tuple[str, str]] = set()
        self.phases: dict[str, PhaseLog] = {}
        self.lock = threading.Lock()
        self.state = _State()
        self.stack = ExitStack()
        self.phase = "setup"

    # -- setup ----------------------------------------------------------------------------

    def __enter__(self) -> Bench:
        try:
            self._start()
        except BaseException:
            self.stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    def _start(self) -> None:
        from aws_lambda_powertools import Logger

        import sedo.service_layer.processing as processing
        from sedo import bootstrap
        from sedo.adapters.aws import client
        from sedo.entrypoints.local.moto import MotoServer, provision, use_local_credentials
        from sedo.entrypoints.processor import make_handler
        from tests.support import api_client, serve_api

        use_local_credentials()
        # invoke steps (the map workload) call the local example functions, as under `make run`
        os.environ.setdefault("SEDO_LOCAL_FUNCTIONS", str(REPO_ROOT / "definitions" / "functions" / "local.yaml"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.moto = MotoServer()
        self.moto.start(log=self.state_dir / "moto.log")
        self.stack.callback(self.moto.stop)
        say(f"moto server on {self.moto.endpoint}")
        self.settings: Settings = provision(
            self.moto.endpoint, stage="bench", parameters={"QueueVisibilityTimeoutSeconds": "10"}
        )
        settings = self.settings
        self.observer = bootstrap.aws_adapters(settings)  # uncounted: the bench's own reads
        self.observer_services = bootstrap.api_services(self.observer, settings)
        self.observer_sqs = client("sqs", settings)
        ddb = client("dynamodb", settings)
        tables = {
            name: instrument.Table.describe(ddb, name)
            for name in (settings.definitions_table, settings.executions_table, settings.history_table)
        }
        self.recorder = instrument.Recorder(tables)

        def instrumented(component: str) -> Any:
            adapters = bootstrap.aws_adapters(settings)
            seen: set[int] = set()
            for adapter in (adapters.definitions, adapters.executions, adapters.queue):
                target = getattr(adapter, "client", None)
                if target is not None and id(target) not in seen:
                    seen.add(id(target))
                    self.recorder.instrument(target, component)
            return adapters

        self.processor_adapters = instrumented("processor")
        self.api_adapters = instrumented("api")
        self.api_services = bootstrap.api_services(self.api_adapters, settings)
        self.esm_sqs = self.recorder.instrument(client("sqs", settings), "esm")

        self.log_stream = CountingStream()
        logger = Logger(service="sedo-bench-processor", level="INFO", stream=self.log_stream)  # type: ignore[arg-type]
        self.processor = bootstrap.processor(self.processor_adapters, settings, logger)

        # time the engine (pure compute) inside each wake-up, and timer lateness
        original_advance = processing.advance  # type: ignore[attr-defined]
        state = self.state

        def timed_advance(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                decision = original_advance(*args, **kwargs)
            finally:
                state.engine += time.perf_counter() - started
            state.decision = decision
            wake = args[2] if len(args) > 2 else kwargs.get("wake")
            now = args[3] if len(args) > 3 else kwargs.get("now")
            if wake is not None and now is not None and wake.kind == "timer" and wake.due and _is_commit(decision):
                from sedo.domain.timefmt import parse_ts

                state.lateness = (now - parse_ts(wake.due)).total_seconds()
            return decision

        processing.advance = timed_advance  # type: ignore[attr-defined]
        self.stack.callback(setattr, processing, "advance", original_advance)

        invoker = getattr(self.processor, "invoker", None)
        if invoker is not None and hasattr(invoker, "invoke"):
            original_invoke = invoker.invoke

            def timed_invoke(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return original_invoke(*args, **kwargs)
                finally:
                    state.invoke += time.perf_counter() - started

            invoker.invoke = timed_invoke

        original_process = self.processor.process

        def timed_process(body: Any, *args: Any, **kwargs: Any) -> str:
            state.engine, state.invoke, state.decision, state.lateness = 0.0, 0.0, None, None
            self.recorder.begin_wakeup()
            started = time.perf_counter()
            result = "error"
            try:
                result = original_process(body, *args, **kwargs)
                return result
            except Exception as exc:
                with self.lock:
                    self.errors.append(f"{self.phase}: {type(exc).__name__}: {exc}"[:500])
                raise
            finally:
                total = time.perf_counter() - started
                aws, calls = self.recorder.end_wakeup()
                sample = WakeUpSample(
                    phase=self.phase,
                    kind=str(body.get("kind")) if isinstance(body, dict) else "?",
                    result=result,
                    total=total,
                    engine=max(0.0, state.engine - state.invoke),
                    aws=aws,
                    aws_calls=calls,
                    invoke=state.invoke,
                    ended=time.monotonic(),
                    lateness=state.lateness if result == "committed" else None,
                )
                decision = state.decision
                with self.lock:
                    self.samples.append(sample)
                    if result == "committed" and _is_commit(decision) and decision.head.finished:
                        self.finished.add((decision.head.tenant_id, decision.head.key))

        self.processor.process = timed_process  # type: ignore[method-assign,assignment]
        handler = make_handler(self.processor, logger)

        def timed_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            started = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                elapsed = time.perf_counter() - started
                with self.lock:
                    log_ = self.phases.setdefault(self.phase, PhaseLog())
                    log_.invocations.append(elapsed)
                    log_.records += len(event.get("Records", []))

        self.handler = timed_handler

        base_url = self.stack.enter_context(serve_api(settings, adapters=self.api_adapters))
        self.http = self.stack.enter_context(api_client(base_url, TENANT, "author"))
        say(f"API on {base_url}; processor: {self.workers} event source workers")

    # -- phases ------------------------------------------------------------------------------

    @contextmanager
    def in_phase(self, name: str) -> Iterator[PhaseLog]:
        log_ = self.phases.setdefault(name, PhaseLog())
        log_.log_bytes -= self.log_stream.bytes
        self.phase = self.recorder.phase = name
        log_.started = time.monotonic()
        try:
            yield log_
        finally:
            log_.ended = time.monotonic()
            log_.log_bytes += self.log_stream.bytes
            self.phase = self.recorder.phase = "idle"

    @contextmanager
    def event_source(self) -> Iterator[None]:
        from sedo.entrypoints.local.esm import EventSourceMapping

        phase, self.recorder.phase = self.recorder.phase, "setup"
        esm = EventSourceMapping(
            self.esm_sqs, self.settings.queue_url, self.handler, self.settings.region, self.workers, wait_seconds=1
        )
        self.recorder.phase = phase
        esm.start()
        try:
            yield
        finally:
            esm.stop()

    def wait_finished(self, keys: set[tuple[str, str]], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                missing = keys - self.finished
            if not missing:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(missing)} of {len(keys)} executions did not finish within {timeout:.0f} s")
            time.sleep(0.05)

    def wait_queue_empty(self, timeout: float = 60) -> None:
        """Until every received message was deleted (the last acks belong to the phase)."""
        deadline = time.monotonic() + timeout
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        while time.monotonic() < deadline:
            attributes = self.observer_sqs.get_queue_attributes(QueueUrl=self.settings.queue_url, AttributeNames=names)
            if all(int(v) == 0 for v in attributes["Attributes"].values()):
                return
            time.sleep(0.1)
        raise RuntimeError("the queue did not drain")

    def upload(self, workload: Workload) -> None:
        self.phase = self.recorder.phase = "setup"
        response = self.http.post(f"/sedo/tenants/{TENANT}/definitions", json=workload.document)
        if response.status_code != 201:
            raise RuntimeError(f"workload {workload.name}: the API refused its definition: {response.text}")

    def _child_steps(self, execution_id: str) -> int:
        """Steps entered by a map's or parallel's iterations, nested ones included (Step
        Functions bills those too). One scan of the history table by key prefix: moto answers
        every Query by walking the whole table, so a query per child would take hours at
        10,000 items (the scan is the observer's, outside the counted requests)."""
        from sedo.adapters.dynamodb import all_items
        from sedo.domain.execution import STEP_STARTED, split_execution_id

        store: Any = self.observer_services.executions.executions
        if not hasattr(store, "client"):
            return 0
        _, _, key = split_execution_id(execution_id)
        pages = all_items(
            store.client.scan,
            TableName=store.history_table,
            FilterExpression="begins_with(pk, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": f"{TENANT}#{key}."}},
        )
        return sum(1 for item in pages for e in json.loads(item["events"]["S"]) if e["type"] == STEP_STARTED)

    def verify(self, execution_ids: list[str], fans_out: bool = False) -> dict[str, Any]:
        """Every execution succeeded; its history says how many steps it entered."""
        from sedo.domain.execution import STEP_STARTED, SUCCEEDED

        states: Counter[str] = Counter()
        steps = 0
        for execution_id in execution_ids:
            states[self.observer_services.executions.get(TENANT, execution_id)["state"]] += 1
            page = self.observer_services.executions.history(TENANT, execution_id, 100_000, None)
            steps += sum(1 for e in page.items if e["type"] == STEP_STARTED)
            if fans_out:
                steps += self._child_steps(execution_id)
        if states[SUCCEEDED] != len(execution_ids):
            raise RuntimeError(f"not every execution succeeded: {dict(states)}")
        return {"states": dict(states), "stepsEntered": steps}

    def cost_run(self, workload: Workload, count: int) -> dict[str, Any]:
        self.upload(workload)
        phase = f"cost:{workload.name}"
        ids: list[str] = []
        with self.in_phase(phase) as log_, self.event_source():
            for _ in range(count):
                started = time.perf_counter()
                response = self.http.post(
                    f"/sedo/tenants/{TENANT}/definitions/{workload.definition_id}/execute",
                    json={"input": workload.input},
                )
                log_.api.append(time.perf_counter() - started)
                if response.status_code != 201:
                    raise RuntimeError(f"workload {workload.name}: execute answered {response.status_code}")
                ids.append(response.json()["id"])
            self.wait_finished({(TENANT, i.rsplit(":", 1)[-1]) for i in ids}, timeout=workload.timeout)
            self.wait_queue_empty()
        checked = self.verify(ids, workload.fans_out)
        say(f"{workload.name}: {count} executions in {log_.ended - log_.started:.1f} s")
        return {"phase": phase, "ids": ids, **checked}

    def throughput_run(self, plan: list[tuple[Workload, int]], phase: str) -> dict[str, Any]:
        ids: list[str] = []
        with self.in_phase(f"{phase}-load"):
            for workload, count in plan:
                for _ in range(count):
                    started, _created = self.api_services.executions.start(
                        TENANT, workload.definition_id, workload.input
                    )
                    ids.append(started["id"])
        with self.in_phase(phase) as log_, self.event_source():
            self.wait_finished({(TENANT, i.rsplit(":", 1)[-1]) for i in ids}, timeout=600)
            self.wait_queue_empty()
        checked = self.verify(ids, any(w.fans_out for w, _ in plan))
        committed = [s for s in self.samples if s.phase == phase and s.result == "committed"]
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

    def timer_baseline(self, count: int = 30) -> dict[str, Any]:
        """The emulator's own lateness for bare SQS message timers of 1-3 s (no sedo involved)."""
        sqs = self.observer_sqs
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
        self, chains: list[int], head_bytes: int, history_bytes: int, message_bytes: int, phase: str
    ) -> dict[str, Any]:
        """Bare SQS and DynamoDB calls in the mix one wake-up makes, with no orchestration."""
        from sedo.adapters.aws import client

        ddb = self.recorder.instrument(client("dynamodb", self.settings), "ceiling")
        sqs = self.recorder.instrument(client("sqs", self.settings), "ceiling")
        queue_url = self.settings.queue_url
        executions, history = self.settings.executions_table, self.settings.history_table
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
        with self.in_phase(f"{phase}-load"):
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
            ddb.put_item(
                TableName=history,
                Item={
                    "pk": {"S": f"{tenant}#{key}"},
                    "sk": {"N": str(seq + 1)},
                    "seq": {"N": str(seq + 1)},
                    "events": {"S": history_filler},
                },
            )
            if seq + 1 < hops:
                sqs.send_message_batch(
                    QueueUrl=queue_url, Entries=[{"Id": "0", "MessageBody": message(key, seq + 1, hops)}]
                )
            with self.lock:
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

        with self.in_phase(phase) as log_:
            threads = [threading.Thread(target=worker, daemon=True) for _ in range(self.workers)]
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


def _is_commit(decision: Any) -> bool:
    from sedo.domain.engine import Commit

    return isinstance(decision, Commit)


# -- assembling results -----------------------------------------------------------------------


def ops_per(tally: instrument.Tally, count: int) -> dict[str, dict[str, float]]:
    """Calls per unit (wake-up, hop, execution) by service and operation; idle polls apart."""
    out: dict[str, dict[str, float]] = {}
    for (service, op), n in sorted(tally.calls.items()):
        if service == "sqs" and op == "ReceiveMessage":
            n -= tally.sqs_idle_polls
        if n:
            out.setdefault(service, {})[op] = round(n / max(1, count), 4)
    return out


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
                component: ops_per(bench.recorder.tally(phase, component), executions)
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
        "costPerMillionSfnTransitionsUsd": _round(per_million, 4),
        "stepFunctionsPerExecutionUsd": round(transitions / executions * sfn_price / 1_000_000, 10),
        "stepFunctionsPerMillionUsd": sfn_price,
        "fractionOfStepFunctions": _round(per_million / sfn_price if per_million else None, 4),
        "latency": latency(committed),
        "timerLatenessMs": summary_ms([s.lateness for s in committed if s.lateness is not None]),
        "totals": {"usd": lines, "sfnTransitions": transitions, "wakeUps": len(committed)},
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
        skipped = "no workload of this run takes part in the throughput rounds"
        return {"rounds": 0, "wakeUpsPerSecond": None, "ratioToCeiling": None, "skipped": skipped}, {
            "rounds": 0,
            "wakeUpsPerSecond": None,
            "skipped": skipped,
        }
    weights = [w.executions for w in workloads]
    per_round = max(len(workloads), round(executions * scale / rounds))
    # the same definitions with 1 s waits: the same wake-ups, less idle time at the tail
    fast = [w.with_waits(1).with_id(f"{w.definition_id}-tp") for w in workloads]
    for workload in fast:
        bench.upload(workload)
    plan = [(w, max(1, round(per_round * n / sum(weights)))) for w, n in zip(fast, weights, strict=True)]
    # hops per ceiling chain: each workload's committed wake-ups per execution in its cost run
    hops = [
        max(
            1, round(sum(1 for s in bench.samples if s.phase == r["phase"] and s.result == "committed") / len(r["ids"]))
        )
        for w, r in runs
        if w.throughput
    ]
    chains = [n for (_, count), n in zip(plan, hops, strict=True) for _ in range(count)]
    sedo_rounds: list[dict[str, Any]] = []
    ceiling_rounds: list[dict[str, Any]] = []

    def sedo(index: int) -> None:
        sedo_rounds.append(bench.throughput_run(plan, f"throughput#{index}"))

    def ceiling(index: int) -> None:
        phases = [r["phase"] for r in sedo_rounds]
        tally = instrument.Tally()
        for phase in phases:
            tally.add(bench.recorder.tally(phase))
        processor_sizes = [m for phase in phases for m in bench.recorder.tally(phase, "processor").message_sizes]
        head = tally.put_sizes.get(bench.settings.executions_table, [])
        history = tally.put_sizes.get(bench.settings.history_table, [])
        ceiling_rounds.append(
            bench.ceiling_run(
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
            "processor": ops_per(total(sedo_phases, "processor"), wakeups),
            "esm": ops_per(total(sedo_phases, "esm"), wakeups),
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
        "opsPerWakeUp": ops_per(total([r["phase"] for r in ceiling_rounds]), hops_total),
    }
    return throughput, ceiling_summary


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
    "latency": "Per committed wake-up: engine = time inside sedo.domain.engine.advance (pure compute; synchronous "
    "invokes subtracted); awsIo = time inside botocore calls during the wake-up; other = the rest "
    "(JSON, parsing, logging). Timer lateness = the processor's clock when a wait's timer wake-up runs minus "
    "the due time, at light load (the cost runs; SQS delays are whole seconds; includes polling). "
    "emulatorTimerLatenessMs: the same for bare SQS messages with DelaySeconds 1-3 and one long-polling "
    "receiver, no sedo: the floor the emulator sets.",
    "coldImport": "A fresh interpreter per run imports the module; importMs is measured inside it, processMs "
    "includes interpreter start-up; median of the runs.",
}


# -- output ------------------------------------------------------------------------------------


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
        f"API {doc['lambda']['apiMemoryMb']} MB ({doc['lambda']['source']}); prices: bench/prices.yaml "
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
    late = doc["timerLatenessMs"]
    lines.append(f"| timer lateness, 1-3 s waits | {late['p50']} | {late['p99']} | {late['n']} |")
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


# -- main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every workload's executions")
    parser.add_argument("--workloads", nargs="*", help="workload names (default: every file in bench/workloads)")
    parser.add_argument("--workers", type=int, default=2, help="processor workers (event source pollers)")
    parser.add_argument("--throughput-executions", type=int, default=300, help="executions in the throughput run")
    parser.add_argument("--cold-runs", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved sedo/ceiling throughput rounds")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    for noisy in ("sedo", "connexion", "uvicorn", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    started_at = datetime.now(UTC)
    clock = time.monotonic()
    workloads = load_all(names=args.workloads or None)
    prices = pricing.load_prices()
    sizing = pricing.lambda_sizing(prices)
    say(f"workloads: {', '.join(w.name for w in workloads)}; scale {args.scale}")

    cold = cold_imports(args.cold_runs)
    with Bench(args.workers, REPO_ROOT / ".local" / "bench") as bench:
        # Fan-outs (not in the throughput rounds) run last: their thousands of iterations
        # would otherwise fill the emulator's tables (and moto walks a table on every Query).
        runs = [(w, bench.cost_run(w, max(1, round(w.executions * args.scale)))) for w in workloads if w.throughput]
        throughput, ceiling = throughput_and_ceiling(bench, runs, args.throughput_executions, args.scale, args.rounds)
        runs += [
            (w, bench.cost_run(w, max(1, round(w.executions * args.scale)))) for w in workloads if not w.throughput
        ]
        runs.sort(key=lambda run: workloads.index(run[0]))
        emulator_timers = bench.timer_baseline()
        results = [workload_result(bench, w, r, prices, sizing) for w, r in runs]
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
    output: Path = args.output
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "startedAt": started_at.isoformat(timespec="seconds"),
        "durationSeconds": round(time.monotonic() - clock, 1),
        "resultsFile": str(output.relative_to(REPO_ROOT) if output.is_relative_to(REPO_ROOT) else output),
        "environment": environment(args.workers),
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
            "costPerMillionSfnTransitionsUsd": _round(per_million, 4),
            "stepFunctionsPerMillionUsd": sfn_price,
            "fractionOfStepFunctions": _round(per_million / sfn_price if per_million else None, 4),
            "costBreakdownUsdPerMillionTransitions": {
                k: round(v / transitions * 1_000_000, 4) for k, v in sorted(breakdown.items())
            }
            if transitions
            else {},
        },
        "throughput": throughput,
        "ceiling": ceiling,
        "ratioToCeiling": throughput.pop("ratioToCeiling"),
        "latency": latency(all_committed),
        "latencyLightLoad": latency(cost_samples),
        "timerLatenessMs": summary_ms([s.lateness for s in cost_samples if s.lateness is not None]),
        "emulatorTimerLatenessMs": emulator_timers,
        "coldImport": cold,
        "errors": {"count": len(bench.errors), "first": bench.errors[:20]},
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    output.write_text(text)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    (output.parent / f"{stamp}.json").write_text(text)
    print(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
