"""The bench's cloud model: key attribution, key classes by shape, ceiling arithmetic, and
the Express and durable-function prices (bench/instrument.py, bench/model.py, bench/pricing.py)."""

from __future__ import annotations

from typing import Any

import pytest

from bench import cloud, model, pricing
from bench.instrument import Index, Load, Recorder, Table, Tally
from sedo.domain.execution import new_execution_key

VOCABULARY = model.Vocabulary(frozenset({"acme"}), frozenset({"orders"}))
EXECUTIONS = Table(
    "sedo-t-executions",
    ("pk", "sk"),
    (Index("byDefinition", ("dpk", "sk"), "KEYS_ONLY"), Index("byDue", ("dueShard", "dueAt"), "KEYS_ONLY")),
)
ROLES = {"sedo-t-executions": "executions", "sedo-t-history": "history"}


def s(value: str) -> dict[str, str]:
    return {"S": value}


# -- shapes and scopes ---------------------------------------------------------------------------


def test_shapes_name_what_each_segment_is() -> None:
    key = new_execution_key()
    assert model.shape("acme", VOCABULARY) == "<tenant>"
    assert model.shape(f"acme#{key}", VOCABULARY) == "<tenant>#<key>"
    assert model.shape(f"acme#{key}.0.17", VOCABULARY) == "<tenant>#<key>.<n>.<n>"
    assert model.shape("acme#orders", VOCABULARY) == "<tenant>#<definition>"
    assert model.shape("acme#name", VOCABULARY) == "<tenant>#name"
    assert model.shape("d07", VOCABULARY) == "d<n>"
    assert model.shape("0000000001#b#00003", VOCABULARY) == "<n>#b#<n>"
    assert model.shape("acme#who knows?", VOCABULARY) == "<tenant>#<other>"
    assert model.shape("*", VOCABULARY) == "<scan>"


def test_every_fresh_execution_key_is_a_key_and_words_are_not() -> None:
    for _ in range(200):
        assert model.shape(new_execution_key(), VOCABULARY) == "<key>"
    assert model.shape("abcdefghjkmnpqrstv", VOCABULARY) == "abcdefghjkmnpqrstv"  # 18 letters, no digit


@pytest.mark.parametrize(
    ("shapes", "scope"),
    [
        (("<tenant>#<key>.<n>.<n>",), "iteration"),
        (("<tenant>#<key>",), "execution"),
        (("<tenant>",), "tenant"),
        (("<tenant>#name",), "tenant"),
        (("d<n>",), "deployment"),
        (("<tenant>", "<key>"), "execution"),  # a head in the tenant's partition is one execution's item
        (("<tenant>#<key>", "<n>#map"), "execution"),
    ],
)
def test_scope_is_the_narrowest_named(shapes: tuple[str, ...], scope: str) -> None:
    assert model.scope_of(*shapes) == scope


# -- attribution ---------------------------------------------------------------------------------


def recorder() -> Recorder:
    return Recorder({EXECUTIONS.name: EXECUTIONS})


def head(key: str, seq: int, due: int | None = None, pad: int = 10) -> dict[str, Any]:
    item = {"pk": s("acme"), "sk": s(key), "dpk": s("acme#orders"), "seq": {"N": str(seq)}, "doc": s("x" * pad)}
    if due is not None:
        item |= {"dueShard": s("d03"), "dueAt": {"N": str(due)}}
    return item


def test_units_land_on_the_keys_and_index_partitions_they_touch() -> None:
    r, tally = recorder(), Tally()
    table = EXECUTIONS.name
    r._dynamodb(tally, "PutItem", {"TableName": table, "Item": head("k1", 0, due=100)}, {}, None)
    # the table write, and one entry in each index
    assert tally.partitions[(table, "", "acme")].wcu == 1
    assert tally.partitions[(table, "byDefinition", "acme#orders")].wcu == 1
    assert tally.partitions[(table, "byDue", "d03")].wcu == 1
    # a commit moving dueAt: the byDue entry is deleted and put again (2), byDefinition untouched
    big = head("k1", 1, due=200, pad=1500)
    r._dynamodb(tally, "PutItem", {"TableName": table, "Item": big}, {}, None)
    assert tally.partitions[(table, "", "acme")].wcu == 1 + 2  # 1.5 KB: two units
    assert tally.partitions[(table, "byDue", "d03")].wcu == 1 + 2
    assert tally.partitions[(table, "byDefinition", "acme#orders")].wcu == 1
    assert tally.items[(table, "", "acme", "k1")].wcu == 3
    r._dynamodb(tally, "GetItem", {"TableName": table, "Key": {"pk": s("acme"), "sk": s("k1")}}, {"Item": big}, None)
    assert tally.partitions[(table, "", "acme")].rcu == 0.5  # eventually consistent, under 4 KB
    assert sum(x.wcu for x in tally.partitions.values()) == tally.wcu
    assert sum(x.rcu for x in tally.partitions.values()) == tally.rcu
    assert tally.gsi_wcu == 1 + 1 + 2
    # items are the table's: the index entries are not items of their own
    assert sum(x.wcu for x in tally.items.values()) == tally.wcu - tally.gsi_wcu
    assert all(index == "" for _, index, _, _ in tally.items)


