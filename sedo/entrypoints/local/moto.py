"""Run one moto server process on 127.0.0.1 and create sedo's resources from template.yaml."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from sedo.config import REPO_ROOT, Settings

LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the moto server gets SIGTERM if sedo dies, so no orphan survives a kill -9."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class MotoServer:
    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0, log: Path | None = None) -> MotoServer:
        output: Any = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "sedo.entrypoints.local.motoserver", "-H", self.host, "-p", str(self.port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.process.returncode} (port {self.port} taken?)")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):  # noqa: S310 - loopback
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not answer on {self.endpoint} within {timeout} s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def use_local_credentials() -> None:
    """moto accepts any credentials; never let a local run pick up real ones."""
    for key, value in LOCAL_CREDENTIALS.items():
        os.environ[key] = value
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def provision(
    endpoint: str,
    stage: str = "local",
    parameters: dict[str, str] | None = None,
    template: Path = REPO_ROOT / "template.yaml",
    region: str = "us-east-1",
) -> Settings:
    """Create the stack's tables and queues from template.yaml; return settings that point at them."""
    import boto3

    session = boto3.session.Session(region_name=region, aws_access_key_id="local", aws_secret_access_key="local")  # noqa: S106 - moto
    cloudformation = session.client("cloudformation", endpoint_url=endpoint)
    stack_name = f"sedo-{stage}"
    overrides = {"Stage": stage, **(parameters or {})}
    cloudformation.create_stack(
        StackName=stack_name,
        TemplateBody=template.read_text(),
        Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in overrides.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {stack_name} is {stack['StackStatus']}: {stack.get('StackStatusReason')}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    sqs = session.client("sqs", endpoint_url=endpoint)
    queue_url = sqs.get_queue_url(QueueName=outputs["ExecutionQueueUrl"].rsplit("/", 1)[-1])["QueueUrl"]
    redrive = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    max_receives = json.loads(redrive.get("RedrivePolicy", "{}")).get("maxReceiveCount")
    settings = replace(
        Settings.from_env(),
        region=region,
        endpoint_url=endpoint,
        definitions_table=outputs["DefinitionsTableName"],
        executions_table=outputs["ExecutionsTableName"],
        history_table=outputs["HistoryTableName"],
        queue_url=queue_url,
        max_receive_count=int(max_receives) if max_receives else None,
        payload_bucket=outputs["PayloadBucketName"],
        # events (issue 15): the bus and the queue its tenant-events rule fills
        event_bus=outputs.get("EventBusName", "default"),
        events_queue_url=_queue_url(sqs, outputs.get("EventsQueueUrl")),
        tenants_table=outputs.get("TenantsTableName", ""),
    )
    return _with_default_quotas(settings, template, overrides)


def _with_default_quotas(settings: Settings, template: Path, overrides: dict[str, str]) -> Settings:
    """The tenants' default quotas the stack was made with (template.yaml Default* parameters)."""
    from sedo.template import template_defaults

    values = {**template_defaults(template), **overrides}
    return replace(
        settings,
        default_max_running_executions=int(values.get("DefaultMaxRunningExecutions", 0)),
        default_starts_per_second=int(values.get("DefaultStartsPerSecond", 0)),
        default_max_definitions=int(values.get("DefaultMaxDefinitions", 0)),
    )


def _queue_url(sqs: Any, output: str | None) -> str:
    """The emulator's URL of a queue the stack outputs (moto's outputs name AWS's host)."""
    return str(sqs.get_queue_url(QueueName=output.rsplit("/", 1)[-1])["QueueUrl"]) if output else ""


def deprovision(endpoint: str, stage: str, region: str = "us-east-1") -> None:
    """Delete a stack made by :func:`provision` with its tables, queues and bucket (frees the emulator's memory)."""
    import boto3

    session = boto3.session.Session(region_name=region, aws_access_key_id="local", aws_secret_access_key="local")  # noqa: S106 - moto
    stack_name = f"sedo-{stage}"
    cloudformation = session.client("cloudformation", endpoint_url=endpoint)
    resources = cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
    dynamodb = session.client("dynamodb", endpoint_url=endpoint)
    sqs = session.client("sqs", endpoint_url=endpoint)
    s3 = session.client("s3", endpoint_url=endpoint)
    for resource in resources:
        physical = resource.get("PhysicalResourceId")
        if not physical:
            continue
        with contextlib.suppress(Exception):
            if resource["ResourceType"] == "AWS::DynamoDB::Table":
                dynamodb.delete_table(TableName=physical)
            elif resource["ResourceType"] == "AWS::S3::Bucket":
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=physical):
                    for entry in page.get("Contents", []):
                        s3.delete_object(Bucket=physical, Key=entry["Key"])
                s3.delete_bucket(Bucket=physical)
            elif resource["ResourceType"] == "AWS::SQS::Queue":
                sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=physical.rsplit("/", 1)[-1])["QueueUrl"])
    with contextlib.suppress(Exception):
        cloudformation.delete_stack(StackName=stack_name)


def export(settings: Settings) -> None:
    """Put settings where the Lambda handlers read them: the environment."""
    os.environ.update(
        {
            "SEDO_REGION": settings.region,
            "SEDO_ENDPOINT_URL": settings.endpoint_url or "",
            "SEDO_DEFINITIONS_TABLE": settings.definitions_table,
            "SEDO_EXECUTIONS_TABLE": settings.executions_table,
            "SEDO_HISTORY_TABLE": settings.history_table,
            "SEDO_QUEUE_URL": settings.queue_url,
            "SEDO_MAX_RECEIVE_COUNT": str(settings.max_receive_count or ""),
            "SEDO_PAYLOAD_BUCKET": settings.payload_bucket,
            "SEDO_EVENT_BUS": settings.event_bus,
            "SEDO_EVENTS_QUEUE_URL": settings.events_queue_url,
            "SEDO_TENANTS_TABLE": settings.tenants_table,
            "SEDO_DEFAULT_MAX_RUNNING_EXECUTIONS": str(settings.default_max_running_executions),
            "SEDO_DEFAULT_STARTS_PER_SECOND": str(settings.default_starts_per_second),
            "SEDO_DEFAULT_MAX_DEFINITIONS": str(settings.default_max_definitions),
        }
    )
