"""The benchmark's stack: moto, the real API and processor on instrumented adapters.

:class:`Bench` starts one moto server on 127.0.0.1, the API in-process (uvicorn) and the
processor Lambda handler behind the local SQS event source mapping. The clients the
adapters create carry botocore hooks (bench/instrument.py) that count every request; the
processor reports every wake-up to the bench through its observer seam
(sedo/service_layer/observe.py): result, decision, engine and invoke time, timer lateness.
Nothing in sedo is patched.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import instrument
from bench.workload import Workload
from sedo.adapters.s3items import S3Objects
from sedo.config import REPO_ROOT, Settings
from sedo.domain.engine import Commit
from sedo.domain.execution import STEP_STARTED
from sedo.service_layer.processing import Processed

if TYPE_CHECKING:
    import httpx

    from sedo.bootstrap import Adapters
    from sedo.service_layer.observe import FlushReport, WakeReport

TENANT = "bench"
#: Where `make bench` and the benchmark's parts write their JSON.
RESULTS = Path(__file__).resolve().parent / "results"
LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
#: Lifetime of the bench's API token: longer than any run.
TOKEN_TTL_SECONDS = 6 * 3600


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class CountingStream(io.StringIO):
    """Where the processor's logger writes: counts the bytes CloudWatch Logs would ingest
    (and keeps none of them)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0
        self.lock = threading.Lock()

    def write(self, text: str, /) -> int:
        with self.lock:
            self.bytes += len(text.encode())
        return len(text)


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
    cpu: float = 0.0  # the processing thread's CPU time
    tenant: str = ""


@dataclass
class PhaseLog:
    invocations: list[float] = field(default_factory=list)  # processor handler durations, seconds
    records: int = 0
    #: Per invocation that flushed at its end (sedo/service_layer/batchflush.py): AWS seconds, calls.
    flushes: list[tuple[float, int]] = field(default_factory=list)
    api: list[float] = field(default_factory=list)  # API request durations, seconds
    log_bytes: int = 0
    started: float = 0.0
    ended: float = 0.0


#: The bench's event source polls this often while the queue is empty (see Bench.event_source).
PROMPT_POLL_SECONDS = 0.05


