"""The one SNS topic every alarm and operational event of an environment notifies."""

from __future__ import annotations

from collections.abc import Sequence

import jsii
from aws_cdk import Aws, Duration, Names, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ml_platform.shared.compliance import acknowledge_finding
from ml_platform.shared.dead_letter_queue import DEAD_LETTER_QUEUE_REDRIVE


class AlarmTopic(Construct):
    """KMS-encrypted, TLS-only SNS topic that CloudWatch alarms and EventBridge rules of this account may
    publish to, with optional e-mail subscriptions."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        master_key: kms.IKey,
        topic_name: str,
        display_name: str,
        email_addresses: Sequence[str] = (),
    ) -> None:
        """
        :param master_key: CMK that encrypts messages at rest; it must let CloudWatch and EventBridge
            use data keys (see ``KeyPurpose.alarm_publishers``).
        :param topic_name: physical topic name (stable; changing it replaces the topic).
        :param display_name: shown as the sender of e-mail notifications.
        :param email_addresses: subscribed by e-mail (each must confirm); undeliverable notifications go to
            an encrypted dead-letter queue kept 14 days. Default: none, and no queue.
        """
        super().__init__(scope, construct_id)
        self.topic = sns.Topic(
            self,
            "Topic",
            topic_name=topic_name,
            display_name=display_name,
            master_key=master_key,
            enforce_ssl=True,
        )
        # A topic policy replaces SNS's default policy, so the publishers must be allowed explicitly.
        # CloudWatch alarms of this account only: "we recommend that you use the aws:SourceArn and
        # aws:SourceAccount global condition keys in the Amazon SNS resource policy that grants permission to
        # CloudWatch" (CloudWatch User Guide, "Setting up Amazon SNS notifications").
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"
                    },
                },
            )
        )
        # EventBridge rules: without a condition, because AWS documents none for this path ("You can't use
        # Condition blocks in Amazon SNS topic policies for EventBridge", EventBridge User Guide, "Using
        # resource-based policies for Amazon EventBridge", SNS permissions); a condition would drop every event.
        # The service principal reaches the topic only for rules of this account: a rule of another account
        # delivers to a cross-account SNS target through an execution role of its own account ("Enabling access
        # for cross-account event delivery ... Specify an execution role", EventBridge User Guide, "Sending events
        # to an AWS service in another account"), and no statement here lets another account's role publish.
        # The one statement for EventBridge: rule targets never add their own (AlarmTopicTarget).
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventBridgeRules",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
            )
        )
        self.dead_letter_queue: sqs.Queue | None = None
        if email_addresses:
            # Deliveries SNS gives up on land here instead of vanishing (redrive policy).
            self.dead_letter_queue = sqs.Queue(
                self,
                "UndeliveredNotifications",
                encryption=sqs.QueueEncryption.KMS,
                encryption_master_key=master_key,
                enforce_ssl=True,
                retention_period=Duration.days(14),
                redrive_allow_policy=DEAD_LETTER_QUEUE_REDRIVE,
            )
            acknowledge_finding(
                self.dead_letter_queue,
                "SQSQueueDLQ",
                "SQSRedrivePolicy",
                reason="This queue is itself the dead-letter queue of the e-mail subscriptions (their SNS redrive "
                "policy points here); cdk-nag only recognises SQS-to-SQS redrive, and a DLQ of a DLQ has "
                "nowhere further to send messages.",
            )
            # SNS moving this topic's undeliverable notifications into the queue uses the key for this topic only
            # (its ARN by name: the topic refers to the key, so the key's policy cannot refer to the topic).
            topic_arn = Stack.of(self).format_arn(service="sns", resource=topic_name)
            master_key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowSnsToEncryptUndeliveredAlarmNotifications",
                    principals=[iam.ServicePrincipal("sns.amazonaws.com")],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],
                    conditions={
                        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                        "ArnEquals": {"aws:SourceArn": topic_arn},
                    },
                )
            )
            for address in email_addresses:
                self.topic.add_subscription(
                    subscriptions.EmailSubscription(address, dead_letter_queue=self.dead_letter_queue)
                )


@jsii.implements(events.IRuleTarget)
class AlarmTopicTarget:
    """The one way rules send matched events to the alarm topic (an :class:`AlarmTopic`, usually in another
    stack): it leaves the topic's and its key's policies alone (they already admit EventBridge once, see
    :class:`AlarmTopic`), retries for up to a day, then moves undeliverable events to ``dead_letter_queue``,
    whose policy it extends for exactly this rule (``aws:SourceArn``: "Using dead-letter queues to process
    undelivered events", EventBridge User Guide).
    """

    def __init__(
        self,
        topic: sns.ITopic,
        *,
        dead_letter_queue: sqs.IQueue | None,
        max_event_age: Duration | None = None,
        retry_attempts: int = 185,
    ) -> None:
        """
        :param dead_letter_queue: where events go that EventBridge could not deliver. Default: none.
        :param max_event_age: how long EventBridge retries. Default: 24 hours (the maximum).
        :param retry_attempts: retries within that time. Default: 185 (the maximum).
        """
        self._topic = topic
        self._queue = dead_letter_queue
        self._max_event_age = max_event_age or Duration.hours(24)
        self._retry_attempts = retry_attempts

    def bind(self, rule: events.IRule, _id: str | None = None) -> events.RuleTargetConfig:
        dead_letter = None
        if self._queue is not None:
            self._queue.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"AllowEventRule{Names.node_unique_id(rule.node)}"[:100],
                    principals=[iam.ServicePrincipal("events.amazonaws.com")],
                    actions=["sqs:SendMessage"],
                    resources=[self._queue.queue_arn],
                    conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
                )
            )
            dead_letter = events.CfnRule.DeadLetterConfigProperty(arn=self._queue.queue_arn)
        return events.RuleTargetConfig(
            arn=self._topic.topic_arn,
            dead_letter_config=dead_letter,
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_event_age_in_seconds=int(self._max_event_age.to_seconds()),
                maximum_retry_attempts=self._retry_attempts,
            ),
        )
