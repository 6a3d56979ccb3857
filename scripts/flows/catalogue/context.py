"""ARNs of S3 buckets and objects, and the condition keys AWS adds to a request of the flow catalogue: what a
service puts into its call to KMS (``kms:ViaService``, S3's encryption context) and the SSE-KMS headers of a put."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_platform.inference.config.models import ECR_IMAGE_URI
from scripts.flows.templates import PARTITION

if TYPE_CHECKING:
    from scripts.flows.catalogue.base import Environment


def s3_object(bucket: str, key: str) -> str:
    return f"arn:{PARTITION}:s3:::{bucket}/{key}"


def s3_bucket(bucket: str) -> str:
    return f"arn:{PARTITION}:s3:::{bucket}"


def kms_via_s3(env: Environment, bucket: str, key: str = "") -> dict[str, str]:
    """What S3 adds when it calls KMS for an SSE-KMS object of ``bucket``: the calling service and, as
    encryption context, the bucket ARN with an S3 Bucket Key (S3 User Guide, "Reducing the cost of SSE-KMS
    with Amazon S3 Bucket Keys": "the bucket ARN is used as encryption context"), else the object ARN."""
    context_arn = s3_bucket(bucket) if env.bucket_key_enabled(bucket) else s3_object(bucket, key)
    return {**kms_via(env, "s3"), "kms:EncryptionContext:aws:s3:arn": context_arn}


def kms_via(env: Environment, service: str) -> dict[str, str]:
    """What an AWS service adds when it calls KMS for a caller of ``env``'s account (``kms:ViaService`` is
    ``<service>.<region>.amazonaws.com``)."""
    return {"kms:ViaService": f"{service}.{env.region}.amazonaws.com", "kms:CallerAccount": env.account}


def sse_kms(key_arn: str) -> dict[str, str]:
    """The encryption headers of a PutObject that asks for SSE-KMS with ``key_arn`` (Firehose's
    KMSEncryptionConfig, SageMaker's KmsKeyId): S3 exposes them as condition keys."""
    return {
        "s3:x-amz-server-side-encryption": "aws:kms",
        "s3:x-amz-server-side-encryption-aws-kms-key-id": key_arn,
    }


def repository_arn(image_uri: str) -> str:
    """The ARN of the ECR repository of an image URI (``<account>.dkr.ecr.<region>.amazonaws.com/<name>[:tag]``)."""
    match = ECR_IMAGE_URI.match(image_uri) or ECR_IMAGE_URI.match(image_uri + ":latest")
    assert match, image_uri
    return f"arn:{PARTITION}:ecr:{match['region']}:{match['account']}:repository/{match['repository']}"
