"""The cloud model: what each DynamoDB key would take on AWS, and the ceilings that follow.

moto enforces no partition limit, so the bench computes them. bench/instrument.py charges
every capacity unit to the partition key value and the item it lands on (of the table, or of
the global secondary index an index write or query touches); this module groups those keys
into *classes* by their shape, and divides DynamoDB's, Lambda's and the event source's
documented limits by what one transition (or one map item) puts on one key of each class.

Nothing here knows sedo's key names. A key value's shape is its ``#``-separated segments,
each replaced by what it is: a tenant of the run ``<tenant>``, a definition id of the run
``<definition>``, an execution key ``<key>`` (an iteration's key is ``<key>.<n>.<n>``),
digits ``<n>``; a plain word stays as it is (``name``, ``map``); anything else is
``<other>``. The shape decides the *scope*, the set of work that shares one key of the class:

- ``iteration``: a key naming an iteration's own key (``<key>.`` ...): one map item;
- ``execution``: a key naming one execution's key: that execution (a map's children included);
- ``tenant``: a key naming a tenant but no execution: every execution of the tenant;
- ``deployment``: neither: everything the deployment runs (an index shard, say).

Keys of a class split its load: each key takes the class's units / the number of distinct
keys the run touched (a hash-sharded class spreads evenly at scale; fewer executions than
shards overstate the load, which errs on the safe side). Per unit of work (a transition of
the sharing set, a map item), one key of the class takes
``units per key / (work of the phase / sets sharing)``, and the class allows
``limit / that`` units of work per second. bench/README.md ("Cloud model") has the formulas.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.instrument import WHOLE_TABLE, ItemRef, Load, PartitionRef, Table

# -- documented limits --------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """AWS's documented limits the model divides (bench/README.md cites each)."""

    partition_wcu: float = 1000.0  # per partition (so at most per partition key value, and per item)
    partition_rcu: float = 3000.0
    table_wcu: float = 40000.0  # on-demand, per table (and per index), the default quota
    table_rcu: float = 40000.0
    account_concurrency: int = 1000  # Lambda concurrent executions per account and Region, default
    esm_max_concurrency: int = 1000  # an SQS event source mapping's MaximumConcurrency at most

    def as_dict(self) -> dict[str, float]:
        return {
            "partitionWcuPerSecond": self.partition_wcu,
            "partitionRcuPerSecond": self.partition_rcu,
            "tableWcuPerSecond": self.table_wcu,
            "tableRcuPerSecond": self.table_rcu,
            "lambdaAccountConcurrency": self.account_concurrency,
            "esmMaximumConcurrency": self.esm_max_concurrency,
        }


@dataclass(frozen=True)
class AwsLatency:
    """What one request takes on AWS, seen from a Lambda function in the same Region: an
    *assumption* (bench/README.md, "Cloud model"), since nothing here runs on AWS. moto over
    local HTTP on a shared machine is slower than DynamoDB and SQS, and not in proportion, so
    the modeled processor uses these per request instead of the emulator's times."""

    dynamodb_item: float = 0.008  # GetItem, PutItem, UpdateItem, DeleteItem: "single-digit millisecond"
    dynamodb_multi: float = 0.015  # BatchGetItem, BatchWriteItem, Query, Scan, transactions
    sqs: float = 0.015  # SendMessage(Batch), DeleteMessage(Batch): typically 10-20 ms
    lambda_invoke: float = 0.030  # a synchronous Invoke's round trip (the function's own time not included)
    s3: float = 0.030  # GetObject, PutObject of small objects
    other: float = 0.020
    #: Lambda gives a function one vCPU at 1,769 MB and proportionally less below: CPU time
    #: measured on one core here takes this / memory times as long there.
    vcpu_memory_mb: int = 1769

    def of(self, service: str, operation: str) -> float:
        if service == "dynamodb":
            single = operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem")
            return self.dynamodb_item if single else self.dynamodb_multi
        return {"sqs": self.sqs, "lambda": self.lambda_invoke, "s3": self.s3}.get(service, self.other)

    def as_dict(self) -> dict[str, float]:
        return {
            "dynamodbItemMs": self.dynamodb_item * 1000,
            "dynamodbBatchOrQueryMs": self.dynamodb_multi * 1000,
            "sqsMs": self.sqs * 1000,
            "lambdaInvokeMs": self.lambda_invoke * 1000,
            "s3Ms": self.s3 * 1000,
            "otherMs": self.other * 1000,
            "vcpuMemoryMb": self.vcpu_memory_mb,
        }


