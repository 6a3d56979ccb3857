"""EncryptedBucket / AccessLogBucket: every secure default, the deny policy's header cases, removal.

The header cases are authorized by the IAM simulator the runtime flows use (@cloud-copilot/iam-simulate through
scripts/flows), against the synthesized bucket policy with its references resolved.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from ml_platform.shared.encrypted_bucket import (
    AccessLogBucket,
    EncryptedBucket,
    tidy_auto_delete_provider,
    tiering_rule,
)
from scripts.assembly import StackTemplate
from scripts.flows.catalogue.base import ALLOW_ALL
from scripts.flows.engine import evaluate
from scripts.flows.model import Flow
from scripts.flows.templates import Deployment, Placement
from tests.conftest import new_app, one_resource

SSE = "s3:x-amz-server-side-encryption"
SSE_KEY = "s3:x-amz-server-side-encryption-aws-kms-key-id"
OTHER_KEY_ARN = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000"


# --------------------------------------------------------------------------------------- authorization
ACCOUNT, REGION = "111111111111", "eu-west-1"


def header_cases(lake_key_arn: str) -> list[tuple[str, dict[str, str], bool]]:
    """(case, PutObject condition keys over TLS 1.3, allowed?) for what producers of the lake send."""
    tls = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}
    return [
        # Firehose without KMSEncryptionConfig and most SDK clients: no header, default encryption applies.
        ("no encryption header (Firehose NoEncryption)", tls, True),
        # Firehose KMSEncryptionConfig, SageMaker data capture KmsKeyId, Athena SSE_KMS results: the key ARN.
        ("aws:kms with the lake key", tls | {SSE: "aws:kms", SSE_KEY: lake_key_arn}, True),
        ("AES256 (SSE-S3)", tls | {SSE: "AES256"}, False),
        ("aws:kms with another key", tls | {SSE: "aws:kms", SSE_KEY: OTHER_KEY_ARN}, False),
        ("aws:kms without a key id (S3 would use aws/s3)", tls | {SSE: "aws:kms"}, False),
        ("aws:kms:dsse with the lake key", tls | {SSE: "aws:kms:dsse", SSE_KEY: lake_key_arn}, False),
        ("no TLS", {"aws:SecureTransport": "false"}, False),
        ("TLS 1.1", tls | {"s3:TlsVersion": "1.1"}, False),
    ]  # fmt: skip


def authorize_puts(template: dict[str, Any], bucket_prefix: str) -> dict[str, tuple[bool, str]]:
    """Each header case as a PutObject by a role of the account whose own policies allow everything, against the
    synthesized bucket policy, evaluated by the IAM simulator (scripts/flows): case → (allowed?, deciding)."""
    stack = StackTemplate("test", "Lake", "Lake", REGION, Path("Lake.template.json"), template, account=None)
    view = Deployment(stacks=[stack], placements={"test": Placement(ACCOUNT, REGION)}).view("test", "Lake")
    resources = template["Resources"]
    (bucket_id,) = [k for k, r in resources.items() if k.startswith(bucket_prefix) and r["Type"] == "AWS::S3::Bucket"]
    (policy,) = [
        r
        for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    document = view.resolve(policy["Properties"]["PolicyDocument"])
    bucket = view.resolve({"Ref": bucket_id})
    lake_key_arn = view.resolve({"Fn::GetAtt": [_lid(template, "LakeKey"), "Arn"]})
    role = f"arn:aws:iam::{ACCOUNT}:role/producer"
    flows = [
        Flow(
            flow_id=name,
            environment="test",
            component="bucket",
            description=name,
            principal=role,
            action="s3:PutObject",
            resource=f"arn:aws:s3:::{bucket}/events/x",
            resource_account=ACCOUNT,
            expected="allow" if allowed else "deny",
            context={"aws:PrincipalAccount": ACCOUNT, "aws:ResourceAccount": ACCOUNT, **context},
            identity_policies=(("allows everything", ALLOW_ALL),),
            resource_policy=("bucket policy", document),
        )
        for name, context, allowed in header_cases(lake_key_arn)
    ]
    return {r.flow.flow_id: (r.actual == "allow", r.deciding or r.errors) for r in evaluate(flows)}


# --------------------------------------------------------------------------------------- fixtures
def _synth(tmp_path, *, removal: RemovalPolicy, object_lock_days: int | None = None) -> dict[str, Any]:
    app = new_app(tmp_path)
    stack = Stack(app, "Lake")
    key = kms.Key(stack, "LakeKey", enable_key_rotation=True)
    logs_key = kms.Key(stack, "LogsKey", enable_key_rotation=True)
    log_bucket = AccessLogBucket(
        stack,
        "Logs",
        bucket_name="test-logs",
        lifecycle_rules=[tiering_rule(expire_after_days=365, noncurrent_expire_after_days=30)],
        removal_policy=removal,
    )
    EncryptedBucket(
        stack,
        "Data",
        bucket_name="test-data",
        encryption_key=key,
        access_log_bucket=log_bucket,
        access_log_prefix="data/",
        lifecycle_rules=[tiering_rule(infrequent_access_after_days=60, glacier_after_days=180)],
        removal_policy=removal,
        object_lock_retention_days=object_lock_days,
    )
    tidy_auto_delete_provider(stack, log_key=logs_key, retention_days=30, removal_policy=removal)
    return Template.from_stack(stack).to_json()


def _resource(template: dict[str, Any], prefix: str, resource_type: str) -> dict[str, Any]:
    return one_resource(template["Resources"], resource_type, prefix)[1]


@pytest.fixture(scope="module")
def retained(tmp_path_factory) -> dict[str, Any]:
    return _synth(tmp_path_factory.mktemp("retain"), removal=RemovalPolicy.RETAIN)


# --------------------------------------------------------------------------------------- data bucket
def test_data_bucket_has_every_secure_default(retained):
    # Given an EncryptedBucket, When synthesized, Then:
    props = _resource(retained, "Data", "AWS::S3::Bucket")["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    # SSE-KMS with the given key and an S3 Bucket Key; SSE-C blocked
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": [_lid(retained, "LakeKey"), "Arn"]}
    assert rule["BucketKeyEnabled"] is True
    assert rule["BlockedEncryptionTypes"] == {"EncryptionType": ["SSE-C"]}
    # all four Block Public Access settings, ACLs off, versioning
    assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    # server access logs to the log bucket under the bucket's prefix
    assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": _lid(retained, "Logs", "AWS::S3::Bucket")}
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "data/"
    # EventBridge on the bucket itself, and no notifications custom resource (no Lambda at all)
    assert props["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    types = {r["Type"] for r in retained["Resources"].values()}
    assert "Custom::S3BucketNotifications" not in types and "AWS::Lambda::Function" not in types
    # the lifecycle rule
    (lifecycle,) = props["LifecycleConfiguration"]["Rules"]
    assert lifecycle["Transitions"] == [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": 60},
        {"StorageClass": "GLACIER", "TransitionInDays": 180},
    ]
    assert lifecycle["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}


def test_data_bucket_policy_has_tls_and_encryption_statements(retained):
    statements = _resource(retained, "Data", "AWS::S3::BucketPolicy")["Properties"]["PolicyDocument"]["Statement"]
    by_sid = {s.get("Sid"): s for s in statements}
    # TLS-only (aws:SecureTransport) and TLS >= 1.2
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements)
    assert any(s["Condition"] == {"NumericLessThan": {"s3:TlsVersion": 1.2}} for s in statements)
    # the two encryption denies
    assert by_sid["DenyEncryptionOtherThanSseKms"]["Condition"] == {
        "Null": {SSE: "false"},
        "StringNotEquals": {SSE: "aws:kms"},
    }
    assert by_sid["DenyKmsKeyOtherThanTheBucketKey"]["Condition"] == {
        "StringEquals": {SSE: "aws:kms"},
        "StringNotEquals": {SSE_KEY: {"Fn::GetAtt": [_lid(retained, "LakeKey"), "Arn"]}},
    }
    for sid in ("DenyEncryptionOtherThanSseKms", "DenyKmsKeyOtherThanTheBucketKey"):
        assert by_sid[sid]["Effect"] == "Deny" and by_sid[sid]["Action"] == "s3:PutObject"
        assert by_sid[sid]["Principal"] == {"AWS": "*"}


def test_deny_policy_header_cases(retained):
    # Given the data bucket's policy and a PutObject as each producer sends it
    results = authorize_puts(retained, "Data")
    # When the IAM simulator authorizes them, Then only the documented cases pass
    expected = {name: allowed for name, _, allowed in header_cases("lake-key")}
    assert {name: allowed for name, (allowed, _) in results.items()} == expected, results


def test_object_lock_is_governance_with_default_retention(tmp_path):
    template = _synth(tmp_path, removal=RemovalPolicy.RETAIN, object_lock_days=30)
    props = _resource(template, "Data", "AWS::S3::Bucket")["Properties"]
    assert props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}},
    }


def test_object_lock_is_on_without_a_default_retention(retained):
    # Given a data bucket without object_lock_retention_days
    props = _resource(retained, "Data", "AWS::S3::Bucket")["Properties"]
    # Then Object Lock is on (Control Tower CT.S3.PR.9) but locks nothing by default
    assert props["ObjectLockEnabled"] is True
    assert "ObjectLockConfiguration" not in props


def test_object_lock_without_versioning_or_with_destroy_is_refused(tmp_path):
    stack = Stack(new_app(tmp_path), "Lake")
    key = kms.Key(stack, "K")
    logs = AccessLogBucket(
        stack, "Logs", bucket_name="test-logs", lifecycle_rules=[], removal_policy=RemovalPolicy.RETAIN
    )
    common = {"encryption_key": key, "access_log_bucket": logs, "access_log_prefix": "d/", "lifecycle_rules": []}
    with pytest.raises(ValueError, match="Object Lock needs versioning"):
        EncryptedBucket(
            stack, "A", bucket_name="test-a", removal_policy=RemovalPolicy.RETAIN, versioned=False,
            object_lock_retention_days=1, **common,
        )  # fmt: skip
    with pytest.raises(ValueError, match=r"cannot be combined with RemovalPolicy\.DESTROY"):
        EncryptedBucket(
            stack,
            "B",
            bucket_name="test-b",
            removal_policy=RemovalPolicy.DESTROY,
            object_lock_retention_days=1,
            **common,
        )


def test_unnamed_bucket_without_put_denies_or_partitioned_logs_keeps_the_other_defaults(tmp_path):
    # Given both buckets without a name, and a data bucket with both opt-outs (the pipeline's artifact store)
    stack = Stack(new_app(tmp_path), "Artifacts")
    logs = AccessLogBucket(stack, "Logs", lifecycle_rules=[], removal_policy=RemovalPolicy.RETAIN)
    EncryptedBucket(
        stack, "Data", encryption_key=kms.Key(stack, "LakeKey"), access_log_bucket=logs, access_log_prefix="a/",
        lifecycle_rules=[], removal_policy=RemovalPolicy.RETAIN, deny_other_put_encryption=False,
        partitioned_access_logs=False,
    )  # fmt: skip
    template = Template.from_stack(stack).to_json()
    data, log = (_resource(template, prefix, "AWS::S3::Bucket")["Properties"] for prefix in ("Data", "Logs"))
    # Then CloudFormation names them, and the logs use S3's simple key format
    assert "BucketName" not in data and "BucketName" not in log
    logs_id = _lid(template, "Logs")
    assert data["LoggingConfiguration"] == {"DestinationBucketName": {"Ref": logs_id}, "LogFilePrefix": "a/"}
    # And the policy has no put-encryption denies but keeps TLS-only; SSE-C stays blocked on both buckets
    statements = _resource(template, "Data", "AWS::S3::BucketPolicy")["Properties"]["PolicyDocument"]["Statement"]
    assert [s.get("Sid") for s in statements if s.get("Sid", "").startswith("Deny")] == []
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements)
    for props in (data, log):
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["BlockedEncryptionTypes"] == {"EncryptionType": ["SSE-C"]}


# --------------------------------------------------------------------------------------- access-log bucket
def test_access_log_bucket_uses_sse_s3_and_lets_only_s3_logging_of_this_account_write(retained):
    resource = _resource(retained, "Logs", "AWS::S3::Bucket")
    props = resource["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    # No Object Lock and no access logging of its own: S3 rules both out for a log target (acknowledged)
    assert "ObjectLockEnabled" not in props and "LoggingConfiguration" not in props
    # And its events go to EventBridge like the data buckets' (Control Tower CT.S3.PR.4)
    assert props["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    (lifecycle,) = props["LifecycleConfiguration"]["Rules"]
    assert lifecycle["ExpirationInDays"] == 365
    assert lifecycle["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    statements = _resource(retained, "Logs", "AWS::S3::BucketPolicy")["Properties"]["PolicyDocument"]["Statement"]
    (logging,) = [s for s in statements if s["Effect"] == "Allow"]
    assert logging["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert logging["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert any(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements)


# --------------------------------------------------------------------------------------- removal
def test_retain_keeps_buckets_and_adds_no_auto_delete(retained):
    for prefix in ("Data", "Logs"):
        resource = _resource(retained, prefix, "AWS::S3::Bucket")
        assert resource["DeletionPolicy"] == "Retain" and resource["UpdateReplacePolicy"] == "Retain"
    assert not [r for r in retained["Resources"].values() if r["Type"] == "Custom::S3AutoDeleteObjects"]


def test_destroy_empties_buckets_with_a_tidy_provider(tmp_path):
    # Given DESTROY, When synthesized
    template = _synth(tmp_path, removal=RemovalPolicy.DESTROY)
    resources = template["Resources"]
    # Then both buckets are deleted and emptied first
    assert _resource(template, "Data", "AWS::S3::Bucket")["DeletionPolicy"] == "Delete"
    auto_delete = {lid: r for lid, r in resources.items() if r["Type"] == "Custom::S3AutoDeleteObjects"}
    assert len(auto_delete) == 2
    # And the provider's function logs to an encrypted log group with a retention that every auto-delete
    # custom resource waits for; the function's redundant DependsOn on its role is gone (cfn-lint W3005)
    log_group_id = _lid(template, "CustomS3AutoDeleteObjectsCustomResourceProviderLogGroup")
    log_group = resources[log_group_id]["Properties"]
    assert log_group["KmsKeyId"] == {"Fn::GetAtt": [_lid(template, "LogsKey"), "Arn"]}
    assert log_group["RetentionInDays"] == 30
    assert all(log_group_id in r.get("DependsOn", []) for r in auto_delete.values())
    handler = resources[_lid(template, "CustomS3AutoDeleteObjectsCustomResourceProviderHandler")]
    assert "DependsOn" not in handler


def test_tiering_rule_renders_every_step():
    rule = tiering_rule(
        infrequent_access_after_days=30,
        glacier_after_days=90,
        glacier_storage_class="GLACIER_IR",
        deep_archive_after_days=365,
        expire_after_days=730,
        noncurrent_infrequent_access_after_days=30,
        noncurrent_deep_archive_after_days=60,
        noncurrent_expire_after_days=400,
        abort_incomplete_multipart_upload_after_days=3,
    )
    assert [t.transition_after.to_days() for t in rule.transitions] == [30, 90, 365]
    assert rule.expiration.to_days() == 730
    assert [t.transition_after.to_days() for t in rule.noncurrent_version_transitions] == [30, 60]
    assert rule.noncurrent_version_expiration.to_days() == 400
    assert rule.abort_incomplete_multipart_upload_after.to_days() == 3


def _lid(template: dict[str, Any], prefix: str, resource_type: str | None = None) -> str:
    (logical_id,) = [
        lid
        for lid, r in template["Resources"].items()
        if lid.startswith(prefix)
        and (resource_type is None or r["Type"] == resource_type)
        and r["Type"] != "AWS::S3::BucketPolicy"
    ]
    return logical_id