def test_a_query_is_charged_to_the_partition_its_key_condition_names() -> None:
    r, tally = recorder(), Tally()
    items = [{"pk": s("acme#K"), "sk": s(f"0#r#{i:06d}"), "doc": s("y" * 3000)} for i in range(2)]
    params = {
        "TableName": EXECUTIONS.name,
        "KeyConditionExpression": "#p = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeNames": {"#p": "pk"},
        "ExpressionAttributeValues": {":pk": s("acme#K"), ":prefix": s("0#r#")},
        "ConsistentRead": True,
    }
    r._dynamodb(tally, "Query", params, {"Items": items, "ScannedCount": 2}, None)
    assert tally.partitions[(EXECUTIONS.name, "", "acme#K")].rcu == 2  # 6 KB strongly consistent
    assert tally.items[(EXECUTIONS.name, "", "acme#K", "0#r#000001")].rcu == pytest.approx(1)
    index_query = {
        "TableName": EXECUTIONS.name,
        "IndexName": "byDue",
        "KeyConditionExpression": "dueShard = :shard AND dueAt <= :before",
        "ExpressionAttributeValues": {":shard": s("d09"), ":before": {"N": "5"}},
    }
    r._dynamodb(tally, "Query", index_query, {"Items": []}, None)
    assert tally.partitions[(EXECUTIONS.name, "byDue", "d09")].rcu == 0.5


def test_an_update_returning_the_new_item_is_billed_on_the_larger_and_refused_ones_on_the_old() -> None:
    r, tally = recorder(), Tally()
    key = {"pk": s("acme#K"), "sk": s("0#b#00000")}
    grown = {**key, "members": {"NS": [str(i) for i in range(400)]}}  # about 1.6 KB
    params = {"TableName": EXECUTIONS.name, "Key": key, "ReturnValues": "ALL_NEW"}
    r._dynamodb(tally, "UpdateItem", params, {"Attributes": grown}, None)
    assert tally.items[(EXECUTIONS.name, "", "acme#K", "0#b#00000")].wcu == 2
    r._dynamodb(tally, "UpdateItem", params, {}, "ConditionalCheckFailedException")
    assert tally.items[(EXECUTIONS.name, "", "acme#K", "0#b#00000")].wcu == 4
    r._dynamodb(tally, "UpdateItem", params, {}, "ProvisionedThroughputExceededException")  # not billed
    assert tally.wcu == 4


# -- classes and ceilings ------------------------------------------------------------------------


def classes(partitions: dict[tuple[str, str, str], Load], work: model.Work) -> list[model.KeyClass]:
    items = {(t, i, v, "x"): load for (t, i, v), load in partitions.items()}
    return model.classify(partitions, items, {EXECUTIONS.name: EXECUTIONS}, ROLES, VOCABULARY, work)


def test_the_hottest_tenant_key_bounds_the_tenant() -> None:
    keys = [new_execution_key() for _ in range(4)]
    work = model.Work(executions=4, transitions=12, wake_ups=8, wake_up_seconds=0.04)
    partitions = {
        (EXECUTIONS.name, "", "acme"): Load(wcu=20, rcu=8),  # 5 WCU per execution of 3 transitions
        (EXECUTIONS.name, "byDefinition", "acme#orders"): Load(wcu=4),
        **{("sedo-t-history", "", f"acme#{k}"): Load(wcu=3) for k in keys},  # each execution's own
        **{(EXECUTIONS.name, "byDue", f"d{n:02d}"): Load(wcu=4) for n in range(4)},  # 16 over 4 shards
    }
    found = {c.name: c for c in classes(partitions, work)}
    tenant = found["executions pk=<tenant>"]
    assert (tenant.scope, tenant.values) == ("tenant", 1)
    assert tenant.per_transition().wcu == pytest.approx(20 / 12)
    history = found["history pk=<tenant>#<key>"]
    assert (history.scope, history.values) == ("execution", 4)
    assert history.per_transition().wcu == pytest.approx(1)  # 3 WCU over its own 3 transitions
    shards = found["executions/byDue dueShard=d<n>"]
    assert shards.scope == "deployment"
    assert shards.per_transition().wcu == pytest.approx(4 / 12)
    bound = model.key_bound(found.values(), model.SHARED, model.Limits())
    assert bound.per_second == pytest.approx(1000 / (20 / 12))  # 600 transitions/s: 200 executions/s
    assert bound.by == "executions pk=<tenant> (WCU)"


