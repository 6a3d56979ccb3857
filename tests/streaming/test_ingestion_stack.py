"""Stream and ingestion stacks: encryption, Firehose conversion/partitioning/prefixes, role, Lambda, alarms."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from ml_platform.core import firehose_layout
from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA
from tests.conftest import imports_security_key as _imports_key


def _delivery(platform, env="dev"):
    (stream,) = platform.resources(env, "Ingestion", "AWS::KinesisFirehose::DeliveryStream").values()
    return stream["Properties"]


@pytest.mark.parametrize(("env", "shards"), [("dev", 1), ("prod", 3)])
def test_stream_is_encrypted_with_the_streaming_key_and_sized_from_config(platform, env, shards):
    (stream,) = platform.resources(env, "Stream", "AWS::Kinesis::Stream").values()
    props = stream["Properties"]
    assert props["StreamEncryption"]["EncryptionType"] == "KMS"
    assert _imports_key(props["StreamEncryption"]["KeyId"], "StreamingKey")
    assert props["ShardCount"] == platform.environments[env].streaming.shard_count == shards
    assert props["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert props["RetentionPeriodHours"] == 24


def test_delivery_reads_the_stream_and_converts_with_the_raw_glue_table(platform):
    props = _delivery(platform)
    assert props["DeliveryStreamType"] == "KinesisStreamAsSource"
    s3 = props["ExtendedS3DestinationConfiguration"]
    conversion = s3["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert conversion["InputFormatConfiguration"] == {"Deserializer": {"HiveJsonSerDe": {}}}
    assert conversion["OutputFormatConfiguration"] == {"Serializer": {"ParquetSerDe": {"Compression": "SNAPPY"}}}
    # The schema is the lake's raw table, the same one Athena queries.
    (table,) = [
        t["Properties"]
        for t in platform.resources("dev", "DataLake", "AWS::Glue::Table").values()
        if t["Properties"].get("TableInput", {}).get("Name") == conversion["SchemaConfiguration"]["TableName"]
        and t["Properties"]["DatabaseName"] == conversion["SchemaConfiguration"]["DatabaseName"]
    ]
    assert table["DatabaseName"].endswith("_raw")
    assert conversion["SchemaConfiguration"]["DatabaseName"] == table["DatabaseName"]
    assert conversion["SchemaConfiguration"]["VersionId"] == "LATEST"
    assert s3["CompressionFormat"] == "UNCOMPRESSED"


def test_dynamic_partitioning_uses_the_keys_the_lambda_returns(platform):
    s3 = _delivery(platform)["ExtendedS3DestinationConfiguration"]
    assert s3["DynamicPartitioningConfiguration"] == {"Enabled": True, "RetryOptions": {"DurationInSeconds": 300}}
    assert s3["Prefix"] == (
        "events/year=!{partitionKeyFromLambda:year}/month=!{partitionKeyFromLambda:month}/"
        "day=!{partitionKeyFromLambda:day}/"
    )
    assert s3["Prefix"] == firehose_layout.data_prefix(INGEST_EVENT_SCHEMA.partition_keys)


def test_errors_are_separated_by_kind_and_source_records_are_backed_up(platform):
    s3 = _delivery(platform)["ExtendedS3DestinationConfiguration"]
    assert s3["ErrorOutputPrefix"].startswith("errors/!{firehose:error-output-type}/")
    assert s3["S3BackupMode"] == "Enabled"
    assert s3["S3BackupConfiguration"]["Prefix"].startswith("source-backup/")
    assert s3["S3BackupConfiguration"]["BucketARN"] == s3["BucketARN"]


def test_buffering_encryption_and_error_logging(platform):
    s3 = _delivery(platform)["ExtendedS3DestinationConfiguration"]
    assert s3["BufferingHints"] == {"SizeInMBs": 128, "IntervalInSeconds": 300}
    assert _imports_key(s3["EncryptionConfiguration"]["KMSEncryptionConfig"]["AWSKMSKeyARN"], "DataLakeKey")
    assert s3["CloudWatchLoggingOptions"]["Enabled"] is True
    (log_group,) = [
        g["Properties"]
        for g in platform.resources("dev", "Ingestion", "AWS::Logs::LogGroup").values()
        if g["Properties"]["LogGroupName"].startswith("/aws/kinesisfirehose/")
    ]
    assert _imports_key(log_group["KmsKeyId"], "LogsKey") and log_group["RetentionInDays"] == 365


def test_processor_is_the_transform_lambda(platform):
    (processor,) = _delivery(platform)["ExtendedS3DestinationConfiguration"]["ProcessingConfiguration"]["Processors"]
    params = {p["ParameterName"]: p["ParameterValue"] for p in processor["Parameters"]}
    assert processor["Type"] == "Lambda"
    assert params["LambdaArn"]["Fn::GetAtt"][0].startswith("TransformFunction")
    assert params["BufferSizeInMBs"] == "1" and params["NumberOfRetries"] == "3"


def _role_policy(platform):
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in platform.resources("dev", "Ingestion", "AWS::IAM::ManagedPolicy").values()
        if any(s.get("Sid") == "ReadSourceStream" for s in p["Properties"]["PolicyDocument"]["Statement"])
    ]
    return {s["Sid"]: s for s in policy}


def test_firehose_role_is_least_privilege(platform):
    statements = _role_policy(platform)
    assert set(statements) == {
        "ReadSourceStream",
        "DecryptSourceStream",
        "RawZoneObjects",
        "RawZoneBucket",
        "RawZoneEncrypt",
        "ConversionSchemaDefinition",
        "ConversionSchemaDecryptCatalog",
        "InvokeTransform",
        "WriteDeliveryErrors",
    }
    for statement in statements.values():
        assert statement["Effect"] == "Allow"
        assert "*" not in str(statement["Action"]), statement
        assert statement.get("Resource") != "*", statement
    writes = statements["RawZoneObjects"]["Resource"]
    suffixes = sorted(w["Fn::Join"][1][-1] for w in writes)
    assert suffixes == ["/errors/*", "/events/*", "/source-backup/*"]
    # Regression: with the raw bucket's S3 Bucket Key, S3 asks KMS with the bucket ARN as encryption context, so
    # the data-key grant must admit the bucket ARN (object ARNs alone denied every GenerateDataKey).
    contexts = statements["RawZoneEncrypt"]["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]
    raw_arn = {"Fn::GetStackOutput": statements["RawZoneBucket"]["Resource"]["Fn::GetStackOutput"]}
    assert raw_arn in contexts, contexts
    assert statements["RawZoneEncrypt"]["Condition"]["StringEquals"] == {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    assert sorted(statements["InvokeTransform"]["Action"]) == [
        "lambda:GetFunctionConfiguration",
        "lambda:InvokeFunction",
    ]
    assert statements["DecryptSourceStream"]["Condition"] == {
        "StringEquals": {"kms:ViaService": "kinesis.eu-west-1.amazonaws.com"}
    }


def test_transform_lambda_runs_in_the_vpc_with_the_schema_rules(platform):
    (function,) = platform.resources("dev", "Ingestion", "AWS::Lambda::Function").values()
    props = function["Properties"]
    assert props["Runtime"] == "python3.14"
    assert props["Handler"] == "handler.lambda_handler"
    assert props["ReservedConcurrentExecutions"] == 10
    assert props["Timeout"] == 60 and props["MemorySize"] == 512
    assert len(props["VpcConfig"]["SubnetIds"]) == 2 and props["VpcConfig"]["SecurityGroupIds"]
    env = props["Environment"]["Variables"]
    assert env["EVENT_SCHEMA"] == INGEST_EVENT_SCHEMA.validation_rules_json()
    # Powertools comes from the layer built from the pinned distributions, not a public layer number (regression)
    (layer,) = props["Layers"]
    assert "Ref" in layer and "arn:" not in str(layer)
    (layer_version,) = platform.resources("dev", "Ingestion", "AWS::Lambda::LayerVersion").values()
    assert "aws-lambda-powertools 3.37.0" in layer_version["Properties"]["Description"]


def test_powertools_layer_leaves_out_installation_records():
    # Given the files the layer is built from (and its asset hash computed over)
    from ml_platform.streaming import powertools_layer

    files = powertools_layer._layer_files(powertools_layer.LAYER_DISTRIBUTIONS)
    names = {PurePosixPath(relative).name for relative, _ in files}
    # Then the layer holds the packages and their METADATA but none of the installation records (regression: the
    # layer's asset hash differed between two virtual environments with the same pins)
    assert "METADATA" in names and "__init__.py" in names
    assert not names & {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


ALARM_METRICS = {
    "AWS/Kinesis/GetRecords.IteratorAgeMilliseconds",
    "AWS/Kinesis/WriteProvisionedThroughputExceeded",
    "AWS/Kinesis/ReadProvisionedThroughputExceeded",
    "AWS/Firehose/DeliveryToS3.DataFreshness",
    "AWS/Firehose/DeliveryToS3.Success",
    "AWS/Firehose/ExecuteProcessing.Success",
    "AWS/Firehose/FailedConversion.Records",
    "AWS/Lambda/Errors",
    "AWS/Lambda/Throttles",
}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_ingestion_alarms_cover_every_signal_and_notify_the_topic(platform, env):
    alarms = platform.resources(env, "Ingestion", "AWS::CloudWatch::Alarm").values()
    metrics = {f"{a['Properties']['Namespace']}/{a['Properties']['MetricName']}" for a in alarms}
    assert metrics == ALARM_METRICS
    for alarm in alarms:
        props = alarm["Properties"]
        assert props["AlarmDescription"] and props["TreatMissingData"] == "notBreaching"
        assert len(props["AlarmActions"]) == 1 and "AlarmTopic" in str(props["AlarmActions"])


@pytest.mark.parametrize(("env", "iterator_age_ms"), [("dev", 3_600_000), ("prod", 300_000)])
def test_alarm_thresholds_follow_the_stage_and_the_buffer(platform, env, iterator_age_ms):
    by_metric = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in platform.resources(env, "Ingestion", "AWS::CloudWatch::Alarm").values()
    }
    assert by_metric["GetRecords.IteratorAgeMilliseconds"]["Threshold"] == iterator_age_ms
    assert by_metric["DeliveryToS3.DataFreshness"]["Threshold"] == 2 * 300 + 300
    assert by_metric["DeliveryToS3.Success"]["ComparisonOperator"] == "LessThanThreshold"


def test_transform_role_has_no_aws_managed_or_inline_policy(platform):
    (role,) = [
        r["Properties"]
        for r in platform.resources("dev", "Ingestion", "AWS::IAM::Role").values()
        if "lambda.amazonaws.com" in str(r["Properties"]["AssumeRolePolicyDocument"])
    ]
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    assert platform.resources("dev", "Ingestion", "AWS::IAM::Policy") == {}
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in platform.resources("dev", "Ingestion", "AWS::IAM::ManagedPolicy").values()
        if any(s.get("Sid") == "AttachToVpc" for s in p["Properties"]["PolicyDocument"]["Statement"])
    ]
    by_sid = {s["Sid"]: s for s in policy}
    assert set(by_sid) == {"WriteOwnLogs", "AttachToVpc", "WriteTraces"}
    resource = by_sid["WriteOwnLogs"]["Resource"]
    flat = "".join(part if isinstance(part, str) else f"<{part.get('Ref')}>" for part in resource["Fn::Join"][1])
    assert flat.startswith("arn:aws:logs:eu-west-1:111111111111:log-group:<TransformLogs")
    assert flat.endswith(">:log-stream:*")
