"""An approved model package version starts the delivery pipeline.

Each environment with registry groups has an approval rule (ml_platform/inference/registry.py) that forwards the
"SageMaker Model Package State Change" events of approvals to this account's default event bus. Here:

* the bus policy admits exactly those rules: the environments' accounts may put events only from their approval rule
  (``aws:SourceArn``; "Example policy: Send events from specific rules to an Amazon EventBridge bus in a different
  Region", EventBridge User Guide,
  https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-example-policy-restrict-rule.html, and "Send
  events to the default bus in a different account", eb-event-bus-example-policy-cross-account.html);
* a rule on those events starts a pipeline execution through a role of its own (a customer-managed policy with
  ``codepipeline:StartPipelineExecution`` on this pipeline only), retrying for a day, then into an encrypted
  dead-letter queue.

The execution synthesizes the latest approved versions (approved_versions.py). SageMaker "may send multiple events to
EventBridge for each state change" (SageMaker developer guide, "Events that Amazon SageMaker AI sends to Amazon
EventBridge"): a second execution deploys the same commit and versions again, which CloudFormation finds nothing to
change in. Harmless, and cheaper than deduplicating.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from constructs import Construct

from ml_platform.delivery.config import PipelineConfig, approval_bus_statement
from ml_platform.environment import EnvironmentConfig
from ml_platform.inference.config.registry import approval_event_pattern, approval_rule_arn
from ml_platform.inference.registry import event_pattern
from ml_platform.shared.dead_letter_queue import NotificationDeadLetterQueue
from ml_platform.shared.kms_keys import KeyPurpose, PlatformKey
from ml_platform.shared.service_roles import service_role


class ApprovalTrigger(Construct):
    """The bus policy, the rule, its role and its dead-letter queue. Exposes ``rule``, ``role``, ``bus_policy``
    and ``dead_letter_queue``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        pipeline: codepipeline.IPipeline,
        environments: Sequence[EnvironmentConfig],
    ) -> None:
        """
        :param environments: the environments with registry groups (each with its account: ``load_pipeline``
            requires it).
        """
        super().__init__(scope, construct_id)
        accounts = sorted({environment.account for environment in environments if environment.account})
        rules = sorted(
            approval_rule_arn(
                partition=config.partition,
                region=environment.region,
                account=environment.account or "",
                name_prefix=f"{environment.tags.project}-{environment.name}",
            )
            for environment in environments
        )
        self.bus_policy = events.CfnEventBusPolicy(
            self,
            "BusPolicy",
            event_bus_name="default",
            statement_id=f"{config.pipeline_name}-model-approvals"[:64],
            statement=approval_bus_statement(
                bus_arn=config.event_bus_arn, partition=config.partition, accounts=accounts, rules=rules
            ),
        )
        self.role = service_role(
            self,
            "Role",
            service="events.amazonaws.com",
            description=f"EventBridge starts {config.pipeline_name} when a model package version is approved",
            policy_id="StartThePipeline",
            policy_description="Start the delivery pipeline",
            statements=[
                iam.PolicyStatement(
                    sid="StartThePipeline",
                    actions=["codepipeline:StartPipelineExecution"],
                    resources=[pipeline.pipeline_arn],
                )
            ],
        )
        # A key of its own: the artifact key grants no EventBridge use, and this one grants nothing else.
        key = PlatformKey(
            self,
            "EventsKey",
            purpose=KeyPurpose(
                name="approval-events",
                description=f"{config.pipeline_name}: undeliverable model approval events",
                alarm_publishers=True,
            ),
            alias_prefix=config.pipeline_name,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        ).key
        # No alarm: the pipeline account has no alarm topic. The environments' approval rules notify their alarm
        # topics of every approval, so an approval that did not start the pipeline is still seen.
        self.dead_letter_queue = NotificationDeadLetterQueue(
            self, "Undelivered", encryption_key=key, source_description="Model approval events for the pipeline"
        ).queue
        groups = sorted({group.name for environment in environments for group in environment.inference.registry.groups})
        self.rule = events.Rule(
            self,
            "Rule",
            description="A model package version was approved in an environment's registry: deploy it",
            event_pattern=event_pattern(approval_event_pattern(groups, accounts=accounts)),
            # The role brings its own managed policy; CDK's target would add an inline one to it.
            targets=[
                targets.CodePipeline(
                    pipeline,
                    event_role=self.role.without_policy_updates(),
                    dead_letter_queue=self.dead_letter_queue,
                    max_event_age=cdk.Duration.hours(24),
                    retry_attempts=185,
                )
            ],
        )
        # CDK's CodePipeline target leaves the queue's policy alone: EventBridge may dead-letter for this rule only
        # ("Using dead-letter queues to process undelivered events", EventBridge User Guide).
        self.dead_letter_queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowTheApprovalRule",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self.dead_letter_queue.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": self.rule.rule_arn}},
            )
        )
