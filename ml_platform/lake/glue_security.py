"""What every Glue workload of the lake (the curated crawler, the curation job) needs to run encrypted: a security
configuration, and the role statements that let it use the catalog key and the logs key.

"Setting up AWS Glue to use security configurations" (AWS Glue Developer Guide,
https://docs.aws.amazon.com/glue/latest/dg/encryption-security-configuration.html): the roles passed to crawlers and
jobs with a security configuration must be allowed to use the CloudWatch Logs key (encrypt, decrypt, re-encrypt,
generate data keys, describe), and the key's policy must let CloudWatch Logs use it (the Security stack's logs key
does).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct


def security_configuration(
    scope: Construct, construct_id: str, *, name: str, data_key: kms.IKey, logs_key: kms.IKey
) -> glue.CfnSecurityConfiguration:
    """S3 SSE-KMS and job-bookmark CSE-KMS with ``data_key``, CloudWatch Logs SSE-KMS with ``logs_key``.

    Use the key ARN: S3 then sends it in the put's SSE-KMS header, and the lake buckets' policies refuse any other
    form of the key (docs/lake.md).
    """
    return glue.CfnSecurityConfiguration(
        scope,
        construct_id,
        name=name,
        encryption_configuration=glue.CfnSecurityConfiguration.EncryptionConfigurationProperty(
            s3_encryptions=[
                glue.CfnSecurityConfiguration.S3EncryptionProperty(
                    s3_encryption_mode="SSE-KMS", kms_key_arn=data_key.key_arn
                )
            ],
            cloud_watch_encryption=glue.CfnSecurityConfiguration.CloudWatchEncryptionProperty(
                cloud_watch_encryption_mode="SSE-KMS", kms_key_arn=logs_key.key_arn
            ),
            job_bookmarks_encryption=glue.CfnSecurityConfiguration.JobBookmarksEncryptionProperty(
                job_bookmarks_encryption_mode="CSE-KMS", kms_key_arn=data_key.key_arn
            ),
        ),
    )


def glue_service_role(scope: Construct, *, name: str, description: str) -> iam.Role:
    """A role Glue assumes (a crawler's, a job's, the table optimizers'), construct id ``Role``."""
    return iam.Role(
        scope, "Role", role_name=name, assumed_by=iam.ServicePrincipal("glue.amazonaws.com"), description=description
    )


def catalog_key_statement(*, data_key: kms.IKey, region: str) -> iam.PolicyStatement:
    """Read and write the encrypted Data Catalog with the data key, only through Glue."""
    return iam.PolicyStatement(
        sid="UseTheCatalogKeyViaGlue",
        actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
        resources=[data_key.key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"glue.{region}.amazonaws.com"}},
    )


def logs_key_statement(logs_key: kms.IKey) -> iam.PolicyStatement:
    """The use of the CloudWatch Logs key the Glue guide asks of a role with a security configuration."""
    return iam.PolicyStatement(
        sid="UseTheLogsKey",
        actions=[
            "kms:Encrypt",
            "kms:Decrypt",
            "kms:ReEncryptFrom",
            "kms:ReEncryptTo",
            "kms:GenerateDataKey",
            "kms:DescribeKey",
        ],
        resources=[logs_key.key_arn],
    )


# CloudWatch Logs authorizes every action on a group's streams (and CreateLogGroup, AssociateKmsKey) against the group
# ARN with a trailing ":*"; the bare ARN matches only the tagging actions ("Use the second version, with the trailing
# :*, ... for all other API actions", CloudWatch Logs User Guide, "Overview of managing access permissions to your
# CloudWatch Logs resources"; LogGroup API reference).
LOG_WRITE_ACTIONS: tuple[str, ...] = (
    "logs:CreateLogGroup",
    "logs:AssociateKmsKey",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
)


def log_group_streams_arn(scope: Construct, log_group_pattern: str) -> str:
    """``arn:…:logs:<region>:<account>:log-group:<pattern>:*``: what :data:`LOG_WRITE_ACTIONS` are authorized
    against (``pattern`` may hold ``*``)."""
    return Stack.of(scope).format_arn(
        service="logs",
        resource="log-group",
        resource_name=f"{log_group_pattern}:*",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
