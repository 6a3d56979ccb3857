"""Local pipeline test: Kinesis stream -> Firehose transformation event -> handler -> S3 lake / error prefix (moto).

Firehose itself is not emulated by moto, so the test plays its part: it reads the stream like Firehose's Kinesis
source does, wraps the records into a data-transformation event of the Kinesis-source shape, calls the handler, and
delivers the answer the way the delivery stream is configured in ``ml_platform.core.firehose_layout``: Ok records
under the dynamic-partition data prefix, ProcessingFailed records (original bytes, Firehose's error document shape)
under the ``processing-failed`` error prefix of their arrival date.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import boto3

from ml_platform.core import firehose_layout
from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA

REGION = "eu-west-1"
ACCOUNT = "123456789012"
STREAM = "ingest-events"
BUCKET = "ml-platform-raw-events-test"
DELIVERY_STREAM_ARN = f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/{STREAM}"
LAMBDA_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:ingest-firehose-transform"


def _valid(i: int) -> dict[str, Any]:
    event_types = ("click", "view", "purchase", "inference_request", "feedback")
    if i % 3 == 0:  # a producer with camelCase names and epoch milliseconds
        return {
            "eventId": f"evt-{i:04d}",
            "eventTime": 1714607990000 + i * 1000,  # straddles 2024-05-01/02 midnight UTC
            "eventType": event_types[i % 5],
            "source": "ios-app",
            "isTest": False,
        }
    return {
        "event_id": f"evt-{i:04d}",
        "event_time": f"2024-05-01T23:59:{i % 60:02d}.500-00:30" if i % 2 else "2024-04-30T12:00:00Z",
        "event_type": event_types[i % 5],
        "source": "web-frontend",
        "value": i / 4,
        "attributes": {"i": i},
    }


def _malformed(i: int) -> bytes:
    kinds = [
        b"not json at all",
        b'{"event_id": "evt-bad", "event_time": "2024-05-01T00:00:00Z"}',  # missing event_type/source
        b"[1, 2, 3]",
        b'{"event_id": "\xff\xfe"}',
        json.dumps({**_valid(1), "event_type": "unknown"}).encode(),
        json.dumps({**_valid(2), "quantity": True}).encode(),
    ]
    return kinds[i % len(kinds)]


def _record_id(shard_id: str, sequence_number: str, subsequence_number: int = 0) -> str:
    """Firehose's record id for a Kinesis-source record: shard id, zero-padded sequence and sub-sequence number.

    (Sequence numbers are only unique within a shard; moto's are small integers per shard.)
    """
    return f"{shard_id}{sequence_number.zfill(64)}{subsequence_number:012d}"


def _firehose_event(stream_arn: str, kinesis_records: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """What Firehose sends its transform Lambda for records read from a Kinesis stream."""
    records = []
    for shard_id, record in kinesis_records:
        arrival_ms = int(record["ApproximateArrivalTimestamp"].timestamp() * 1000)
        records.append(
            {
                "recordId": _record_id(shard_id, record["SequenceNumber"]),
                "approximateArrivalTimestamp": arrival_ms,
                "data": base64.b64encode(record["Data"]).decode("ascii"),
                "kinesisRecordMetadata": {
                    "shardId": shard_id,
                    "partitionKey": record["PartitionKey"],
                    "approximateArrivalTimestamp": arrival_ms,
                    "sequenceNumber": record["SequenceNumber"],
                    "subsequenceNumber": 0,
                },
            }
        )
    return {
        "invocationId": str(uuid.uuid4()),
        "deliveryStreamArn": DELIVERY_STREAM_ARN,
        "sourceKinesisStreamArn": stream_arn,
        "region": REGION,
        "records": records,
    }


def _read_stream(kinesis: Any, stream_arn: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for shard in kinesis.list_shards(StreamARN=stream_arn)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamARN=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(StreamARN=stream_arn, ShardIterator=iterator, Limit=25)
            out.extend((shard["ShardId"], record) for record in page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return out


def _deliver(s3: Any, event: dict[str, Any], response: dict[str, Any]) -> None:
    """Write the Lambda's answer to S3 the way the delivery stream would (one object per prefix and batch)."""
    arrival = {r["recordId"]: r["approximateArrivalTimestamp"] for r in event["records"]}
    lake: dict[str, list[bytes]] = defaultdict(list)
    errors: dict[str, list[bytes]] = defaultdict(list)
    for record in response["records"]:
        if record["result"] == "Ok":
            prefix = firehose_layout.render_data_prefix(
                INGEST_EVENT_SCHEMA.partition_keys, record["metadata"]["partitionKeys"]
            )
            lake[prefix].append(base64.b64decode(record["data"]))
        else:
            arrived = datetime.fromtimestamp(arrival[record["recordId"]] / 1000, UTC)
            prefix = firehose_layout.render_error_prefix(
                "processing-failed", f"{arrived:%Y}", f"{arrived:%m}", f"{arrived:%d}"
            )
            document = {
                "attemptsMade": 1,
                "arrivalTimestamp": arrival[record["recordId"]],
                "errorCode": "Lambda.ProcessingFailed",
                "errorMessage": "The record was marked ProcessingFailed by the transform Lambda.",
                "attemptEndingTimestamp": arrival[record["recordId"]] + 1000,
                "rawData": record["data"],
                "lambdaArn": LAMBDA_ARN,
                "recordId": record["recordId"],
            }
            errors[prefix].append(json.dumps(document).encode() + b"\n")
    for prefix, lines in [*lake.items(), *errors.items()]:
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}{STREAM}-1-{event['invocationId']}", Body=b"".join(lines))


