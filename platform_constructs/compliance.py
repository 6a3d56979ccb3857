"""The compliance harness: which cdk-nag packs every stack must pass, and how to read their findings.

cdk-nag 3 packs are CDK policy-validation plugins. Registered on the app they make ``cdk synth`` fail on
any unacknowledged finding. Tests must read a pack's report (``validate_scope``), because cdk-nag 3
writes nothing to ``Annotations``.

Acknowledge a finding with ``Validations.of(construct).acknowledge(Acknowledgment(id=..., reason=...))``
next to the resource, and only where AWS itself forces the configuration.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Acknowledgment, App, Validations
from cdk_nag import (
    AwsSolutionsChecks,
    HIPAASecurityChecks,
    NagPack,
    NIST80053R5Checks,
    PCIDSS321Checks,
    ServerlessChecks,
)
from constructs import IConstruct

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
