"""An encrypted dead-letter queue for notifications that could not reach the alarm topic, with an alarm on
its depth so that an undelivered alarm or event is never silent."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ml_platform.shared.alarms import notifying_alarm
from ml_platform.shared.compliance import acknowledge_finding

RETENTION = Duration.days(14)

# Declares a queue a dead-letter queue (Control Tower CT.SQS.PR.1 asks every queue for a dead-letter queue or
# this declaration). ``allowAll`` (any source queue of this account may name it in its redrive policy) is what
# SQS does when the attribute is absent, so it changes no behaviour; ``byQueue`` needs source queues, and these
# queues receive from EventBridge targets and SNS subscriptions, not from other queues.
DEAD_LETTER_QUEUE_REDRIVE = sqs.RedriveAllowPolicy(redrive_permission=sqs.RedrivePermission.ALLOW_ALL)


class NotificationDeadLetterQueue(Construct):
    """KMS-encrypted, TLS-only SQS queue kept 14 days (the SQS maximum), plus an alarm when it holds anything.

    Used as the dead-letter target of EventBridge rules and SNS subscriptions that deliver to the alarm topic.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        source_description: str,
        topic: sns.ITopic | None = None,
        alarm_name: str | None = None,
    ) -> None:
        """
        :param encryption_key: CMK of the queue; the delivering service (events/sns) must be allowed to use it.
        :param source_description: what dead-letters here, e.g. "Glue failure events"; used in the runbook.
        :param topic: where the depth alarm notifies. Default: no alarm (for the topic's own subscriptions,
            whose failures cannot be announced on the same topic).
        :param alarm_name: physical name of the depth alarm. Default: generated.
        """
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=encryption_key,
            enforce_ssl=True,
            retention_period=RETENTION,
            redrive_allow_policy=DEAD_LETTER_QUEUE_REDRIVE,
        )
        acknowledge_finding(
            self.queue,
            "SQSQueueDLQ",
            "SQSRedrivePolicy",
            reason=f"This queue is itself the dead-letter queue of {source_description} (their DeadLetterConfig or "
            "RedrivePolicy points here); cdk-nag only recognises SQS-to-SQS redrive, and a DLQ of a DLQ has "
            "nowhere further to send messages.",
        )
        self.alarm: cloudwatch.Alarm | None = None
        if topic is not None:
            self.alarm = notifying_alarm(
                self,
                "NotEmpty",
                metric=self.queue.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(5), statistic="Maximum"
                ),
                threshold=0,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                # An empty queue publishes zeros; missing data only means the metric is not flowing yet.
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                runbook=(
                    f"{source_description} could not be delivered to the alarm topic and wait in this queue for 14 "
                    "days. Read them (they may report a failure nobody saw), then check the topic's policy and key."
                ),
                topic=topic,
                alarm_name=alarm_name,
            )
