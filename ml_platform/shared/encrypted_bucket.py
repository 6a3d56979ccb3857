"""S3 buckets with the platform's secure defaults in one place.

* :class:`EncryptedBucket`: a data bucket. SSE-KMS with a customer key and S3 Bucket Keys, Block Public
  Access, ACLs off, TLS-only (1.2+), puts that ask for any other encryption denied, versioning, Object Lock
  (optionally with a default retention), server access logs, EventBridge notifications, lifecycle tiering.
* :class:`AccessLogBucket`: the target of the data buckets' server access logs. SSE-S3, because S3
  server access logging does not support SSE-KMS default encryption on the target bucket.
* :func:`tiering_rule`: the lifecycle rule of one bucket from plain day counts.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnResource, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_platform.shared.compliance import acknowledge_control, acknowledge_finding
from ml_platform.shared.log_retention import retention

# Header condition keys a PutObject request carries when it asks for server-side encryption.
SSE_HEADER = "s3:x-amz-server-side-encryption"
SSE_KMS_KEY_HEADER = "s3:x-amz-server-side-encryption-aws-kms-key-id"

# The custom-resource provider CDK adds (once per stack) for auto_delete_objects.
_AUTO_DELETE_PROVIDER_ID = "Custom::S3AutoDeleteObjectsCustomResourceProvider"

_STORAGE_CLASSES = {
    "GLACIER": s3.StorageClass.GLACIER,
    "GLACIER_IR": s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
}


def tiering_rule(
    *,
    rule_id: str = "tiering",
    infrequent_access_after_days: int | None = None,
    glacier_after_days: int | None = None,
    glacier_storage_class: str = "GLACIER",
    deep_archive_after_days: int | None = None,
    expire_after_days: int | None = None,
    noncurrent_infrequent_access_after_days: int | None = None,
    noncurrent_deep_archive_after_days: int | None = None,
    noncurrent_expire_after_days: int | None = None,
    abort_incomplete_multipart_upload_after_days: int = 7,
) -> s3.LifecycleRule:
    """One bucket-wide lifecycle rule. Each ``None`` leaves that step out.

    Current versions: Standard-IA, then Glacier (``GLACIER`` = Flexible Retrieval or ``GLACIER_IR`` =
    Instant Retrieval), then Deep Archive, then expiry. Noncurrent versions: Standard-IA, then Deep Archive,
    then permanent deletion. Incomplete multipart uploads are always aborted. The caller validates the
    order (S3 rejects some orders, others only cost early-deletion fees).
    """
    transitions = [
        s3.Transition(storage_class=storage_class, transition_after=Duration.days(days))
        for storage_class, days in (
            (s3.StorageClass.INFREQUENT_ACCESS, infrequent_access_after_days),
            (_STORAGE_CLASSES[glacier_storage_class], glacier_after_days),
            (s3.StorageClass.DEEP_ARCHIVE, deep_archive_after_days),
        )
        if days is not None
    ]
    noncurrent = [
        s3.NoncurrentVersionTransition(storage_class=storage_class, transition_after=Duration.days(days))
        for storage_class, days in (
            (s3.StorageClass.INFREQUENT_ACCESS, noncurrent_infrequent_access_after_days),
            (s3.StorageClass.DEEP_ARCHIVE, noncurrent_deep_archive_after_days),
        )
        if days is not None
    ]
    return s3.LifecycleRule(
        id=rule_id,
        enabled=True,
        abort_incomplete_multipart_upload_after=Duration.days(abort_incomplete_multipart_upload_after_days),
        transitions=transitions or None,
        expiration=Duration.days(expire_after_days) if expire_after_days is not None else None,
        noncurrent_version_transitions=noncurrent or None,
        noncurrent_version_expiration=(
            Duration.days(noncurrent_expire_after_days) if noncurrent_expire_after_days is not None else None
        ),
    )


def _common_props(removal_policy: RemovalPolicy) -> dict[str, object]:
    """What every bucket of the platform shares."""
    return {
        "block_public_access": s3.BlockPublicAccess.BLOCK_ALL,
        "object_ownership": s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        "enforce_ssl": True,
        "minimum_tls_version": 1.2,
        # SSE-C would bypass the bucket's key entirely; S3 refuses such requests at the bucket level.
        "blocked_encryption_types": [s3.BlockedEncryptionType.SSE_C],
        "removal_policy": removal_policy,
        # A bucket is only deletable when empty: with DESTROY, CDK empties it first with its auto-delete
        # custom resource (a stack-wide Lambda provider: see tidy_auto_delete_provider).
        "auto_delete_objects": removal_policy == RemovalPolicy.DESTROY,
    }


LOG_TARGET_SSE_S3_REASON = (
    "S3 server access logging supports only SSE-S3 default encryption on the log target bucket; SSE-KMS "
    "is not supported (AWS S3 User Guide, enable-server-access-logging / troubleshooting-server-access-"
    "logging), so this bucket uses SSE-S3 (AES-256) and TLS-only access."
)


def acknowledge_log_target_controls(bucket: s3.IBucket) -> None:
    """Acknowledge on a server access log target bucket the Control Tower controls S3 itself rules out there."""
    acknowledge_control(bucket, "CT.S3.PR.10", LOG_TARGET_SSE_S3_REASON)
    acknowledge_control(
        bucket,
        "CT.S3.PR.2",
        "This bucket is the server access log target of other buckets; logging it into itself would log each "
        "log delivery again (the S3 User Guide advises against a target that logs to itself), and logging it "
        "into another bucket would only move this finding to that bucket.",
    )
    acknowledge_control(
        bucket,
        "CT.S3.PR.9",
        "S3 cannot deliver server access logs to a bucket with Object Lock: 'S3 buckets with Object Lock can't "
        "be used as destination buckets for server access logs' (S3 User Guide, Configuring S3 Object Lock).",
    )


class AccessLogBucket(s3.Bucket):
    """Target of S3 server access logs: SSE-S3, versioned, TLS-only, private, EventBridge notifications on, logs
    expire by lifecycle.

    S3 server access logging supports only SSE-S3 default encryption on the target bucket: "You can use
    default bucket encryption on the destination bucket only if you use server-side encryption with
    Amazon S3 managed keys (SSE-S3). Default server-side encryption with AWS KMS keys (SSE-KMS) is not
    supported." (https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html,
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshooting-server-access-logging.html).
    The same pages rule out Object Lock on the target and advise against server access logging on it.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lifecycle_rules: Sequence[s3.LifecycleRule],
        removal_policy: RemovalPolicy,
        bucket_name: str | None = None,
    ) -> None:
        """
        :param lifecycle_rules: e.g. ``tiering_rule(expire_after_days=365, noncurrent_expire_after_days=30)``.
        :param removal_policy: RETAIN keeps the bucket when the stack is deleted; DESTROY empties and deletes it.
        :param bucket_name: physical name (stable; changing it replaces the bucket). Default: none, CloudFormation
            generates a unique one (for a bucket nothing outside the stack addresses by name).
        """
        super().__init__(
            scope,
            construct_id,
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.S3_MANAGED,
            versioned=True,
            lifecycle_rules=list(lifecycle_rules),
            **_common_props(removal_policy),
        )
        acknowledge_finding(self, "S3DefaultEncryptionKMS", reason=LOG_TARGET_SSE_S3_REASON)
        # No logging finding to acknowledge for cdk-nag: the packs accept a bucket that is itself a log target.
        acknowledge_log_target_controls(self)
        event_bridge_notifications(self)


