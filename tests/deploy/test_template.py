"""template.yaml declares what the code uses, the way the code uses it.

Static checks of the template (no SAM CLI needed), plus moto's CloudFormation as an
evaluator of the parts that compute values (the invoke allow-list, the visibility
timeout). The built-artifact tests check the same contract dynamically: every call the
functions make is granted and uses declared keys and indexes.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import fields
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from sedo.adapters.dynamodb import BY_DEFINITION_INDEX
from sedo.adapters.dynamodb.common import BY_DUE_INDEX
from sedo.config import Settings
from sedo.domain import liveness
from sedo.entrypoints.local.moto import provision
from sedo.service_layer.sweeper import SweepReport
from tests.deploy import cfn
from tests.deploy.cfn import Permission

RESOURCES = cfn.resources()
PARAMETERS = cfn.template()["Parameters"]
FUNCTIONS = ["ApiFunction", "ProcessorFunction", "SweeperFunction", "EventsFunction"]
ROLES = ["ApiFunctionRole", "ProcessorFunctionRole", "SweeperFunctionRole", "EventsFunctionRole"]


def props(name: str) -> dict[str, Any]:
    return dict(RESOURCES[name]["Properties"])


def settings_under(function: str) -> Settings:
    """Settings.from_env() in the environment the template gives ``function``, with each
    resource reference standing for itself (``<DefinitionsTable>``)."""
    parameters = {name: str(p.get("Default", "")) for name, p in PARAMETERS.items()}
    refs = {name: f"<{name}>" for name in RESOURCES}
    env = cfn.resolve_environment(function, refs, parameters)
    patch = pytest.MonkeyPatch()
    try:
        for name in [n for n in os.environ if n.startswith(("SEDO_", "POWERTOOLS_"))]:
            patch.delenv(name)
        for name, value in env.items():
            patch.setenv(name, value)
        return Settings.from_env()
    finally:
        patch.undo()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_table_and_queue_the_code_reads_is_a_declared_resource(function: str) -> None:
    settings = settings_under(function)
    tables = {f.name: getattr(settings, f.name) for f in fields(Settings) if f.name.endswith("_table")}
    assert tables == {
        "definitions_table": "<DefinitionsTable>",
        "executions_table": "<ExecutionsTable>",
        "history_table": "<HistoryTable>",
        "tenants_table": "<TenantsTable>",
    }
    assert settings.queue_url == "<ExecutionQueue>"
    assert settings.payload_bucket == "<PayloadBucket>"
    for logical in ("DefinitionsTable", "ExecutionsTable", "HistoryTable", "TenantsTable"):
        assert RESOURCES[logical]["Type"] == "AWS::DynamoDB::Table"
    assert RESOURCES["ExecutionQueue"]["Type"] == "AWS::SQS::Queue"
    assert RESOURCES["PayloadBucket"]["Type"] == "AWS::S3::Bucket"


def test_every_sedo_variable_the_template_sets_is_read_by_the_code() -> None:
    code = "\n".join(
        p.read_text() for p in [*Path(cfn.ROOT, "sedo").rglob("*.py"), *Path(cfn.ROOT, "processor").rglob("*.py")]
    )
    for function in FUNCTIONS:
        for name in cfn.environment(function):
            if name.startswith("SEDO_"):
                assert f'"{name}"' in code, f"{function} gets {name}, which no code reads"


def test_tables_have_the_keys_and_index_the_adapters_use() -> None:
    assert cfn.key_schema("DefinitionsTable") == {"pk": "S", "sk": "S"}
    assert cfn.key_schema("ExecutionsTable") == {"pk": "S", "sk": "S"}
    assert cfn.key_schema("HistoryTable") == {"pk": "S", "sk": "N"}
    assert cfn.key_schema("TenantsTable") == {"pk": "S", "sk": "S"}
    indexes = {i["IndexName"]: i for i in props("ExecutionsTable")["GlobalSecondaryIndexes"]}
    assert set(indexes) == {BY_DEFINITION_INDEX, BY_DUE_INDEX}
    assert cfn.key_schema("ExecutionsTable", BY_DEFINITION_INDEX) == {"dpk": "S", "sk": "S"}
    assert cfn.key_schema("ExecutionsTable", BY_DUE_INDEX) == {"dueShard": "S", "dueAt": "N"}
    for index in indexes.values():
        assert [k["KeyType"] for k in index["KeySchema"]] == ["HASH", "RANGE"]
        assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}  # transitions never write the index
    for table in ("ExecutionsTable", "HistoryTable", "TenantsTable"):  # the adapters write expiresAt
        assert props(table)["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}


@pytest.mark.parametrize("table", ["DefinitionsTable", "ExecutionsTable", "HistoryTable", "TenantsTable"])
def test_tables_are_on_demand_encrypted_recoverable_and_protected(table: str) -> None:
    properties = props(table)
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] == {"Ref": "DeletionProtection"}
    assert PARAMETERS["DeletionProtection"]["AllowedValues"] == ["true", "false"]


def test_the_payload_bucket_is_private_encrypted_and_expires_after_the_retention_and_a_year() -> None:
    bucket = RESOURCES["PayloadBucket"]
    properties = props("PayloadBucket")
    assert "BucketName" not in properties  # named by CloudFormation: no parameter, no collisions
    assert bucket["DeletionPolicy"] == "Retain"
    (encryption,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    rules = {rule["Id"]: rule for rule in properties["LifecycleConfiguration"]["Rules"]}
    expiry = rules["expire-payloads"]
    assert expiry["ExpirationInDays"] == {"Ref": "PayloadRetentionDays"}
    assert expiry["Status"] == {"Fn::If": ["KeepEverything", "Disabled", "Enabled"]}
    assert cfn.template()["Conditions"]["KeepEverything"] == {"Fn::Equals": [{"Ref": "RetentionDays"}, "0"]}
    # values kept apart outlive the history written before an execution ends (RetentionDays + 366)
    assert int(PARAMETERS["PayloadRetentionDays"]["Default"]) == int(PARAMETERS["RetentionDays"]["Default"]) + 366


def test_queue_redrives_to_the_dead_letter_queue_and_both_are_encrypted() -> None:
    queue, dlq = props("ExecutionQueue"), props("ExecutionDeadLetterQueue")
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["ExecutionDeadLetterQueue", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] >= queue["MessageRetentionPeriod"]  # dead letters outlive their source


def test_visibility_timeout_is_six_times_the_processor_timeout_by_default() -> None:
    timeouts = PARAMETERS["ProcessorTimeoutSeconds"]["AllowedValues"]
    mapping = cfn.template()["Mappings"]["VisibilityTimeout"]
    assert sorted(mapping, key=int) == sorted(timeouts, key=int)
    for timeout in timeouts:
        assert mapping[timeout]["Seconds"] >= 6 * int(timeout)
    assert props("ExecutionQueue")["VisibilityTimeout"] == {
        "Fn::If": [
            "DeriveVisibilityTimeout",
            {"Fn::FindInMap": ["VisibilityTimeout", {"Ref": "ProcessorTimeoutSeconds"}, "Seconds"]},
            {"Ref": "QueueVisibilityTimeoutSeconds"},
        ]
    }
    assert cfn.template()["Conditions"]["DeriveVisibilityTimeout"] == {
        "Fn::Equals": [{"Ref": "QueueVisibilityTimeoutSeconds"}, 0]
    }
    assert PARAMETERS["QueueVisibilityTimeoutSeconds"]["Default"] == 0
    assert props("ProcessorFunction")["Timeout"] == {"Ref": "ProcessorTimeoutSeconds"}


def test_processor_is_fed_by_the_queue_with_partial_batch_responses() -> None:
    (event,) = props("ProcessorFunction")["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"] == {
        "Queue": {"Fn::GetAtt": ["ExecutionQueue", "Arn"]},
        "BatchSize": {"Ref": "BatchSize"},
        "MaximumBatchingWindowInSeconds": {"Ref": "MaxBatchingWindowSeconds"},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "ScalingConfig": {"MaximumConcurrency": {"Ref": "ProcessorMaxConcurrency"}},
    }
    assert props("ProcessorFunction")["Handler"] == "processor.handler.handler"
    assert props("ApiFunction")["Handler"] == "sedo.entrypoints.api.lambda_handler.handler"
    assert props("SweeperFunction")["Handler"] == "sedo.entrypoints.sweeper.handler"


def _rate_seconds(expression: str) -> int:
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours)\)", expression)
    assert match, expression
    number, unit = int(match.group(1)), match.group(2)
    assert (number == 1) == (unit in ("minute", "hour")), f"{expression}: EventBridge wants singular for 1 only"
    return number * (60 if unit.startswith("minute") else 3600)


def test_the_sweeper_runs_on_a_schedule_one_at_a_time_within_the_arming_lead() -> None:
    sweeper = props("SweeperFunction")
    (event,) = sweeper["Events"].values()
    assert event["Type"] == "Schedule"
    assert event["Properties"]["Schedule"] == {"Ref": "SweepRate"}
    assert PARAMETERS["SweepRate"]["Default"] == "rate(1 minute)"
    for rate in PARAMETERS["SweepRate"]["AllowedValues"]:
        # A deferred timer is due for the sweeper ARM_LEAD_SECONDS before it fires (rounded up to the
        # minute): a run must come within that, with time for the run itself, or the timer fires late.
        assert _rate_seconds(rate) + 60 + sweeper["Timeout"] < liveness.ARM_LEAD_SECONDS, rate
    assert sweeper["Timeout"] <= _rate_seconds(PARAMETERS["SweepRate"]["Default"])  # runs do not pile up
    assert sweeper["ReservedConcurrentExecutions"] == {
        "Fn::If": ["ReserveSweeperConcurrency", 1, {"Ref": "AWS::NoValue"}]
    }
    assert cfn.template()["Conditions"]["ReserveSweeperConcurrency"] == {
        "Fn::Equals": [{"Ref": "SweeperOneAtATime"}, "true"]
    }
    assert PARAMETERS["SweeperOneAtATime"]["Default"] == "true"
    assert RESOURCES["SweeperFunction"]["DependsOn"] == "SweeperLogGroup"  # its role cannot create it
    # A run that could not start (a slow predecessor) is dropped: the next one does its work.
    assert sweeper["EventInvokeConfig"] == {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}
    assert sweeper["MemorySize"] == 128
    assert RESOURCES["SweeperFunction"]["Metadata"] == {"BuildMethod": "makefile"}
    makefile = (cfn.ROOT / "deploy" / "Makefile").read_text()
    assert re.search(r"^build-SweeperFunction:\n\t.*build\.py processor ", makefile, re.MULTILINE)


def test_a_sweeper_runs_so_timers_beyond_sqs_reach_are_left_to_it() -> None:
    for function in FUNCTIONS:
        env = cfn.environment(function)
        assert env["SEDO_DURABLE_TIMERS"] == "1"
        assert env["SEDO_SWEEP_GRACE_SECONDS"] == {"Ref": "SweepGraceSeconds"}
        settings = settings_under(function)
        assert settings.durable_timers is True
        assert settings.sweep_grace_seconds == PARAMETERS["SweepGraceSeconds"]["Default"] == 120
    assert PARAMETERS["SweepGraceSeconds"]["MinValue"] == 30
    assert PARAMETERS["RetentionDays"]["MinValue"] == 0  # 0 keeps everything
    assert cfn.environment("ProcessorFunction")["SEDO_RETENTION_DAYS"] == {"Ref": "RetentionDays"}


def test_the_sweepers_log_line_feeds_the_resent_wake_ups_alarm() -> None:
    sweeper = props("SweeperFunction")
    # Lambda's JSON log format puts a record's ``extra`` fields at the top level; INFO lets the line out.
    assert sweeper["LoggingConfig"] == {"LogFormat": "JSON", "ApplicationLogLevel": "INFO"}
    assert props("SweeperLogGroup")["LogGroupName"] == {"Fn::Sub": "/aws/lambda/sedo-${Stage}-sweeper"}
    assert sweeper["FunctionName"] == {"Fn::Sub": "sedo-${Stage}-sweeper"}  # Lambda logs to that group
    metric = props("ResentWakeUpsMetricFilter")
    assert metric["LogGroupName"] == {"Ref": "SweeperLogGroup"}
    fields = re.findall(r"\$\.(\w+)", metric["FilterPattern"])
    (transformation,) = metric["MetricTransformations"]
    fields += re.findall(r"\$\.(\w+)", transformation["MetricValue"])
    report = SweepReport().as_dict()
    assert set(fields) == {"message", "resent"}
    assert "resent" in report, report  # the field the sweeper logs (log.info("sweep", extra=report))
    assert '$.message = "sweep"' in metric["FilterPattern"]
    alarm = props("ResentWakeUpsAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        transformation["MetricNamespace"],
        transformation["MetricName"],
    )
    assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 0
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_a_failing_sweeper_raises_an_alarm() -> None:
    alarm = props("SweeperErrorsAlarm")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Errors")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "SweeperFunction"}}]
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_dead_letters_raise_an_alarm() -> None:
    alarm = props("DeadLetterQueueAlarm")
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["ExecutionDeadLetterQueue", "QueueName"]}}
    ]
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold" and alarm["Threshold"] == 0
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_parameters_and_outputs_later_work_relies_on() -> None:
    for name in (
        "Stage",
        "LogLevel",
        "Tracing",
        "MaxReceiveCount",
        "QueueVisibilityTimeoutSeconds",
        "JwtIssuer",
        "JwtAudience",
        "InvokeAllowList",
        "MaxStepsPerWakeup",
        "BatchSize",
        "MaxBatchingWindowSeconds",
        "ProcessorMaxConcurrency",
        "ProcessorThreads",
        "SweepRate",
        "SweepGraceSeconds",
        "RetentionDays",
    ):
        assert name in PARAMETERS, name
        assert "Default" in PARAMETERS[name], f"{name} needs a default (the local stack provisions with defaults)"
    outputs = cfn.template()["Outputs"]
    for name in (
        "ApiUrl",
        "DefinitionsTableName",
        "ExecutionsTableName",
        "HistoryTableName",
        "ExecutionQueueUrl",
        "ExecutionDeadLetterQueueUrl",
        "SweeperLogGroupName",
    ):
        assert name in outputs, name
    api_env = cfn.environment("ApiFunction")
    assert api_env["SEDO_JWT_ISSUER"] == {"Ref": "JwtIssuer"}
    assert api_env["SEDO_JWT_AUDIENCE"] == {"Fn::Join": [",", {"Ref": "JwtAudience"}]}
    assert api_env["SEDO_JWT_TENANTS_CLAIM"] == {"Ref": "JwtTenantsClaim"}
    for function in FUNCTIONS:
        env = cfn.environment(function)
        assert env["SEDO_INVOKE_ALLOW_LIST"] == {"Fn::Join": [",", {"Ref": "InvokeAllowList"}]}
        assert env["SEDO_MAX_STEPS_PER_WAKEUP"] == {"Ref": "MaxStepsPerWakeup"}
        assert {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_LOG_LEVEL", "POWERTOOLS_METRICS_NAMESPACE"} <= set(env)
    assert cfn.template()["Globals"]["Function"]["Tracing"] == {"Ref": "Tracing"}


#: Public routes besides the health check: the static pages (sedo/entrypoints/api/static.py).
PAGES = {"/sedo/console", "/sedo/console/{proxy+}", "/sedo/ui", "/sedo/ui/{proxy+}", "/sedo/openapi.json"}


def test_the_jwt_authorizer_guards_every_route_but_the_public_health_check_and_pages() -> None:
    auth = props("HttpApi")["Auth"]
    assert auth["DefaultAuthorizer"] == "JwtAuthorizer"
    assert auth["Authorizers"]["JwtAuthorizer"]["JwtConfiguration"] == {
        "issuer": {"Ref": "JwtIssuer"},
        "audience": {"Ref": "JwtAudience"},
    }
    events = {e["Properties"]["Path"]: e["Properties"] for e in props("ApiFunction")["Events"].values()}
    assert set(events) == {"/sedo/{proxy+}", "/sedo/health", *PAGES}
    assert events["/sedo/{proxy+}"]["Method"] == "ANY" and "Auth" not in events["/sedo/{proxy+}"]
    assert events["/sedo/health"]["Auth"] == {"Authorizer": "NONE"}
    for page in PAGES:  # GET only: nothing else reaches the function without the authorizer
        assert events[page]["Method"] == "GET" and events[page]["Auth"] == {"Authorizer": "NONE"}, page
    # No operation of the contract lives under a public page's path.
    assert not [
        p
        for p in yaml.safe_load((cfn.ROOT / "openapi" / "sedo.yaml").read_text())["paths"]
        if any(p == page or p.startswith(page.removesuffix("{proxy+}")) for page in PAGES)
    ]
    # The one path named outside openapi/sedo.yaml is its public operation; every path is under the proxy.
    spec = yaml.safe_load((cfn.ROOT / "openapi" / "sedo.yaml").read_text())
    assert all(path.startswith("/sedo/") for path in spec["paths"])
    health = spec["paths"]["/sedo/health"]["get"]
    assert health.get("security") == [], "the public route must be public in the contract too"
    public = [
        (path, method)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "security" in operation and operation["security"] == []
    ]
    assert public == [("/sedo/health", "get")], f"public in the contract but behind the JWT authorizer: {public}"


# -- IAM -----------------------------------------------------------------------------------------

API_GRANTS = {
    *(Permission(f"dynamodb:{a}", "DefinitionsTable") for a in ("GetItem", "PutItem", "UpdateItem", "Query")),
    *(
        Permission(f"dynamodb:{a}", "ExecutionsTable")
        for a in ("GetItem", "PutItem", "DeleteItem", "Query", "BatchGetItem")
    ),
    Permission("dynamodb:Query", f"ExecutionsTable/index/{BY_DEFINITION_INDEX}"),
    Permission("dynamodb:Query", "HistoryTable"),
    Permission("dynamodb:PutItem", "HistoryTable"),
    Permission("sqs:SendMessage", "ExecutionQueue"),
    Permission("s3:GetObject", "PayloadBucket/*"),
    Permission("s3:PutObject", "PayloadBucket/*"),
    Permission("logs:CreateLogStream", "ApiLogGroup"),
    Permission("logs:PutLogEvents", "ApiLogGroup"),
    # quotas, running slots and start buckets; the usage ledger (sedo/adapters/dynamodb/quotas.py, usage.py)
    *(
        Permission(f"dynamodb:{a}", "TenantsTable")
        for a in ("GetItem", "BatchGetItem", "PutItem", "UpdateItem", "Query")
    ),
}
PROCESSOR_GRANTS = {
    Permission("dynamodb:GetItem", "DefinitionsTable"),
    *(Permission(f"dynamodb:{a}", "ExecutionsTable") for a in ("GetItem", "PutItem", "UpdateItem", "Query")),
    Permission("dynamodb:BatchWriteItem", "ExecutionsTable"),  # fan-out inputs, a start page's children
    Permission("dynamodb:BatchGetItem", "ExecutionsTable"),  # values kept apart; which of a page's children exist
    Permission("s3:GetObject", "PayloadBucket/*"),
    Permission("s3:PutObject", "PayloadBucket/*"),
    Permission("dynamodb:PutItem", "HistoryTable"),
    Permission("dynamodb:BatchWriteItem", "HistoryTable"),  # a start page's children's first history
    *(
        Permission(f"sqs:{a}", "ExecutionQueue")
        for a in ("ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "GetQueueAttributes", "SendMessage")
    ),
    Permission("logs:CreateLogStream", "ProcessorLogGroup"),
    Permission("logs:PutLogEvents", "ProcessorLogGroup"),
    # running slots given back; the usage ledger
    *(Permission(f"dynamodb:{a}", "TenantsTable") for a in ("GetItem", "BatchGetItem", "PutItem", "UpdateItem")),
}
SWEEPER_GRANTS = {
    Permission("dynamodb:Query", f"ExecutionsTable/index/{BY_DUE_INDEX}"),
    Permission("dynamodb:BatchGetItem", "ExecutionsTable"),  # the heads the index names
    Permission("dynamodb:PutItem", "ExecutionsTable"),  # a head's next due time, conditional on its seq
    Permission("dynamodb:GetItem", "ExecutionsTable"),  # a fan-out's counter
    Permission("dynamodb:PutItem", "HistoryTable"),  # history a crash cut short
    Permission("sqs:SendMessage", "ExecutionQueue"),
    Permission("logs:CreateLogStream", "SweeperLogGroup"),
    Permission("logs:PutLogEvents", "SweeperLogGroup"),
}


# events (issue 15): the bus (PutEvents on EventBus only), the trigger index, waits, receipts
BUS = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBus}"
API_GRANTS |= {Permission("events:PutEvents", BUS), Permission("dynamodb:DeleteItem", "DefinitionsTable")}
PROCESSOR_GRANTS |= {Permission("events:PutEvents", BUS), Permission("dynamodb:DeleteItem", "ExecutionsTable")}
EVENTS_GRANTS = {
    *(Permission(f"dynamodb:{a}", "DefinitionsTable") for a in ("GetItem", "Query")),
    *(Permission(f"dynamodb:{a}", "ExecutionsTable") for a in ("GetItem", "PutItem", "DeleteItem", "Query")),
    Permission("dynamodb:PutItem", "HistoryTable"),  # a started execution's first history
    Permission("s3:GetObject", "PayloadBucket/*"),
    Permission("s3:PutObject", "PayloadBucket/*"),
    *(
        Permission(f"sqs:{a}", "EventsQueue")
        for a in ("ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "GetQueueAttributes", "SendMessage")
    ),
    Permission("sqs:SendMessage", "ExecutionQueue"),
    Permission("logs:CreateLogStream", "EventsLogGroup"),
    Permission("logs:PutLogEvents", "EventsLogGroup"),
}


def test_tenant_events_reach_the_events_function_with_partial_batch_responses() -> None:
    rule = props("TenantEventsRule")
    assert rule["EventBusName"] == {"Ref": "EventBus"} and PARAMETERS["EventBus"]["Default"] == "default"
    assert rule["EventPattern"] == {"resources": [{"prefix": "sedo:tenant/"}]}
    assert rule["Targets"] == [{"Id": "events-queue", "Arn": {"Fn::GetAtt": ["EventsQueue", "Arn"]}}]
    assert props("EventsQueue")["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]
    }
    (event,) = props("EventsFunction")["Events"].values()
    assert event["Properties"]["Queue"] == {"Fn::GetAtt": ["EventsQueue", "Arn"]}
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props("EventsFunction")["Handler"] == "sedo.entrypoints.events.handler"
    (statement,) = props("EventsQueuePolicy")["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["TenantEventsRule", "Arn"]}}}


def test_each_function_has_its_own_role_with_exactly_these_grants() -> None:
    """The least-privilege contract, reviewed by hand: a change to a role shows up here.
    (The built-artifact tests prove these grants cover every call the functions make.)"""
    assert cfn.function_role("ApiFunction") == "ApiFunctionRole"
    assert cfn.function_role("ProcessorFunction") == "ProcessorFunctionRole"
    assert cfn.function_role("SweeperFunction") == "SweeperFunctionRole"
    assert cfn.grants("ApiFunctionRole") == API_GRANTS
    assert cfn.grants("ProcessorFunctionRole") == PROCESSOR_GRANTS
    assert cfn.grants("SweeperFunctionRole") == SWEEPER_GRANTS
    assert cfn.function_role("EventsFunction") == "EventsFunctionRole"
    assert cfn.grants("EventsFunctionRole") == EVENTS_GRANTS
    for role in ROLES:
        assert "ManagedPolicyArns" not in props(role)
    for function in FUNCTIONS:
        assert "Policies" not in props(function)  # SAM's policy templates grant more than a function calls
    assert sorted(str(cfn.ref_target(r)) for r in props("XRayWritePolicy")["Roles"]) == sorted(ROLES)


def test_no_statement_grants_a_star_resource_except_xray() -> None:
    for role in ROLES:
        for statement in cfn.role_statements(role, include_conditional=True):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not any("*" in a for a in actions), statement
            if statement["Resource"] == "*":
                assert set(actions) <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, statement


@pytest.fixture(scope="module")
def evaluated(moto_endpoint: str) -> Any:
    """Provision with ``parameters`` through moto's CloudFormation and return the IAM client."""

    def run(parameters: dict[str, str]) -> tuple[Settings, Any, str]:
        stage = "i" + uuid.uuid4().hex[:12]
        settings = provision(moto_endpoint, stage=stage, parameters=parameters)
        iam = boto3.client("iam", endpoint_url=moto_endpoint, region_name="us-east-1")
        roles = [
            r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(f"sedo-{stage}-Processor")
        ]
        return settings, iam, roles[0]

    return run


