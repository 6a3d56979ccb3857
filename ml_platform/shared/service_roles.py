"""A role that an AWS service assumes, with its permissions in one customer-managed policy (no inline policy: the
HIPAA, NIST and PCI packs refuse inline policies, and CDK's targets and grants would add one)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_iam as iam
from constructs import Construct


def service_role(
    scope: Construct,
    role_id: str,
    *,
    service: str,
    description: str,
    policy_id: str,
    policy_description: str,
    statements: Sequence[iam.PolicyStatement],
) -> iam.Role:
    """``iam.Role`` ``role_id`` assumed by ``service`` (e.g. ``events.amazonaws.com``), with ``statements`` in the
    managed policy ``policy_id`` attached to it. Pass ``role.without_policy_updates()`` to a construct that would add
    its own statements (an EventBridge target), so that this policy stays the role's only permission."""
    role = iam.Role(scope, role_id, assumed_by=iam.ServicePrincipal(service), description=description)
    iam.ManagedPolicy(scope, policy_id, description=policy_description, statements=list(statements), roles=[role])
    return role
