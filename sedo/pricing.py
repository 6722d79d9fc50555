"""AWS list prices (sedo/prices.yaml) and what a count of requests costs with them.

`make bench` (bench/pricing.py) prices what it measured; ``sedo simulate`` prices one
execution it ran in memory. Lambda memory and architecture come from template.yaml's
defaults when the file is at hand, else from the table's fallbacks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sedo.config import REPO_ROOT
from sedo.template import load_template

PRICES = Path(__file__).resolve().parent / "prices.yaml"
GB = 1024**3
MILLION = 1_000_000


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


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
        document = load_template(template)
        parameters = document.get("Parameters", {})
        processor = int(parameters["ProcessorMemorySize"]["Default"])
        api = int(parameters["ApiMemorySize"]["Default"])
        architecture = str(document["Globals"]["Function"]["Architectures"][0])
        return LambdaSizing(processor, api, architecture, "template.yaml defaults")
    except (OSError, KeyError, TypeError, ValueError, IndexError, AttributeError, yaml.YAMLError):
        return LambdaSizing(
            int(fallback["processor_memory_mb"]),
            int(fallback["api_memory_mb"]),
            str(fallback["architecture"]),
            "sedo/prices.yaml fallbacks (template.yaml declares no function sizes)",
        )


@dataclass(frozen=True)
class Counts:
    """What some work used, in the units AWS bills."""

    write_units: float
    read_units: float
    sqs_requests: int
    processor_invocations: int
    processor_billed_ms: float
    api_requests: int
    api_billed_ms: float
    log_bytes: int
    #: S3 requests of maps over S3 (item sources read, results written).
    s3_get_requests: int = 0
    s3_put_requests: int = 0
    #: EventBridge entries put (status-change events), each per started 64 KB.
    events_put: int = 0


def billed_ms(durations_s: list[float], granularity_ms: int = 1) -> float:
    return float(sum(math.ceil(d * 1000 / granularity_ms) * granularity_ms for d in durations_s))


def cost(counts: Counts, prices: dict[str, Any], sizing: LambdaSizing) -> dict[str, float]:
    """USD by line item, and their total."""
    ddb, sqs, lam = prices["dynamodb"], prices["sqs"], prices["lambda"]
    gb_second = float(lam["gb_second"][sizing.architecture])
    platform_logs = int(lam["platform_log_bytes_per_invocation"]) * (counts.processor_invocations + counts.api_requests)
    lines = {
        "dynamodbWrites": counts.write_units * float(ddb["write_request_unit_per_million"]) / MILLION,
        "dynamodbReads": counts.read_units * float(ddb["read_request_unit_per_million"]) / MILLION,
        "sqsRequests": counts.sqs_requests * float(sqs["standard_requests_per_million"]) / MILLION,
        "lambdaProcessorRequests": counts.processor_invocations * float(lam["requests_per_million"]) / MILLION,
        "lambdaProcessorDuration": counts.processor_billed_ms / 1000 * sizing.processor_memory_mb / 1024 * gb_second,
        "lambdaApiRequests": counts.api_requests * float(lam["requests_per_million"]) / MILLION,
        "lambdaApiDuration": counts.api_billed_ms / 1000 * sizing.api_memory_mb / 1024 * gb_second,
        "apiGatewayRequests": counts.api_requests
        * float(prices["api_gateway"]["http_api_requests_per_million"])
        / MILLION,
        "cloudwatchLogs": (counts.log_bytes + platform_logs)
        / GB
        * float(prices["cloudwatch_logs"]["ingestion_per_gb"]),
        "s3Requests": (
            counts.s3_get_requests * float(prices.get("s3", {}).get("get_requests_per_million", 0))
            + counts.s3_put_requests * float(prices.get("s3", {}).get("put_requests_per_million", 0))
        )
        / MILLION,
        "eventbridgeEvents": counts.events_put
        * float(prices.get("eventbridge", {}).get("custom_events_per_million", 0))
        / MILLION,
    }
    lines["total"] = sum(lines.values())
    return lines


def step_functions_cost(transitions: int, prices: dict[str, Any]) -> float:
    """What Step Functions Standard charges for that many state transitions."""
    return transitions * float(prices["step_functions"]["standard_per_million_transitions"]) / MILLION
