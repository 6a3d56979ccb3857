"""The model registry: who may read a model package group and its versions, the execution roles of other environments
refused, the approval rule forwarding to the delivery pipeline's event bus, and, over the pipeline stack, the bus
policy and the role that starts the pipeline (what an execution role serving a registry version pulls and reads is in
inference.py).

Requests and their context keys:

* reading a group or a version of another account is authorized by the caller's identity policy and the group's
  resource policy (the documented cross-account policy: "Deploy a Model Version from a Different Account",
  SageMaker developer guide); a workload role of the reader account (identity allows everything) stands for the
  caller, so the group's policy alone decides;
* EventBridge delivers to an event bus of another account with the rule's target role, and the receiving bus's policy
  sees the rule as ``aws:SourceArn`` and its account as ``aws:SourceAccount`` ("Using IAM policy conditions in
  Amazon EventBridge": ``aws:SourceArn`` is "the ARN of the rule that sent the event").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from ml_platform.delivery.config import approval_bus_statement
from ml_platform.inference.config import inference_stack_id
from ml_platform.inference.config.registry import RegistryGroup, approval_rule_name
from scripts.assembly import StackTemplate
from scripts.flows.catalogue.base import OTHER_ACCOUNT, Environment
from scripts.flows.catalogue.context import s3_object
from scripts.flows.model import Expected, Flow
from scripts.flows.policies import NamedPolicy
from scripts.flows.templates import PARTITION, Deployment, Placement, Principal

COMPONENT = "registry"
READ_GROUP = "sagemaker:DescribeModelPackageGroup"
READ_VERSION = "sagemaker:DescribeModelPackage"
APPROVE = "sagemaker:UpdateModelPackage"
PULLS = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


def _construct_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def add(env: Environment, accounts: Mapping[str, str | None]) -> None:
    """Flows of ``env``'s registry; ``accounts``: every environment of the app → its declared account (the groups'
    ``shared_with`` names resolve against it)."""
    registry = env.config.inference.registry
    if not registry.groups or not env.has_stack("Registry"):
        return
    readers = registry.reader_accounts(accounts, own_account=env.config.account)
    others = sorted({a for name, a in accounts.items() if a and name != env.name and a != env.account})
    # The execution roles of variants serving a group's versions (its repositories and prefix) are in inference.py,
    # derived like the roles from model_sources.
    for group in registry.groups:
        _group(env, group, readers[group.name], others)
    _forwarder(env)


def _arns(env: Environment, group: str, version: int = 1) -> tuple[str, str]:
    base = f"arn:{PARTITION}:sagemaker:{env.region}:{env.account}"
    return f"{base}:model-package-group/{group}", f"{base}:model-package/{group}/{version}"


def _group(env: Environment, group: RegistryGroup, readers: tuple[str, ...], others: list[str]) -> None:
    """The accounts the group is shared with read it and its versions; any other account (another declared
    environment's, one that is not the platform's) is refused, and nobody but the owner approves."""
    group_arn, version_arn = _arns(env, group.name)
    unshared = sorted({OTHER_ACCOUNT, *others} - set(readers))
    cases: list[tuple[str, Expected, str]] = [(a, "allow", f"shared-{a}") for a in readers]
    cases += [(a, "deny", f"unshared-{a}") for a in unshared]
    for account, expected, label in cases:
        for action, resource in ((READ_GROUP, group_arn), (READ_VERSION, version_arn)):
            env.workload_request(
                COMPONENT, f"{group.name}/{label}/{action}", action, resource, expected=expected,
                principal_account=account, resource_side="templates",
                description=f"account {account} {'is' if expected == 'allow' else 'is not'} in shared_with: it "
                f"{'reads' if expected == 'allow' else 'cannot read'} the group {group.name} and its versions",
            )  # fmt: skip
    for reader in readers:
        env.workload_request(
            COMPONENT, f"{group.name}/shared-{reader}/approve", APPROVE, version_arn, expected="deny",
            principal_account=reader, resource_side="templates", context={"sagemaker:ModelApprovalStatus": "Approved"},
            description="an account the group is shared with cannot approve (or reject) a version: only its owner",
        )  # fmt: skip


def _forwarder(env: Environment) -> None:
    """With a delivery pipeline: EventBridge forwards approvals to the pipeline account's bus with the rule's role."""
    view = env.view("Registry")
    roles = [lid for lid in view.of_type("AWS::IAM::Role") if lid.startswith("ApprovalForwarderRole")]
    if not roles:
        return
    role = env.role("Registry", "ApprovalForwarderRole")
    rule_arn = f"arn:{PARTITION}:events:{env.region}:{env.account}:rule/{approval_rule_name(env.prefix)}"
    bus = _bus_target(env)
    context = {"aws:SourceArn": rule_arn, "aws:SourceAccount": env.account}
    env.assumed_by(
        COMPONENT, "events.amazonaws.com", role, name="forwarder-assumed", source_arn=rule_arn,
        source_account=env.account, description="EventBridge assumes the forwarder role to deliver an approval",
    )  # fmt: skip
    pipeline_account, region = bus.split(":")[4], bus.split(":")[3]
    statement = approval_bus_statement(bus_arn=bus, partition=PARTITION, accounts=[env.account], rules=[rule_arn])
    policy = ("pipeline bus policy (ml_platform/delivery/approvals.py)", {"Version": "2012-10-17",
                                                                          "Statement": [statement]})  # fmt: skip
    env.role_request(
        COMPONENT, "forward-to-pipeline-bus", role, "events:PutEvents", bus, expected="allow", context=context,
        resource_policy=policy, resource_account=pipeline_account,
        description="the approval rule's role puts the approval on the delivery pipeline account's default bus",
    )  # fmt: skip
    other_bus = f"arn:{PARTITION}:events:{region}:{OTHER_ACCOUNT}:event-bus/default"
    env.role_request(
        COMPONENT, "forward-elsewhere", role, "events:PutEvents", other_bus, expected="deny", context=context,
        resource_policy=("the other side allows it", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}),
        description="the forwarder role cannot put events on any other bus",
    )  # fmt: skip


def _bus_target(env: Environment) -> str:
    view = env.view("Registry")
    for resource in view.of_type("AWS::Events::Rule").values():
        for target in resource["Properties"].get("Targets", []):
            arn = str(view.resolve(target["Arn"]))
            if ":event-bus/" in arn:
                return arn
    raise LookupError(f"{env.name}: the approval rule has no event bus target")


# ---------------------------------------------------------------------------------------------------- pipeline side
def pipeline_flows(stack: StackTemplate, placement: Placement, sources: Mapping[str, tuple[str, str]]) -> list[Flow]:
    """Flows over the delivery pipeline stack placed at ``placement``: the bus policy admits each environment's
    approval rule and nothing else, the trigger role starts this pipeline only, and undelivered events reach the
    dead-letter queue. ``sources``: environment name → (account, approval rule ARN) of the environments with
    registry groups. Only the trigger's resources (``ModelApprovals*``) and the pipeline are resolved: the rest of the
    stack is CDK Pipelines' own."""
    kept = {
        lid: r
        for lid, r in stack.resources.items()
        if lid.startswith("ModelApprovals") or r["Type"] == "AWS::CodePipeline::Pipeline"
    }
    trimmed = dataclasses.replace(stack, template={**stack.template, "Resources": kept})
    deployment = Deployment(stacks=[trimmed], placements={stack.environment: placement})
    side = _PipelineSide(deployment, stack.environment)
    pipeline = stack.environment
    bus = f"arn:{PARTITION}:events:{placement.region}:{placement.account}:event-bus/default"
    for name, (account, rule) in sources.items():
        for label, source, expected in (("its-rule", rule, "allow"), ("another-rule", f"{rule}-other", "deny")):
            _forward(side, f"{name}-{label}", account, bus, source, expected)
    other_rule = f"arn:{PARTITION}:events:{placement.region}:{OTHER_ACCOUNT}:rule/not-ours"
    _forward(side, "unknown-account", OTHER_ACCOUNT, bus, other_rule, "deny")

    role = deployment.role(pipeline, stack.stack_id, "ModelApprovalsRole")
    trigger = side.attribute(stack.stack_id, "AWS::Events::Rule", "ModelApprovalsRule", "Arn")
    side.assumed_by(
        COMPONENT, "events.amazonaws.com", role, name="trigger-assumed", source_arn=trigger,
        source_account=placement.account, description="EventBridge assumes the trigger role",
    )  # fmt: skip
    (name,) = [side.view(stack.stack_id).resolve({"Ref": lid}) for lid, r in kept.items()
               if r["Type"] == "AWS::CodePipeline::Pipeline"]  # fmt: skip
    pipeline_arn = f"arn:{PARTITION}:codepipeline:{placement.region}:{placement.account}:{name}"
    for label, resource, expected in (("start", pipeline_arn, "allow"), ("start-other", f"{pipeline_arn}-x", "deny")):
        side.role_request(
            COMPONENT, f"trigger-{label}", role, "codepipeline:StartPipelineExecution", resource, expected=expected,
            description="the trigger role starts this pipeline and no other",
        )  # fmt: skip
    queue = side.attribute(stack.stack_id, "AWS::SQS::Queue", "ModelApprovalsUndelivered", "Arn")
    key = side.attribute(stack.stack_id, "AWS::KMS::Key", "ModelApprovalsEventsKey", "Arn")
    for label, action, resource, source, expected in (
        ("dead-letters", "sqs:SendMessage", queue, trigger, "allow"),
        ("dead-letters-key", "kms:GenerateDataKey", key, trigger, "allow"),
        ("other-rule-dead-letters", "sqs:SendMessage", queue, other_rule, "deny"),
    ):
        side.service_request(
            COMPONENT, label, "events.amazonaws.com", action, resource, expected=expected, source_arn=source,
            source_account=source.split(":")[4], description="undeliverable approvals go to the dead-letter queue",
        )  # fmt: skip
    return side.flows


