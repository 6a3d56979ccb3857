"""The streaming component's stacks: the stateful ingest stream, and the stateless delivery from it into the
raw zone (Firehose with the transform Lambda, Parquet from the raw Glue table, dynamic partitions) with its alarms.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA
from ml_platform.shared.dashboard import DashboardSection, graph
from ml_platform.shared.lake_access import TableRef
from ml_platform.shared.stack import PlatformStack
from ml_platform.streaming.alarms import IngestionAlarms
from ml_platform.streaming.constructs import EncryptedStream, TransformFunction
from ml_platform.streaming.delivery import DeliveryToLake


class StreamStack(PlatformStack):
    """The ingest stream, encrypted with the streaming key; provisioned shards are computed from config."""

    def __init__(self, scope: Construct, construct_id: str, *, encryption_key: kms.IKey, **kwargs: Any) -> None:
        """:param encryption_key: the environment's streaming key (the stream and Firehose's buffers)."""
        super().__init__(scope, construct_id, description="Kinesis ingest stream", **kwargs)
        streaming = self.config.streaming
        self.stream = EncryptedStream(
            self,
            "IngestStream",
            stream_name=f"{self.name_prefix}-ingest",
            encryption_key=encryption_key,
            shard_count=streaming.shard_count,
            retention_hours=streaming.retention_hours,
            removal_policy=self.stateful_removal_policy,
        ).stream


class IngestionStack(PlatformStack):
    """Kinesis → Firehose (Lambda transform, Parquet from the raw Glue table, dynamic partitions) → raw zone."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source_stream: kinesis.IStream,
        source_key: kms.IKey,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        raw_bucket: s3.IBucket,
        lake_key: kms.IKey,
        raw_table: TableRef,
        catalog_key: kms.IKey | None,
        logs_key: kms.IKey,
        alarm_topic: sns.ITopic,
        **kwargs: Any,
    ) -> None:
        """
        :param source_stream: the ingest stream (StreamStack.stream) and ``source_key``, its key.
        :param vpc: the environment's VPC; the transform Lambda runs in ``subnets`` with ``security_group``.
        :param raw_bucket: the raw zone, encrypted with ``lake_key``; Firehose writes there.
        :param raw_table: the raw Glue table (Firehose reads its schema to write Parquet); ``catalog_key``
            encrypts the Data Catalog, None when the catalog is not encrypted by this environment.
        :param logs_key: the key of the Lambda's and Firehose's log groups.
        :param alarm_topic: where the ingestion alarms go.
        """
        super().__init__(scope, construct_id, description="Firehose delivery, transform Lambda, alarms", **kwargs)
        self.source_stream = source_stream
        config = self.config
        streaming = config.streaming
        schema = INGEST_EVENT_SCHEMA
        transform = TransformFunction(
            self,
            "Transform",
            function_name=f"{self.name_prefix}-ingest-transform",
            schema_rules_json=schema.validation_rules_json(),
            vpc=vpc,
            subnets=subnets,
            security_groups=[security_group],
            logs_key=logs_key,
            log_retention_days=config.resolved_log_retention_days,
            memory_mib=streaming.lambda_memory_mib,
            timeout_seconds=streaming.lambda_timeout_seconds,
            reserved_concurrency=streaming.lambda_reserved_concurrency,
            removal_policy=self.stateful_removal_policy,
        ).function
        self.transform = transform
        delivery = DeliveryToLake(
            self,
            "Delivery",
            delivery_stream_name=f"{self.name_prefix}-ingest-to-raw",
            source_stream=source_stream,
            source_key=source_key,
            bucket=raw_bucket,
            bucket_key=lake_key,
            table=raw_table,
            catalog_key=catalog_key,
            partition_keys=schema.partition_keys,
            transform=transform,
            logs_key=logs_key,
            log_retention_days=config.resolved_log_retention_days,
            buffer_size_mib=streaming.buffer_size_mib,
            buffer_interval_seconds=streaming.buffer_interval_seconds,
            processor_buffer_size_mb=streaming.processor_buffer_size_mb,
            processor_buffer_interval_seconds=streaming.processor_buffer_interval_seconds,
            dynamic_partitioning_retry_seconds=streaming.dynamic_partitioning_retry_seconds,
            removal_policy=self.stateful_removal_policy,
        )
        self.delivery = delivery
        self.alarms = IngestionAlarms(
            self,
            "Alarms",
            stream=source_stream,
            delivery_stream_name=delivery.delivery_stream_name,
            transform=transform,
            topic=alarm_topic,
            iterator_age_threshold_seconds=streaming.iterator_age_threshold_seconds(config.stage),
            data_freshness_threshold_seconds=streaming.data_freshness_threshold_seconds,
            lambda_errors_threshold=streaming.alarms.lambda_errors_per_5_minutes,
        ).alarms

    @property
    def critical_alarms(self) -> list[cloudwatch.IAlarm]:
        """Alarms that mean data is late or lost: they feed the platform health alarm."""
        return [self.alarms[name] for name in ("StreamIteratorAge", "DeliveryFreshness", "ProcessingSuccess")]

    def dashboard_section(self) -> DashboardSection:
        """Ingestion widgets: stream in/out and lag, Firehose delivery, transform Lambda."""
        period = Duration.minutes(5)
        stream = self.source_stream
        name = self.delivery.delivery_stream_name

        def firehose(metric: str, statistic: str = "Average") -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/Firehose",
                metric_name=metric,
                statistic=statistic,
                period=period,
                dimensions_map={"DeliveryStreamName": name},
            )

        return DashboardSection(
            title="Ingestion",
            rows=[
                [
                    graph(
                        "Stream incoming records / bytes",
                        [stream.metric_incoming_records(period=period)],
                        right=[stream.metric_incoming_bytes(period=period)],
                    ),
                    graph(
                        "Stream iterator age (ms)",
                        [stream.metric_get_records_iterator_age_milliseconds(statistic="Maximum", period=period)],
                    ),
                    graph(
                        "Stream throttles",
                        [
                            stream.metric_write_provisioned_throughput_exceeded(statistic="Sum", period=period),
                            stream.metric_read_provisioned_throughput_exceeded(statistic="Sum", period=period),
                        ],
                    ),
                ],
                [
                    graph("Firehose freshness (s)", [firehose("DeliveryToS3.DataFreshness", "Maximum")]),
                    graph(
                        "Firehose success ratios",
                        [
                            firehose("DeliveryToS3.Success"),
                            firehose("ExecuteProcessing.Success"),
                            firehose("SucceedConversion.Records", "Sum"),
                        ],
                        right=[firehose("FailedConversion.Records", "Sum")],
                    ),
                    graph(
                        "Transform Lambda",
                        [
                            self.transform.metric_invocations(period=period),
                            self.transform.metric_errors(period=period),
                            self.transform.metric_throttles(period=period),
                        ],
                        right=[self.transform.metric_duration(statistic="p99", period=period)],
                    ),
                ],
            ],
        )