def _role(iam: Any, processor_role: str, function: str) -> str:
    """The role of another function of the same stack as ``processor_role``."""
    stage = processor_role.split("-Processor", 1)[0]
    return next(r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(f"{stage}-{function}"))


def test_invoke_permission_names_exactly_the_allow_listed_functions(evaluated: Any) -> None:
    names = [f"target-{n}" for n in range(10)]
    _, iam, role = evaluated({"InvokeAllowList": ",".join(names), "QueueVisibilityTimeoutSeconds": "30"})
    document = iam.get_role_policy(RoleName=role, PolicyName="invoke-allow-list")["PolicyDocument"]
    (statement,) = document["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction"
    arn = "arn:aws:lambda:us-east-1:123456789012:function:{}"
    assert sorted(statement["Resource"]) == sorted(
        [arn.format(n) for n in names] + [arn.format(n) + ":*" for n in names]
    )

    _, iam, role = evaluated({"InvokeAllowList": "only-one", "QueueVisibilityTimeoutSeconds": "30"})
    document = iam.get_role_policy(RoleName=role, PolicyName="invoke-allow-list")["PolicyDocument"]
    # moto keeps an Fn::If's AWS::NoValue in a list as null; CloudFormation drops it.
    resources = [r for r in document["Statement"][0]["Resource"] if r is not None]
    assert sorted(resources) == [arn.format("only-one"), arn.format("only-one") + ":*"]

    _, iam, role = evaluated({"QueueVisibilityTimeoutSeconds": "30"})
    assert "invoke-allow-list" not in iam.list_role_policies(RoleName=role)["PolicyNames"]


def test_the_queue_visibility_timeout_follows_the_processor_timeout(evaluated: Any) -> None:
    for timeout, expected in (("30", "180"), ("900", "5400")):
        settings, _, _ = evaluated({"ProcessorTimeoutSeconds": timeout})
        sqs = boto3.client("sqs", endpoint_url=settings.endpoint_url, region_name=settings.region)
        attributes = sqs.get_queue_attributes(QueueUrl=settings.queue_url, AttributeNames=["VisibilityTimeout"])
        assert attributes["Attributes"]["VisibilityTimeout"] == expected


def test_the_invoke_allow_list_has_as_many_slots_as_its_description_says() -> None:
    slots = len(re.findall(r"^  InvokeTarget\d+:", cfn.TEMPLATE.read_text(), re.MULTILINE))
    assert f"at most {slots} " in PARAMETERS["InvokeAllowList"]["Description"]


def test_maps_over_s3_may_read_and_write_exactly_the_buckets_the_parameters_name(evaluated: Any) -> None:
    parameters = {"MapItemBuckets": "in-a,in-b", "MapResultBuckets": "out", "QueueVisibilityTimeoutSeconds": "30"}
    _, iam, role = evaluated(parameters)
    for policy, action, buckets in (
        ("map-item-buckets", "s3:GetObject", ["in-a", "in-b"]),
        ("map-result-buckets", "s3:PutObject", ["out"]),
    ):
        (statement,) = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]["Statement"]
        assert statement["Action"] == action
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        assert sorted(r for r in resources if r is not None) == [f"arn:aws:s3:::{b}/*" for b in buckets]
    # The API shows a child's input, kept as a reference to its range of the source: it reads, never writes.
    api = _role(iam, role, "ApiFunction")
    (statement,) = iam.get_role_policy(RoleName=api, PolicyName="map-item-buckets")["PolicyDocument"]["Statement"]
    assert statement["Action"] == "s3:GetObject"
    assert "map-result-buckets" not in iam.list_role_policies(RoleName=api)["PolicyNames"]
    _, iam, role = evaluated({"QueueVisibilityTimeoutSeconds": "30"})
    assert not {"map-item-buckets", "map-result-buckets"} & set(iam.list_role_policies(RoleName=role)["PolicyNames"])
    for name in ("MapItemBucket", "MapResultBucket"):
        slots = len(re.findall(rf"^  {name}\d+:", cfn.TEMPLATE.read_text(), re.MULTILINE))
        assert f"at most {slots}." in PARAMETERS[f"{name}s"]["Description"]
