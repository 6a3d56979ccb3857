"""Firehose data-transformation Lambda of the ingest delivery stream (source: a Kinesis data stream).

For every record of the batch Firehose hands over, the function returns exactly one result, in order:

* ``Ok``: the record is valid against the event contract; ``data`` is the normalized JSON line (snake_case column
  names, unknown fields dropped, timestamps as UTC ``YYYY-MM-DD HH:MM:SS.mmm``) and ``metadata.partitionKeys`` holds
  ``year``/``month``/``day`` of the event time (plus the event type when the schema partitions by it), which the
  delivery stream's dynamic partitioning expands in ``ml_platform.core.firehose_layout.data_prefix``;
* ``ProcessingFailed``: anything else (not base64, not UTF-8, not JSON, not an object, contract violation). ``data``
  is the original base64 string, so Firehose writes the producer's exact bytes under the ``processing-failed`` error
  prefix where they can be inspected and replayed. The reason is logged (record id + reason, never the payload) and
  counted in metrics.

The contract comes from the ``EVENT_SCHEMA`` environment variable (``EventSchema.validation_rules_json()``), parsed
once at cold start; a missing or malformed value fails the initialisation loudly (a deployment error, not a data
error). Validation itself lives in ``record_transform`` (stdlib only) so it stays fast and unit-testable.

Response size guard: a synchronous Lambda response is capped at 6 MB. Ok output is normally no larger than its input
(compact JSON, unknown fields dropped), but small records can grow (explicit nulls for absent optional columns,
epoch numbers rewritten as timestamp strings). If the response would exceed :data:`RESPONSE_BUDGET_BYTES`, the
function does not fail the invocation (Firehose would retry the whole batch and, after its retry window, write all of
it to the error prefix): from the first record that does not fit, every remaining record is returned as
``ProcessingFailed`` with its original data (reason ``response_size_limit``). Space for the original data of every
record is reserved up front, so the fallback itself always fits whenever the request did.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import (
    KinesisFirehoseDataTransformationRecord,
    KinesisFirehoseDataTransformationRecordMetadata,
    KinesisFirehoseDataTransformationResponse,
    KinesisFirehoseEvent,
)
from aws_lambda_powertools.utilities.serialization import base64_from_str
from aws_lambda_powertools.utilities.typing import LambdaContext
from record_transform import (
    INTERNAL_ERROR,
    RESPONSE_SIZE_LIMIT,
    InvalidRecordError,
    InvalidRulesError,
    RecordTransformer,
    decode_base64,
)

SCHEMA_ENV_VAR = "EVENT_SCHEMA"
DEFAULT_NAMESPACE = "MlPlatform/Ingest"
DEFAULT_SERVICE = "firehose-transform"

# Lambda's synchronous response limit is 6 MB (6,291,456 bytes); keep ~290 KB headroom for estimate error.
RESPONSE_BUDGET_BYTES = 6_000_000
# Upper bounds of the JSON the runtime writes around each result, default separators:
#   {"recordId": "…", "result": "ProcessingFailed", "data": "…"},␠
#   {"recordId": "…", "result": "Ok", "data": "…", "metadata": {"partitionKeys": {"k": "v", …}}},␠
_ENVELOPE_BYTES = 32
_FAILED_RECORD_BYTES = 64
_OK_RECORD_BYTES = 88
_PARTITION_KEY_BYTES = 8  # "k": "v",␠ around each key and value
# Failure log lines carry at most this many records each (bounded CloudWatch log event size).
_FAILURE_LOG_CHUNK = 250

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE,
    service=os.environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE,
)


def load_transformer(environ: Mapping[str, str] = os.environ) -> RecordTransformer:
    """Build the record transformer from ``EVENT_SCHEMA``; raise :class:`InvalidRulesError` if it is unusable."""
    raw = environ.get(SCHEMA_ENV_VAR)
    if not raw:
        raise InvalidRulesError(
            f"environment variable {SCHEMA_ENV_VAR} is missing or empty; it must hold "
            "EventSchema.validation_rules_json()"
        )
    try:
        return RecordTransformer.from_rules_json(raw)
    except InvalidRulesError as exc:
        raise InvalidRulesError(f"environment variable {SCHEMA_ENV_VAR} is unusable: {exc}") from exc


# Cold start: an unusable schema aborts the init phase, so every invocation fails visibly (Lambda errors metric,
# Firehose retries and then routes the batch to the processing-failed prefix) instead of silently passing data.
TRANSFORMER: RecordTransformer = load_transformer()


@dataclass
class BatchOutcome:
    """What :func:`transform_batch` decided for one invocation."""

    response: dict[str, Any]
    ok: int = 0
    failed_by_reason: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, str]] = field(default_factory=list)
    response_bytes: int = 0  # upper-bound estimate of the serialized response
    budget_bytes: int = RESPONSE_BUDGET_BYTES

    @property
    def failed(self) -> int:
        return sum(self.failed_by_reason.values())


def _partition_keys_bytes(transformer: RecordTransformer) -> int:
    """Upper bound of one record's serialized ``partitionKeys`` entries (values: YYYY, MM, DD, event type)."""
    rules = transformer.rules
    value_bytes = 4 + 2 + 2 + max((len(t) for t in rules.event_types), default=0) * (len(rules.partition_keys) > 3)
    return value_bytes + sum(len(key) + _PARTITION_KEY_BYTES for key in rules.partition_keys)