SOURCES = {
    "partition": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html",
    "item": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/burst-adaptive-capacity.html",
    "table": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html",
    "lambda": "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    "esm": "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html",
    "dynamodbLatency": "https://aws.amazon.com/dynamodb/",
    "lambdaCpu": "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html",
}

# -- shapes and scopes ----------------------------------------------------------------------

#: sedo's execution keys: 18 characters of Crockford's base32, a digit among them (the first
#: ones are the start time's milliseconds; sedo.domain.execution.new_execution_key).
_EXECUTION_KEY = re.compile(r"(?<![0-9a-z])(?=[0-9a-z]*[0-9])[0-9a-hjkmnp-tv-z]{18}(?![0-9a-z])", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")
_PLAIN = re.compile(r"(?:[A-Za-z]+|<[a-z]+>|[._-])+")
SCOPES = ("iteration", "execution", "tenant", "deployment")  # narrowest first
SHARED = ("tenant", "deployment")


@dataclass(frozen=True)
class Vocabulary:
    """The run's tenants and definition ids: the names a shape replaces by what they are."""

    tenants: frozenset[str]
    definitions: frozenset[str] = frozenset()


def segment_shape(segment: str, vocabulary: Vocabulary) -> str:
    if segment in vocabulary.tenants:
        return "<tenant>"
    if segment in vocabulary.definitions:
        return "<definition>"
    shaped = _DIGITS.sub("<n>", _EXECUTION_KEY.sub("<key>", segment))
    return shaped if _PLAIN.fullmatch(shaped) else "<other>"


def shape(value: str, vocabulary: Vocabulary) -> str:
    """A key value's shape: ``bench#01J...Z.0.7`` -> ``<tenant>#<key>.<n>.<n>``."""
    if value == WHOLE_TABLE:
        return "<scan>"
    if value == "":
        return "<none>"
    return "#".join(segment_shape(s, vocabulary) for s in value.split("#"))


def scope_of(*shapes: str) -> str:
    """The narrowest scope any of ``shapes`` names (an item: its partition and sort key)."""

    def one(text: str) -> str:
        if "<key>." in text:
            return "iteration"
        if "<key>" in text:
            return "execution"
        if "<tenant>" in text:
            return "tenant"
        return "deployment"

    return min((one(s) for s in shapes), key=SCOPES.index, default="deployment")


# -- what a phase did -------------------------------------------------------------------------


@dataclass(frozen=True)
class Work:
    """One workload's cost run: ``items`` is the fan-out items per execution (0: none)."""

    executions: int
    transitions: int
    wake_ups: int  # every wake-up handled (stale and re-armed ones use concurrency too)
    wake_up_seconds: float  # measured: the mean time of one wake-up
    items: int = 0
    invocation_overhead_seconds: float = 0.0  # measured: handler time per invocation beyond its wake-ups
    cpu_seconds: float = 0.0  # measured: the mean CPU time of one wake-up (its thread's)
    #: measured: the processor's AWS requests per wake-up handled, by (service, operation)
    requests_per_wake_up: Mapping[tuple[str, str], float] = field(default_factory=dict)


def _sharing(scope: str, values: int, work: Work) -> int:
    """How many independent sets of work the keys of a class serve."""
    if scope == "execution":
        return max(1, work.executions)
    if scope == "iteration":
        return max(1, values)
    return 1


def _ratio(limit: float, load: float) -> float | None:
    return limit / load if load > 0 else None


def _least(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


@dataclass
class ClassLoad:
    """The units a key class (or an item class) took in a phase, and per unit of work."""

    name: str
    scope: str
    values: int
    wcu: float
    rcu: float
    work: Work

    def per_key(self) -> Load:
        return Load(self.wcu / max(1, self.values), self.rcu / max(1, self.values))

    def per_transition(self) -> Load:
        share = self.work.transitions / _sharing(self.scope, self.values, self.work)
        key = self.per_key()
        return Load(key.wcu / share, key.rcu / share) if share else Load()

    def per_item(self) -> Load | None:
        if not self.work.items:
            return None
        share = self.work.items * self.work.executions / _sharing(self.scope, self.values, self.work)
        key = self.per_key()
        return Load(key.wcu / share, key.rcu / share) if share else Load()

    def ceiling(self, per: Load | None, limits: Limits) -> float | None:
        """Units of work per second one key of the class allows (None: it takes none)."""
        if per is None:
            return None
        return _least(_ratio(limits.partition_wcu, per.wcu), _ratio(limits.partition_rcu, per.rcu))

    def summary(self, limits: Limits) -> dict[str, Any]:
        transition, item = self.per_transition(), self.per_item()
        out: dict[str, Any] = {
            "scope": self.scope,
            "keys": self.values,
            "wcu": round(self.wcu, 3),
            "rcu": round(self.rcu, 3),
            "wcuPerTransition": round(transition.wcu, 4),
            "rcuPerTransition": round(transition.rcu, 4),
            "transitionsPerSecond": _round(self.ceiling(transition, limits)),
        }
        if item is not None:
            out |= {
                "wcuPerItem": round(item.wcu, 4),
                "rcuPerItem": round(item.rcu, 4),
                "itemsPerSecond": _round(self.ceiling(item, limits)),
            }
        return out


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass
class KeyClass(ClassLoad):
    table: str = ""
    index: str = ""
    attribute: str = ""
    shape: str = ""
    items: list[ClassLoad] = field(default_factory=list)


def classify(
    partitions: Mapping[PartitionRef, Load],
    items: Mapping[ItemRef, Load],
    tables: Mapping[str, Table],
    roles: Mapping[str, str],
    vocabulary: Vocabulary,
    work: Work,
) -> list[KeyClass]:
    """The phase's partition keys grouped into classes (hottest first), each with its item
    classes (by sort key shape)."""

    def names(table: str, index: str) -> tuple[str, str]:
        info = tables.get(table)
        keys: tuple[str, ...] = ("pk", "sk")
        if info is not None:
            keys = next((i.keys for i in info.indexes if i.name == index), ("?",)) if index else info.keys
        return keys[0], keys[1] if len(keys) > 1 else ""

    grouped: dict[tuple[str, str, str], list[Load]] = defaultdict(list)
    for (table, index, value), load in partitions.items():
        grouped[(table, index, shape(value, vocabulary))].append(load)
    by_item: dict[tuple[str, str, str], dict[str, list[Load]]] = defaultdict(lambda: defaultdict(list))
    for (table, index, value, sort), load in items.items():
        by_item[(table, index, shape(value, vocabulary))][shape(sort, vocabulary)].append(load)

    classes: list[KeyClass] = []
    for (table, index, key_shape), loads in grouped.items():
        role = roles.get(table, table)
        attribute, sort_attribute = names(table, index)
        scope = scope_of(key_shape)
        name = f"{role}{'/' + index if index else ''} {attribute}={key_shape}"
        key_class = KeyClass(
            name=name,
            scope=scope,
            values=len(loads),
            wcu=sum(x.wcu for x in loads),
            rcu=sum(x.rcu for x in loads),
            work=work,
            table=role,
            index=index,
            attribute=attribute,
            shape=key_shape,
        )
        for sort_shape, sorted_loads in by_item[(table, index, key_shape)].items():
            key_class.items.append(
                ClassLoad(
                    name=f"{name} {sort_attribute or 'item'}={sort_shape}",
                    scope=scope_of(key_shape, sort_shape),
                    values=len(sorted_loads),
                    wcu=sum(x.wcu for x in sorted_loads),
                    rcu=sum(x.rcu for x in sorted_loads),
                    work=work,
                )
            )
        key_class.items.sort(key=lambda c: -(c.wcu + c.rcu))
        classes.append(key_class)
    classes.sort(key=lambda c: -(c.per_transition().wcu + c.per_transition().rcu / 3))
    return classes


# -- ceilings -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    """A ceiling and what sets it."""

    per_second: float | None
    by: str = ""
    unit: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"perSecond": _round(self.per_second), "limitedBy": self.by or None, "unit": self.unit or None}


def tightest(candidates: Iterable[tuple[float | None, str]], unit: str) -> Bound:
    present = [(v, by) for v, by in candidates if v is not None]
    if not present:
        return Bound(None, unit=unit)
    value, by = min(present, key=lambda vb: vb[0])
    return Bound(value, by, unit)


def key_bound(classes: Iterable[ClassLoad], scopes: tuple[str, ...], limits: Limits, per_item: bool = False) -> Bound:
    """The ceiling the hottest key of the classes in ``scopes`` sets, per transition (or per
    map item), naming the class and whether writes or reads bind."""
    candidates: list[tuple[float | None, str]] = []
    for c in classes:
        if c.scope not in scopes:
            continue
        per = c.per_item() if per_item else c.per_transition()
        if per is None:
            continue
        candidates.append((_ratio(limits.partition_wcu, per.wcu), f"{c.name} (WCU)"))
        candidates.append((_ratio(limits.partition_rcu, per.rcu), f"{c.name} (RCU)"))
    return tightest(candidates, "items" if per_item else "transitions")


def table_bounds(
    partitions: Mapping[PartitionRef, Load], roles: Mapping[str, str], work: Work, limits: Limits
) -> Bound:
    """Transitions per second each table (each index apart) allows at its on-demand quota."""
    totals: dict[str, Load] = defaultdict(Load)
    for (table, index, _), load in partitions.items():
        totals[f"{roles.get(table, table)}{'/' + index if index else ''}"].add(load)
    candidates: list[tuple[float | None, str]] = []
    for name, load in sorted(totals.items()):
        candidates.append((_ratio(limits.table_wcu * work.transitions, load.wcu), f"table {name} (WCU)"))
        candidates.append((_ratio(limits.table_rcu * work.transitions, load.rcu), f"table {name} (RCU)"))
    return tightest(candidates, "transitions")


#: Each of :class:`Template`'s fields: its template.yaml parameter, and the default when the
#: template has none.
PARAMETERS: dict[str, tuple[str, int | float]] = {
    "max_concurrency": ("ProcessorMaxConcurrency", 10),
    "batch_size": ("BatchSize", 10),
    "timeout_seconds": ("ProcessorTimeoutSeconds", 30.0),
    "batching_window_seconds": ("MaxBatchingWindowSeconds", 0.0),
    "memory_mb": ("ProcessorMemorySize", 512),
    "threads": ("ProcessorThreads", 1),
}


@dataclass(frozen=True)
class Template:
    """The processor's settings at template.yaml's defaults."""

    max_concurrency: int
    batch_size: int
    timeout_seconds: float
    batching_window_seconds: float
    memory_mb: int = 512
    threads: int = 1  # wake-ups of one batch processed at once (ProcessorThreads)

    @classmethod
    def from_defaults(cls, defaults: Mapping[str, Any]) -> Template:
        """The settings from template.yaml's parameter defaults (each read as its field's type)."""
        values: dict[str, Any] = {
            name: type(default)(defaults.get(parameter, default)) for name, (parameter, default) in PARAMETERS.items()
        }
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {parameter: getattr(self, name) for name, (parameter, _) in PARAMETERS.items()}


def invocation_seconds(template: Template, work: Work) -> float:
    """On the emulator: one invocation of a full batch, its overhead plus BatchSize wake-ups
    one after another, at the wake-up time measured here."""
    return work.invocation_overhead_seconds + template.batch_size * work.wake_up_seconds


def aws_io_seconds(work: Work, latency: AwsLatency) -> float:
    """One wake-up's time waiting on AWS: its requests (measured) at the assumed latencies."""
    return sum(n * latency.of(service, op) for (service, op), n in work.requests_per_wake_up.items())


def aws_invocation_seconds(template: Template, work: Work, latency: AwsLatency) -> float:
    """On AWS (modeled): one invocation of a full batch. CPU (measured here, slowed down by
    the function's share of a vCPU) is one interpreter's, so a batch's CPU adds up whatever
    the threads; the waits on AWS overlap across ``threads`` wake-ups at a time. The
    invocation takes the longer of the two, plus its overhead (as CPU)."""
    slowdown = max(1.0, latency.vcpu_memory_mb / max(1, template.memory_mb))
    cpu = work.cpu_seconds * slowdown
    threads = max(1, min(template.threads, template.batch_size))
    chain = math.ceil(template.batch_size / threads) * (aws_io_seconds(work, latency) + cpu)
    return work.invocation_overhead_seconds * slowdown + max(template.batch_size * cpu, chain)


def _concurrency(template: Template, limits: Limits) -> int:
    return min(template.max_concurrency, limits.esm_max_concurrency, limits.account_concurrency)


def processor_wake_ups_per_second(
    template: Template, work: Work, limits: Limits, latency: AwsLatency | None = None
) -> float | None:
    """Wake-ups per second the event source mapping and Lambda run at the template's
    settings: concurrency x BatchSize / the time of an invocation of a full batch, where the
    concurrency is MaximumConcurrency (at most the event source's and the account's limit).
    With ``latency``, the invocation is modeled for AWS (:func:`aws_invocation_seconds`);
    without, it is the emulator's (:func:`invocation_seconds`)."""
    modeled = aws_invocation_seconds(template, work, latency) if latency else invocation_seconds(template, work)
    if modeled <= 0:
        return None
    return _concurrency(template, limits) * template.batch_size / modeled


def workload_scale(
    classes: list[KeyClass],
    partitions: Mapping[PartitionRef, Load],
    roles: Mapping[str, str],
    work: Work,
    template: Template,
    limits: Limits,
    latency: AwsLatency | None = None,
) -> dict[str, Any]:
    """One workload's modeled ceilings and its key classes. The processor's bound is modeled
    for AWS when the work says what requests a wake-up makes (else the emulator's times)."""
    items = [i for c in classes for i in c.items]
    tenant = key_bound(classes, SHARED, limits)
    tenant_item = key_bound(items, SHARED, limits)
    per_execution = work.transitions / max(1, work.executions)
    latency = latency if latency is not None and work.requests_per_wake_up else None
    wake_ups = processor_wake_ups_per_second(template, work, limits, latency)
    on_emulator = processor_wake_ups_per_second(template, work, limits)
    transitions_per_wake_up = work.transitions / max(1, work.wake_ups)
    processor = wake_ups * transitions_per_wake_up if wake_ups is not None else None
    tables = table_bounds(partitions, roles, work, limits)
    deployment_keys = key_bound(classes, ("deployment",), limits)
    deployment = tightest(
        [
            (processor, "processor concurrency (event source mapping x batch / invocation time)"),
            (tables.per_second, tables.by),
            (deployment_keys.per_second, deployment_keys.by),
        ],
        "transitions",
    )
    result: dict[str, Any] = {
        "executions": work.executions,
        "transitions": work.transitions,
        "transitionsPerExecution": round(per_execution, 3),
        "perTenant": {
            **tenant.as_dict(),
            "executionsPerSecond": _round(tenant.per_second / per_execution if tenant.per_second else None),
            "singleItemPerSecond": _round(tenant_item.per_second),
            "singleItemLimitedBy": tenant_item.by or None,
        },
        "deployment": {
            **deployment.as_dict(),
            "wakeUpMs": round(work.wake_up_seconds * 1000, 3),
            "wakeUpCpuMs": round(work.cpu_seconds * 1000, 3),
            "invocationOverheadMs": round(work.invocation_overhead_seconds * 1000, 3),
            "invocationMs": round(invocation_seconds(template, work) * 1000, 3),
            "batchFitsTimeout": invocation_seconds(template, work) < template.timeout_seconds,
            "modeledFor": "aws" if latency is not None else "emulator",
            "awsIoMsPerWakeUp": round(aws_io_seconds(work, latency) * 1000, 3) if latency else None,
            "awsInvocationMs": round(aws_invocation_seconds(template, work, latency) * 1000, 3) if latency else None,
            "requestsPerWakeUp": {
                f"{sv}:{op}": round(n, 3) for (sv, op), n in sorted(work.requests_per_wake_up.items())
            },
            "processorConcurrency": _concurrency(template, limits),
            "processorWakeUpsPerSecondOnEmulator": _round(on_emulator),
            "processorWakeUpsPerSecond": _round(wake_ups),
            "transitionsPerWakeUp": round(transitions_per_wake_up, 3),
            "processorTransitionsPerSecond": _round(processor),
            "tablesTransitionsPerSecond": _round(tables.per_second),
            "tablesLimitedBy": tables.by or None,
            "deploymentKeysTransitionsPerSecond": _round(deployment_keys.per_second),
        },
        "keyClasses": [_class_row(c, limits) for c in classes],
    }
    if work.items:
        # a map's items share its own keys (scope execution) and the tenant's and deployment's
        shared_by_items = ("execution", *SHARED)
        per_map = key_bound(classes, shared_by_items, limits, per_item=True)
        per_map_item = key_bound(items, shared_by_items, limits, per_item=True)
        wake_ups_per_item = work.wake_ups / max(1, work.items * work.executions)
        processor_items = wake_ups / wake_ups_per_item if wake_ups is not None and wake_ups_per_item else None
        result["perMap"] = {
            **per_map.as_dict(),
            "items": work.items,
            "singleItemPerSecond": _round(per_map_item.per_second),
            "singleItemLimitedBy": per_map_item.by or None,
            "wakeUpsPerItem": round(wake_ups_per_item, 3),
            "processorItemsPerSecond": _round(processor_items),
            "atDefaultsPerSecond": _round(_least(per_map.per_second, processor_items)),
        }
    return result


def _class_row(c: KeyClass, limits: Limits) -> dict[str, Any]:
    return {
        "class": c.name,
        "table": c.table,
        "index": c.index or None,
        "attribute": c.attribute,
        "shape": c.shape,
        **c.summary(limits),
        "items": [{"class": i.name, **i.summary(limits)} for i in c.items],
    }


def hottest_shared_key(classes: Iterable[KeyClass]) -> tuple[float, str] | None:
    """The shared (tenant or deployment) key class with the most write units per transition."""
    shared = [(c.per_transition().wcu, c.name) for c in classes if c.scope in SHARED]
    return max(shared, default=None)


def overall(workloads: Mapping[str, dict[str, Any]], hottest: Mapping[str, tuple[float, str] | None]) -> dict[str, Any]:
    """The headline figures over every workload: the lowest ceiling of each kind, and where."""

    def lowest(path: tuple[str, ...]) -> tuple[float | None, str | None, str | None]:
        found: list[tuple[float, str, str | None]] = []
        for name, figures in workloads.items():
            node: Any = figures
            for step in path:
                node = node.get(step) if isinstance(node, dict) else None
            if isinstance(node, dict) and node.get("perSecond") is not None:
                found.append((float(node["perSecond"]), name, node.get("limitedBy")))
        if not found:
            return None, None, None
        return min(found, key=lambda f: f[0])

    tenant, tenant_workload, tenant_by = lowest(("perTenant",))
    per_map, map_workload, map_by = lowest(("perMap",))
    deployment, deployment_workload, deployment_by = lowest(("deployment",))
    top = max(((v, c, w) for w, h in hottest.items() if h for v, c in [h]), default=None)
    return {
        "perTenantTransitionsPerSecond": tenant,
        "perTenantExecutionsPerSecond": {
            name: figures["perTenant"]["executionsPerSecond"] for name, figures in workloads.items()
        },
        "perTenantLimitedBy": {"workload": tenant_workload, "key": tenant_by},
        "perMapItemsPerSecond": per_map,
        "perMapLimitedBy": {"workload": map_workload, "key": map_by},
        "perMapItemsPerSecondAtDefaults": min(
            (
                f["perMap"]["atDefaultsPerSecond"]
                for f in workloads.values()
                if f.get("perMap", {}).get("atDefaultsPerSecond")
            ),
            default=None,
        ),
        "perDeploymentTransitionsPerSecond": deployment,
        "perDeploymentLimitedBy": {"workload": deployment_workload, "by": deployment_by},
        "perDeploymentByWorkload": {
            name: {
                key: figures["deployment"].get(key)
                for key in ("perSecond", "limitedBy", "processorTransitionsPerSecond", "tablesTransitionsPerSecond")
            }
            for name, figures in workloads.items()
            if "deployment" in figures
        },
        "hottestKeyWcuPerTransition": round(top[0], 4) if top else None,
        "hottestKeyClass": top[1] if top else None,
        "hottestKeyWorkload": top[2] if top else None,
    }
