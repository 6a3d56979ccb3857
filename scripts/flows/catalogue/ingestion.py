"""Kinesis → Firehose (Lambda transform, Parquet conversion from the Glue table) → the raw zone.

Firehose acts with its role (Amazon Data Firehose developer guide, "Grant Firehose access to an Amazon S3
destination"): it reads the stream (Kinesis decrypts with the streaming key, ``kms:ViaService`` kinesis), reads
the conversion schema from Glue (decrypting the catalog with the lake key via Glue), invokes the transform, and
puts objects with SSE-KMS headers naming the lake key under its three prefixes, for which S3 asks KMS for data
keys on its behalf.
"""

from __future__ import annotations

from ml_platform.core import firehose_layout
from scripts.flows.catalogue.base import OTHER_ACCOUNT, Environment
from scripts.flows.catalogue.context import kms_via, kms_via_s3, s3_object, sse_kms
from scripts.flows.templates import PARTITION

PREFIXES = {
    "data": f"{firehose_layout.DATA_ROOT}/year=2026/month=11/day=30/part-0001.parquet",
    "errors": f"{firehose_layout.ERROR_ROOT}/processing-failed/2026/11/30/part-0001",
    "backup": f"{firehose_layout.BACKUP_ROOT}/2026/11/30/part-0001.gz",
}


def add(env: Environment) -> None:
    component = "firehose"
    role = env.role("Ingestion", "DeliveryRole")
    stream = env.attribute("Stream", "AWS::Kinesis::Stream", "IngestStream")
    streaming_key = env.key_arn("StreamingKey")
    lake_key = env.key_arn("DataLakeKey")
    raw = env.bucket("raw")
    transform = env.attribute("Ingestion", "AWS::Lambda::Function", "TransformFunction")
    env.assumed_by(
        component,
        "firehose.amazonaws.com",
        role,
        description="Firehose assumes its role (the external id is the account id)",
        context={"sts:ExternalId": env.account},
    )
    env.service_request(
        component,
        "assume-role-for-another-account",
        "firehose.amazonaws.com",
        "sts:AssumeRole",
        role.arn,
        expected="deny",
        description="Firehose acting for another account (another external id) cannot assume it",
        context={"sts:ExternalId": OTHER_ACCOUNT},
    )
    reads = ("kinesis:DescribeStreamSummary", "kinesis:ListShards", "kinesis:GetShardIterator", "kinesis:GetRecords")
    env.role_allows(component, role, [(a, stream) for a in reads], description="Firehose reads the ingest stream")
    env.role_request(
        component,
        "decrypt-stream",
        role,
        "kms:Decrypt",
        streaming_key,
        expected="allow",
        description="Kinesis decrypts the stream's records for Firehose",
        context=kms_via(env, "kinesis"),
    )
    database = f"{env.prefix}_raw".replace("-", "_")
    glue = f"arn:{PARTITION}:glue:{env.region}:{env.account}"
    table = f"{glue}:table/{database}/ingest_events"
    env.role_allows(
        component,
        role,
        [(a, table) for a in ("glue:GetTable", "glue:GetTableVersions")],
        description="Firehose reads the Parquet conversion schema from the raw table",
    )
    if env.config.data_lake.catalog_encryption:
        env.decrypts_catalog(
            component, role, description="Glue decrypts the encrypted catalog's table definition for Firehose"
        )
    env.role_allows(
        component,
        role,
        [(a, transform) for a in ("lambda:InvokeFunction", "lambda:GetFunctionConfiguration")],
        description="Firehose invokes the transform Lambda",
    )
    for name, key in PREFIXES.items():
        env.role_request(
            component,
            f"put-{name}",
            role,
            "s3:PutObject",
            s3_object(raw, key),
            expected="allow",
            description=f"Firehose writes {name} objects with SSE-KMS (lake key)",
            context=sse_kms(lake_key),
        )
        env.role_request(
            component,
            f"data-key-{name}",
            role,
            "kms:GenerateDataKey",
            lake_key,
            expected="allow",
            description=f"S3 generates the data key of Firehose's {name} object (S3 Bucket Key context)",
            context=kms_via_s3(env, raw, key),
        )
    env.s3_decrypts(
        component,
        "multipart-decrypt",
        role,
        lake_key,
        raw,
        PREFIXES["data"],
        description="S3 decrypts the data key to complete Firehose's multipart uploads",
    )
    delivery_group = env.view("Ingestion").resolve(
        {"Ref": env.logical_id("Ingestion", "AWS::Logs::LogGroup", "DeliveryLogs")}
    )
    for stream_name in ("DestinationDelivery", "BackupDelivery"):
        env.role_request(
            component,
            f"log-{stream_name}",
            role,
            "logs:PutLogEvents",
            f"{env.log_group_arn(delivery_group)}:log-stream:{stream_name}",
            expected="allow",
            description="Firehose logs delivery errors",
        )
    # ------------------------------------------------------------------ what Firehose must not do
    env.role_request(
        component,
        "put-outside-prefixes",
        role,
        "s3:PutObject",
        s3_object(raw, "elsewhere/x"),
        expected="deny",
        description="Firehose cannot write outside its three prefixes",
        context=sse_kms(lake_key),
    )
    curated = env.bucket("curated")
    env.role_request(
        component,
        "put-curated",
        role,
        "s3:PutObject",
        s3_object(curated, "ingest_events/x"),
        expected="deny",
        description="Firehose cannot write the curated zone",
        context=sse_kms(lake_key),
    )
    env.role_request(
        component,
        "data-key-for-curated",
        role,
        "kms:GenerateDataKey",
        lake_key,
        expected="deny",
        description="Firehose cannot get data keys for another bucket's objects",
        context=kms_via_s3(env, curated, "ingest_events/x"),
    )
    env.role_request(
        component,
        "put-sse-s3",
        role,
        "s3:PutObject",
        s3_object(raw, PREFIXES["data"]),
        expected="deny",
        description="a put with SSE-S3 instead of the lake key is refused by the bucket",
        context={"s3:x-amz-server-side-encryption": "AES256"},
    )
    env.role_request(
        component,
        "put-without-tls",
        role,
        "s3:PutObject",
        s3_object(raw, PREFIXES["data"]),
        expected="deny",
        description="a put over plain HTTP is refused by the bucket",
        context={**sse_kms(lake_key), "aws:SecureTransport": "false"},
    )
    _transform(env)


def _transform(env: Environment) -> None:
    component = "transform"
    role = env.role("Ingestion", "TransformRole")
    group = env.view("Ingestion").resolve({"Ref": env.logical_id("Ingestion", "AWS::Logs::LogGroup", "TransformLogs")})
    env.assumed_by(component, "lambda.amazonaws.com", role, description="Lambda assumes the transform's role")
    stream = f"{env.log_group_arn(group)}:log-stream:2026/11/30/[$LATEST]0123456789abcdef"
    writes = ("logs:CreateLogStream", "logs:PutLogEvents")
    env.role_allows(component, role, [(a, stream) for a in writes], description="the transform writes its logs")
    env.role_request(
        component,
        "xray",
        role,
        "xray:PutTraceSegments",
        "*",
        expected="allow",
        description="the transform sends its traces",
    )
    env.creates_network_interfaces(
        component, role, description="Lambda creates the function's network interfaces in the isolated subnets"
    )
    env.role_request(
        component,
        "read-raw",
        role,
        "s3:GetObject",
        s3_object(env.bucket("raw"), "events/x"),
        expected="deny",
        description="the transform touches no bucket: Firehose hands it the records",
    )
