"""Registry: the environment's model package groups (one per model) and the rule that announces approved versions.

A stack of its own, deployed after Security and before the inference stacks, and only where the environment
declares groups (``inference.registry.groups``):

* it is **stateful** (the groups hold every registered version and its approval history; they are retained, also in
  a dev environment with ``allow_destroy``), while the inference stacks are not; the Security stack holds only keys
  and the alarm topic, which every environment has, and would change for every environment;
* the endpoints only name a version by ARN, so nothing in the inference stacks refers to it, and CloudFormation
  ordering (the stage makes the inference stacks depend on it) is all they need.

The approval rule notifies the alarm topic and, when the delivery pipeline exists, forwards the event to the
pipeline account's default event bus, where a rule starts the pipeline (ml_platform/delivery/stack.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ml_platform.inference.config.registry import RegistryGroup, approval_event_pattern, approval_rule_name
from ml_platform.shared.alarm_topic import AlarmTopicTarget
from ml_platform.shared.dead_letter_queue import NotificationDeadLetterQueue
from ml_platform.shared.service_roles import service_role
from ml_platform.shared.stack import PlatformStack

# What an account a group is shared with may do: read the group and its versions (the documented cross-account
# policy, "Deploy a Model Version from a Different Account", SageMaker developer guide,
# https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry-deploy.html#model-registry-deploy-xaccount), without
# sagemaker:UpdateModelPackage, so that only the owning account approves or rejects a version, and without
# sagemaker:CreateModel, which IAM authorizes on the caller's own model resource, not on the package.
GROUP_READ_ACTIONS: tuple[str, ...] = ("sagemaker:DescribeModelPackageGroup",)
VERSION_READ_ACTIONS: tuple[str, ...] = ("sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages")


@jsii.implements(events.IRuleTarget)
class ForwardToEventBus:
    """Forwards matched events to an event bus of another account with ``role`` ("We recommend always using IAM
    roles when the target of a rule is an event bus", EventBridge User Guide, "Permissions for event buses",
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-perms.html), retrying for a day, then into
    ``dead_letter_queue``. Unlike CDK's ``targets.EventBus`` it adds no inline policy to the role (the role brings a
    customer-managed one) and leaves the queue's policy alone: the queue must already admit this rule (the rule's
    :class:`AlarmTopicTarget` with the same queue does).
    """

    def __init__(self, bus_arn: str, *, role: iam.IRole, dead_letter_queue: sqs.IQueue | None) -> None:
        self._bus_arn = bus_arn
        self._role = role
        self._queue = dead_letter_queue

    def bind(self, _rule: events.IRule, _id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(
            arn=self._bus_arn,
            role=self._role,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self._queue.queue_arn)
            if self._queue
            else None,
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_event_age_in_seconds=int(Duration.hours(24).to_seconds()), maximum_retry_attempts=185
            ),
        )


class RegistryStack(PlatformStack):
    """Stateful: one model package group per declared group (retained), the approval rule, its dead-letter queue
    and, with a delivery pipeline, the role that forwards approvals to the pipeline account.

    Exposes ``groups`` (group name → ``CfnModelPackageGroup``), ``approval_events`` (the rule) and
    ``forwarder_role`` (None without a pipeline).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        alarm_topic: sns.ITopic,
        alarms_key: kms.IKey,
        reader_accounts: Mapping[str, Sequence[str]] | None = None,
        approval_bus_arn: str | None = None,
        **kwargs: Any,
    ) -> None:
        """
        :param alarm_topic: approvals and undeliverable approval events notify it (SecurityStack.alarm_topic).
        :param alarms_key: the alarm topic's key; it also encrypts the dead-letter queue, since its policy already
            lets EventBridge use data keys (SecurityStack.alarms_key).
        :param reader_accounts: group name → the accounts that may read it (``shared_with`` resolved by the stage).
            Default: none, and the groups get no resource policy.
        :param approval_bus_arn: the delivery pipeline account's default event bus. Default: none (no pipeline):
            approvals only notify the alarm topic.
        """
        super().__init__(scope, construct_id, description="SageMaker model registry and approval events", **kwargs)
        registry = self.config.inference.registry
        if not registry.groups:
            raise ValueError(f"environment {self.config.name!r}: no registry group is declared")
        readers = reader_accounts or {}
        self.groups: dict[str, sagemaker.CfnModelPackageGroup] = {}
        for group in registry.groups:
            self.groups[group.name] = self._group(group, readers.get(group.name, ()))

        self.dead_letter_queue = NotificationDeadLetterQueue(
            self,
            "UndeliveredApprovalEvents",
            encryption_key=alarms_key,
            source_description="Model package approval events",
            topic=alarm_topic,
            alarm_name=f"{self.name_prefix}-undelivered-approval-events",
        ).queue
        self.approval_events = events.Rule(
            self,
            "ApprovalEvents",
            rule_name=approval_rule_name(self.name_prefix),
            description=f"{self.name_prefix}: a model package version of the registry was approved",
            event_pattern=event_pattern(approval_event_pattern(list(self.groups))),
            targets=[AlarmTopicTarget(alarm_topic, dead_letter_queue=self.dead_letter_queue)],
        )
        self.forwarder_role: iam.Role | None = None
        if approval_bus_arn is not None:
            self.forwarder_role = self._forwarder(approval_bus_arn)
            self.approval_events.add_target(
                ForwardToEventBus(approval_bus_arn, role=self.forwarder_role, dead_letter_queue=self.dead_letter_queue)
            )

    def _group(self, group: RegistryGroup, readers: Sequence[str]) -> sagemaker.CfnModelPackageGroup:
        """One group, retained (a version's approval history is the release record); with a policy when shared."""
        policy = None
        if readers:
            principals = [iam.AccountPrincipal(account) for account in readers]
            versions = self.format_arn(service="sagemaker", resource="model-package", resource_name=f"{group.name}/*")
            # The group's own ARN by name: Ref of the group inside its own policy would be a circular reference.
            group_arn = self.format_arn(service="sagemaker", resource="model-package-group", resource_name=group.name)
            policy = iam.PolicyDocument(
                statements=[
                    iam.PolicyStatement(
                        sid="ReadTheGroup",
                        principals=principals,
                        actions=list(GROUP_READ_ACTIONS),
                        resources=[group_arn],
                    ),
                    iam.PolicyStatement(
                        sid="ReadItsVersions",
                        principals=principals,
                        actions=list(VERSION_READ_ACTIONS),
                        resources=[versions],
                    ),
                ]
            ).to_json()
        resource = sagemaker.CfnModelPackageGroup(
            self,
            f"{_construct_id(group.name)}Group",
            model_package_group_name=group.name,
            model_package_group_description=group.description or None,
            model_package_group_policy=policy,
        )
        # Retained in every stage: deleting a group deletes the record of which version was approved when.
        resource.apply_removal_policy(RemovalPolicy.RETAIN)
        return resource

    def _forwarder(self, bus_arn: str) -> iam.Role:
        return service_role(
            self,
            "ApprovalForwarderRole",
            service="events.amazonaws.com",
            description=f"EventBridge forwards {self.name_prefix}'s model package approvals to the pipeline account",
            policy_id="ApprovalForwarding",
            policy_description="Put approval events on the delivery pipeline account's default event bus",
            statements=[
                iam.PolicyStatement(sid="PutOnThePipelineBus", actions=["events:PutEvents"], resources=[bus_arn])
            ],
        )


def event_pattern(pattern: Mapping[str, Any]) -> events.EventPattern:
    """A pattern of :func:`approval_event_pattern` as CDK's ``EventPattern``."""
    return events.EventPattern(
        source=pattern["source"],
        detail_type=pattern["detail-type"],
        detail=pattern["detail"],
        account=pattern.get("account"),
    )


def _construct_id(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("-"))
