"""What a runtime flow is: one concrete request AWS authorizes for (or against) the platform."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Expected = Literal["allow", "deny"]

# Principals that are not roles of the templates.
ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Flow:
    """A request AWS makes on the platform's behalf (expected ``allow``) or one it must refuse (``deny``).

    ``principal`` is a role ARN, a service principal (``events.amazonaws.com``) or :data:`ANONYMOUS`;
    ``identity_policies`` are the principal's policies as deployed (empty for service principals and anonymous
    callers). ``resource_policy`` is the policy AWS evaluates on the resource (bucket, key, topic, queue, role
    trust), ``endpoint_policies`` the VPC endpoint policies the request crosses. ``context`` holds every
    condition key AWS adds to the request, so a condition in a policy is evaluated as in AWS.
    """

    flow_id: str
    environment: str
    component: str
    description: str
    principal: str
    action: str
    resource: str
    resource_account: str
    expected: Expected
    context: Mapping[str, str | list[str]] = field(default_factory=dict)
    identity_policies: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    resource_policy: tuple[str, Mapping[str, Any]] | None = None
    endpoint_policies: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    principal_label: str = ""
    unverified: str = ""
    """Why a modelling choice of this flow is not confirmed by AWS documentation (empty: documented)."""

    @property
    def engine(self) -> Literal["validated", "unsafe"]:
        """``unsafe`` when the request carries a key ``runSimulation`` drops (KMS encryption context) or uses a
        resource form the simulator's resource-type table does not list (CloudWatch Logs' ``:log-stream:``
        resource of CreateLogGroup); everything else is validated (action, resource type, context keys)."""
        if any(key.lower().startswith("kms:encryptioncontext:") for key in self.context):
            return "unsafe"
        if self.action in _UNSAFE_RESOURCE_FORMS:
            return "unsafe"
        return "validated"

    def simulation(self) -> dict[str, Any]:
        principal: Any = {"type": "Anonymous"} if self.principal == ANONYMOUS else self.principal
        simulation: dict[str, Any] = {
            "request": {
                "principal": principal,
                "action": self.action,
                "resource": {"resource": self.resource, "accountId": self.resource_account},
                "contextVariables": dict(self.context),
            },
            "identityPolicies": [{"name": name, "policy": doc} for name, doc in self.identity_policies],
            "serviceControlPolicies": [],
            "resourceControlPolicies": [],
        }
        if self.resource_policy is not None:
            simulation["resourcePolicy"] = self.resource_policy[1]
        if self.endpoint_policies:
            simulation["vpcEndpointPolicies"] = [{"name": name, "policy": doc} for name, doc in self.endpoint_policies]
        return simulation


# CloudWatch Logs authorizes CreateLogGroup and AssociateKmsKey against the group's ":log-stream:" resource
# (CloudWatch Logs permissions reference); the simulator's data lists the bare log-group ARN for them.
_UNSAFE_RESOURCE_FORMS = frozenset({"logs:CreateLogGroup", "logs:AssociateKmsKey"})


@dataclass(frozen=True)
class FlowResult:
    flow: Flow
    actual: Literal["allow", "deny", "error"]
    decision: str
    deciding: str
    errors: str = ""

    @property
    def as_expected(self) -> bool:
        return self.actual == self.flow.expected
