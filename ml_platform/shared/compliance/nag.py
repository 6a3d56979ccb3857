"""cdk-nag: the packs every stack must pass, their findings, and acknowledging a finding.

* :data:`COMPLIANCE_PACKS` and :func:`findings` (a pack's report, read with ``validate_scope``: cdk-nag 3 writes
  nothing to ``Annotations``).
* :func:`acknowledge` (one exact finding id) and :func:`acknowledge_finding` (one finding under every pack that
  reports it, from :data:`NAG_RULES`).
* :func:`acknowledge_resource_wildcards` (AwsSolutions-IAM5 wildcard findings, one exact id per resource, with
  resources flattened as cdk-nag spells them: :func:`flatten_reference`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jsii
from aws_cdk import Acknowledgment, Stack, Validations
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


# The cdk-nag rules this app acknowledges somewhere, by the rule's name in cdk-nag (its file in cdk-nag's
# rules/ folder), with the id of the finding in every pack of COMPLIANCE_PACKS that runs the rule:
# ``<pack>-<rule>``, except that AwsSolutions names its rules by a short code (``AwsSolutions-SQS3`` is the rule
# SQSQueueDLQ). cdk-nag 3 offers no list of a pack's rules (``NagPack.rule_ids`` is declared but never set, and
# a pack applies its rules as JavaScript functions jsii does not expose), so the table is explicit and
# tests/compliance/test_acknowledge_finding.py checks it against the packs of the installed cdk-nag. The order of
# a tuple is the order of the acknowledgments (and of the rows of the README's acknowledgment table).
NAG_RULES: dict[str, tuple[str, ...]] = {
    "CodeBuildProjectSourceRepoUrl": (
        "HIPAA.Security-CodeBuildProjectSourceRepoUrl",
        "PCI.DSS.321-CodeBuildProjectSourceRepoUrl",
    ),
    "IAMNoInlinePolicy": (
        "HIPAA.Security-IAMNoInlinePolicy",
        "NIST.800.53.R5-IAMNoInlinePolicy",
        "PCI.DSS.321-IAMNoInlinePolicy",
    ),
    "KinesisDataFirehoseSSE": ("AwsSolutions-KDF1",),
    "LambdaDLQ": ("Serverless-LambdaDLQ", "HIPAA.Security-LambdaDLQ", "NIST.800.53.R5-LambdaDLQ"),
    "S3BucketReplicationEnabled": (
        "HIPAA.Security-S3BucketReplicationEnabled",
        "NIST.800.53.R5-S3BucketReplicationEnabled",
        "PCI.DSS.321-S3BucketReplicationEnabled",
    ),
    "S3DefaultEncryptionKMS": (
        "HIPAA.Security-S3DefaultEncryptionKMS",
        "NIST.800.53.R5-S3DefaultEncryptionKMS",
        "PCI.DSS.321-S3DefaultEncryptionKMS",
    ),
    "SageMakerEndpointConfigurationKMSKeyConfigured": (
        "HIPAA.Security-SageMakerEndpointConfigurationKMSKeyConfigured",
        "NIST.800.53.R5-SageMakerEndpointConfigurationKMSKeyConfigured",
        "PCI.DSS.321-SageMakerEndpointConfigurationKMSKeyConfigured",
    ),
    "SQSQueueDLQ": ("AwsSolutions-SQS3",),
    "SQSRedrivePolicy": ("Serverless-SQSRedrivePolicy",),
}


def nag_rule_ids(rule: str) -> tuple[str, ...]:
    """The finding ids under which the packs report the cdk-nag rule ``rule`` (e.g. ``S3DefaultEncryptionKMS``
    → HIPAA.Security-, NIST.800.53.R5- and PCI.DSS.321-S3DefaultEncryptionKMS)."""
    try:
        return NAG_RULES[rule]
    except KeyError:
        raise ValueError(f"{rule}: no cdk-nag rule of that name in NAG_RULES (add it with each pack's id)") from None


def acknowledge_finding(scope: IConstruct, *rules: str, reason: str) -> None:
    """Acknowledge on ``scope`` and below one finding under every pack that reports it: each cdk-nag rule in
    ``rules`` (its name in cdk-nag, e.g. ``S3DefaultEncryptionKMS``; see :data:`NAG_RULES`), under the id of each
    pack that runs it. Several rules name one finding that packs check with different rules (a queue without
    a dead-letter queue: ``SQSQueueDLQ`` and ``SQSRedrivePolicy``). An unknown rule raises ValueError before
    anything is acknowledged. ``reason`` must say why AWS forces the configuration."""
    if not rules:
        raise ValueError("acknowledge_finding: name at least one cdk-nag rule")
    for rule_id in [rule_id for rule in rules for rule_id in nag_rule_ids(rule)]:
        acknowledge(scope, rule_id, reason)


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
