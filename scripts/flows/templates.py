"""The synthesized templates as AWS would see them at run time, for one test account per environment.

:class:`Deployment` reads a cloud assembly (``cdk.out``) and resolves CloudFormation values (``Ref``,
``Fn::GetAtt``, ``Fn::GetStackOutput``, ``Fn::ImportValue``, ``Fn::Join``, ``Fn::Sub``, ``Fn::Select``) to the
concrete strings AWS would use, with each environment deployed to a fixed account and region. Physical names
CloudFormation would generate (a role without ``RoleName``, a key id) are replaced by deterministic stand-ins
derived from the stack and logical id, so every run resolves the same ARNs (physical.py).

It also indexes the policies AWS evaluates at run time (policies.py): each role's identity policies (inline,
customer managed, AWS managed from :data:`AWS_MANAGED_POLICIES`), its trust policy, and the resource policies of
buckets, keys, topics and queues, plus the VPC endpoint policies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scripts.assembly import StackTemplate, read_assembly
from scripts.flows.physical import PARTITION, URL_SUFFIX, ResolutionError, physical
from scripts.flows.policies import (
    AWS_MANAGED_POLICIES,
    FULL_ACCESS,
    NamedPolicy,
    Principal,
    ResourcePolicy,
    policy_target,
    resource_policies_of,
)


@dataclass(frozen=True)
class Placement:
    """Where an environment is deployed in a flow scenario."""

    account: str
    region: str


@dataclass
class StackView:
    """One stack's template resolved for a placement."""

    deployment: Deployment
    stack: StackTemplate
    placement: Placement

    @property
    def environment(self) -> str:
        return self.stack.environment

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.stack.resources

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return self.stack.of_type(resource_type)

    # ------------------------------------------------------------------ values
    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function replaced by the concrete value AWS would use."""
        if isinstance(value, str):
            # A stack bound to a declared account carries it as a literal; placed elsewhere, it becomes that account.
            declared = self.stack.account
            return value.replace(declared, self.placement.account) if declared else value
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((name, argument),) = value.items()
            if name == "Ref":
                return self._ref(argument)
            if name == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self._attribute(logical_id, attribute)
            if name == "Fn::Join":
                delimiter, items = argument
                return delimiter.join(str(self.resolve(item)) for item in items)
            if name == "Fn::Sub":
                return self._sub(argument)
            if name == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(index)]
            if name == "Fn::GetStackOutput":
                return self.deployment.stack_output(self.environment, argument["StackName"], argument["OutputName"])
            if name == "Fn::ImportValue":
                return self.deployment.export(self.environment, self.resolve(argument))
            if name == "Fn::GetAZs":
                return [f"{self.placement.region}{letter}" for letter in "abc"]
            if name.startswith("Fn::"):
                raise ResolutionError(f"{self.stack.stack_name}: {name} is not resolved by the flow engine")
        return {key: self.resolve(item) for key, item in value.items()}

    def _sub(self, argument: Any) -> str:
        template, variables = (argument, {}) if isinstance(argument, str) else argument
        resolved_variables = {key: self.resolve(item) for key, item in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in resolved_variables:
                return str(resolved_variables[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return str(self._attribute(logical_id, attribute))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}!][^}]*)\}", replace, template)

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.placement.account,
            "AWS::Region": self.placement.region,
            "AWS::Partition": PARTITION,
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::StackName": self.stack.stack_name,
            "AWS::NoValue": None,
        }
        if name in pseudo:
            return pseudo[name]
        resource = self.resources.get(name)
        if resource is None:
            parameters = self.stack.template.get("Parameters", {})
            if name in parameters and "Default" in parameters[name]:
                return parameters[name]["Default"]
            raise ResolutionError(f"{self.stack.stack_name}: Ref to unknown {name}")
        return physical(self, name, resource, "Ref")

    def _attribute(self, logical_id: str, attribute: str) -> Any:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise ResolutionError(f"{self.stack.stack_name}: GetAtt of unknown {logical_id}")
        return physical(self, logical_id, resource, attribute)

    # ------------------------------------------------------------------ policies in this stack
    def identity_policies(self, role_logical_id: str) -> list[NamedPolicy]:
        """Every identity policy attached to the role: inline, customer managed (in any stack of the
        environment, attached by ``Roles``) and AWS managed."""
        role = self.resources[role_logical_id]
        props = role.get("Properties", {})
        role_name = self._ref(role_logical_id)
        policies: list[NamedPolicy] = []
        for inline in props.get("Policies", []):
            policies.append(NamedPolicy(f"{role_name}/{inline['PolicyName']}", self.resolve(inline["PolicyDocument"])))
        attached_arns = [self.resolve(arn) for arn in props.get("ManagedPolicyArns", [])]
        for view in self.deployment.views(self.environment):
            for logical_id, resource in view.resources.items():
                if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                    continue
                roles = [view.resolve(r) for r in resource["Properties"].get("Roles", [])]
                if role_name in roles:
                    name = view.resolve(resource["Properties"].get("PolicyName", logical_id))
                    if resource["Type"] == "AWS::IAM::ManagedPolicy":
                        name = view._ref(logical_id).rsplit("/", 1)[-1]
                    policies.append(NamedPolicy(name, view.resolve(resource["Properties"]["PolicyDocument"])))
        for arn in attached_arns:
            managed = re.fullmatch(rf"arn:{PARTITION}:iam::aws:policy/(.+)", str(arn))
            if managed is None:
                found = self.deployment.managed_policy(self.environment, str(arn))
                policies.append(found)
                continue
            name = managed.group(1)
            if name not in AWS_MANAGED_POLICIES:
                raise ResolutionError(f"{self.stack.stack_name}/{role_logical_id}: AWS managed policy {name} unknown")
            policies.append(NamedPolicy(name.rsplit("/", 1)[-1], AWS_MANAGED_POLICIES[name]))
        return policies


@dataclass
class Deployment:
    """Every stack of a cloud assembly, each environment placed in an account and region."""

    stacks: list[StackTemplate]
    placements: Mapping[str, Placement]
    _views: dict[tuple[str, str], StackView] = field(default_factory=dict, repr=False)

    @classmethod
    def from_assembly(cls, outdir: str | Path, placements: Mapping[str, Placement]) -> Deployment:
        return cls(stacks=read_assembly(outdir), placements=placements)

    def with_placements(self, placements: Mapping[str, Placement]) -> Deployment:
        """The same templates deployed elsewhere (e.g. every environment in one shared account)."""
        return Deployment(stacks=self.stacks, placements=placements)

    @property
    def environments(self) -> list[str]:
        return list(dict.fromkeys(stack.environment for stack in self.stacks))

    def views(self, environment: str) -> list[StackView]:
        return [self.view(environment, s.stack_id) for s in self.stacks if s.environment == environment]

    def view(self, environment: str, stack_id: str) -> StackView:
        key = (environment, stack_id)
        if key not in self._views:
            (stack,) = [s for s in self.stacks if s.environment == environment and s.stack_id == stack_id]
            self._views[key] = StackView(self, stack, self.placements[environment])
        return self._views[key]

    def placement(self, environment: str) -> Placement:
        return self.placements[environment]

    # ------------------------------------------------------------------ cross-stack values
    def _stack_by_name(self, environment: str, stack_name: str) -> StackView:
        for stack in self.stacks:
            if stack.stack_name == stack_name:
                return self.view(stack.environment, stack.stack_id)
        raise ResolutionError(f"{environment}: no stack named {stack_name}")

    def stack_output(self, environment: str, stack_name: str, output: str) -> Any:
        producer = self._stack_by_name(environment, stack_name)
        outputs = producer.stack.template.get("Outputs", {})
        if output not in outputs:
            raise ResolutionError(f"{stack_name} has no output {output}")
        return producer.resolve(outputs[output]["Value"])

    def export(self, environment: str, export_name: str) -> Any:
        for view in self.views(environment):
            for output in view.stack.template.get("Outputs", {}).values():
                export = output.get("Export")
                if export is not None and view.resolve(export["Name"]) == export_name:
                    return view.resolve(output["Value"])
        raise ResolutionError(f"{environment}: no export named {export_name}")

    def managed_policy(self, environment: str, arn: str) -> NamedPolicy:
        for view in self.views(environment):
            for logical_id, resource in view.of_type("AWS::IAM::ManagedPolicy").items():
                if view.resolve({"Ref": logical_id}) == arn:
                    return NamedPolicy(arn.rsplit("/", 1)[-1], view.resolve(resource["Properties"]["PolicyDocument"]))
        raise ResolutionError(f"{environment}: managed policy {arn} is not in the templates")

    # ------------------------------------------------------------------ principals and resource policies
    def roles(self, environment: str | None = None) -> list[Principal]:
        """Every IAM role of the templates (of one environment, or all), with its policies."""
        result = []
        for env in [environment] if environment else self.environments:
            for view in self.views(env):
                for logical_id, resource in view.of_type("AWS::IAM::Role").items():
                    result.append(
                        Principal(
                            environment=env,
                            stack_id=view.stack.stack_id,
                            logical_id=logical_id,
                            arn=view.resolve({"Fn::GetAtt": [logical_id, "Arn"]}),
                            account=view.placement.account,
                            trust_policy=view.resolve(resource["Properties"]["AssumeRolePolicyDocument"]),
                            identity_policies=tuple(view.identity_policies(logical_id)),
                        )
                    )
        return result

    def role(self, environment: str, stack_id: str, logical_id_prefix: str) -> Principal:
        """The one role of ``<environment>/<stack_id>`` whose logical id starts with ``logical_id_prefix``."""
        found = [
            p for p in self.roles(environment) if p.stack_id == stack_id and p.logical_id.startswith(logical_id_prefix)
        ]
        if len(found) != 1:
            raise LookupError(f"{environment}/{stack_id}: {len(found)} roles start with {logical_id_prefix!r}")
        return found[0]

    def resource_policies(self) -> list[ResourcePolicy]:
        """Bucket, key, topic and queue policies of every environment, by the ARN of what they protect."""
        result: list[ResourcePolicy] = []
        for env in self.environments:
            for view in self.views(env):
                result.extend(resource_policies_of(view))
        return result

    def resource_policy(self, resource_arn: str) -> ResourcePolicy | None:
        """The policy protecting ``resource_arn`` (a bucket or object, key, topic, queue or role ARN)."""
        target = policy_target(resource_arn)
        for policy in self._policy_index():
            if policy.resource_arn == target:
                return policy
        return None

    def _policy_index(self) -> list[ResourcePolicy]:
        if "_index" not in self.__dict__:
            index = self.resource_policies()
            for role in self.roles():
                index.append(
                    ResourcePolicy(
                        "role", role.arn, f"trust policy of {role.logical_id}", role.trust_policy, role.environment
                    )
                )
            self.__dict__["_index"] = index
        return self.__dict__["_index"]

    def endpoint_policies(self, environment: str) -> dict[str, dict[str, Any]]:
        """VPC endpoint policies by service name (``com.amazonaws.<region>.<service>`` → document)."""
        result = {}
        for view in self.views(environment):
            for _, resource in view.of_type("AWS::EC2::VPCEndpoint").items():
                props = resource["Properties"]
                service = str(view.resolve(props["ServiceName"]))
                if "PolicyDocument" in props:
                    result[service] = view.resolve(props["PolicyDocument"])
                else:
                    result[service] = FULL_ACCESS
        return result
