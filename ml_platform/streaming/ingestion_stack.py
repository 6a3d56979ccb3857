"""Stateless: Firehose delivery from the stream into the raw zone, the transform Lambda, their alarms."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA
from ml_platform.lake.stack import DataLakeStack
from ml_platform.monitoring.constructs import DashboardSection, graph
from ml_platform.network.stack import NetworkStack
from ml_platform.security.stack import SecurityStack
from ml_platform.shared.stack import PlatformStack
from ml_platform.streaming.alarms import IngestionAlarms
from ml_platform.streaming.constructs import DeliveryToLake, TransformFunction
from ml_platform.streaming.stream_stack import StreamStack


class IngestionStack(PlatformStack):
    """Kinesis → Firehose (Lambda transform, Parquet from the raw Glue table, dynamic partitions) → raw zone."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        security: SecurityStack,
        network: NetworkStack,
        data_lake: DataLakeStack,
        stream: StreamStack,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, description="Firehose delivery, transform Lambda, alarms", **kwargs)
        self.source_stream = stream.stream
        config = self.config
        streaming = config.streaming
        schema = INGEST_EVENT_SCHEMA
        transform = TransformFunction(
            self,
            "Transform",
            function_name=f"{self.name_prefix}-ingest-transform",
            schema_rules_json=schema.validation_rules_json(),
            vpc=network.vpc,
            subnets=network.isolated_subnets,
            security_groups=[network.workload_security_group],
            logs_key=security.logs_key,
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
            source_stream=stream.stream,
            source_key=security.streaming_key,
            bucket=data_lake.raw_bucket,
            bucket_key=security.data_lake_key,
            table=data_lake.raw_table,
            catalog_key=data_lake.catalog_key,
            partition_keys=schema.partition_keys,
            transform=transform,
            logs_key=security.logs_key,
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
            stream=stream.stream,
            delivery_stream_name=delivery.delivery_stream_name,
            transform=transform,
            topic=security.alarm_topic,
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
