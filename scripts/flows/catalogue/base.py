"""Building blocks of the flow catalogue: one environment's resources as AWS sees them, and flow factories
that add the context keys AWS puts into each kind of request."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ml_platform.environment import EnvironmentConfig
from ml_platform.lake.config import bucket_name
from scripts.flows.catalogue.context import kms_via, kms_via_s3
from scripts.flows.model import ANONYMOUS, Expected, Flow
from scripts.flows.templates import PARTITION, Deployment, Principal, StackView

# Accounts of the flow scenarios. Environments without a declared account are placed in these (one per
# environment in order), or all in SHARED_ACCOUNT for the shared-account scenario.
TEST_ACCOUNTS: tuple[str, ...] = ("111111111111", "222222222222", "333333333333", "444444444444")
SHARED_ACCOUNT = "111111111111"
# An account that is not the platform's: the other side of cross-account and confused-deputy requests.
OTHER_ACCOUNT = "999999999999"

# A resource policy that lets anyone do anything: stands for "the other side allows it" when a flow must prove
# that the platform's own policies (identity, endpoint) refuse a request to a resource outside the platform.
PERMISSIVE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
}
# An identity policy that allows everything: stands for "a workload role of this account" whose request is
# then decided by a resource or VPC endpoint policy alone.
ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass
class Environment:
    """One environment of one scenario: its config, placement and resolved templates."""

    config: EnvironmentConfig
    deployment: Deployment
    scenario: str
    flows: list[Flow] = field(default_factory=list)

    # ------------------------------------------------------------------ where things are
    @property
    def name(self) -> str:
        return self.config.name

    @property
    def account(self) -> str:
        return self.deployment.placement(self.name).account

    @property
    def region(self) -> str:
        return self.deployment.placement(self.name).region

    @property
    def prefix(self) -> str:
        return f"{self.config.tags.project}-{self.name}"

    def view(self, stack_id: str) -> StackView:
        return self.deployment.view(self.name, stack_id)

    def has_stack(self, stack_id: str) -> bool:
        return any(s.environment == self.name and s.stack_id == stack_id for s in self.deployment.stacks)

    def role(self, stack_id: str, logical_id_prefix: str) -> Principal:
        return self.deployment.role(self.name, stack_id, logical_id_prefix)

    def logical_id(self, stack_id: str, resource_type: str, prefix: str) -> str:
        found = [lid for lid in self.view(stack_id).of_type(resource_type) if lid.startswith(prefix)]
        if len(found) != 1:
            raise LookupError(f"{self.name}/{stack_id}: {len(found)} {resource_type} start with {prefix!r}")
        return found[0]

    def attribute(self, stack_id: str, resource_type: str, prefix: str, attribute: str = "Arn") -> str:
        view = self.view(stack_id)
        logical_id = self.logical_id(stack_id, resource_type, prefix)
        value = {"Ref": logical_id} if attribute == "Ref" else {"Fn::GetAtt": [logical_id, attribute]}
        return str(view.resolve(value))

    def bucket(self, zone: str) -> str:
        """The bucket name of a lake zone, from the config's naming rule; it must exist in the templates."""
        name = bucket_name(self.prefix, zone, self.account, self.region)
        if self.deployment.resource_policy(f"arn:{PARTITION}:s3:::{name}") is None:
            raise LookupError(f"{self.name}: bucket {name} (zone {zone}) has no bucket policy in the templates")
        return name

    def bucket_key_enabled(self, name: str) -> bool:
        """Whether the bucket's default encryption uses an S3 Bucket Key (then KMS sees the bucket ARN)."""
        view = self.view("DataLake")
        for logical_id, resource in view.of_type("AWS::S3::Bucket").items():
            if view.resolve({"Ref": logical_id}) == name:
                rules = resource["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
                return bool(rules[0].get("BucketKeyEnabled"))
        raise LookupError(f"{self.name}: no bucket {name}")

    def key_arn(self, purpose: str) -> str:
        """ARN of one of the Security stack's keys (``DataLakeKey``, ``MlKey``, ...)."""
        return self.attribute("Security", "AWS::KMS::Key", purpose)

    @property
    def alarm_topic(self) -> str:
        return self.attribute("Security", "AWS::SNS::Topic", "AlarmTopic", "Ref")

    def log_group_arn(self, name: str) -> str:
        return f"arn:{PARTITION}:logs:{self.region}:{self.account}:log-group:{name}"

    # ------------------------------------------------------------------ flows
    def add(self, flow: Flow) -> Flow:
        self.flows.append(flow)
        return flow

    def flow_id(self, component: str, name: str) -> str:
        return f"{self.scenario}/{self.name}/{component}/{name}"

    def _request(
        self,
        component: str,
        name: str,
        *,
        principal: str,
        label: str,
        action: str,
        resource: str,
        expected: Expected,
        description: str,
        context: Mapping[str, Any],
        resource_account: str | None = None,
        identity: tuple[tuple[str, Mapping[str, Any]], ...] = (),
        resource_policy: tuple[str, Mapping[str, Any]] | None = None,
        endpoint: str | None = None,
        unverified: str = "",
    ) -> Flow:
        """The one place a flow is assembled: TLS on, the endpoint's policy and ``aws:SourceVpce`` when the
        request leaves the VPC through ``endpoint``, the resource's policy from the templates unless given."""
        keys: dict[str, Any] = {"aws:SecureTransport": "true"}
        endpoints: tuple[tuple[str, Mapping[str, Any]], ...] = ()
        if endpoint is not None:
            endpoint_id, document = self.endpoint(endpoint)
            keys["aws:SourceVpce"] = endpoint_id
            endpoints = ((f"{self.name} {endpoint} endpoint policy", document),)
        keys.update({k: v for k, v in context.items() if v is not None})
        return self.add(
            Flow(
                flow_id=self.flow_id(component, name),
                environment=self.name,
                component=component,
                description=description,
                principal=principal,
                principal_label=label,
                action=action,
                resource=resource,
                resource_account=resource_account or _account_of(resource, self.account),
                expected=expected,
                context=keys,
                identity_policies=identity,
                resource_policy=resource_policy or self._resource_policy(resource),
                endpoint_policies=endpoints,
                unverified=unverified,
            )
        )

    def role_request(
        self,
        component: str,
        name: str,
        role: Principal,
        action: str,
        resource: str,
        *,
        expected: Expected,
        description: str,
        resource_account: str | None = None,
        context: Mapping[str, Any] | None = None,
        endpoint: str | None = None,
        resource_policy: tuple[str, Mapping[str, Any]] | None = None,
        unverified: str = "",
    ) -> Flow:
        """A request signed with ``role``'s credentials, evaluated against its identity policies, the
        resource's policy from the templates (or ``resource_policy``), and the VPC endpoint policy of
        ``endpoint`` (a service name such as ``s3``) when the request leaves the VPC through it."""
        account = resource_account or _account_of(resource, self.account)
        return self._request(
            component,
            name,
            principal=role.arn,
            label=f"{role.environment}/{role.stack_id}/{role.logical_id}",
            action=action,
            resource=resource,
            expected=expected,
            description=description,
            context={
                "aws:PrincipalArn": role.arn,
                "aws:PrincipalAccount": role.account,
                "aws:ResourceAccount": account,
                **(context or {}),
            },
            resource_account=account,
            identity=tuple((p.name, p.document) for p in role.identity_policies),
            resource_policy=resource_policy,
            endpoint=endpoint,
            unverified=unverified,
        )

    def role_allows(
        self,
        component: str,
        role: Principal,
        requests: Iterable[tuple[str, str]],
        *,
        description: str,
        name_prefix: str = "",
    ) -> list[Flow]:
        """``role`` may make each request ``(action, resource)``: one allowed flow each, named
        ``<name_prefix><action>``."""
        return [
            self.role_request(
                component, f"{name_prefix}{action}", role, action, resource, expected="allow", description=description
            )
            for action, resource in requests
        ]

    def creates_network_interfaces(self, component: str, role: Principal, *, description: str) -> Flow:
        """``role`` may create network interfaces in this account: what Lambda and SageMaker do with the role of a
        function or model in the VPC's subnets."""
        eni = f"arn:{PARTITION}:ec2:{self.region}:{self.account}:network-interface/eni-0123456789abcdef0"
        return self.role_request(
            component,
            "attach-to-vpc",
            role,
            "ec2:CreateNetworkInterface",
            eni,
            expected="allow",
            description=description,
        )

    def s3_decrypts(
        self,
        component: str,
        name: str,
        role: Principal,
        key_arn: str,
        bucket: str,
        object_key: str = "",
        *,
        description: str,
        expected: Expected = "allow",
        context: Mapping[str, Any] | None = None,
    ) -> Flow:
        """S3 decrypts an SSE-KMS object of ``bucket`` that ``role`` reads: ``kms:Decrypt`` of ``key_arn`` with the
        context S3 adds (:func:`kms_via_s3`) and ``context``."""
        return self.role_request(
            component, name, role, "kms:Decrypt", key_arn, expected=expected, description=description,
            context={**kms_via_s3(self, bucket, object_key), **(context or {})},
        )  # fmt: skip

    def decrypts_catalog(self, component: str, role: Principal, *, description: str) -> Flow:
        """``role`` may read the encrypted Data Catalog: Glue decrypts with the lake key on its behalf."""
        return self.role_request(
            component, "decrypt-catalog", role, "kms:Decrypt", self.key_arn("DataLakeKey"), expected="allow",
            description=description, context=kms_via(self, "glue"),
        )  # fmt: skip

    def service_request(
        self,
        component: str,
        name: str,
        service: str,
        action: str,
        resource: str,
        *,
        expected: Expected,
        description: str,
        source_arn: str | None = None,
        source_account: str | None = None,
        context: Mapping[str, Any] | None = None,
        unverified: str = "",
    ) -> Flow:
        """A request an AWS service principal makes for a resource of this platform (a service acting for a
        source such as an alarm or rule); evaluated against the resource's policy only."""
        keys = {"aws:SourceAccount": source_account, "aws:SourceArn": source_arn, **(context or {})}
        return self._request(
            component,
            name,
            principal=service,
            label=service,
            action=action,
            resource=resource,
            expected=expected,
            description=description,
            context=keys,
            unverified=unverified,
        )

    def assumed_by(
        self,
        component: str,
        service: str,
        role: Principal,
        *,
        description: str,
        name: str = "assume-role",
        context: Mapping[str, Any] | None = None,
        source_arn: str | None = None,
        source_account: str | None = None,
    ) -> Flow:
        """``service`` assumes ``role`` (its trust policy decides)."""
        return self.service_request(
            component, name, service, "sts:AssumeRole", role.arn, expected="allow", description=description,
            context=context, source_arn=source_arn, source_account=source_account,
        )  # fmt: skip

    def anonymous_request(self, component: str, name: str, action: str, resource: str, *, description: str) -> Flow:
        """An unsigned request from the internet; always expected to be refused."""
        return self._request(
            component,
            name,
            principal=ANONYMOUS,
            label="anonymous",
            action=action,
            resource=resource,
            expected="deny",
            description=description,
            context={},
        )

    def workload_request(
        self,
        component: str,
        name: str,
        action: str,
        resource: str,
        *,
        expected: Expected,
        description: str,
        endpoint: str | None = None,
        principal_account: str | None = None,
        resource_account: str | None = None,
        context: Mapping[str, Any] | None = None,
        resource_side: str = "permissive",
    ) -> Flow:
        """A request from a workload role (whose own policies allow everything), so that the other policies
        alone decide: the VPC endpoint policy of ``endpoint`` when the request leaves the VPC through it, and
        the resource policy of the templates (``resource_side="templates"``) or a permissive one (the other
        side allows it)."""
        account = principal_account or self.account
        role_arn = f"arn:{PARTITION}:iam::{account}:role/workload-in-{self.name}"
        resource_account = resource_account or _account_of(resource, self.account)
        return self._request(
            component,
            name,
            principal=role_arn,
            label=f"a workload role of {account}",
            action=action,
            resource=resource,
            expected=expected,
            description=description,
            context={
                "aws:PrincipalArn": role_arn,
                "aws:PrincipalAccount": account,
                "aws:ResourceAccount": resource_account,
                **(context or {}),
            },
            resource_account=resource_account,
            identity=(("workload (allows everything)", ALLOW_ALL),),
            resource_policy=None if resource_side == "templates" else ("the resource's side allows it", PERMISSIVE),
            endpoint=endpoint,
        )

    def endpoint(self, service: str) -> tuple[str, Mapping[str, Any]]:
        """(endpoint id, policy) of the VPC endpoint of ``service`` (``s3``, ``kms``, ``sagemaker.runtime``)."""
        full = f"com.amazonaws.{self.region}.{service}"
        view = self.view("Network")
        for logical_id, resource in view.of_type("AWS::EC2::VPCEndpoint").items():
            if view.resolve(resource["Properties"]["ServiceName"]) == full:
                policies = self.deployment.endpoint_policies(self.name)
                return str(view.resolve({"Ref": logical_id})), policies[full]
        raise LookupError(f"{self.name}: no VPC endpoint for {full}")

    def _resource_policy(self, resource: str) -> tuple[str, Mapping[str, Any]] | None:
        policy = self.deployment.resource_policy(resource)
        if policy is None:
            return None
        return (f"{policy.environment} {policy.name}", policy.document)


def _account_of(arn: str, default: str) -> str:
    """The account an ARN belongs to (S3 ARNs carry none: the platform's bucket names end in
    ``-<account>-<region>``, other buckets belong to ``default``)."""
    parts = arn.split(":")
    if len(parts) > 4 and parts[4].isdigit():
        return parts[4]
    if arn.startswith(f"arn:{PARTITION}:s3:::"):
        bucket = arn.split(":::", 1)[1].split("/", 1)[0]
        for piece in bucket.split("-"):
            if len(piece) == 12 and piece.isdigit():
                return piece
    return default