def transform_batch(
    event: dict[str, Any],
    transformer: RecordTransformer,
    budget_bytes: int = RESPONSE_BUDGET_BYTES,
) -> BatchOutcome:
    """Transform one Firehose batch; one result per input record, in input order. Never raises for a bad record.

    (A record without a ``recordId`` cannot be answered at all; Firehose always sends one, and such an event fails
    the invocation with a KeyError rather than producing a response Firehose would reject anyway.)
    """
    firehose_event = KinesisFirehoseEvent(event)
    raw_records = event.get("records") or []
    # Reserve room for every record coming back as ProcessingFailed with its original data; an Ok result then only
    # adds its size difference, so the fallback for the remaining records always fits.
    try:
        total = sum([len(r["recordId"]) + len(r["data"]) for r in raw_records])
    except (KeyError, TypeError):  # malformed envelope: Firehose never sends one, but size it without failing
        total = sum(len(str(r.get("recordId", ""))) + len(str(r.get("data", ""))) for r in raw_records)
    total += _ENVELOPE_BYTES + _FAILED_RECORD_BYTES * len(raw_records)
    ok_extra = _OK_RECORD_BYTES - _FAILED_RECORD_BYTES + _partition_keys_bytes(transformer)
    over_budget = False
    outcome = BatchOutcome(response={"records": []}, budget_bytes=budget_bytes)
    failed_by_reason = outcome.failed_by_reason
    failures = outcome.failures
    results: list[KinesisFirehoseDataTransformationRecord] = []
    add = results.append
    # Records of one batch share a handful of partitions, and the transformer hands out one partition-keys dict per
    # partition: share one frozen metadata object per dict (keyed by id; each metadata object keeps its dict alive).
    metadata_by_partition: dict[int, KinesisFirehoseDataTransformationRecordMetadata] = {}
    transform = transformer.transform_bytes

    for record in firehose_event.records:
        data = record.get("data")
        if not isinstance(data, str):
            data = ""
        if over_budget:
            reason, detail = RESPONSE_SIZE_LIMIT, "an earlier record exhausted the response budget"
        else:
            try:
                line, partition_keys = transform(decode_base64(data))
                encoded = base64_from_str(line)
                grown = total + ok_extra + len(encoded) - len(data)
                if grown <= budget_bytes or grown <= total:  # a shrinking record never endangers the response
                    total = grown
                    metadata = metadata_by_partition.get(id(partition_keys))
                    if metadata is None:
                        metadata = KinesisFirehoseDataTransformationRecordMetadata(partition_keys=partition_keys)
                        metadata_by_partition[id(partition_keys)] = metadata
                    add(KinesisFirehoseDataTransformationRecord(record.record_id, "Ok", encoded, metadata))
                    continue
                over_budget = True
                reason, detail = RESPONSE_SIZE_LIMIT, f"Ok output would exceed {budget_bytes} response bytes"
            except InvalidRecordError as rejected:
                reason, detail = rejected.reason, rejected.detail
            except Exception as exc:  # a checker bug must cost one record, not the whole batch
                reason, detail = INTERNAL_ERROR, f"unexpected {type(exc).__name__}"
        add(KinesisFirehoseDataTransformationRecord(record.record_id, "ProcessingFailed", data))
        failed_by_reason[reason] += 1
        failures.append({"record_id": record.record_id, "reason": reason, "detail": detail})

    outcome.ok = len(results) - len(failures)
    outcome.response_bytes = total
    # Powertools refuses to serialise an empty response; Firehose never sends an empty batch, but answer it anyway.
    outcome.response = (
        KinesisFirehoseDataTransformationResponse(records=results).asdict() if results else {"records": []}
    )
    return outcome


def _publish(outcome: BatchOutcome, firehose_event: KinesisFirehoseEvent) -> None:
    metrics.add_metric(name="RecordsOk", unit=MetricUnit.Count, value=outcome.ok)
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=outcome.failed)
    for reason, count in sorted(outcome.failed_by_reason.items()):
        metrics.add_metric(name=f"RecordsFailed.{reason}", unit=MetricUnit.Count, value=count)

    context = {
        "invocation_id": firehose_event.get("invocationId"),
        "delivery_stream_arn": firehose_event.get("deliveryStreamArn"),
        "source_kinesis_stream_arn": firehose_event.source_kinesis_stream_arn,
    }
    failures = outcome.failures
    for start in range(0, len(failures), _FAILURE_LOG_CHUNK):
        logger.warning(
            "Records failed transformation",
            extra={**context, "failed_records": failures[start : start + _FAILURE_LOG_CHUNK]},
        )
    if outcome.failed_by_reason.get(RESPONSE_SIZE_LIMIT):
        logger.error(
            "Response size budget exhausted; remaining records returned as ProcessingFailed",
            extra={**context, "budget_bytes": outcome.budget_bytes},
        )
    logger.info(
        "Batch transformed",
        extra={
            **context,
            "records_ok": outcome.ok,
            "records_failed": outcome.failed,
            "failed_by_reason": dict(outcome.failed_by_reason),
            "response_bytes_estimate": outcome.response_bytes,
        },
    )


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = transform_batch(event, TRANSFORMER)
    _publish(outcome, KinesisFirehoseEvent(event))
    return outcome.response
