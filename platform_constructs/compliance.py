"""The compliance harness: which cdk-nag packs every stack must pass, and how to read their findings.

cdk-nag 3 packs are CDK policy-validation plugins. Registered on the app they make ``cdk synth`` fail on
any unacknowledged finding. Tests must read a pack's report (``validate_scope``), because cdk-nag 3
writes nothing to ``Annotations``.

Acknowledge a finding with ``Validations.of(construct).acknowledge(Acknowledgment(id=..., reason=...))``
next to the resource, and only where AWS itself forces the configuration.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jsii
from aws_cdk import Acknowledgment, App, Stack, Validations
from aws_cdk import aws_iam as iam
from cdk_nag import (
    AwsSolutionsChecks,
    HIPAASecurityChecks,
    NagPack,
    NIST80053R5Checks,
    PCIDSS321Checks,
    ServerlessChecks,
)
from constructs import IConstruct, IValidation

# Serverless rules only match serverless resources (Lambda, API Gateway, Step Functions, ...), so running
# the pack over the whole app checks exactly the stacks that have Lambda functions.
COMPLIANCE_PACKS: tuple[type[NagPack], ...] = (
    AwsSolutionsChecks,
    HIPAASecurityChecks,
    NIST80053R5Checks,
    PCIDSS321Checks,
    ServerlessChecks,
)


@dataclass(frozen=True)
class Finding:
    """One unacknowledged finding of one pack on one resource."""

    pack: str
    rule: str
    severity: str
    construct_path: str
    description: str

    def __str__(self) -> str:
        return f"{self.pack} {self.rule} ({self.severity}) at {self.construct_path}: {self.description}"


def register_compliance_packs(app: App) -> None:
    """Make synth fail on any unacknowledged finding of any pack."""
    Validations.of(app).add_plugins(*(pack(app) for pack in COMPLIANCE_PACKS))


def findings(scope: IConstruct, packs: Sequence[type[NagPack]] = COMPLIANCE_PACKS) -> list[Finding]:
    """Every unacknowledged finding of ``packs`` in ``scope`` (call after ``app.synth()``)."""
    result = []
    for pack_class in packs:
        report = pack_class().validate_scope(scope)
        for violation in report.violations:
            for resource in violation.violating_resources:
                result.append(
                    Finding(
                        pack=pack_class.__name__,
                        rule=violation.rule_name,
                        severity=str(violation.severity),
                        construct_path=resource.construct_path or "?",
                        description=violation.description,
                    )
                )
    return result


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one finding on ``scope`` and below. ``reason`` must say why AWS forces it."""
    if len(reason) < 30:
        raise ValueError(f"acknowledgment of {rule_id}: give a specific reason (at least 30 characters)")
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def flatten_reference(value: object) -> str:
    """A CloudFormation value flattened the way cdk-nag spells it inside granular finding ids such as
    ``AwsSolutions-IAM5[Resource::<Bucket.Arn>/events/*]`` (cdk-nag's utils/flatten-cfn-reference)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return delimiter.join(flatten_reference(item) for item in items)
        if "Fn::Sub" in value:
            return flatten_reference(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{flatten_reference(resource)}.{flatten_reference(attribute)}>"
        if "Fn::ImportValue" in value:
            return flatten_reference(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{flatten_reference(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


@jsii.implements(IValidation)
class _ResourceWildcardAcknowledgment:
    """Acknowledges ``AwsSolutions-IAM5[Resource::…]`` for exactly the wildcard resources of one policy
    that ``matches`` accepts. It runs as a construct validation, after cross-stack references resolve,
    because the finding id contains the resolved (flattened) resource."""

    def __init__(self, policy: iam.ManagedPolicy | iam.Policy, matches: Callable[[str], bool], reason: str) -> None:
        self._policy = policy
        self._matches = matches
        self._reason = reason

    def validate(self) -> list[str]:
        cfn = self._policy.node.default_child
        document = Stack.of(self._policy).resolve(cfn.policy_document)  # type: ignore[union-attr]
        for statement in document.get("Statement", []):
            resources = statement.get("Resource", [])
            for resource in resources if isinstance(resources, list) else [resources]:
                flat = flatten_reference(resource)
                if "*" in flat and self._matches(flat):
                    acknowledge(self._policy, f"AwsSolutions-IAM5[Resource::{flat}]", self._reason)
        return []


def acknowledge_resource_wildcards(
    policy: iam.ManagedPolicy | iam.Policy,
    *,
    reason: str,
    suffixes: Sequence[str] = (),
    matches: Callable[[str], bool] | None = None,
) -> None:
    """Acknowledge the AwsSolutions-IAM5 wildcard-resource findings of ``policy`` whose flattened resource
    ends in one of ``suffixes`` (e.g. an object prefix ``/events/*``) or that ``matches`` accepts, one exact
    finding id per resource."""
    endings = tuple(suffixes)

    def accept(resource: str) -> bool:
        return bool(endings and resource.endswith(endings)) or bool(matches and matches(resource))

    policy.node.add_validation(_ResourceWildcardAcknowledgment(policy, accept, reason))