class EncryptedBucket(s3.Bucket):
    """A data bucket with every secure default of the platform.

    * SSE-KMS with ``encryption_key`` and S3 Bucket Keys (fewer KMS requests: lower cost, less quota);
      SSE-C blocked.
    * Block Public Access (all four), object ownership BucketOwnerEnforced (ACLs off).
    * Bucket policy: deny any request without TLS or below TLS 1.2. Unless ``deny_other_put_encryption`` is
      off, also deny ``s3:PutObject`` that requests an encryption other than ``aws:kms`` (statement
      ``DenyEncryptionOtherThanSseKms``), and ``aws:kms`` puts whose key header is missing or not
      ``encryption_key``'s ARN (``DenyKmsKeyOtherThanTheBucketKey``; S3 would use the ``aws/s3`` key when the
      header is missing). A put without any encryption header is allowed and gets the default encryption:
      Firehose without a KMS config and most SDK clients send none; Firehose's KMSEncryptionConfig and
      SageMaker data capture send ``aws:kms`` with the key they are configured with, which must be this key's
      ARN.
    * Versioning; server access logs to ``access_log_bucket`` under ``access_log_prefix`` (date-partitioned
      unless ``partitioned_access_logs`` is off).
    * EventBridge notifications on, set directly on the bucket (no notifications custom resource/Lambda).
    * Removal: ``removal_policy``; DESTROY also empties the bucket first (auto-delete custom resource).
    * Object Lock on every versioned bucket (Control Tower CT.S3.PR.9); without ``object_lock_retention_days``
      no object is locked: the bucket only can be, so a default retention can be added later (and the
      ``s3:PutObjectRetention``/``s3:PutObjectLegalHold`` actions lock single objects). With it: GOVERNANCE
      mode with that default retention. Object Lock cannot be turned off again (S3).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        encryption_key: kms.IKey,
        access_log_bucket: s3.IBucket,
        access_log_prefix: str,
        lifecycle_rules: Sequence[s3.LifecycleRule],
        removal_policy: RemovalPolicy,
        bucket_name: str | None = None,
        versioned: bool = True,
        object_lock_retention_days: int | None = None,
        additional_put_keys: Sequence[kms.IKey] = (),
        deny_other_put_encryption: bool = True,
        partitioned_access_logs: bool = True,
    ) -> None:
        """
        :param bucket_name: physical name (stable; changing it replaces the bucket). Default: none, CloudFormation
            generates a unique one (for a bucket only referenced from its own stack, e.g. the pipeline's artifacts).
        :param encryption_key: the customer-managed key of the bucket's default encryption.
        :param access_log_bucket: where S3 delivers this bucket's server access logs.
        :param access_log_prefix: key prefix of this bucket's logs in ``access_log_bucket`` (ends with ``/``).
        :param lifecycle_rules: e.g. one :func:`tiering_rule`.
        :param removal_policy: RETAIN keeps the bucket when the stack is deleted; DESTROY empties and deletes it.
        :param versioned: S3 versioning. Default: on (the compliance packs require it).
        :param additional_put_keys: other CMKs a writer may name in an ``aws:kms`` put (e.g. the ML key that
            SageMaker data capture is configured with). Default: none, only ``encryption_key``.
        :param object_lock_retention_days: a default retention in GOVERNANCE mode for every new object version.
            Default: none. Needs ``versioned``; incompatible with DESTROY (locked versions cannot be emptied).
        :param deny_other_put_encryption: the two bucket-policy statements that deny puts asking for another
            encryption or another key. Default: on. Off leaves the bucket to its default encryption and its
            writers' key grants; for writers whose encryption headers the platform does not set itself (the
            pipeline's artifact bucket: CodePipeline and CodeBuild write with the artifact store's key).
        :param partitioned_access_logs: server access log keys partitioned by event date
            (``<prefix><account>/<region>/<bucket>/<yyyy>/<mm>/<dd>/...``). Default: on. Off: S3's simple
            ``<prefix><timestamp>-<id>`` keys (the pipeline's artifact bucket keeps the layout it has always had).
        """
        if object_lock_retention_days is not None and not versioned:
            raise ValueError("EncryptedBucket: Object Lock needs versioning (versioned=True)")
        if object_lock_retention_days is not None and removal_policy == RemovalPolicy.DESTROY:
            raise ValueError("EncryptedBucket: Object Lock cannot be combined with RemovalPolicy.DESTROY")
        if not access_log_prefix.endswith("/"):
            raise ValueError(f"EncryptedBucket: access_log_prefix {access_log_prefix!r} must end with '/'")
        super().__init__(
            scope,
            construct_id,
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=encryption_key,
            bucket_key_enabled=True,
            versioned=versioned,
            server_access_logs_bucket=access_log_bucket,
            server_access_logs_prefix=access_log_prefix,
            target_object_key_format=(
                s3.TargetObjectKeyFormat.partitioned_prefix(s3.PartitionDateSource.EVENT_TIME)
                if partitioned_access_logs
                else None
            ),
            lifecycle_rules=list(lifecycle_rules),
            # Object Lock needs versioning; an unversioned bucket keeps the Control Tower finding (and cdk-nag's).
            object_lock_enabled=True if versioned else None,
            object_lock_default_retention=(
                s3.ObjectLockRetention.governance(Duration.days(object_lock_retention_days))
                if object_lock_retention_days is not None
                else None
            ),
            **_common_props(removal_policy),
        )
        if deny_other_put_encryption:
            self._deny_other_put_encryption(encryption_key, additional_put_keys)
        event_bridge_notifications(self)

    def _deny_other_put_encryption(self, encryption_key: kms.IKey, additional_put_keys: Sequence[kms.IKey]) -> None:
        self.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyEncryptionOtherThanSseKms",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[self.arn_for_objects("*")],
                # The header is present (Null = false) AND asks for something other than aws:kms.
                conditions={"Null": {SSE_HEADER: "false"}, "StringNotEquals": {SSE_HEADER: "aws:kms"}},
            )
        )
        self.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DenyKmsKeyOtherThanTheBucketKey",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[self.arn_for_objects("*")],
                # aws:kms requested AND the key header is missing (a negated operator is true for a missing
                # key) or names another key. The condition key holds the key ARN the request names.
                conditions={
                    "StringEquals": {SSE_HEADER: "aws:kms"},
                    "StringNotEquals": {
                        SSE_KMS_KEY_HEADER: encryption_key.key_arn
                        if not additional_put_keys
                        else [encryption_key.key_arn, *(key.key_arn for key in additional_put_keys)]
                    },
                },
            )
        )


def event_bridge_notifications(bucket: s3.IBucket) -> None:
    """Send the bucket's events to EventBridge (Control Tower CT.S3.PR.4). EventBridge delivery is a bucket
    property; CDK's event_bridge_enabled would add a notifications custom resource (a Lambda) instead."""
    cfn_bucket = bucket.node.default_child
    assert isinstance(cfn_bucket, s3.CfnBucket)
    cfn_bucket.add_property_override("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True)


def tidy_auto_delete_provider(
    stack: Stack, *, log_key: kms.IKey, retention_days: int, removal_policy: RemovalPolicy
) -> logs.LogGroup | None:
    """Bring CDK's auto-delete-objects provider (added once per stack by buckets with DESTROY) up to the
    platform's rules; call it after the stack's last bucket. Returns its log group, or None without provider.

    * Its log group (``/aws/lambda/<function>``) is created encrypted with ``log_key`` and with a retention;
      every auto-delete custom resource depends on it, so the function never runs without it (otherwise Lambda
      creates it unencrypted and kept forever, also while the stack is being deleted).
    * The handler's ``DependsOn`` on its role is dropped: the function's ``Fn::GetAtt`` of the role already
      orders them, and cfn-lint reports the redundant dependency (W3005).

    No cdk-nag pack reports a finding on the provider (its function and role are plain ``CfnResource``s). The
    Control Tower control CT.LAMBDA.PR.3 (function in a VPC) is acknowledged on the handler: see the reason.
    """
    provider = stack.node.try_find_child(_AUTO_DELETE_PROVIDER_ID)
    if provider is None:
        return None
    existing = provider.node.try_find_child("LogGroup")
    if isinstance(existing, logs.LogGroup):
        return existing
    handler, role = provider.node.find_child("Handler"), provider.node.find_child("Role")
    assert isinstance(handler, CfnResource) and isinstance(role, CfnResource)
    handler.remove_resource_dependency(role)
    acknowledge_control(
        handler,
        "CT.LAMBDA.PR.3",
        "CDK's auto-delete-objects provider function (a plain CfnResource without VPC settings) empties the "
        "buckets with DESTROY when the stack is deleted and answers CloudFormation at a pre-signed URL of an "
        "AWS-owned S3 bucket; in the isolated subnets the S3 gateway endpoint's allow-list admits only the "
        "platform's buckets, so the answer could not leave, and opening the endpoint to that bucket would give "
        "every workload a way to write data out. It runs only during a stack deletion or update.",
    )
    log_group = logs.LogGroup(
        provider,
        "LogGroup",
        log_group_name=Fn.join("", ["/aws/lambda/", handler.ref]),
        encryption_key=log_key,
        retention=retention(retention_days),
        removal_policy=removal_policy,
    )
    for construct in stack.node.find_all():
        if isinstance(construct, s3.Bucket):
            custom_resource = construct.node.try_find_child("AutoDeleteObjectsCustomResource")
            if custom_resource is not None:
                custom_resource.node.add_dependency(log_group)
    return log_group
