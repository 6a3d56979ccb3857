"""The curated Apache Iceberg table in the Glue Data Catalog and its table optimizers."""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_platform.core.curation import iceberg_fields, iceberg_partition_fields, iceberg_table_name
from ml_platform.core.schema import EventSchema
from ml_platform.lake.config.curation import TableOptimizerConfig
from ml_platform.lake.glue_security import (
    LOG_WRITE_ACTIONS,
    catalog_key_statement,
    glue_service_role,
    log_group_streams_arn,
)
from ml_platform.shared.compliance import acknowledge_resource_wildcards
from ml_platform.shared.lake_access import TableRef, object_read_statements, object_write_statements

# Iceberg table properties (Iceberg configuration reference, "Write properties"): Parquet data files, compressed
# with zstd, a codec Glue's compaction supports ("Considerations and limitations", table optimizers).
TABLE_PROPERTIES: dict[str, str] = {"write.format.default": "parquet", "write.parquet.compression-codec": "zstd"}
# Log groups the Glue table optimizers write to; fixed, account-wide names ("Table optimization prerequisites", AWS
# Glue Developer Guide, https://docs.aws.amazon.com/glue/latest/dg/optimization-prerequisites.html).
OPTIMIZER_LOG_GROUPS: dict[str, str] = {
    "compaction": "/aws-glue/iceberg-compaction/logs",
    "retention": "/aws-glue/iceberg-retention/logs",
    "orphan_file_deletion": "/aws-glue/iceberg-orphan-file-deletion/logs",
}


class IcebergTable(Construct):
    """An Iceberg (format version 2) table whose schema and hidden partitioning come from ``schema``
    (``ml_platform.core.curation``), at ``s3://<bucket>/<name>/``, named ``<schema name>_v<version>``.

    CloudFormation creates it (``OpenTableFormatInput``, metadata operation CREATE) and cannot change it: the input
    is write-only, and an update through the table input drops the Iceberg metadata (cloudformation-coverage-roadmap
    #1919, #2495). So the name carries the schema version, and a test pins the table's definition per name.
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
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = iceberg_table_name(schema)
        self.prefix = f"{self.name}/"
        self.location = f"s3://{bucket.bucket_name}/{self.prefix}"
        self.ref = TableRef.of(self, database_name=database_name, table_name=self.name, location=self.location)
        table_input = glue.CfnTable.IcebergTableInputProperty(
            location=self.location,
            schema=glue.CfnTable.IcebergSchemaProperty(
                fields=[
                    glue.CfnTable.IcebergStructFieldProperty(
                        id=f["id"], name=f["name"], type=f["type"], required=f["required"], doc=f["doc"] or None
                    )
                    for f in iceberg_fields(schema)
                ]
            ),
            partition_spec=glue.CfnTable.IcebergPartitionSpecProperty(
                fields=[
                    glue.CfnTable.IcebergPartitionFieldProperty(
                        source_id=f["source_id"], transform=f["transform"], name=f["name"], field_id=f["field_id"]
                    )
                    for f in iceberg_partition_fields(schema)
                ]
            ),
            properties=TABLE_PROPERTIES,
        )
        # Athena reads and writes Iceberg format version 2 ("Query Apache Iceberg tables", Athena User Guide).
        self.table = glue.CfnTable(
            self,
            "Table",
            catalog_id=Aws.ACCOUNT_ID,
            database_name=database_name,
            name=self.name,
            open_table_format_input=glue.CfnTable.OpenTableFormatInputProperty(
                iceberg_input=glue.CfnTable.IcebergInputProperty(
                    metadata_operation="CREATE", version="2", iceberg_table_input=table_input
                )
            ),
        )
        self.table.node.add_dependency(database)
        self.table.apply_removal_policy(removal_policy)


class TableOptimizers(Construct):
    """Compaction, snapshot retention and orphan file deletion of one Iceberg table (``AWS::Glue::TableOptimizer``,
    one per kind), run by Glue with one role: read, write and delete under the table's prefix, read and update the
    table, write the optimizers' logs ("Table optimization prerequisites", AWS Glue Developer Guide)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        table: IcebergTable,
        bucket: s3.IBucket,
        data_key: kms.IKey,
        config: TableOptimizerConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        kinds = [
            kind
            for kind, on in (
                ("compaction", config.compaction),
                ("retention", config.snapshot_retention_days is not None),
                ("orphan_file_deletion", config.orphan_file_retention_days is not None),
            )
            if on
        ]
        self.optimizers: dict[str, glue.CfnTableOptimizer] = {}
        if not kinds:
            return
        self.role = glue_service_role(
            self, name=name, description=f"Glue table optimizers of {table.ref.database_name}.{table.name}"
        )
        statements = [
            iam.PolicyStatement(
                sid="ReadAndCommitTheTable", actions=["glue:GetTable", "glue:UpdateTable"], resources=table.ref.arns
            ),
            catalog_key_statement(data_key=data_key, region=stack.region),
            *object_read_statements(sid="TableFiles", bucket=bucket, keys=[data_key], prefixes=[table.prefix]),
            *object_write_statements(
                sid="RewriteTableFiles", bucket=bucket, keys=[data_key], prefixes=[table.prefix], delete=True
            ),
            iam.PolicyStatement(
                sid="WriteTheOptimizerLogs",
                actions=list(LOG_WRITE_ACTIONS),
                resources=[log_group_streams_arn(self, OPTIMIZER_LOG_GROUPS[kind]) for kind in kinds],
            ),
        ]
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description=f"Glue table optimizers of {table.name}: rewrite and expire its files, commit, write logs",
            statements=statements,
            roles=[self.role],
        )
        acknowledge_resource_wildcards(
            self.policy,
            suffixes=[f"/{table.prefix}*", "/logs:*"],
            reason="Compaction writes new data files and expiry deletes files whose names Iceberg generates, all "
            "under the table's own prefix; CloudWatch Logs authorizes stream writes against the optimizer log "
            "group's ARN ending in ':*' (Glue names the streams).",
        )
        iceberg = glue.CfnTableOptimizer
        configurations = {
            "compaction": {
                "compaction_configuration": iceberg.CompactionConfigurationProperty(
                    iceberg_configuration=iceberg.IcebergCompactionConfigurationProperty(strategy="binpack")
                )
            },
            "retention": {
                "retention_configuration": iceberg.RetentionConfigurationProperty(
                    iceberg_configuration=iceberg.IcebergRetentionConfigurationProperty(
                        snapshot_retention_period_in_days=config.snapshot_retention_days,
                        number_of_snapshots_to_retain=config.snapshots_to_retain,
                        clean_expired_files=True,
                    )
                )
            },
            "orphan_file_deletion": {
                "orphan_file_deletion_configuration": iceberg.OrphanFileDeletionConfigurationProperty(
                    iceberg_configuration=iceberg.IcebergConfigurationProperty(
                        orphan_file_retention_period_in_days=config.orphan_file_retention_days,
                        location=table.location,
                    )
                )
            },
        }
        for kind in kinds:
            optimizer = glue.CfnTableOptimizer(
                self,
                "".join(part.capitalize() for part in kind.split("_")),
                catalog_id=Aws.ACCOUNT_ID,
                database_name=table.ref.database_name,
                table_name=table.name,
                type=kind,
                table_optimizer_configuration=iceberg.TableOptimizerConfigurationProperty(
                    enabled=True, role_arn=self.role.role_arn, **configurations[kind]
                ),
            )
            optimizer.node.add_dependency(table.table, self.policy)
            self.optimizers[kind] = optimizer
