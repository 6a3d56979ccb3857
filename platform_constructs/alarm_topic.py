"""The one SNS topic every alarm and operational event of an environment notifies."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from platform_constructs.compliance import acknowledge
from platform_constructs.dead_letter_queue import DEAD_LETTER_QUEUE_REDRIVE


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
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsAndEventBridgeOfThisAccount",
                principals=[
                    iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                    iam.ServicePrincipal("events.amazonaws.com"),
                ],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
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
            for rule in ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"):
                acknowledge(
                    self.dead_letter_queue,
                    rule,
                    "This queue is itself the dead-letter queue of the e-mail subscriptions (their SNS redrive "
                    "policy points here); cdk-nag only recognises SQS-to-SQS redrive, and a DLQ of a DLQ has "
                    "nowhere further to send messages.",
                )
            for address in email_addresses:
                self.topic.add_subscription(
                    subscriptions.EmailSubscription(address, dead_letter_queue=self.dead_letter_queue)
                )