def test_a_maps_own_partition_bounds_its_items_and_its_childrens_keys_do_not() -> None:
    parent = new_execution_key()
    work = model.Work(executions=1, transitions=41, wake_ups=23, wake_up_seconds=0.05, items=20)
    partitions = {
        (EXECUTIONS.name, "", f"acme#{parent}"): Load(wcu=100, rcu=60),  # 5 WCU, 3 RCU per item
        **{("sedo-t-history", "", f"acme#{parent}.0.{i}"): Load(wcu=50) for i in range(20)},
    }
    found = {c.name: c for c in classes(partitions, work)}
    assert found["history pk=<tenant>#<key>.<n>.<n>"].scope == "iteration"
    per_map = model.key_bound(found.values(), ("execution", *model.SHARED), model.Limits(), per_item=True)
    assert per_map.per_second == pytest.approx(200)
    assert per_map.by == "executions pk=<tenant>#<key> (WCU)"
    reads = found["executions pk=<tenant>#<key>"].per_item()
    assert reads is not None and reads.rcu == pytest.approx(3)


def test_processor_concurrency_and_table_quota_bound_the_deployment() -> None:
    template = model.Template(max_concurrency=10, batch_size=10, timeout_seconds=30, batching_window_seconds=0)
    work = model.Work(executions=10, transitions=30, wake_ups=20, wake_up_seconds=0.04, invocation_overhead_seconds=0.1)
    limits = model.Limits()
    assert model.invocation_seconds(template, work) == pytest.approx(0.5)
    assert model.processor_wake_ups_per_second(template, work, limits) == pytest.approx(10 * 10 / 0.5)
    busy = model.Template(max_concurrency=5000, batch_size=10, timeout_seconds=30, batching_window_seconds=0)
    assert model.processor_wake_ups_per_second(busy, work, limits) == pytest.approx(1000 * 10 / 0.5)
    partitions = {(EXECUTIONS.name, "", "acme"): Load(wcu=60, rcu=30)}  # 2 WCU per transition
    tables = model.table_bounds(partitions, ROLES, work, limits)
    assert tables.per_second == pytest.approx(20000)
    assert tables.by == "table executions (WCU)"
    figures = model.workload_scale(classes(partitions, work), partitions, ROLES, work, template, limits)
    deployment = figures["deployment"]
    assert deployment["processorWakeUpsPerSecond"] == 200
    assert deployment["perSecond"] == pytest.approx(200 * 1.5)  # 1.5 transitions per wake-up
    assert deployment["batchFitsTimeout"] is True
    assert figures["perTenant"]["perSecond"] == 500  # 1000 / 2 WCU per transition


def test_the_headline_figures_are_the_lowest_over_workloads() -> None:
    workloads = {
        "a": {
            "perTenant": {"perSecond": 600.0, "limitedBy": "x", "executionsPerSecond": 200.0},
            "deployment": {"perSecond": 300.0, "limitedBy": "p"},
        },
        "b": {
            "perTenant": {"perSecond": 1250.0, "limitedBy": "y", "executionsPerSecond": 125.0},
            "deployment": {"perSecond": 500.0, "limitedBy": "q"},
            "perMap": {"perSecond": 200.0, "limitedBy": "m", "atDefaultsPerSecond": 30.0},
        },
    }
    result = model.overall(workloads, {"a": (1.6, "executions pk=<tenant>"), "b": (0.8, "executions pk=<tenant>")})
    assert result["perTenantTransitionsPerSecond"] == 600
    assert result["perTenantLimitedBy"] == {"workload": "a", "key": "x"}
    assert result["perMapItemsPerSecond"] == 200
    assert result["perMapItemsPerSecondAtDefaults"] == 30
    assert result["perDeploymentTransitionsPerSecond"] == 300
    assert (result["hottestKeyWcuPerTransition"], result["hottestKeyWorkload"]) == (1.6, "a")


def test_a_run_without_modeled_workloads_says_so_instead_of_naming_none() -> None:
    alternatives = {name: {"perMillionTransitionsUsd": None} for name in cloud.ALTERNATIVES}
    doc = {
        "workloads": [],
        "summary": {"alternatives": alternatives},
        "scale": {**model.overall({}, {}), "workloads": {}},
    }
    text = "\n".join(cloud.markdown_lines(doc))
    assert "None" not in text
    assert "no workload of this run feeds the cloud model" in text


