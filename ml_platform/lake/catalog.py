"""Glue Data Catalog pieces of the lake: databases, schema-driven tables, the optional partition crawler
and the account's catalog encryption settings.

Tables are built from an :class:`~ml_platform.core.schema.EventSchema`, so the Glue columns, partition
keys and partition projection can never drift from the contract that the Firehose conversion and the
transform Lambda use.
"""

from __future__ import annotations

import json

from aws_cdk import Aws, RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_platform.core.schema import EventSchema
from ml_platform.lake.glue_security import (
    LOG_WRITE_ACTIONS,
    catalog_key_statement,
    glue_service_role,
    log_group_streams_arn,
    logs_key_statement,
    security_configuration,
)
from ml_platform.shared.compliance import acknowledge, acknowledge_resource_wildcards
from ml_platform.shared.lake_access import TableRef, object_read_statements
from ml_platform.shared.log_retention import retention

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"


def catalog_database(
    scope: Construct,
    construct_id: str,
    *,
    name: str,
    location_uri: str,
    description: str,
    removal_policy: RemovalPolicy,
) -> glue.CfnDatabase:
    """A Glue database in this account's catalog, with the stack's removal policy on delete and replace."""
    database = glue.CfnDatabase(
        scope,
        construct_id,
        catalog_id=Aws.ACCOUNT_ID,
        database_input=glue.CfnDatabase.DatabaseInputProperty(
            name=name, description=description, location_uri=location_uri
        ),
    )
    database.apply_removal_policy(removal_policy)
    return database


