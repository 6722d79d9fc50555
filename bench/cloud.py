"""A finished run's cloud figures: the ``scale`` object (bench/model.py on what the recorder
charged to each key) and the same workloads priced on Step Functions Standard and Express
and on Lambda durable functions (bench/pricing.py), for the results document and summary."""

from __future__ import annotations

from typing import Any

from bench import model, pricing
from bench.harness import TENANT, Bench, PhaseLog
from bench.instrument import Tally
from bench.workload import Workload

#: The alternatives priced next to sedo, as they appear in the results.
ALTERNATIVES = ("sedo", "stepFunctionsStandard", "stepFunctionsExpress", "lambdaDurableFunctions")


def _roles(bench: Bench) -> dict[str, str]:
    settings = bench.settings
    return {
        settings.definitions_table: "definitions",
        settings.executions_table: "executions",
        settings.history_table: "history",
    }


def work_of(bench: Bench, workload: Workload, run: dict[str, Any]) -> model.Work:
    """What a cost run did, with its measured times: the mean wake-up, and what an invocation
    of the handler takes beyond its wake-ups (batch parsing, logging, the response)."""
    phase = run["phase"]
    log_ = bench.phases.get(phase, PhaseLog())
    handled = [s for s in bench.samples if s.phase == phase]
    samples = [s.total for s in handled]
    overhead = max(0.0, sum(log_.invocations) - sum(samples)) / max(1, len(log_.invocations))
    calls = bench.recorder.tally(phase, "processor").calls
    return model.Work(
        executions=len(run["ids"]),
        transitions=int(run["stepsEntered"]),
        wake_ups=len(samples),
        wake_up_seconds=sum(samples) / max(1, len(samples)),
        items=workload.items or 0,
        invocation_overhead_seconds=overhead,
        cpu_seconds=sum(s.cpu for s in handled) / max(1, len(handled)),
        requests_per_wake_up={op: n / max(1, len(handled)) for op, n in calls.items()},
    )


def scale(bench: Bench, runs: list[tuple[Workload, dict[str, Any]]]) -> dict[str, Any]:
    """The results' ``scale`` object (bench/README.md, "Cloud model")."""
    limits, latency = model.Limits(), model.AwsLatency()
    template = model.Template.from_defaults(pricing.template_defaults())
    vocabulary = model.Vocabulary(frozenset({TENANT}), frozenset(bench.definition_ids))
    roles = _roles(bench)
    workloads: dict[str, dict[str, Any]] = {}
    hottest: dict[str, tuple[float, str] | None] = {}
    for workload, run in runs:
        tally = bench.recorder.tally(run["phase"])
        work = work_of(bench, workload, run)
        classes = model.classify(tally.partitions, tally.items, bench.recorder.tables, roles, vocabulary, work)
        workloads[workload.name] = model.workload_scale(
            classes, tally.partitions, roles, work, template, limits, latency
        )
        hottest[workload.name] = model.hottest_shared_key(classes)
    return {
        **model.overall(workloads, hottest),
        "limits": limits.as_dict(),
        "awsLatency": latency.as_dict(),
        "sources": model.SOURCES,
        "template": template.as_dict(),
        "workloads": workloads,
    }


def alternatives(
    bench: Bench, run: dict[str, Any], tally: Tally, lines: dict[str, float], prices: dict[str, Any]
) -> dict[str, Any]:
    """One workload's cost on sedo and, for the same executions, on the alternatives."""
    executions = len(run["ids"])
    transitions = int(run["stepsEntered"])
    standard = pricing.step_functions_standard(transitions, prices)
    express = pricing.step_functions_express(run.get("durationsSeconds", []), prices)
    history_bytes = sum(tally.put_sizes.get(bench.settings.history_table, []))
    durable = pricing.lambda_durable_functions(
        operations=transitions,
        invocations=len(bench.committed(run["phase"])),
        data_written_bytes=history_bytes,
        compute_usd=lines["lambdaProcessorDuration"],
        prices=prices,
    )

    def priced(usd: dict[str, float], **extra: Any) -> dict[str, Any]:
        total = sum(v for k, v in usd.items() if k != "total")
        return {
            "perExecutionUsd": round(total / executions, 10),
            "perMillionTransitionsUsd": round(total / transitions * 1e6, 4) if transitions else None,
            "totalUsd": round(total, 10),
            "usd": {k: round(v, 10) for k, v in usd.items()},
            **extra,
        }

    return {
        "sedo": priced({k: v for k, v in lines.items() if k != "total"}),
        "stepFunctionsStandard": priced(standard),
        "stepFunctionsExpress": priced(express["usd"], **{k: v for k, v in express.items() if k != "usd"}),
        "lambdaDurableFunctions": priced(durable["usd"], **{k: v for k, v in durable.items() if k != "usd"}),
    }