class Bench:
    """The running stack, the samples and logs of every phase, and the bench's own reads."""

    def __init__(self, workers: int, state_dir: Path) -> None:
        self.workers = workers
        self.state_dir = state_dir
        self.samples: list[WakeUpSample] = []
        self.errors: list[str] = []
        self.finished: set[tuple[str, str]] = set()
        self.inline_steps: Counter[str] = Counter()  # steps of inline iterations, by top-level key
        self.definition_ids: set[str] = set()  # uploaded: the cloud model names them <definition>
        self.phases: dict[str, PhaseLog] = {}
        self.lock = threading.Lock()
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

        from sedo import bootstrap
        from sedo.adapters.aws import client
        from sedo.entrypoints.local.moto import MotoServer, provision, use_local_credentials
        from sedo.entrypoints.processor import make_handler
        from sedo.service_layer.observe import TimedInvoker

        use_local_credentials()
        # invoke steps (the map workload) call the local example functions, as under `make run`
        os.environ.setdefault("SEDO_LOCAL_FUNCTIONS", str(REPO_ROOT / "definitions" / "functions" / "local.yaml"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        moto = MotoServer()
        moto.start(log=self.state_dir / "moto.log")
        self.stack.callback(moto.stop)
        say(f"moto server on {moto.endpoint}")
        self.settings: Settings = provision(
            moto.endpoint, stage="bench", parameters={"QueueVisibilityTimeoutSeconds": "10"}
        )
        settings = self.settings
        # uncounted: the bench's own reads
        self.observer_services = bootstrap.api_services(bootstrap.aws_adapters(settings), settings)
        self.observer_sqs: Any = client("sqs", settings)
        self.observer_dynamodb: Any = client("dynamodb", settings)
        tables = {
            name: instrument.Table.describe(self.observer_dynamodb, name)
            for name in (settings.definitions_table, settings.executions_table, settings.history_table)
            + ((settings.tenants_table,) if settings.tenants_table else ())  # quotas and the usage ledger
        }
        self.recorder = instrument.Recorder(tables)

        processor_adapters = self.instrumented(bootstrap.aws_adapters(settings), "processor", per_wakeup=True)
        if processor_adapters.invoker is not None:  # invoke time is not engine compute
            processor_adapters = replace(processor_adapters, invoker=TimedInvoker(processor_adapters.invoker))
        api_adapters = self.instrumented(bootstrap.aws_adapters(settings), "api")
        self.api_services = bootstrap.api_services(api_adapters, settings)
        self.esm_sqs: Any = self.recorder.instrument(client("sqs", settings), "esm")

        self.log_stream = CountingStream()
        #: The processors' logger (bench/longwaits.py builds processors of its own on it).
        self.logger = Logger(service="sedo-bench-processor", level="INFO", stream=self.log_stream)
        processor = bootstrap.processor(processor_adapters, settings, self.logger, observer=self)
        self.handler = self.timed(make_handler(processor, self.logger))

        base_url, token = self._serve_api(settings, api_adapters)
        self.http = self.stack.enter_context(_api_client(base_url, token))
        say(f"API on {base_url}; processor: {self.workers} event source workers")

    def instrumented(self, adapters: Adapters, component: str, per_wakeup: bool = False) -> Adapters:
        """``adapters`` with their clients counted as ``component`` (each client once)."""
        seen: set[int] = set()
        for adapter in (adapters.definitions, adapters.executions, adapters.queue):
            target = getattr(adapter, "client", None)
            if target is not None and id(target) not in seen:
                seen.add(id(target))
                self.recorder.instrument(target, component, per_wakeup=per_wakeup)
        bus = getattr(adapters.bus, "client", None)  # EventBridge: the status-change events
        if bus is not None:
            self.recorder.instrument(bus, component, per_wakeup=per_wakeup)
        objects = adapters.s3maps.objects if adapters.s3maps is not None else None
        if isinstance(objects, S3Objects):  # maps over S3: the item sources read, the results written
            self.recorder.instrument(objects.s3, component, per_wakeup=per_wakeup)
        return adapters

    def _serve_api(self, settings: Settings, adapters: Adapters) -> tuple[str, str]:
        """The API in-process, verifying tokens signed by a key of the bench's own."""
        from sedo.auth import local as auth
        from sedo.entrypoints.local.serve import serve_api

        key = auth.ensure_signing_key(self.state_dir / auth.SIGNING_KEY_FILE)
        api_settings = auth.local_verification(settings, key)
        base_url: str = self.stack.enter_context(serve_api(api_settings, adapters=adapters))
        return base_url, auth.mint_token(key, {TENANT: "author"}, TOKEN_TTL_SECONDS)

    # -- what the processor reports ---------------------------------------------------------

    def wake_up(self, report: WakeReport) -> None:
        """The processor's observer: one sample per wake-up (sedo/service_layer/observe.py)."""
        aws, calls = self.recorder.take_wakeup_io()
        committed = report.result == Processed.COMMITTED
        sample = WakeUpSample(
            phase=self.phase,
            kind=report.kind,
            result=report.result,
            total=report.timings.total,
            engine=report.timings.engine,
            aws=aws,
            aws_calls=calls,
            invoke=report.timings.invoke,
            ended=time.monotonic(),
            lateness=report.lateness if committed else None,
            cpu=max(0.0, report.timings.cpu - self.recorder.take_hook_cpu()),  # sedo's, not the recorder's
            tenant=str(report.body.get("tenantId", "")) if isinstance(report.body, dict) else "",
        )
        decision = report.decision
        with self.lock:
            self.samples.append(sample)
            if isinstance(report.error, Exception):
                self.errors.append(f"{self.phase}: {type(report.error).__name__}: {report.error}"[:500])
            if committed and isinstance(decision, Commit) and decision.head.finished:
                self.finished.add((decision.head.tenant_id, decision.head.key))

    def flush_ran(self, report: FlushReport) -> None:
        """A Lambda batch's flush: its wall time (its calls run partly side by side) and calls."""
        with self.lock:
            self.phases.setdefault(self.phase, PhaseLog()).flushes.append((report.seconds, report.calls))

    def segment_ran(self, commit: Commit) -> None:
        """An inline iteration's segment (sedo/service_layer/observe.py). One that finished left
        no history (its steps count here, by its top-level execution's key); one that became a
        child has its first segment in its own history, which _child_steps counts."""
        head = commit.head
        if head.finished:
            entered = sum(1 for e in head.pending_events if e["type"] == STEP_STARTED)
            with self.lock:
                self.inline_steps[head.key.split(".", 1)[0]] += entered

    def timed(self, inner: LambdaHandler) -> LambdaHandler:
        """A processor Lambda handler, its duration and batch size logged per phase."""

        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            started = time.perf_counter()
            try:
                return inner(event, context)
            finally:
                elapsed = time.perf_counter() - started
                self.recorder.take_wakeup_io()  # the batch's flush (flush_ran), no wake-up's
                with self.lock:
                    log_ = self.phases.setdefault(self.phase, PhaseLog())
                    log_.invocations.append(elapsed)
                    log_.records += len(event.get("Records", []))

        return handler

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
    def event_source(self, handler: LambdaHandler | None = None) -> Iterator[None]:
        """The local event source mapping feeding ``handler`` (the bench's processor by default)."""
        from sedo.entrypoints.local.esm import EventSourceMapping

        phase, self.recorder.phase = self.recorder.phase, "setup"
        # The bench measures the emulator's throughput and sedo's cost; the local stack's
        # function-timeout model (sedo/entrypoints/local/deadline.py) is for tests and make run.
        esm = EventSourceMapping(
            self.esm_sqs,
            self.settings.queue_url,
            handler or self.handler,
            self.settings.region,
            self.workers,
            # moto's long poll notices a delayed message only when its one-second wait ends
            # (AWS's returns it when it becomes visible): short polls every PROMPT_POLL_SECONDS
            # make timers as prompt as on AWS (empty receives are idle polls, not priced)
            wait_seconds=0,
            function_timeout=0,
            idle_pause=PROMPT_POLL_SECONDS,
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
        raise RuntimeError(f"the queue did not drain: {attributes['Attributes']}")

    def committed(self, phase: str) -> list[WakeUpSample]:
        return [s for s in self.samples if s.phase == phase and s.result == Processed.COMMITTED]

    # -- definitions and checks -----------------------------------------------------------------

    def upload(self, workload: Workload) -> None:
        self.phase = self.recorder.phase = "setup"
        response = self.http.post(f"/sedo/tenants/{TENANT}/definitions", json=workload.document)
        if response.status_code != 201:
            raise RuntimeError(f"workload {workload.name}: the API refused its definition: {response.text}")
        self.definition_ids.add(workload.definition_id)

    def _child_steps(self, execution_id: str) -> int:
        """Steps entered by a map's or parallel's iterations, nested ones included (Step
        Functions bills those too). A scan of the history table by key prefix (and one of the
        executions table for the last segments the children's heads keep): moto answers
        every Query by walking the whole table, so a query per child would take hours at
        10,000 items (the scan is the observer's, outside the counted requests)."""
        from sedo.adapters.dynamodb import all_items
        from sedo.adapters.dynamodb.headdoc import head_of
        from sedo.domain.execution import history_in_head, split_execution_id

        _, _, key = split_execution_id(execution_id)
        pages = all_items(
            self.observer_dynamodb.scan,
            TableName=self.settings.history_table,
            FilterExpression="begins_with(pk, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": f"{TENANT}#{key}."}},
        )
        written = sum(1 for item in pages for e in json.loads(item["events"]["S"]) if e["type"] == STEP_STARTED)
        # a finished child's last segment stays in its head (history_in_head): one more scan
        heads = all_items(
            self.observer_dynamodb.scan,
            TableName=self.settings.executions_table,
            FilterExpression="contains(pk, :key) AND attribute_exists(#seq) AND attribute_exists(#state)",
            ExpressionAttributeNames={"#seq": "seq", "#state": "state"},  # heads (results hold a doc too)
            ExpressionAttributeValues={":key": {"S": key}},
        )
        kept = (head_of(item) for item in heads)
        with self.lock:
            inline = self.inline_steps[key]  # iterations that ran inline (mode: inline): no history
        return (
            written
            + inline
            + sum(
                1
                for head in kept
                if head.key.startswith(f"{key}.") and history_in_head(head)
                for e in head.pending_events
                if e["type"] == STEP_STARTED
            )
        )

    def verify(self, execution_ids: list[str], fans_out: bool = False) -> dict[str, Any]:
        """Every execution succeeded; its history says how many steps it entered; its head
        when it was created and ended (``durationsSeconds``, for Express's duration charge)."""
        from sedo.domain.execution import SUCCEEDED
        from sedo.domain.timefmt import parse_ts

        states: Counter[str] = Counter()
        steps = 0
        durations: list[float] = []
        for execution_id in execution_ids:
            head = self.observer_services.executions.get(TENANT, execution_id)
            states[head["state"]] += 1
            if head.get("endedAt"):
                durations.append((parse_ts(head["endedAt"]) - parse_ts(head["createdAt"])).total_seconds())
            page = self.observer_services.executions.history(TENANT, execution_id, 100_000, None)
            steps += sum(1 for e in page.items if e["type"] == STEP_STARTED)
            if fans_out:
                steps += self._child_steps(execution_id)
        if states[SUCCEEDED] != len(execution_ids):
            raise RuntimeError(f"not every execution succeeded: {dict(states)}")
        return {"states": dict(states), "stepsEntered": steps, "durationsSeconds": durations}


def _api_client(base_url: str, token: str) -> httpx.Client:
    """An HTTP client for the API, as curl would talk to it, with the bench tenant's token."""
    import httpx

    return httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
