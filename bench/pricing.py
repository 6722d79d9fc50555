"""Price what a phase of the benchmark counted, with bench/prices.yaml and template.yaml's sizes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.instrument import Tally
from sedo.config import REPO_ROOT

PRICES = Path(__file__).resolve().parent / "prices.yaml"
GB = 1024**3


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads template.yaml: intrinsic functions (!Ref, !Sub, ...) become plain values."""


def _intrinsic(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node)


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


def template_defaults(template: Path = REPO_ROOT / "template.yaml") -> dict[str, Any]:
    """template.yaml's parameters at their defaults (empty when it cannot be read)."""
    try:
        document = yaml.load(template.read_text(), Loader=_CloudFormationLoader)
        parameters = document.get("Parameters", {})
        return {
            name: spec["Default"] for name, spec in parameters.items() if isinstance(spec, dict) and "Default" in spec
        }
    except (OSError, AttributeError, yaml.YAMLError):
        return {}


@dataclass(frozen=True)
class LambdaSizing:
    processor_memory_mb: int
    api_memory_mb: int
    architecture: str
    source: str


def lambda_sizing(prices: dict[str, Any], template: Path = REPO_ROOT / "template.yaml") -> LambdaSizing:
    """Memory and architecture from template.yaml's defaults, else from prices.yaml."""
    fallback = prices["lambda"]
    try:
        document = yaml.load(template.read_text(), Loader=_CloudFormationLoader)
        parameters = document.get("Parameters", {})
        processor = int(parameters["ProcessorMemorySize"]["Default"])
        api = int(parameters["ApiMemorySize"]["Default"])
        architecture = str(document["Globals"]["Function"]["Architectures"][0])
        return LambdaSizing(processor, api, architecture, "template.yaml defaults")
    except (OSError, KeyError, TypeError, ValueError, IndexError, yaml.YAMLError):
        return LambdaSizing(
            int(fallback["processor_memory_mb"]),
            int(fallback["api_memory_mb"]),
            str(fallback["architecture"]),
            "bench/prices.yaml fallbacks (template.yaml declares no function sizes)",
        )


@dataclass
class Usage:
    """What one phase used, summed over its components."""

    tally: Tally
    processor_invocations: int
    processor_billed_ms: float
    api_requests: int
    api_billed_ms: float
    log_bytes: int


def billed_ms(durations_s: list[float], granularity_ms: int = 1) -> float:
    return float(sum(math.ceil(d * 1000 / granularity_ms) * granularity_ms for d in durations_s))


def cost(usage: Usage, prices: dict[str, Any], sizing: LambdaSizing) -> dict[str, float]:
    """USD by line item, and their total."""
    million = 1_000_000
    ddb, sqs, lam = prices["dynamodb"], prices["sqs"], prices["lambda"]
    gb_second = float(lam["gb_second"][sizing.architecture])
    platform_logs = int(lam["platform_log_bytes_per_invocation"]) * (usage.processor_invocations + usage.api_requests)
    lines = {
        "dynamodbWrites": usage.tally.wcu * float(ddb["write_request_unit_per_million"]) / million,
        "dynamodbReads": usage.tally.rcu * float(ddb["read_request_unit_per_million"]) / million,
        "sqsRequests": usage.tally.sqs_billed * float(sqs["standard_requests_per_million"]) / million,
        "lambdaProcessorRequests": usage.processor_invocations * float(lam["requests_per_million"]) / million,
        "lambdaProcessorDuration": usage.processor_billed_ms / 1000 * sizing.processor_memory_mb / 1024 * gb_second,
        "lambdaApiRequests": usage.api_requests * float(lam["requests_per_million"]) / million,
        "lambdaApiDuration": usage.api_billed_ms / 1000 * sizing.api_memory_mb / 1024 * gb_second,
        "apiGatewayRequests": usage.api_requests
        * float(prices["api_gateway"]["http_api_requests_per_million"])
        / million,
        "cloudwatchLogs": (usage.log_bytes + platform_logs) / GB * float(prices["cloudwatch_logs"]["ingestion_per_gb"]),
    }
    lines["total"] = sum(lines.values())
    return lines


# -- the same workloads on Step Functions (Standard, Express) and Lambda durable functions ------


def step_functions_standard(transitions: int, prices: dict[str, Any]) -> dict[str, float]:
    """Standard workflows bill each state transition."""
    return {"transitions": transitions * float(prices["step_functions"]["standard_per_million_transitions"]) / 1e6}


def step_functions_express(durations_s: list[float], prices: dict[str, Any], memory_mb: int = 64) -> dict[str, Any]:
    """Express workflows bill each execution started and its duration (rounded up to the
    next 100 ms) times its memory (in 64 MB chunks): ``memory_mb`` 64 is the smallest chunk,
    a lower bound for small definitions and payloads."""
    sfn = prices["step_functions"]
    increment = int(sfn["express_duration_increment_ms"])
    chunk = int(sfn["express_memory_increment_mb"])
    memory = max(1, math.ceil(memory_mb / chunk)) * chunk
    billed_ms = sum(max(increment, math.ceil(d * 1000 / increment) * increment) for d in durations_s)
    lines = {
        "requests": len(durations_s) * float(sfn["express_requests_per_million"]) / 1e6,
        "duration": billed_ms / 1000 * memory / 1024 * float(sfn["express_gb_second"]),
    }
    longest = max(durations_s, default=0.0)
    return {
        "usd": lines | {"total": sum(lines.values())},
        "billedMs": billed_ms,
        "memoryMb": memory,
        "longestSeconds": round(longest, 3),
        "withinMaxDuration": longest <= float(sfn["express_max_duration_seconds"]),
    }


def lambda_durable_functions(
    operations: int,
    invocations: int,
    data_written_bytes: int,
    compute_usd: float,
    prices: dict[str, Any],
) -> dict[str, Any]:
    """A durable function bills its durable operations (steps, waits, callbacks), the data
    they checkpoint, the data retained (``retention_days``, the default), and Lambda's own
    requests and duration for every invocation (one per start or resume)."""
    durable = prices["lambda_durable_functions"]
    gigabytes = data_written_bytes / GB
    lines = {
        "operations": operations * float(durable["operations_per_million"]) / 1e6,
        "dataWritten": gigabytes * float(durable["data_written_per_gb"]),
        "dataRetained": gigabytes * float(durable["data_retained_per_gb_month"]) * int(durable["retention_days"]) / 30,
        "lambdaRequests": invocations * float(prices["lambda"]["requests_per_million"]) / 1e6,
        "lambdaDuration": compute_usd,
    }
    return {
        "usd": lines | {"total": sum(lines.values())},
        "operations": operations,
        "invocations": invocations,
        "dataWrittenBytes": data_written_bytes,
    }