# -- the alternatives' prices --------------------------------------------------------------------


def test_express_bills_100_ms_steps_of_64_mb_and_durable_functions_bill_operations() -> None:
    prices = pricing.load_prices()
    express = pricing.step_functions_express([0.01, 3.01], prices)
    assert express["billedMs"] == 100 + 3100
    assert express["memoryMb"] == 64
    assert express["usd"]["requests"] == pytest.approx(2 / 1e6)
    assert express["usd"]["duration"] == pytest.approx(3.2 * 64 / 1024 * 0.00001667)
    assert express["withinMaxDuration"] is True
    assert pricing.step_functions_express([301.0], prices)["withinMaxDuration"] is False
    durable = pricing.lambda_durable_functions(1_000_000, 0, 0, 0.0, prices)
    assert durable["usd"]["total"] == pytest.approx(8.0)
    written = pricing.lambda_durable_functions(0, 1_000_000, 1024**3, 0.0, prices)["usd"]
    assert written["dataWritten"] == pytest.approx(0.25)
    assert written["dataRetained"] == pytest.approx(0.15 * 14 / 30)
    assert written["lambdaRequests"] == pytest.approx(0.20)


def test_template_defaults_are_read_from_template_yaml() -> None:
    template = model.Template.from_defaults(pricing.template_defaults())
    assert template.max_concurrency >= 2
    assert 1 <= template.batch_size <= 10000
    assert template.timeout_seconds > 0


#: The scale goal (issue 14): transitions per second one deployment runs at the template's defaults.
DEPLOYMENT_GOAL = 20_000
#: Wake-up profiles measured by cost runs on the emulator (bench/cloud.py work_of): the
#: example (40 executions, 1.5 transitions a wake-up) and a map of 400 items (1.99). Columns:
#: executions, transitions, wake-ups, items, the mean wake-up (s), its CPU (s), the handler's
#: time per invocation beyond its wake-ups (s), and the requests a wake-up makes.
MEASURED = {
    "example": (40, 120, 80, 0, 0.111, 0.0114, 0.0304, "GetItem=1.025 PutItem=2.013 UpdateItem=1.175 sqs=0.5"),
    "map": (
        *(1, 801, 403, 400, 0.203, 0.0231, 0.046),
        "BatchGetItem=0.012 BatchWriteItem=0.012 GetItem=2.749 PutItem=3.737 UpdateItem=1.146 sqs=0.886",
    ),
}


def measured(name: str) -> model.Work:
    executions, transitions, wake_ups, items, wake_up, cpu, overhead, requests = MEASURED[name]
    calls: dict[tuple[str, str], float] = {}
    for pair in str(requests).split():
        operation, count = pair.split("=")
        key = ("sqs", "SendMessageBatch") if operation == "sqs" else ("dynamodb", operation)
        calls[key] = float(count)
    return model.Work(
        executions=int(executions),
        transitions=int(transitions),
        wake_ups=int(wake_ups),
        wake_up_seconds=float(wake_up),
        items=int(items),
        cpu_seconds=float(cpu),
        invocation_overhead_seconds=float(overhead),
        requests_per_wake_up=calls,
    )


@pytest.mark.parametrize("workload", sorted(MEASURED))
def test_the_processor_at_the_template_defaults_reaches_the_deployment_goal(workload: str) -> None:
    """template.yaml's processor defaults, through the model, with a measured wake-up: at
    least DEPLOYMENT_GOAL transitions/s on AWS, and a full batch well inside the timeout."""
    template = model.Template.from_defaults(pricing.template_defaults())
    work, limits = measured(workload), model.Limits()
    assert template.max_concurrency <= limits.esm_max_concurrency
    wake_ups = model.processor_wake_ups_per_second(template, work, limits, model.AwsLatency())
    assert wake_ups is not None
    transitions = wake_ups * work.transitions / work.wake_ups
    assert transitions >= DEPLOYMENT_GOAL, f"{workload}: {transitions:.0f} transitions/s at {template.as_dict()}"
    assert model.invocation_seconds(template, work) < template.timeout_seconds / 5


