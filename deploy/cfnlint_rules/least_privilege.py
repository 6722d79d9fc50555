"""cfn-lint rule E9101: IAM in template.yaml is least privilege.

Run with ``cfn-lint --append-rules deploy/cfnlint_rules template.yaml`` (``make sam-lint``).
In every IAM role, policy and managed policy:

- an Allow statement names its actions one by one: no ``*`` in an action, no
  ``NotAction``, no ``NotResource``; every action exists (cfn-lint's IAM data);
- a resource is never ``"*"``, except for actions that IAM cannot scope to a resource
  at all (X-Ray's write actions are the only ones this stack uses);
- a role has no managed policies, and every function (plain or SAM) runs as a role
  declared in the template, without SAM ``Policies``: the roles SAM generates carry
  AWSLambdaBasicExecutionRole, whose log actions are granted on ``"*"``, and SAM's
  policy templates grant more actions than a function calls.

cfn-lint checks SAM templates without running the SAM transform, which is why the
functions themselves are checked here rather than the roles SAM would generate.
"""

from __future__ import annotations

from typing import Any

from cfnlint.data import AdditionalSpecs
from cfnlint.helpers import load_resource
from cfnlint.rules import CloudFormationLintRule, RuleMatch

POLICY_TYPES = ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class LeastPrivilege(CloudFormationLintRule):
    id = "E9101"
    shortdesc = "IAM policies are least privilege"
    description = "No wildcard actions, no '*' resources (unless IAM cannot scope the action), no managed policies"
    source_url = "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege"
    tags = ["iam", "security"]

    def __init__(self) -> None:
        super().__init__()
        self._services: dict[str, Any] = load_resource(AdditionalSpecs, "Policies.json")

    def _unscopable(self, action: str) -> bool:
        """True when IAM knows the action and it supports no resource types (only "*" works)."""
        service, _, name = action.lower().partition(":")
        known = self._services.get(service, {}).get("Actions", {})
        return name in known and not known[name].get("Resources")

    def _exists(self, action: str) -> bool:
        service, _, name = action.lower().partition(":")
        return name in self._services.get(service, {}).get("Actions", {})

    def _statements(self, path: list[Any], document: Any) -> list[tuple[list[Any], dict[str, Any]]]:
        if not isinstance(document, dict):
            return []
        statements = document.get("Statement", [])
        if isinstance(statements, dict):
            return [([*path, "Statement"], statements)]
        if not isinstance(statements, list):
            return []
        return [([*path, "Statement", i], s) for i, s in enumerate(statements) if isinstance(s, dict)]

    def _check_statement(self, path: list[Any], statement: dict[str, Any]) -> list[RuleMatch]:
        if statement.get("Effect") != "Allow":
            return []
        matches = []
        for key in ("NotAction", "NotResource"):
            if key in statement:
                matches.append(RuleMatch([*path, key], f"{key} grants everything else: name what is allowed"))
        actions = [a for a in _as_list(statement.get("Action", [])) if isinstance(a, str)]
        for action in actions:
            if "*" in action:
                matches.append(RuleMatch([*path, "Action"], f"wildcard action {action!r}: name each action"))
            elif not self._exists(action):
                matches.append(RuleMatch([*path, "Action"], f"unknown IAM action {action!r}"))
        resources = _as_list(statement.get("Resource", []))
        if "*" in resources and not (actions and all(self._unscopable(a) for a in actions)):
            matches.append(
                RuleMatch(
                    [*path, "Resource"],
                    "Resource '*': scope the statement to this stack's resources "
                    f"(actions: {', '.join(actions) or 'none'})",
                )
            )
        return matches

    def match(self, cfn: Any) -> list[RuleMatch]:
        matches: list[RuleMatch] = []
        for name, resource in cfn.get_resources(POLICY_TYPES).items():
            properties = resource.get("Properties", {})
            if not isinstance(properties, dict):
                continue
            base = ["Resources", name, "Properties"]
            documents: list[tuple[list[Any], Any]] = []
            if resource["Type"] == "AWS::IAM::Role":
                if properties.get("ManagedPolicyArns"):
                    matches.append(
                        RuleMatch(
                            [*base, "ManagedPolicyArns"],
                            f"role {name} has managed policies: grant exactly what it needs inline",
                        )
                    )
                for i, policy in enumerate(properties.get("Policies", []) or []):
                    if isinstance(policy, dict):
                        documents.append(([*base, "Policies", i, "PolicyDocument"], policy.get("PolicyDocument")))
            else:
                documents.append(([*base, "PolicyDocument"], properties.get("PolicyDocument")))
            for path, document in documents:
                for statement_path, statement in self._statements(path, document):
                    matches.extend(self._check_statement(statement_path, statement))
        for name, resource in cfn.get_resources(["AWS::Lambda::Function", "AWS::Serverless::Function"]).items():
            properties = resource.get("Properties", {})
            if not isinstance(properties, dict):
                continue
            role = properties.get("Role")
            if not (isinstance(role, dict) and "Fn::GetAtt" in role):
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties"],
                        f"function {name} must run as a role declared in this template (Role: !GetAtt <role>.Arn)",
                    )
                )
            if "Policies" in properties:
                matches.append(
                    RuleMatch(
                        ["Resources", name, "Properties", "Policies"],
                        f"function {name}: SAM policy templates grant more than the function calls; use its role",
                    )
                )
        return matches
