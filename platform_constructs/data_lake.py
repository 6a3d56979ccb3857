"""Least-privilege grants on lake buckets and catalog tables, including the KMS side.

Every grant is an identity-policy statement on the grantee (the lake key's policy delegates to IAM), so
granting from another stack never edits the lake's resources. KMS use is limited to calls S3 (or Glue)
makes on the grantee's behalf in the bucket's region (``kms:ViaService``) and, for S3, to encryption
contexts of the bucket itself (S3 Bucket Keys use the bucket ARN, object-level keys the object ARN).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from platform_constructs.glue_catalog import TableRef


def _s3_kms_conditions(bucket: s3.IBucket) -> dict[str, dict[str, object]]:
    return {
        "StringEquals": {"kms:ViaService": f"s3.{Stack.of(bucket).region}.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket.bucket_arn, bucket.arn_for_objects("*")]},
    }


def _check_prefix(prefix: str) -> None:
    if prefix.startswith("/") or (prefix and not prefix.endswith("/")):
        raise ValueError(f"prefix {prefix!r} must be '' or a relative key prefix ending with '/'")


def grant_object_read(grantee: iam.IGrantable, *, bucket: s3.IBucket, key: kms.IKey, prefix: str = "") -> iam.Grant:
    """Read objects under ``prefix`` (``''``: the whole bucket) and list only that prefix; decrypt via S3."""
    _check_prefix(prefix)
    list_conditions = {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}} if prefix else None
    return (
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["s3:GetObject"], resource_arns=[bucket.arn_for_objects(f"{prefix}*")]
        )
        .combine(
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["s3:ListBucket"],
                resource_arns=[bucket.bucket_arn],
                conditions=list_conditions,
            )
        )
        .combine(
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["kms:Decrypt"],
                resource_arns=[key.key_arn],
                conditions=_s3_kms_conditions(bucket),
            )
        )
    )


def grant_object_write(
    grantee: iam.IGrantable, *, bucket: s3.IBucket, key: kms.IKey, prefixes: Sequence[str]
) -> iam.Grant:
    """Write (incl. multipart uploads) objects under ``prefixes`` only; generate data keys via S3.

    ``kms:Decrypt`` is included because S3 decrypts the data key to complete a multipart upload.
    """
    if not prefixes:
        raise ValueError("grant_object_write: name at least one prefix")
    for prefix in prefixes:
        _check_prefix(prefix)
    objects = [bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes]
    return (
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["s3:PutObject", "s3:AbortMultipartUpload"], resource_arns=objects
        )
        .combine(
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                resource_arns=[bucket.bucket_arn],
            )
        )
        .combine(
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resource_arns=[key.key_arn],
                conditions=_s3_kms_conditions(bucket),
            )
        )
    )


def grant_table_read(grantee: iam.IGrantable, *, table: TableRef, catalog_key: kms.IKey | None) -> iam.Grant:
    """Read a catalog table's definition (what Firehose's Parquet conversion needs) and, when the catalog
    is encrypted, decrypt it via Glue."""
    grant = iam.Grant.add_to_principal(
        grantee=grantee,
        actions=["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"],
        resource_arns=table.arns,
    )
    if catalog_key is not None:
        grant = grant.combine(
            iam.Grant.add_to_principal(
                grantee=grantee,
                actions=["kms:Decrypt"],
                resource_arns=[catalog_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"glue.{table.region}.amazonaws.com"}},
            )
        )
    return grant