def alternatives_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Every workload together: each alternative's cost per million transitions."""
    transitions = sum(r["totals"]["sfnTransitions"] for r in results)
    out: dict[str, Any] = {}
    for name in ALTERNATIVES:
        total = sum(r["alternatives"][name]["totalUsd"] for r in results)
        out[name] = {
            "totalUsd": round(total, 10),
            "perMillionTransitionsUsd": round(total / transitions * 1e6, 4) if transitions else None,
        }
    return out


# -- markdown -----------------------------------------------------------------------------------


def _usd(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"${value:,.{digits}f}"


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def markdown_lines(doc: dict[str, Any]) -> list[str]:
    """The summary's "Side by side" and "Cloud model" sections."""
    lines = [
        "",
        "### Side by side ($ per million Step Functions transitions)",
        "",
        "| workload | sedo | SFN Standard | SFN Express | Lambda durable functions |",
        "|---|---:|---:|---:|---:|",
    ]
    for w in doc["workloads"]:
        alt = w["alternatives"]
        express = alt["stepFunctionsExpress"]
        note = "" if express["withinMaxDuration"] else " (over 5 min)"
        lines.append(
            f"| {w['name']} | {_usd(alt['sedo']['perMillionTransitionsUsd'])} | "
            f"{_usd(alt['stepFunctionsStandard']['perMillionTransitionsUsd'])} | "
            f"{_usd(express['perMillionTransitionsUsd'])}{note} | "
            f"{_usd(alt['lambdaDurableFunctions']['perMillionTransitionsUsd'])} |"
        )
    every = doc["summary"]["alternatives"]
    lines.append(
        "| **all** | "
        + " | ".join(f"**{_usd(every[name]['perMillionTransitionsUsd'])}**" for name in ALTERNATIVES)
        + " |"
    )
    s = doc["scale"]
    if not s.get("workloads"):  # e.g. a run of the search baseline alone
        return [*lines, "", "### Cloud model", "", "- no workload of this run feeds the cloud model"]
    lines += [
        "",
        "### Cloud model (DynamoDB, Lambda and event source limits at template.yaml's defaults)",
        "",
        f"- per tenant: **{_n(s['perTenantTransitionsPerSecond'])} transitions/s** "
        f"({s['perTenantLimitedBy']['workload']}: {s['perTenantLimitedBy']['key']}); executions/s "
        + ", ".join(f"{k} {_n(v)}" for k, v in s["perTenantExecutionsPerSecond"].items()),
        f"- per map: **{_n(s['perMapItemsPerSecond'])} items/s** ({s['perMapLimitedBy']['key']}); "
        f"at the default concurrency {_n(s['perMapItemsPerSecondAtDefaults'])} items/s",
        f"- per deployment: **{_n(s['perDeploymentTransitionsPerSecond'])} transitions/s** "
        f"({s['perDeploymentLimitedBy']['workload']}: {s['perDeploymentLimitedBy']['by']}); by workload "
        + ", ".join(
            f"{k} {_n(v['perSecond'])} (processor {_n(v['processorTransitionsPerSecond'])}, "
            f"tables {_n(v['tablesTransitionsPerSecond'])})"
            for k, v in s.get("perDeploymentByWorkload", {}).items()
        ),
        f"- hottest shared key: {s['hottestKeyClass']} ({s['hottestKeyWorkload']}), "
        f"{s['hottestKeyWcuPerTransition']} WCU per transition",
        "",
        "| workload | key class | scope | keys | WCU/transition | RCU/transition | WCU/item | RCU/item | ceiling/s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figures in s["workloads"].items():
        for row in figures["keyClasses"]:
            ceiling = row.get("itemsPerSecond") if row["scope"] == "execution" and "itemsPerSecond" in row else None
            ceiling_text = f"{_n(ceiling)} items" if ceiling is not None else f"{_n(row['transitionsPerSecond'])} tr."
            lines.append(
                f"| {name} | `{row['class']}` | {row['scope']} | {row['keys']} | {row['wcuPerTransition']:g} | "
                f"{row['rcuPerTransition']:g} | {row.get('wcuPerItem', '-')} | {row.get('rcuPerItem', '-')} | "
                f"{ceiling_text} |"
            )
    return lines
