"""Alarms of the ingestion path: stream, delivery stream and transform Lambda."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_platform.shared.alarms import notifying_alarm

GT = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
LT = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD
NOT_BREACHING = cloudwatch.TreatMissingData.NOT_BREACHING
FIVE_MINUTES = Duration.minutes(5)


class IngestionAlarms(Construct):
    """Iterator age, throughput exceeded, delivery freshness/success, processing success, conversion
    failures, transform errors and throttles, all to the alarm topic.

    Missing data is treated as not breaching throughout: these metrics are only emitted while records flow,
    and an idle stream is healthy. Silence of producers is a business signal, not an ingestion fault.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stream: kinesis.IStream,
        delivery_stream_name: str,
        transform: lambda_.IFunction,
        topic: sns.ITopic,
        iterator_age_threshold_seconds: int,
        data_freshness_threshold_seconds: int,
        lambda_errors_threshold: int,
    ) -> None:
        super().__init__(scope, construct_id)

        def firehose_metric(name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/Firehose",
                metric_name=name,
                dimensions_map={"DeliveryStreamName": delivery_stream_name},
                statistic=statistic,
                period=FIVE_MINUTES,
            )

        self.alarms: dict[str, cloudwatch.Alarm] = {}
        specs = [
            (
                "StreamIteratorAge",
                stream.metric_get_records_iterator_age_milliseconds(statistic="Maximum", period=FIVE_MINUTES),
                iterator_age_threshold_seconds * 1000,
                GT,
                3,
                "Consumers fall behind the stream (GetRecords.IteratorAgeMilliseconds). Check the Firehose delivery "
                "and transform alarms; if records near the retention period they will be lost: add shards or "
                "raise retention.",
            ),
            (
                "StreamWriteThrottled",
                stream.metric_write_provisioned_throughput_exceeded(statistic="Sum", period=FIVE_MINUTES),
                0,
                GT,
                1,
                "Producers are throttled (WriteProvisionedThroughputExceeded): they must retry with backoff. "
                "Add shards (capacity in config) or fix a hot partition key.",
            ),
            (
                "StreamReadThrottled",
                stream.metric_read_provisioned_throughput_exceeded(statistic="Sum", period=FIVE_MINUTES),
                0,
                GT,
                3,
                "Consumers exceed 2 MB/s per shard (ReadProvisionedThroughputExceeded). Reduce classic consumers, "
                "use enhanced fan-out, or add shards.",
            ),
            (
                "DeliveryFreshness",
                firehose_metric("DeliveryToS3.DataFreshness", "Maximum"),
                data_freshness_threshold_seconds,
                GT,
                1,
                "Records wait too long to reach S3 (DeliveryToS3.DataFreshness). Check the delivery stream's "
                "error log group, S3/KMS permissions and the transform Lambda.",
            ),
            (
                "DeliverySuccess",
                firehose_metric("DeliveryToS3.Success", "Average"),
                1,
                LT,
                1,
                "Some S3 deliveries fail (DeliveryToS3.Success < 1); Firehose retries. Check the error log "
                "group for S3 or KMS access errors.",
            ),
            (
                "ProcessingSuccess",
                firehose_metric("ExecuteProcessing.Success", "Average"),
                1,
                LT,
                1,
                "Transform invocations fail (ExecuteProcessing.Success < 1). Records go to errors/processing-failed/; "
                "check the transform Lambda's logs and errors alarm.",
            ),
            (
                "ConversionFailures",
                firehose_metric("FailedConversion.Records", "Sum"),
                0,
                GT,
                1,
                "Records failed Parquet conversion (FailedConversion.Records) and were written to "
                "errors/format-conversion-failed/. Compare them with the Glue table schema.",
            ),
            (
                "TransformErrors",
                transform.metric_errors(statistic="Sum", period=FIVE_MINUTES),
                lambda_errors_threshold - 1,
                GT,
                1,
                "The transform Lambda raised errors; Firehose retries, then writes the batch to "
                "errors/processing-failed/. Read the function's log group.",
            ),
            (
                "TransformThrottles",
                transform.metric_throttles(statistic="Sum", period=FIVE_MINUTES),
                0,
                GT,
                1,
                "The transform Lambda is throttled at its reserved concurrency; raise "
                "streaming.lambda_reserved_concurrency or the processor buffer size.",
            ),
        ]
        for name, metric, threshold, comparison, periods, runbook in specs:
            self.alarms[name] = notifying_alarm(
                self,
                name,
                metric=metric,
                threshold=threshold,
                comparison=comparison,
                evaluation_periods=periods,
                treat_missing_data=NOT_BREACHING,
                runbook=runbook,
                topic=topic,
            )