class EventTable(Construct):
    """An external Parquet table whose columns, partition keys and projection come from ``schema``.

    The data lives under ``s3://<bucket>/<prefix>`` in Hive-style partitions
    (``year=YYYY/month=MM/day=DD/``). With ``partition_projection`` Athena computes the partitions from the
    table parameters (no crawler, no ``MSCK REPAIR``); without it, something (a crawler) must add them.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        database: glue.CfnDatabase,
        database_name: str,
        schema: EventSchema,
        bucket: s3.IBucket,
        prefix: str,
        partition_projection: bool,
        removal_policy: RemovalPolicy,
        description: str,
        table_name: str | None = None,
    ) -> None:
        """
        :param database: the Glue database (the table depends on it).
        :param database_name: its name.
        :param schema: columns, partition keys and projection ranges.
        :param bucket: bucket holding the data.
        :param prefix: key prefix of the table's data, ending with ``/`` (e.g. ``events/``).
        :param partition_projection: add Athena partition projection parameters.
        :param removal_policy: applied on delete and on replacement.
        :param description: the table's description.
        :param table_name: Default: ``schema.name``.
        """
        super().__init__(scope, construct_id)
        if not prefix.endswith("/") or prefix.startswith("/"):
            raise ValueError(f"EventTable: prefix {prefix!r} must be relative and end with '/'")
        self.schema = schema
        self.location = f"s3://{bucket.bucket_name}/{prefix}"
        parameters: dict[str, str] = {"classification": "parquet", "EXTERNAL": "TRUE"}
        if partition_projection:
            parameters.update(schema.projection_parameters(self.location))
        self.ref = TableRef.of(
            self, database_name=database_name, table_name=table_name or schema.name, location=self.location
        )
        self.table = glue.CfnTable(
            self,
            "Table",
            catalog_id=Aws.ACCOUNT_ID,
            database_name=database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=self.ref.table_name,
                description=description,
                table_type="EXTERNAL_TABLE",
                parameters=parameters,
                partition_keys=[_column(c) for c in schema.glue_partition_keys()],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[_column(c) for c in schema.glue_columns()],
                    location=self.location,
                    input_format=PARQUET_INPUT_FORMAT,
                    output_format=PARQUET_OUTPUT_FORMAT,
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=PARQUET_SERDE, parameters={"serialization.format": "1"}
                    ),
                    stored_as_sub_directories=False,
                ),
            ),
        )
        self.table.node.add_dependency(database)
        self.table.apply_removal_policy(removal_policy)


def _column(column: dict[str, str]) -> glue.CfnTable.ColumnProperty:
    return glue.CfnTable.ColumnProperty(name=column["name"], type=column["type"], comment=column["comment"] or None)


class CatalogEncryption(Construct):
    """The account's Glue Data Catalog encryption settings: metadata and connection passwords encrypted
    with ``key``.

    One per account and region (``AWS::Glue::DataCatalogEncryptionSettings`` is a singleton): exactly one
    stack of the account may own it. Every principal that reads or writes the catalog then also needs
    ``kms:Decrypt`` (readers) or ``kms:Encrypt``/``kms:GenerateDataKey`` (writers) on ``key``.
    """

    def __init__(self, scope: Construct, construct_id: str, *, key: kms.IKey) -> None:
        super().__init__(scope, construct_id)
        self.settings = glue.CfnDataCatalogEncryptionSettings(
            self,
            "Settings",
            catalog_id=Aws.ACCOUNT_ID,
            data_catalog_encryption_settings=glue.CfnDataCatalogEncryptionSettings.DataCatalogEncryptionSettingsProperty(
                encryption_at_rest=glue.CfnDataCatalogEncryptionSettings.EncryptionAtRestProperty(
                    catalog_encryption_mode="SSE-KMS", sse_aws_kms_key_id=key.key_arn
                ),
                connection_password_encryption=glue.CfnDataCatalogEncryptionSettings.ConnectionPasswordEncryptionProperty(
                    return_connection_password_encrypted=True, kms_key_id=key.key_arn
                ),
            ),
        )


class PartitionCrawler(Construct):
    """A Glue crawler that keeps one catalog table's partitions up to date, with encrypted logs.

    * Target: the existing table (catalog target); the declared columns stay the contract: schema changes
      are only logged (``UpdateBehavior``/``DeleteBehavior`` LOG), new partitions inherit the table's schema.
    * Security configuration: S3 SSE-KMS and job-bookmark CSE-KMS with ``data_key``, CloudWatch Logs
      SSE-KMS with ``logs_key`` (whose policy must already let the CloudWatch Logs service use it).
    * Logs: Glue writes to ``/aws-glue/crawlers-role/<role name>-<security configuration name>`` when the
      CloudWatch encryption is on; that log group is created here, encrypted, with a retention.
    * Role: least privilege on the table, its data prefix and the two keys (no AWS managed policy).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        table: EventTable,
        bucket: s3.IBucket,
        prefix: str,
        data_key: kms.IKey,
        logs_key: kms.IKey,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
        schedule: str | None,
    ) -> None:
        """
        :param name: crawler name; also the base of the role and security configuration names.
        :param table: the table whose partitions the crawler maintains.
        :param bucket: and ``prefix``: where the table's data lives (the crawler reads only there).
        :param data_key: key of the bucket and the catalog (decrypt data, write encrypted partitions).
        :param logs_key: key of the crawler's log group.
        :param log_retention_days: retention of the crawler's log group (a CloudWatch Logs retention period).
        :param removal_policy: of the log group.
        :param schedule: Glue cron expression, or ``None`` for on-demand runs only.
        """
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        role_name = f"{name}-crawler"
        security_configuration_name = f"{name}-crawler"
        self.security_configuration = security_configuration(
            self, "SecurityConfiguration", name=security_configuration_name, data_key=data_key, logs_key=logs_key
        )
        # With CloudWatch encryption on, Glue logs a crawler to /aws-glue/crawlers-role<role path><role name>-
        # <security configuration name> (the name AWS samples and the Terraform AWS modules pre-create; the Glue
        # guide does not spell it out). Pre-creating it here gives it the logs key and a retention.
        self.log_group_name = f"/aws-glue/crawlers-role/{role_name}-{security_configuration_name}"
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            log_group_name=self.log_group_name,
            encryption_key=logs_key,
            retention=retention(log_retention_days),
            removal_policy=removal_policy,
        )
        self.role = glue_service_role(
            self,
            name=role_name,
            description=f"Glue crawler {name}: partitions of {table.ref.database_name}.{table.ref.table_name}",
        )
        ref = table.ref
        statements: list[iam.PolicyStatement] = []
        statements.append(
            iam.PolicyStatement(
                sid="CrawlTheTable",
                actions=[
                    "glue:GetDatabase",
                    "glue:GetTable",
                    "glue:UpdateTable",
                    "glue:GetPartition",
                    "glue:GetPartitions",
                    "glue:BatchGetPartition",
                    "glue:CreatePartition",
                    "glue:BatchCreatePartition",
                    "glue:UpdatePartition",
                    "glue:BatchUpdatePartition",
                ],
                resources=ref.arns,
            )
        )
        # Read (and list) only the table's prefix, decrypting via S3 (one helper for every S3 + KMS grant).
        statements.extend(object_read_statements(sid="TableData", bucket=bucket, keys=[data_key], prefixes=[prefix]))
        # Read and write the encrypted catalog with the data key, via Glue.
        statements.append(catalog_key_statement(data_key=data_key, region=stack.region))
        # The "*" after crawlers-role/ admits a role path in the group name, which Glue includes (unverified: the name
        # is not in the Glue guide, see log_group_name above).
        log_groups = log_group_streams_arn(self, f"/aws-glue/crawlers-role/*{role_name}-{security_configuration_name}")
        write_logs = iam.PolicyStatement(
            sid="WriteTheEncryptedLogGroup", actions=list(LOG_WRITE_ACTIONS), resources=[log_groups]
        )
        statements.append(write_logs)
        # The Glue guide asks that the roles passed to crawlers may use the CloudWatch Logs key.
        statements.append(logs_key_statement(logs_key))
        # A customer managed policy, not an inline one (HIPAA/NIST/PCI IAMNoInlinePolicy).
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description=f"Glue crawler {name}: read the table's data and definition, write its partitions and logs",
            statements=statements,
            roles=[self.role],
        )
        bucket_logical_id = stack.resolve(_cfn(bucket).logical_id)
        acknowledge(
            self.policy,
            f"AwsSolutions-IAM5[Resource::<{bucket_logical_id}.Arn>/{prefix}*]",
            "The crawler must read every data object under the table's own prefix; object keys are created by "
            "the writers (partition paths, file names), so object-level access can only be granted by prefix.",
        )
        acknowledge_resource_wildcards(
            self.policy,
            suffixes=[f"{role_name}-{security_configuration_name}:*"],
            reason="Glue names the crawler's log streams itself; CloudWatch Logs authorizes stream writes, "
            "CreateLogGroup and AssociateKmsKey against the group ARN ending in ':*', and the group name may carry "
            "the role path.",
        )
        self.crawler = glue.CfnCrawler(
            self,
            "Crawler",
            name=name,
            role=self.role.role_arn,
            description=f"Adds partitions of {ref.database_name}.{ref.table_name}; never changes its columns.",
            targets=glue.CfnCrawler.TargetsProperty(
                catalog_targets=[
                    glue.CfnCrawler.CatalogTargetProperty(database_name=ref.database_name, tables=[ref.table_name])
                ]
            ),
            schema_change_policy=glue.CfnCrawler.SchemaChangePolicyProperty(
                update_behavior="LOG", delete_behavior="LOG"
            ),
            configuration=json.dumps(
                {"Version": 1.0, "CrawlerOutput": {"Partitions": {"AddOrUpdateBehavior": "InheritFromTable"}}},
                separators=(",", ":"),
                sort_keys=True,
            ),
            crawler_security_configuration=self.security_configuration.ref,
            schedule=glue.CfnCrawler.ScheduleProperty(schedule_expression=schedule) if schedule else None,
        )
        self.crawler.node.add_dependency(table.table)
        self.crawler.node.add_dependency(self.log_group)
        self.crawler.node.add_dependency(self.policy)


def _cfn(bucket: s3.IBucket) -> s3.CfnBucket:
    cfn = bucket.node.default_child
    if not isinstance(cfn, s3.CfnBucket):
        raise TypeError("PartitionCrawler: bucket must be a bucket defined in this app (not imported)")
    return cfn
