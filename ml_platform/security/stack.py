"""Security baseline: one customer-managed key per purpose and the alarm topic."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_platform.shared.alarm_topic import AlarmTopic
from ml_platform.shared.kms_keys import KeyPurpose, PlatformKey
from ml_platform.shared.stack import PlatformStack

KEY_PURPOSES: tuple[KeyPurpose, ...] = (
    KeyPurpose(name="data-lake", description="S3 lake zones, Glue Data Catalog and Athena results"),
    KeyPurpose(name="streaming", description="Kinesis data stream and Firehose buffers"),
    KeyPurpose(name="ml", description="SageMaker volumes, model artifacts and data capture"),
    KeyPurpose(name="logs", description="CloudWatch Logs log groups", cloudwatch_logs=True),
    KeyPurpose(name="alarms", description="SNS alarm topic", alarm_publishers=True),
)


class SecurityStack(PlatformStack):
    """Stateful: the keys and the alarm topic every other stack of the environment uses."""

    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description="KMS keys and the alarm topic", **kwargs)
        keys: dict[str, kms.IKey] = {}
        for purpose in KEY_PURPOSES:
            keys[purpose.name] = PlatformKey(
                self,
                _construct_id(purpose.name),
                purpose=purpose,
                alias_prefix=f"{self.config.tags.project}/{self.config.name}",
                removal_policy=self.stateful_removal_policy,
            ).key
        self.data_lake_key = keys["data-lake"]
        self.streaming_key = keys["streaming"]
        self.ml_key = keys["ml"]
        self.logs_key = keys["logs"]
        self.alarms_key = keys["alarms"]
        self.alarm_topic: sns.ITopic = AlarmTopic(
            self,
            "AlarmTopic",
            master_key=self.alarms_key,
            topic_name=f"{self.name_prefix}-alarms",
            display_name=f"ML platform {self.config.name} alarms",
            email_addresses=self.config.security.alarm_emails,
        ).topic


def _construct_id(purpose: str) -> str:
    return "".join(part.capitalize() for part in purpose.split("-")) + "Key"