def test_every_key_of_the_storage_layout_has_the_scope_it_is_meant_to_share() -> None:
    """sedo/adapters/dynamodb/layout.py: the shared (tenant) keys are sharded index items; a
    map's per-item records are its own (execution) keys; a child's are the iteration's."""
    from sedo.adapters.dynamodb import layout

    key = new_execution_key()
    child = f"{key}.3.17"

    def scope(item: dict[str, dict[str, str]]) -> str:
        return model.scope_of(*(model.shape(item[a]["S"], VOCABULARY) for a in ("pk", "sk")))

    list_item = layout.list_item("acme", "orders", key, layout.OPEN)
    assert model.shape(list_item["pk"]["S"], VOCABULARY) == "<tenant>#list#<n>"
    assert model.scope_of(model.shape(list_item["pk"]["S"], VOCABULARY)) == "tenant"
    assert model.shape(list_item["dpk"]["S"], VOCABULARY) == "<tenant>#<definition>#<n>"
    assert model.scope_of(model.shape(layout.head_key("acme", key)["pk"]["S"], VOCABULARY)) == "execution"
    for item in (layout.head_key("acme", child), layout.result_key("acme", child)):
        assert scope(item) == "iteration"
    for item in (
        layout.counter_key("acme", key, 3),
        layout.page_key("acme", key, 3, 500),
        layout.child_index_key("acme", key, 3, 17),
        layout.bucket_key("acme", key, 3, layout.bucket_of(17)),
        layout.chunk_key("acme", key, 3, 0),
        layout.closed_key("acme", key, 3, 1),
    ):
        assert scope(item) == "execution"
    shards = {layout.bucket_key("acme", key, 3, layout.bucket_of(i))["pk"]["S"] for i in range(layout.FAN_SHARDS)}
    assert len(shards) == layout.FAN_SHARDS  # consecutive items: one partition each


# -- the processor modeled for AWS -------------------------------------------------------------


def test_aws_invocations_take_the_assumed_latency_per_request_and_cpu_scaled_by_memory() -> None:
    latency = model.AwsLatency()
    requests = {("dynamodb", "GetItem"): 1.0, ("dynamodb", "PutItem"): 2.0, ("sqs", "SendMessageBatch"): 1.0}
    work = model.Work(
        executions=10,
        transitions=30,
        wake_ups=20,
        wake_up_seconds=0.2,  # the emulator's: not used for AWS
        cpu_seconds=0.002,
        requests_per_wake_up=requests,
    )
    assert model.aws_io_seconds(work, latency) == pytest.approx(3 * 0.008 + 0.015)
    at_one_vcpu = model.Template(10, 10, 30, 0, memory_mb=1769)
    assert model.aws_invocation_seconds(at_one_vcpu, work, latency) == pytest.approx(10 * (0.039 + 0.002))
    half = model.Template(10, 10, 30, 0, memory_mb=884)  # half a vCPU: CPU takes twice as long
    assert model.aws_invocation_seconds(half, work, latency) == pytest.approx(10 * (0.039 + 0.002 * 1769 / 884))
    threaded = model.Template(10, 10, 30, 0, memory_mb=1769, threads=5)  # waits overlap, CPU does not
    assert model.aws_invocation_seconds(threaded, work, latency) == pytest.approx(max(10 * 0.002, 2 * 0.041))
    cpu_bound = model.Work(10, 30, 20, 0.2, cpu_seconds=0.05, requests_per_wake_up=requests)
    assert model.aws_invocation_seconds(threaded, cpu_bound, latency) == pytest.approx(10 * 0.05)
    assert model.processor_wake_ups_per_second(at_one_vcpu, work, model.Limits(), latency) == pytest.approx(
        10 * 10 / 0.41
    )


def test_the_deployment_bound_is_modeled_for_aws_when_the_requests_are_known() -> None:
    template = model.Template(100, 10, 30, 0, memory_mb=1769)
    requests = {("dynamodb", "GetItem"): 1.0, ("dynamodb", "PutItem"): 2.0}
    work = model.Work(10, 30, 20, wake_up_seconds=0.1, cpu_seconds=0.001, requests_per_wake_up=requests)
    partitions = {(EXECUTIONS.name, "", "acme"): Load(wcu=30, rcu=10)}
    args = (classes(partitions, work), partitions, ROLES, work, template, model.Limits())
    aws = model.workload_scale(*args, model.AwsLatency())["deployment"]
    assert aws["modeledFor"] == "aws"
    assert aws["awsIoMsPerWakeUp"] == pytest.approx(24)
    assert aws["processorWakeUpsPerSecond"] == pytest.approx(100 * 10 / 0.25, rel=1e-3)
    assert aws["processorWakeUpsPerSecondOnEmulator"] == pytest.approx(100 * 10 / 1.0)
    emulator = model.workload_scale(*args)["deployment"]
    assert emulator["modeledFor"] == "emulator"
    assert emulator["processorWakeUpsPerSecond"] == emulator["processorWakeUpsPerSecondOnEmulator"]