class _PipelineSide(Environment):
    """The pipeline stack seen like an environment (its placement and template), for the flow factories."""

    def __init__(self, deployment: Deployment, pipeline: str) -> None:
        super().__init__(config=None, deployment=deployment, scenario="pipeline")  # type: ignore[arg-type]
        self._pipeline = pipeline

    @property
    def name(self) -> str:
        return self._pipeline


def _forward(side: Environment, name: str, account: str, bus: str, source: str, expected: Expected) -> Flow:
    """A forwarder role of ``account`` (its identity policy allows PutEvents on ``bus``) delivers an event of the
    rule ``source``: the bus policy decides."""
    allow = NamedPolicy(
        "forwarder: PutEvents on the pipeline bus",
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "events:PutEvents", "Resource": bus}]},
    )
    role = Principal(
        environment=name, stack_id="Registry", logical_id="ApprovalForwarderRole",
        arn=f"arn:{PARTITION}:iam::{account}:role/approval-forwarder", account=account, trust_policy={},
        identity_policies=(allow,),
    )  # fmt: skip
    return side.role_request(
        COMPONENT, f"bus-{name}", role, "events:PutEvents", bus, expected=expected, resource_account=bus.split(":")[4],
        context={"aws:SourceArn": source, "aws:SourceAccount": account},
        description="the pipeline account's bus admits an environment's approval rule only",
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------- isolation
def add_cross_environment(consumer: Environment, owner: Environment) -> None:
    """The execution roles of ``consumer`` on ``owner``'s registry: reading a group or a version, pulling the group's
    images (when the two are in different accounts: in one account, environments share ECR repository names) and
    reading its artifacts are all refused."""
    groups = owner.config.inference.registry.groups
    if not groups or not owner.has_stack("Registry"):
        return
    component = f"isolation-from-{consumer.name}"
    models, lake_key = owner.bucket("models"), owner.key_arn("DataLakeKey")
    for endpoint in consumer.config.inference.endpoints:
        stack_id = inference_stack_id(endpoint.stack_group)
        role = consumer.role(stack_id, f"{_construct_id(endpoint.name)}ExecutionRole")
        for group in groups:
            where = f"{endpoint.name}-{group.name}"
            _, version_arn = _arns(owner, group.name)
            owner.role_request(
                component, f"{where}-describes-version", role, READ_VERSION, version_arn, expected="deny",
                description=f"{consumer.name}'s {endpoint.name} role cannot read {owner.name}'s {group.name} versions",
            )  # fmt: skip
            artifact = f"{group.model_data_prefix}1/model.tar.gz"
            owner.role_request(
                component, f"{where}-reads-artifact", role, "s3:GetObject", s3_object(models, artifact),
                expected="deny", description=f"{consumer.name}'s {endpoint.name} role cannot read {owner.name}'s "
                f"{group.name} artifacts",
            )  # fmt: skip
            owner.s3_decrypts(
                component, f"{where}-decrypts-artifact", role, lake_key, models, artifact, expected="deny",
                description=f"{consumer.name}'s {endpoint.name} role cannot decrypt {owner.name}'s artifacts",
            )  # fmt: skip
            if consumer.account == owner.account:
                continue
            for repository in group.image_repositories:
                arn = f"arn:{PARTITION}:ecr:{owner.region}:{owner.account}:repository/{repository}"
                owner.role_request(
                    component, f"{where}-pulls-{repository}", role, "ecr:BatchGetImage", arn, expected="deny",
                    description=f"{consumer.name}'s {endpoint.name} role cannot pull {owner.name}'s images",
                )  # fmt: skip
