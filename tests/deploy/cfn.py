"""Reading template.yaml in tests: CloudFormation YAML, IAM grants, and calls mapped to IAM.

The template is the one source of truth for what the functions may touch; these
helpers turn it into plain sets the tests compare with what the built artifacts
actually call (recorded by lambda_driver.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

FUNCTIONS = {"api": "ApiFunction", "processor": "ProcessorFunction", "sweeper": "SweeperFunction"}


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {name: value}

    return construct


for _short, _long in {
    "Ref": "Ref",
    "Condition": "Condition",
    **{f: f"Fn::{f}" for f in ("GetAtt", "Sub", "Join", "If", "Not", "Equals", "And", "Or", "FindInMap")},
    **{f: f"Fn::{f}" for f in ("Select", "Split", "Base64", "GetAZs", "ImportValue", "Contains")},
    "EachMemberEquals": "Fn::EachMemberEquals",
    "EachMemberIn": "Fn::EachMemberIn",
    "ValueOf": "Fn::ValueOf",
}.items():
    _CfnLoader.add_constructor(f"!{_short}", _tag(_long))


@cache
def template() -> dict[str, Any]:
    return dict(yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader))


def resources(kind: str | None = None) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template()["Resources"].items() if kind is None or v["Type"] == kind}


def environment(function: str) -> dict[str, Any]:
    """The environment template.yaml gives a function: Globals merged with its own."""
    merged = dict(template()["Globals"]["Function"]["Environment"]["Variables"])
    own = resources()[function]["Properties"].get("Environment", {}).get("Variables", {})
    merged.update(own)
    return merged


def ref_target(value: Any) -> str | None:
    """``{"Ref": X}`` or ``{"Fn::GetAtt": [X, "Arn"]}`` -> X."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    return None


def resolve_environment(function: str, refs: dict[str, str], parameters: dict[str, str]) -> dict[str, str]:
    """The function's environment with resources and parameters filled in (what Lambda would see).

    ``refs``: physical ids of resources (table names, queue URLs); ``parameters``: values of
    parameters (CommaDelimitedList ones as comma-joined strings). Anything else is an error: a
    test that meets a new kind of value should learn it here.
    """
    resolved = {}
    for name, value in environment(function).items():
        if isinstance(value, str):
            resolved[name] = value
            continue
        target = ref_target(value)
        if target is not None and target in refs:
            resolved[name] = refs[target]
        elif target is not None and target in parameters:
            resolved[name] = parameters[target]
        elif isinstance(value, dict) and "Fn::Join" in value and value["Fn::Join"][0] == ",":
            joined = ref_target(value["Fn::Join"][1])
            if joined not in parameters:
                raise KeyError(f"{function} {name}: unknown parameter in {value}")
            resolved[name] = parameters[joined]
        else:
            raise KeyError(f"{function} {name}: cannot resolve {value}")
    return resolved


# -- IAM -------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Permission:
    """An IAM action on one of the template's resources: ``ExecutionsTable`` or
    ``ExecutionsTable/index/byDefinition``."""

    action: str
    resource: str

    def __str__(self) -> str:
        return f"{self.action} on {self.resource}"


def _resource_keys(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    keys = []
    for item in values:
        target = ref_target(item)
        if target is not None:
            keys.append(target)
        elif isinstance(item, dict) and "Fn::Sub" in item and isinstance(item["Fn::Sub"], str):
            match = re.fullmatch(r"\$\{(\w+)\.Arn\}(/.*)", item["Fn::Sub"])
            keys.append(f"{match.group(1)}{match.group(2)}" if match else item["Fn::Sub"])
        else:
            keys.append(repr(item))
    return keys


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def role_statements(role: str, include_conditional: bool = False) -> list[dict[str, Any]]:
    """Allow statements of a role: its inline policies, plus AWS::IAM::Policy resources attached to it."""
    found = []
    for policy in resources()[role]["Properties"].get("Policies", []):
        found += _statements(policy["PolicyDocument"])
    for resource in resources("AWS::IAM::Policy").values():
        if "Condition" in resource and not include_conditional:
            continue
        roles = [ref_target(r) for r in resource["Properties"]["Roles"]]
        if role in roles:
            found += _statements(resource["Properties"]["PolicyDocument"])
    return [s for s in found if s.get("Effect") == "Allow"]


def grants(role: str) -> set[Permission]:
    """What a role may do on the template's own resources (unconditional grants)."""
    granted = set()
    for statement in role_statements(role):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            for resource in _resource_keys(statement["Resource"]):
                granted.add(Permission(action, resource))
    return granted


def function_role(function: str) -> str:
    role = ref_target(resources()[function]["Properties"]["Role"])
    assert role is not None, f"{function} has no role of its own"
    return role


#: How the template grants events:PutEvents on its EventBus parameter's bus.
EVENT_BUS_ARN = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBus}"
_TRANSACT = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
_SQS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage"}


