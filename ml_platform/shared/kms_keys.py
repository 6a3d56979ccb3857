"""Customer-managed KMS keys, one per purpose, with rotation on and service grants that are exact."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


@dataclass(frozen=True, kw_only=True)
class KeyPurpose:
    """What a key protects and which AWS services (not principals) may use it directly."""

    name: str
    """Short purpose name; becomes the construct id and the alias ``alias/<alias_prefix>/<name>``."""
    description: str
    cloudwatch_logs: bool = False
    """Grant CloudWatch Logs in this region, limited by the ``aws:logs:arn`` encryption context to log
    groups of this account and region. Default: no grant."""
    alarm_publishers: bool = False
    """Grant CloudWatch alarms (this account) and EventBridge the data-key use needed to publish to an encrypted
    SNS topic. Default: no grant. (SNS's own use, for an encrypted dead-letter queue, is granted by the topic that
    has one: :class:`~ml_platform.shared.alarm_topic.AlarmTopic`.)"""


def deny_grants_except_for_aws_services() -> iam.PolicyStatement:
    """Key-policy statement: only AWS services may create grants on the key, for AWS resources.

    Grants are a second way to use a key, beside the key and IAM policies. Services create them for their own
    resources (EBS volumes of SageMaker instances, ...); a principal calling CreateGrant directly is denied,
    whatever its IAM policy allows (Control Tower CT.KMS.PR.3; the AWS KMS developer guide's
    ``kms:GrantIsForAWSResource`` and ``aws:PrincipalIsAWSService`` condition keys).
    """
    return iam.PolicyStatement(
        sid="DenyGrantsExceptForAwsServices",
        effect=iam.Effect.DENY,
        principals=[iam.AnyPrincipal()],
        actions=["kms:CreateGrant"],
        resources=["*"],
        conditions={"BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}},
    )


class PlatformKey(Construct):
    """A symmetric customer-managed key with yearly rotation, an alias and purpose-bound service grants.

    IAM principals of the account get access only through their own IAM policies (the CDK default key
    policy delegates to IAM), so grants in other stacks never edit this key's policy. Only AWS services may
    create KMS grants on the key, for AWS resources (statement ``DenyGrantsExceptForAwsServices``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        purpose: KeyPurpose,
        alias_prefix: str,
        removal_policy: RemovalPolicy,
        pending_window_days: int = 30,
    ) -> None:
        """
        :param purpose: what the key is for and which services it grants.
        :param alias_prefix: alias namespace, e.g. ``ml-platform/dev``.
        :param removal_policy: RETAIN keeps the key when the stack is deleted; DESTROY schedules deletion.
        :param pending_window_days: waiting period before a scheduled deletion completes (7-30). Default: 30,
            the longest recovery window.
        """
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self,
            "Key",
            description=purpose.description,
            enable_key_rotation=True,
            alias=f"alias/{alias_prefix}/{purpose.name}",
            removal_policy=removal_policy,
            pending_window=Duration.days(pending_window_days),
        )
        self.key.add_to_resource_policy(deny_grants_except_for_aws_services())
        if purpose.cloudwatch_logs:
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowCloudWatchLogsOfThisAccountAndRegion",
                    principals=[iam.ServicePrincipal(f"logs.{Stack.of(self).region}.amazonaws.com")],
                    actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                    resources=["*"],
                    conditions={
                        "ArnLike": {
                            "kms:EncryptionContext:aws:logs:arn": (
                                f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:*"
                            )
                        }
                    },
                )
            )
        if purpose.alarm_publishers:
            # CloudWatch alarms of this account publishing to the encrypted topic ("Add the aws:SourceAccount and
            # aws:SourceArn condition keys to the AWS KMS resource policy", SNS Developer Guide, "Key management").
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowCloudWatchAlarmsOfThisAccountToUseDataKeys",
                    principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],
                    conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
                )
            )
            # EventBridge publishing to the encrypted topic (and writing its encrypted dead-letter queues), without a
            # condition: "Adding the aws:SourceAccount and aws:SourceArn to a AWS KMS policy is not supported for
            # EventBridge-to-encrypted topics" (SNS Developer Guide, "Key management"); a condition here stops every
            # event (seen in awslabs/landing-zone-accelerator-on-aws issue 407). Only rules of this account act
            # through the service principal (rules of other accounts deliver through their own execution role).
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowEventBridgeRulesToUseDataKeys",
                    principals=[iam.ServicePrincipal("events.amazonaws.com")],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],
                )
            )
