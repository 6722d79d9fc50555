"""The events workload (issue 15): events started per second, and what a million events cost.

    .venv/bin/python -m bench.events [--events 200] [--workers 2]

One moto server on 127.0.0.1 and the stack from template.yaml; a definition with a trigger
(one `pass` step); ``--events`` OrderPlaced events put on the bus (PutEvents, 10 a call)
while nothing consumes them, then the events handler and the processor (the Lambda handlers,
fed by the local event source mapping, ``--workers`` each) run flat out until every
execution succeeded (seen by the processor's observer seam, which costs the emulator
nothing; the store's listing confirms it once at the end), and on until both queues are
drained (sedo's own status-change events come back to the events handler too: their
requests belong to the event's cost). Reported: events started per second (ESM start to
the last success), the requests sedo made per event by service and operation (counted
with botocore hooks on the adapters' clients, as bench/instrument.py does), and the cost
per million events on AWS: EventBridge's price per event put (the event itself and sedo's
own two status-change events per execution) plus sedo's requests at list prices
(sedo/prices.yaml; a DynamoDB write of these small items is one write unit, a read one
read unit, a batch's one per item; Lambda duration is left out, as it depends on the
deployment). Numbers from an emulator on a shared machine: compare runs on the same
machine. Part of `make bench` (``events`` in the results, :func:`markdown`); not of
`make test`. Alone, it prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections import Counter
from typing import Any

import boto3
import yaml

from sedo.config import REPO_ROOT
from sedo.domain.engine import Commit
from sedo.domain.execution import SUCCEEDED
from sedo.service_layer.observe import WakeReport

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
#: Batch operations, and the suffix of their item counts (what DynamoDB charges: a unit per item).
BATCHES, ITEMS = {"BatchWriteItem", "BatchGetItem"}, "#items"
DEFINITION = {
    "id": "bench-events",
    "triggers": [{"event": {"source": ["bench.shop"], "detail-type": ["OrderPlaced"]}, "input": "detail"}],
    "steps": [{"id": "accept", "type": "pass", "end": True}],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.events")
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.events, args.workers), indent=2))
    return 0


def run(n: int, workers: int) -> dict[str, Any]:
    from sedo import bootstrap
    from sedo.adapters.aws import add_client_hook
    from sedo.entrypoints.events import make_handler as events_handler
    from sedo.entrypoints.local.esm import EventSourceMapping
    from sedo.entrypoints.local.moto import MotoServer, export, provision, use_local_credentials
    from sedo.entrypoints.processor import make_handler as processor_handler

    use_local_credentials()
    os.environ.setdefault("SEDO_LOG_LEVEL", "WARNING")
    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def count(service: str, made: Any) -> None:
        def before(model: Any, **_: Any) -> None:
            with lock:
                counts[f"{service}:{model.name}"] += 1

        def items(model: Any, params: dict[str, Any], **_: Any) -> None:
            if model.name in BATCHES:  # priced per item, not per request
                batch = params.get("RequestItems") or {}
                with lock:
                    counts[f"{service}:{model.name}{ITEMS}"] += sum(
                        len(v) if isinstance(v, list) else len(v.get("Keys", [])) for v in batch.values()
                    )

        made.meta.events.register("before-call", before)
        made.meta.events.register(f"before-parameter-build.{service}", items)

    with MotoServer() as moto:
        settings = provision(moto.endpoint, stage="bench-events")
        export(settings)
        watcher = bootstrap.aws_adapters(settings)  # made before the hook: its reads are not counted
        remove = add_client_hook(count)
        adapters = bootstrap.aws_adapters(settings)
        quiet = _quiet()
        events = events_handler(bootstrap.events_handler(adapters, settings), quiet)
        succeeded = Succeeded()
        processor = processor_handler(
            bootstrap.processor(adapters, settings, observer=succeeded), quiet, settings.max_receive_count
        )
        bootstrap.api_services(adapters, settings).definitions.create("bench", dict(DEFINITION))
        raw = boto3.session.Session(region_name=settings.region)
        bus = raw.client("events", endpoint_url=moto.endpoint)
        for start in range(0, n, 10):
            entries = [
                {
                    "Source": "bench.shop",
                    "DetailType": "OrderPlaced",
                    "Detail": json.dumps({"orderId": f"o-{i}", "total": i}),
                    "Resources": ["sedo:tenant/bench"],
                }
                for i in range(start, min(n, start + 10))
            ]
            bus.put_events(Entries=entries)
        with lock:
            counts.clear()  # the setup is not the workload
        sqs = raw.client("sqs", endpoint_url=moto.endpoint)
        mappings = [
            EventSourceMapping(
                sqs,
                settings.events_queue_url,
                _counted(events, "lambda:events", counts, lock),
                settings.region,
                workers,
            ),
            EventSourceMapping(
                sqs, settings.queue_url, _counted(processor, "lambda:processor", counts, lock), settings.region, workers
            ),
        ]
        started = time.monotonic()
        for mapping in mappings:
            mapping.start()
        done_at = succeeded.wait(n, started)
        for url in (settings.events_queue_url, settings.queue_url):  # the status-change events' turn
            _wait_drained(sqs, url)
        for mapping in mappings:
            mapping.stop()
        remove()
        confirmed = _count_succeeded(watcher.executions)
        if confirmed != n:
            raise RuntimeError(f"{confirmed} executions succeeded for {n} events (each must start exactly one)")
    return _report(n, workers, done_at - started, counts)


def _counted(handler: Any, name: str, counts: Counter[str], lock: threading.Lock) -> Any:
    """The handler, counting its invocations (Lambda requests)."""

    def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with lock:
            counts[name] += 1
        return dict(handler(event, context))

    return invoke


class Succeeded:
    """The processor's observer (sedo/service_layer/observe.py): the executions whose commit
    made them succeed, by key (a redelivered wake-up counts once)."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.lock = threading.Lock()

    def wake_up(self, report: WakeReport) -> None:
        decision = report.decision
        if report.result == "committed" and isinstance(decision, Commit) and decision.head.state == SUCCEEDED:
            with self.lock:
                self.keys.add(decision.head.key)

    def wait(self, n: int, started: float, timeout: float = 600) -> float:
        """When ``n`` executions have succeeded."""
        while time.monotonic() - started < timeout:
            with self.lock:
                if len(self.keys) >= n:
                    return time.monotonic()
            time.sleep(0.05)
        raise RuntimeError(f"not every one of {n} executions succeeded within {timeout} s")


