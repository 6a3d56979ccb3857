"""Firehose delivery from the ingest stream into the raw zone: Lambda transform, Parquet conversion from the raw Glue
table, dynamic partitions, errors and a source backup, each under its own prefix of the raw bucket."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Aws, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_platform.core import firehose_layout
from ml_platform.shared.compliance import acknowledge_finding, acknowledge_resource_wildcards
from ml_platform.shared.lake_access import TableRef, object_write_statements, table_read_statements
from ml_platform.shared.log_retention import retention

DELIVERY_LOG_STREAM = "DestinationDelivery"
BACKUP_LOG_STREAM = "BackupDelivery"


class DeliveryToLake(Construct):
    """Kinesis-sourced Firehose delivery stream into the raw zone: Lambda transform, JSON → Parquet
    (Snappy) from the Glue table, dynamic partitioning by the keys the Lambda returns, separated error
    prefixes, source-record backup and CloudWatch error logging, with a least-privilege role."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        delivery_stream_name: str,
        source_stream: kinesis.IStream,
        source_key: kms.IKey,
        bucket: s3.IBucket,
        bucket_key: kms.IKey,
        table: TableRef,
        catalog_key: kms.IKey | None,
        partition_keys: Sequence[str],
        transform: lambda_.IFunction,
        logs_key: kms.IKey,
        log_retention_days: int,
        buffer_size_mib: int,
        buffer_interval_seconds: int,
        processor_buffer_size_mb: float,
        processor_buffer_interval_seconds: int,
        dynamic_partitioning_retry_seconds: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        """
        :param bucket_key: the key objects are written with (the bucket policy accepts no other).
        :param table: the Glue table whose schema the Parquet conversion reads.
        :param catalog_key: the key of the encrypted Data Catalog, or None when the catalog is not encrypted.
        :param partition_keys: keys the transform returns in ``metadata.partitionKeys``, in path order.
        """
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/kinesisfirehose/{delivery_stream_name}",
            encryption_key=logs_key,
            retention=retention(log_retention_days),
            removal_policy=removal_policy,
        )
        delivery_log_stream = self.log_group.add_stream("DestinationDelivery", log_stream_name=DELIVERY_LOG_STREAM)
        backup_log_stream = self.log_group.add_stream("BackupDelivery", log_stream_name=BACKUP_LOG_STREAM)

        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": Aws.ACCOUNT_ID}}
            ),
            description=f"Firehose {delivery_stream_name}: read the stream, transform, convert, write the raw zone",
        )
        prefixes = (firehose_layout.DATA_ROOT, firehose_layout.ERROR_ROOT, firehose_layout.BACKUP_ROOT)
        statements = [
            iam.PolicyStatement(
                sid="ReadSourceStream",
                actions=[
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:GetShardIterator",
                    "kinesis:GetRecords",
                    "kinesis:ListShards",
                ],
                resources=[source_stream.stream_arn],
            ),
            iam.PolicyStatement(
                sid="DecryptSourceStream",
                actions=["kms:Decrypt"],
                resources=[source_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"kinesis.{stack.region}.amazonaws.com"}},
            ),
            # Its three prefixes of the raw zone (Firehose's S3 destination grant: write, read back, list), with
            # the lake key's data keys for objects of this bucket (S3 Bucket Key context: the bucket ARN).
            *object_write_statements(
                sid="RawZone",
                bucket=bucket,
                keys=[bucket_key],
                prefixes=[f"{prefix}/" for prefix in prefixes],
                read_back=True,
            ),
            *table_read_statements(sid="ConversionSchema", table=table, catalog_key=catalog_key),
            iam.PolicyStatement(
                sid="InvokeTransform",
                actions=["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"],
                resources=[transform.function_arn],
            ),
            iam.PolicyStatement(
                sid="WriteDeliveryErrors",
                actions=["logs:PutLogEvents"],
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=f"{self.log_group.log_group_name}:log-stream:{log_stream}",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for log_stream in (DELIVERY_LOG_STREAM, BACKUP_LOG_STREAM)
                ],
            ),
        ]
        policy = iam.ManagedPolicy(self, "Policy", statements=statements, roles=[self.role])
        acknowledge_resource_wildcards(
            policy,
            matches=lambda resource: resource.endswith(tuple(f"/{prefix}/*" for prefix in prefixes)),
            reason="Firehose generates object keys at delivery time (partition values, arrival time, random suffix); "
            "the wildcard is limited to this delivery stream's own prefixes in the raw bucket.",
        )

        buffering = firehose.CfnDeliveryStream.BufferingHintsProperty(
            size_in_m_bs=buffer_size_mib, interval_in_seconds=buffer_interval_seconds
        )
        encryption = firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
            kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                awskms_key_arn=bucket_key.key_arn
            )
        )
        self.delivery_stream = firehose.CfnDeliveryStream(
            self,
            "DeliveryStream",
            delivery_stream_name=delivery_stream_name,
            delivery_stream_type="KinesisStreamAsSource",
            kinesis_stream_source_configuration=firehose.CfnDeliveryStream.KinesisStreamSourceConfigurationProperty(
                kinesis_stream_arn=source_stream.stream_arn, role_arn=self.role.role_arn
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=bucket.bucket_arn,
                role_arn=self.role.role_arn,
                prefix=firehose_layout.data_prefix(partition_keys),
                error_output_prefix=firehose_layout.error_output_prefix(),
                buffering_hints=buffering,
                # Parquet compresses its own pages (Snappy below); the file-level compression must be off.
                compression_format="UNCOMPRESSED",
                encryption_configuration=encryption,
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=self.log_group.log_group_name,
                    log_stream_name=delivery_log_stream.log_stream_name,
                ),
                processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[
                        firehose.CfnDeliveryStream.ProcessorProperty(
                            type="Lambda",
                            parameters=[
                                _param("LambdaArn", transform.function_arn),
                                _param("NumberOfRetries", "3"),
                                _param("BufferSizeInMBs", _number(processor_buffer_size_mb)),
                                _param("BufferIntervalInSeconds", str(processor_buffer_interval_seconds)),
                            ],
                        )
                    ],
                ),
                dynamic_partitioning_configuration=firehose.CfnDeliveryStream.DynamicPartitioningConfigurationProperty(
                    enabled=True,
                    retry_options=firehose.CfnDeliveryStream.RetryOptionsProperty(
                        duration_in_seconds=dynamic_partitioning_retry_seconds
                    ),
                ),
                data_format_conversion_configuration=firehose.CfnDeliveryStream.DataFormatConversionConfigurationProperty(
                    enabled=True,
                    input_format_configuration=firehose.CfnDeliveryStream.InputFormatConfigurationProperty(
                        deserializer=firehose.CfnDeliveryStream.DeserializerProperty(
                            hive_json_ser_de=firehose.CfnDeliveryStream.HiveJsonSerDeProperty()
                        )
                    ),
                    output_format_configuration=firehose.CfnDeliveryStream.OutputFormatConfigurationProperty(
                        serializer=firehose.CfnDeliveryStream.SerializerProperty(
                            parquet_ser_de=firehose.CfnDeliveryStream.ParquetSerDeProperty(compression="SNAPPY")
                        )
                    ),
                    schema_configuration=firehose.CfnDeliveryStream.SchemaConfigurationProperty(
                        catalog_id=Aws.ACCOUNT_ID,
                        database_name=table.database_name,
                        table_name=table.table_name,
                        region=stack.region,
                        role_arn=self.role.role_arn,
                        version_id="LATEST",
                    ),
                ),
                s3_backup_mode="Enabled",
                s3_backup_configuration=firehose.CfnDeliveryStream.S3DestinationConfigurationProperty(
                    bucket_arn=bucket.bucket_arn,
                    role_arn=self.role.role_arn,
                    prefix=firehose_layout.backup_prefix(),
                    error_output_prefix=firehose_layout.error_output_prefix(),
                    buffering_hints=buffering,
                    compression_format="GZIP",
                    encryption_configuration=encryption,
                    cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                        enabled=True,
                        log_group_name=self.log_group.log_group_name,
                        log_stream_name=backup_log_stream.log_stream_name,
                    ),
                ),
            ),
        )
        # Firehose validates its role when the stream is created: the policy must exist first.
        self.delivery_stream.node.add_dependency(policy)
        self.delivery_stream_name = delivery_stream_name
        no_sse_reason = (
            "Firehose server-side encryption cannot be enabled on a delivery stream whose source is a Kinesis "
            "data stream (DeliveryStreamEncryptionConfigurationInput is rejected for KinesisStreamAsSource); "
            "records are encrypted at rest by the source stream's CMK and in S3 by the lake CMK."
        )
        acknowledge_finding(self.delivery_stream, "KinesisDataFirehoseSSE", reason=no_sse_reason)


def _param(name: str, value: str) -> firehose.CfnDeliveryStream.ProcessorParameterProperty:
    return firehose.CfnDeliveryStream.ProcessorParameterProperty(parameter_name=name, parameter_value=value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