def _objects(s3: Any, prefix: str) -> dict[str, bytes]:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
    return {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys}


def test_stream_to_lake_and_error_prefix_accounts_for_every_record(aws, handler_module, lambda_context):
    """Given 60 valid and 24 malformed records put into a 2-shard Kinesis stream (moto),
    when they are read back, wrapped into Firehose transformation events (one per shard batch), transformed by
    the handler and delivered to the raw bucket by the layout's prefixes,
    then every valid record is in the lake under the partition of its UTC event date, every malformed record's
    original bytes are under errors/processing-failed/ with its arrival date, and counts and ids add up exactly."""
    kinesis = boto3.client("kinesis", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    kinesis.create_stream(StreamName=STREAM, ShardCount=2)
    stream_arn = kinesis.describe_stream_summary(StreamName=STREAM)["StreamDescriptionSummary"]["StreamARN"]
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})

    payloads: list[tuple[bytes, bool]] = [(json.dumps(_valid(i)).encode(), True) for i in range(60)]
    payloads += [(_malformed(i), False) for i in range(24)]
    payloads = payloads[::2] + payloads[1::2]  # interleave a little
    put = kinesis.put_records(
        StreamARN=stream_arn,
        Records=[{"Data": data, "PartitionKey": f"pk-{i}"} for i, (data, _) in enumerate(payloads)],
    )
    assert put["FailedRecordCount"] == 0
    put_ids = [_record_id(r["ShardId"], r["SequenceNumber"]) for r in put["Records"]]
    assert len(set(put_ids)) == len(payloads)
    valid_ids = {rid for rid, (_, ok) in zip(put_ids, payloads, strict=True) if ok}
    malformed_bytes = {rid: data for rid, (data, ok) in zip(put_ids, payloads, strict=True) if not ok}

    read = _read_stream(kinesis, stream_arn)
    assert sorted(_record_id(shard, r["SequenceNumber"]) for shard, r in read) == sorted(put_ids)
    shards = sorted({shard for shard, _ in read})
    assert len(shards) == 2  # both shards carry records, so the batches really come from two shards
    ok_ids: set[str] = set()
    for shard_id in shards:
        event = _firehose_event(stream_arn, [(s, r) for s, r in read if s == shard_id])
        response = handler_module.lambda_handler(event, lambda_context)
        assert [r["recordId"] for r in response["records"]] == [r["recordId"] for r in event["records"]]
        ok_ids |= {r["recordId"] for r in response["records"] if r["result"] == "Ok"}
        _deliver(s3, event, response)
    assert ok_ids == valid_ids

    # The lake: one JSON line per valid record, under year=/month=/day= of its UTC event time.
    lake_lines = []
    for key, body in _objects(s3, firehose_layout.DATA_ROOT + "/").items():
        for line in body.decode("utf-8").splitlines():
            row = json.loads(line)
            stamp = row["event_time"]
            assert key.startswith(f"events/year={stamp[0:4]}/month={stamp[5:7]}/day={stamp[8:10]}/")
            lake_lines.append(row)
    expected_event_ids = {f"evt-{i:04d}" for i in range(60)}
    assert len(lake_lines) == len(valid_ids) == 60
    assert {row["event_id"] for row in lake_lines} == expected_event_ids
    days = {row["event_time"][:10] for row in lake_lines}
    assert days == {"2024-04-30", "2024-05-01", "2024-05-02"}  # offsets and epochs straddle midnights

    # The error prefix: Firehose's error documents carrying the untouched original bytes.
    error_docs = []
    for key, body in _objects(s3, firehose_layout.ERROR_ROOT + "/").items():
        for line in body.decode("utf-8").splitlines():
            doc = json.loads(line)
            arrived = datetime.fromtimestamp(doc["arrivalTimestamp"] / 1000, UTC)
            assert key.startswith(f"errors/processing-failed/year={arrived:%Y}/month={arrived:%m}/day={arrived:%d}/")
            error_docs.append(doc)
    assert {doc["recordId"]: base64.b64decode(doc["rawData"]) for doc in error_docs} == malformed_bytes

    # Every record put is accounted for exactly once.
    assert len(lake_lines) + len(error_docs) == len(payloads) == 84