def _wait_drained(sqs: Any, url: str, timeout: float = 120) -> None:
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        if all(int(v) == 0 for v in attributes.values()):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not drain within {timeout} s")


def _count_succeeded(executions: Any) -> int:
    """Succeeded executions, through the store's own listing (heads live under per-execution
    partition keys: a query on the tenant finds none)."""
    succeeded, token = 0, None
    while True:
        page = executions.list_executions("bench", 1000, token, ("ExecutionSucceeded",), None)
        succeeded += len(page.items)
        token = page.next_token
        if token is None:
            return succeeded


def _report(n: int, workers: int, seconds: float, counts: Counter[str]) -> dict[str, Any]:
    prices = yaml.safe_load((REPO_ROOT / "sedo" / "prices.yaml").read_text())
    per_event = {op: round(c / n, 2) for op, c in sorted(counts.items()) if not op.endswith(ITEMS)}
    units = {  # a batch's items, else one per request
        op: counts.get(op + ITEMS, c) for op, c in counts.items() if op.startswith("dynamodb:") and ITEMS not in op
    }
    writes = sum(c for op, c in units.items() if op.split(":")[1] in WRITES)
    reads = sum(units.values()) - writes
    sqs = sum(c for op, c in counts.items() if op.startswith("sqs:"))
    invocations = sum(c for op, c in counts.items() if op.startswith("lambda:"))
    put = counts.get("events:PutEvents", 0)  # sedo's status changes (each call here puts one or two)
    sedo_events = 2 * n  # STARTED and SUCCEEDED per execution
    million = 1_000_000 / n
    cost = {
        "eventbridge": (n + sedo_events) * million * prices["eventbridge"]["custom_events_per_million"] / 1e6,
        "dynamodb": (
            writes * prices["dynamodb"]["write_request_unit_per_million"]
            + reads * prices["dynamodb"]["read_request_unit_per_million"]
        )
        * million
        / 1e6,
        "sqs": sqs * million * prices["sqs"]["standard_requests_per_million"] / 1e6,
        "lambdaRequests": invocations * million * prices["lambda"]["requests_per_million"] / 1e6,
    }
    return {
        "events": n,
        "workers": workers,
        "seconds": round(seconds, 2),
        "eventsStartedPerSecond": round(n / seconds, 1),
        "requestsPerEvent": per_event,
        "putEventsCallsPerEvent": round(put / n, 2),
        "costPerMillionEventsUsd": {k: round(v, 2) for k, v in cost.items()} | {"total": round(sum(cost.values()), 2)},
        "note": "Lambda duration is not included (it depends on memory and the deployment); "
        "DynamoDB priced at one unit per request, per item of a batch (the items are small)",
        "dynamodbUnitsPerEvent": {"write": round(writes / n, 2), "read": round(reads / n, 2)},
    }


def markdown(result: dict[str, Any] | None) -> str:
    """The summary's ``### Events`` section (empty when the run left the events out)."""
    if not result:
        return ""
    cost = result["costPerMillionEventsUsd"]
    requests = ", ".join(f"{op} {v:g}" for op, v in result["requestsPerEvent"].items())
    lines = ", ".join(f"{k} ${v:,.2f}" for k, v in cost.items() if k != "total")
    return (
        "\n### Events (issue 15)\n\n"
        f"- {result['events']} events ({result['workers']} workers each for the events handler and the processor): "
        f"{result['eventsStartedPerSecond']:g} executions started per second\n"
        f"- requests (and Lambda invocations) per event: {requests}\n"
        f"- per million events: **${cost['total']:,.2f}** ({lines}; Lambda duration left out)\n"
    )


def _quiet() -> Any:
    import logging

    logger = logging.getLogger("sedo.bench.events")
    logger.setLevel(logging.WARNING)
    return logger


if __name__ == "__main__":
    raise SystemExit(main())