def required_permissions(calls: Iterable[dict[str, Any]], names: dict[str, str]) -> set[Permission]:
    """The IAM permissions a list of recorded AWS calls needs.

    ``names`` maps physical names (table names, queue URLs, function names) to logical ids.
    A call on something the template does not declare maps to ``?<name>``, which no role grants.
    """

    def logical(name: str) -> str:
        return names.get(name, f"?{name}")

    needed = set()
    for call in calls:
        service, operation, params = call["service"], call["operation"], call["params"]
        if service == "dynamodb":
            if operation == "TransactWriteItems":
                for item in params["TransactItems"]:
                    needed.add(Permission(f"dynamodb:{_TRANSACT[item['op']]}", logical(item["TableName"])))
            elif operation in ("BatchGetItem", "BatchWriteItem"):
                for table in params["RequestItems"]:
                    needed.add(Permission(f"dynamodb:{operation}", logical(table)))
            else:
                resource = logical(params["TableName"])
                if params.get("IndexName"):
                    resource += f"/index/{params['IndexName']}"
                needed.add(Permission(f"dynamodb:{operation}", resource))
        elif service == "sqs":
            needed.add(Permission(f"sqs:{_SQS.get(operation, operation)}", logical(params["QueueUrl"])))
        elif service == "lambda":
            needed.add(Permission(f"lambda:{operation}Function", logical(params["FunctionName"])))
        elif service == "events" and operation == "PutEvents":
            entries = params.get("Entries")  # the recorder may keep only their count
            names_used = (
                {e.get("EventBusName", "default") for e in entries} if isinstance(entries, list) else {"default"}
            )
            for name in names_used:
                bus = logical(name)
                needed.add(Permission("events:PutEvents", EVENT_BUS_ARN if bus == "EventBus" else bus))
        elif service == "s3" and "Bucket" in params:
            needed.add(Permission(f"s3:{operation}", logical(params["Bucket"]) + "/*"))
        else:
            needed.add(Permission(f"{service}:{operation}", "?"))
    return needed


# -- DynamoDB key schemas -----------------------------------------------------------------------


def key_schema(table: str, index: str | None = None) -> dict[str, str]:
    """``{attribute: type}`` of a table's (or one of its indexes') key, from the template."""
    properties = resources()[table]["Properties"]
    types = {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]}
    schema = properties["KeySchema"]
    if index is not None:
        (gsi,) = [g for g in properties.get("GlobalSecondaryIndexes", []) if g["IndexName"] == index]
        schema = gsi["KeySchema"]
    return {k["AttributeName"]: types[k["AttributeName"]] for k in schema}


def key_problems(calls: Iterable[dict[str, Any]], names: dict[str, str]) -> list[str]:
    """Recorded DynamoDB calls whose keys, items or indexes disagree with the template."""
    problems = []

    def check_key(table: str, key: dict[str, str], what: str) -> None:
        logical = names.get(table)
        if logical is None:
            problems.append(f"{what} on undeclared table {table}")
            return
        if key != key_schema(logical):
            problems.append(f"{what} on {logical}: key {key}, template declares {key_schema(logical)}")

    def check_item(table: str, item: dict[str, str], what: str) -> None:
        logical = names.get(table)
        if logical is None:
            problems.append(f"{what} on undeclared table {table}")
            return
        expected = key_schema(logical)
        if {a: item.get(a) for a in expected} != expected:
            problems.append(f"{what} on {logical}: item key attributes {item}, template declares {expected}")
        for gsi in resources()[logical]["Properties"].get("GlobalSecondaryIndexes", []):
            for attribute, kind in key_schema(logical, gsi["IndexName"]).items():
                if attribute in item and item[attribute] != kind:
                    problems.append(f"{what} on {logical}: {attribute} is {item[attribute]}, index wants {kind}")

    for call in calls:
        if call["service"] != "dynamodb":
            continue
        op, params = call["operation"], call["params"]
        if op in ("GetItem", "DeleteItem", "UpdateItem"):
            check_key(params["TableName"], params["Key"], op)
        elif op == "PutItem":
            check_item(params["TableName"], params["Item"], op)
        elif op == "TransactWriteItems":
            for item in params["TransactItems"]:
                if "Item" in item:
                    check_item(item["TableName"], item["Item"], f"TransactWriteItems {item['op']}")
                if "Key" in item:
                    check_key(item["TableName"], item["Key"], f"TransactWriteItems {item['op']}")
        elif op == "BatchGetItem":
            for table, keys in params["RequestItems"].items():
                for key in keys:
                    check_key(table, key, op)
        elif op == "Query":
            logical = names.get(params["TableName"])
            if logical is None:
                problems.append(f"Query on undeclared table {params['TableName']}")
                continue
            index = params.get("IndexName")
            declared = [g["IndexName"] for g in resources()[logical]["Properties"].get("GlobalSecondaryIndexes", [])]
            if index is not None and index not in declared:
                problems.append(f"Query on {logical}: index {index} is not declared (declared: {declared})")
                continue
            schema = key_schema(logical, index)
            condition = params.get("KeyConditionExpression", "")
            compared = re.findall(r"([A-Za-z_]\w*)\s*(?:=|>=|<=|<|>|BETWEEN\b)", condition)
            for attribute in compared + re.findall(r"begins_with\s*\(\s*([A-Za-z_]\w*)", condition):
                if attribute not in schema:
                    problems.append(f"Query on {logical}{'/' + index if index else ''}: {attribute} is not a key")
    return problems
