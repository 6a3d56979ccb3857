"""Unit tests of the Firehose transform handler on real-shaped Kinesis-source Firehose events.

One file (~450 lines) for the handler's one entry point: batches, results, the response-size guard and metrics are
read together when the handler changes.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

OK = "Ok"
FAILED = "ProcessingFailed"

VALID = {
    "event_id": "evt-1",
    "event_time": "2024-05-01T12:00:00Z",
    "event_type": "click",
    "source": "web-frontend",
}


def _results_by_id(response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["recordId"]: r for r in response["records"]}


def _only(response: dict[str, Any]) -> dict[str, Any]:
    assert len(response["records"]) == 1
    return response["records"][0]


def _ok_json(record: dict[str, Any]) -> dict[str, Any]:
    assert record["result"] == OK, record
    line = base64.b64decode(record["data"]).decode("utf-8")
    assert line.endswith("\n") and line.count("\n") == 1
    return json.loads(line)


def _failure_reasons(logs: list[Any]) -> dict[str, str]:
    reasons: dict[str, str] = {}
    for log in logs:
        for failed in getattr(log, "failed_records", []):
            reasons[failed["record_id"]] = failed["reason"]
    return reasons


# ---------------------------------------------------------------------------------------------- valid records
def test_fixture_batch_transforms_each_record_in_order(handler_module, kinesis_event, lambda_context):
    """Given the real-shaped fixture batch (snake_case record, camelCase record with offset, non-JSON record),
    when the handler runs,
    then every record id comes back once, in order, with the exact normalized output or its original data."""
    response = handler_module.lambda_handler(kinesis_event, lambda_context)

    assert [r["recordId"] for r in response["records"]] == [r["recordId"] for r in kinesis_event["records"]]
    first, second, third = response["records"]

    assert first["result"] == OK
    assert base64.b64decode(first["data"]) == (
        b'{"event_id":"evt-0001","event_time":"2024-05-01 12:34:56.789","event_type":"purchase",'
        b'"source":"web-frontend","user_id":"user-42","value":19.99,"quantity":2,"is_test":false,'
        b'"attributes":"{\\"currency\\":\\"EUR\\",\\"items\\":[\\"sku-1\\",\\"sku-2\\"]}"}\n'
    )
    assert first["metadata"] == {"partitionKeys": {"year": "2024", "month": "05", "day": "01"}}

    # camelCase/PascalCase/acronym names normalized; 23:30 at -02:00 is 01:30 UTC on the next day.
    assert base64.b64decode(second["data"]) == (
        b'{"event_id":"evt-0002","event_time":"2024-05-02 01:30:00.000","event_type":"view","source":"ios-app",'
        b'"user_id":"user-7","value":null,"quantity":null,"is_test":null,"attributes":null}\n'
    )
    assert second["metadata"] == {"partitionKeys": {"year": "2024", "month": "05", "day": "02"}}

    assert third == {
        "recordId": kinesis_event["records"][2]["recordId"],
        "result": FAILED,
        "data": kinesis_event["records"][2]["data"],
    }


@pytest.mark.parametrize(
    ("field_names", "expected_user"),
    [
        ({"event_id": "eventId", "event_time": "eventTime", "event_type": "eventType", "user_id": "userId"}, "u"),
        ({"event_id": "EventId", "event_time": "Event-Time", "event_type": "event type", "user_id": "userID"}, "u"),
        ({"event_id": " EVENT_ID ", "event_time": "EVENT-TIME", "event_type": "Event Type", "user_id": "USER_ID"}, "u"),
    ],
)
def test_field_names_are_normalized_to_snake_case(
    handler_module, make_event, lambda_context, field_names, expected_user
):
    """Given a record whose field names use camelCase, hyphens, spaces, upper case or padding,
    when it is transformed,
    then the output uses the schema's snake_case names and the record is Ok."""
    payload = {
        field_names["event_id"]: "evt-9",
        field_names["event_time"]: "2024-05-01T00:00:00Z",
        field_names["event_type"]: "view",
        "source": "web",
        field_names["user_id"]: expected_user,
    }
    out = _ok_json(_only(handler_module.lambda_handler(make_event([payload]), lambda_context)))
    assert out["event_id"] == "evt-9"
    assert out["event_time"] == "2024-05-01 00:00:00.000"
    assert out["event_type"] == "view"
    assert out["user_id"] == expected_user


def test_unknown_fields_are_dropped_and_output_has_every_column(handler_module, make_event, lambda_context):
    """Given a minimal valid record with extra fields,
    when it is transformed,
    then unknown fields are gone and absent optional columns are explicit nulls, in schema column order."""
    payload = {**VALID, "debug": {"x": 1}, "clientIp": "203.0.113.9", "": 1}
    out = _ok_json(_only(handler_module.lambda_handler(make_event([payload]), lambda_context)))
    assert list(out) == [
        "event_id",
        "event_time",
        "event_type",
        "source",
        "user_id",
        "value",
        "quantity",
        "is_test",
        "attributes",
    ]
    assert out["user_id"] is None and out["attributes"] is None


@pytest.mark.parametrize(
    ("attributes", "stored"),
    [
        ({"b": [1, 2], "a": "é"}, '{"b":[1,2],"a":"é"}'),
        (["x", {"y": None}], '["x",{"y":null}]'),
        ('{"already":"a string"}', '{"already":"a string"}'),
    ],
)
def test_attributes_object_or_list_is_stored_as_compact_json_string(
    handler_module, make_event, lambda_context, attributes, stored
):
    """Given `attributes` as an object, a list or a string,
    when transformed,
    then the `attributes` column holds a compact JSON string (strings pass through unchanged)."""
    out = _ok_json(
        _only(handler_module.lambda_handler(make_event([{**VALID, "attributes": attributes}]), lambda_context))
    )
    assert out["attributes"] == stored


@pytest.mark.parametrize(
    ("event_time", "expected", "partition"),
    [
        (1714521600, "2024-05-01 00:00:00.000", ("2024", "05", "01")),  # epoch seconds
        (1714521600123, "2024-05-01 00:00:00.123", ("2024", "05", "01")),  # epoch milliseconds
        (1714521600.5, "2024-05-01 00:00:00.500", ("2024", "05", "01")),  # fractional epoch seconds
        (1714607999999, "2024-05-01 23:59:59.999", ("2024", "05", "01")),  # last ms of the day
        (1714608000000, "2024-05-02 00:00:00.000", ("2024", "05", "02")),  # first ms of the next day
        (1704067200, "2024-01-01 00:00:00.000", ("2024", "01", "01")),  # first second of the partition range
        ("2024-05-01T12:34:56.789123Z", "2024-05-01 12:34:56.789", ("2024", "05", "01")),  # truncated, not rounded
        ("2024-05-01T12:34:56.9999Z", "2024-05-01 12:34:56.999", ("2024", "05", "01")),
        ("2024-05-01 12:34:56", "2024-05-01 12:34:56.000", ("2024", "05", "01")),  # naive means UTC
        ("2024-05-01T12:34:56+00:00", "2024-05-01 12:34:56.000", ("2024", "05", "01")),
        ("2024-05-01T01:00:00+02:00", "2024-04-30 23:00:00.000", ("2024", "04", "30")),  # back across midnight
        ("2024-12-31T23:30:00.250-01:00", "2025-01-01 00:30:00.250", ("2025", "01", "01")),  # across a year
        ("2024-02-28T23:00:00-05:00", "2024-02-29 04:00:00.000", ("2024", "02", "29")),  # leap day
        ("20240501T123456Z", "2024-05-01 12:34:56.000", ("2024", "05", "01")),  # ISO-8601 basic format
    ],
)
def test_timestamps_are_normalized_to_utc_and_drive_partition_keys(
    handler_module, make_event, lambda_context, event_time, expected, partition
):
    """Given an event time as ISO-8601 (Z, offset, naive, basic) or epoch seconds/milliseconds,
    when transformed,
    then event_time is UTC `YYYY-MM-DD HH:MM:SS.mmm` and year/month/day partition keys follow the UTC date."""
    record = _only(handler_module.lambda_handler(make_event([{**VALID, "event_time": event_time}]), lambda_context))
    assert _ok_json(record)["event_time"] == expected
    year, month, day = partition
    assert record["metadata"] == {"partitionKeys": {"year": year, "month": month, "day": day}}


@pytest.mark.parametrize("event_time", [0, "2023-12-31T23:59:59Z", "2100-01-01T00:00:00Z"])
def test_event_times_outside_the_partition_projection_range_are_rejected(
    handler_module, make_event, lambda_context, event_time
):
    """Given an event time outside the raw table's projected years (2024-2099: Athena would never see it),
    when transformed,
    then the record comes back ProcessingFailed with its original data."""
    event = make_event([{**VALID, "event_time": event_time}])
    record = _only(handler_module.lambda_handler(event, lambda_context))
    assert record["result"] == "ProcessingFailed"
    assert record["data"] == event["records"][0]["data"]


def test_numeric_and_boolean_columns_accept_their_json_types(handler_module, make_event, lambda_context):
    """Given optional columns at the edges of their types (int for double, bigint bounds, false),
    when transformed,
    then values are kept as they are."""
    payload = {**VALID, "value": 3, "quantity": -(2**63), "is_test": False, "user_id": "x" * 128}
    out = _ok_json(_only(handler_module.lambda_handler(make_event([payload]), lambda_context)))
    assert (out["value"], out["quantity"], out["is_test"]) == (3, -(2**63), False)
    payload = {**VALID, "value": -1.5e300, "quantity": 2**63 - 1, "is_test": True}
    out = _ok_json(_only(handler_module.lambda_handler(make_event([payload]), lambda_context)))
    assert (out["value"], out["quantity"], out["is_test"]) == (-1.5e300, 2**63 - 1, True)


def test_whitespace_around_the_json_object_is_accepted(handler_module, make_event, lambda_context):
    """Given a producer that pads records with whitespace and a trailing newline (valid JSON text),
    when transformed, then the record is Ok and the output is the normalized single line."""
    payload = b"  \t" + json.dumps(VALID).encode() + b"\r\n"
    out = _ok_json(_only(handler_module.lambda_handler(make_event([payload]), lambda_context)))
    assert out["event_id"] == "evt-1"


def test_optional_columns_may_be_null(handler_module, make_event, lambda_context):
    """Given optional columns explicitly null, when transformed, then the record is Ok with nulls."""
    payload = {**VALID, "user_id": None, "value": None, "quantity": None, "is_test": None, "attributes": None}
    out = _ok_json(_only(handler_module.lambda_handler(make_event([payload]), lambda_context)))
    assert out["value"] is None and out["quantity"] is None


# ---------------------------------------------------------------------------------------------- failures
FAILURE_CASES = [
    ("bad base64", "eyJldmVudF9pZCI6!!notbase64", "invalid_base64"),
    ("base64 with junk Powertools' lenient decoder would drop", "eyJhIjox*fQ==", "invalid_base64"),
    ("non-ascii base64", "eyJhIjoxfQ==é", "invalid_base64"),
    ("bad utf-8", b'{"event_id": "\xff\xfe"}', "invalid_utf8"),
    ("bad json", b'{"event_id": "evt-1",', "invalid_json"),
    ("trailing garbage", json.dumps(VALID).encode() + b" x", "invalid_json"),
    ("empty payload", b"", "invalid_json"),
    ("NaN literal", json.dumps({**VALID, "value": float("nan")}).encode(), "invalid_json"),
    ("Infinity literal", json.dumps({**VALID, "value": float("inf")}).encode(), "invalid_json"),
    ("JSON array", [VALID], "not_an_object"),
    ("JSON string", b'"just a string"', "not_an_object"),
    ("JSON null", b"null", "not_an_object"),
    ("missing required", {k: v for k, v in VALID.items() if k != "source"}, "missing_field"),
    ("null required", {**VALID, "event_id": None}, "missing_field"),
    ("ambiguous spellings", {**VALID, "eventId": "evt-2"}, "ambiguous_field"),
    ("wrong type string", {**VALID, "source": 42}, "invalid_type"),
    ("wrong type double", {**VALID, "value": "1.5"}, "invalid_type"),
    ("bool as bigint", {**VALID, "quantity": True}, "invalid_type"),
    ("bool as double", {**VALID, "value": False}, "invalid_type"),
    ("float as bigint", {**VALID, "quantity": 1.0}, "invalid_type"),
    ("int as boolean", {**VALID, "is_test": 1}, "invalid_type"),
    ("object as string", {**VALID, "user_id": {"id": 1}}, "invalid_type"),
    ("bigint above range", {**VALID, "quantity": 2**63}, "out_of_range"),
    ("bigint below range", {**VALID, "quantity": -(2**63) - 1}, "out_of_range"),
    (
        "overflowing double",
        b'{"event_id":"e","event_time":0,"event_type":"view","source":"s","value":1e999}',
        "out_of_range",
    ),
    ("huge int as double", {**VALID, "value": 10**400}, "out_of_range"),
    (
        "non-finite inside attributes",
        b'{"event_id":"e","event_time":0,"event_type":"view","source":"s","attributes":{"x":1e999}}',
        "out_of_range",
    ),
    ("over max_length", {**VALID, "event_id": "e" * 129}, "too_long"),
    ("attributes over max_length once serialised", {**VALID, "attributes": {"k": "v" * 16380}}, "too_long"),
    ("unknown event type", {**VALID, "event_type": "Click"}, "unknown_event_type"),
    ("timestamp garbage", {**VALID, "event_time": "yesterday at noon"}, "invalid_timestamp"),
    ("date without time", {**VALID, "event_time": "2024-05-01"}, "invalid_timestamp"),
    ("impossible date", {**VALID, "event_time": "2024-02-30T00:00:00Z"}, "invalid_timestamp"),
    ("epoch beyond year 9999", {**VALID, "event_time": 10**20}, "invalid_timestamp"),
    ("timestamp as bool", {**VALID, "event_time": True}, "invalid_type"),
    ("timestamp as object", {**VALID, "event_time": {"s": 1}}, "invalid_type"),
]


@pytest.mark.parametrize(("payload", "reason"), [c[1:] for c in FAILURE_CASES], ids=[c[0] for c in FAILURE_CASES])
def test_bad_records_fail_with_original_data_and_logged_reason(
    handler_module, make_event, lambda_context, transform_logs, payload, reason
):
    """Given one bad record between two valid ones,
    when the batch is transformed,
    then it comes back ProcessingFailed with its original base64 data untouched, the valid ones are Ok,
    and the failure log names its record id and reason class."""
    event = make_event([VALID, payload, VALID])
    response = handler_module.lambda_handler(event, lambda_context)

    results = [r["result"] for r in response["records"]]
    assert results == [OK, FAILED, OK]
    bad_in, bad_out = event["records"][1], response["records"][1]
    assert bad_out == {"recordId": bad_in["recordId"], "result": FAILED, "data": bad_in["data"]}
    assert _failure_reasons(transform_logs.records) == {bad_in["recordId"]: reason}


def test_failure_logs_carry_ids_and_reasons_but_never_the_payload(
    handler_module, make_event, lambda_context, transform_logs
):
    """Given failing records that carry a recognisable secret,
    when transformed,
    then the logs name each failed record id but the secret appears nowhere in any log record."""
    secret = "SECRET-PAYLOAD-7f3c"
    payloads = [
        {**VALID, "event_type": secret},
        {**VALID, "source": secret * 20},
        (f'{{"event_id": "{secret}"').encode(),
        {**VALID, "event_time": secret},
    ]
    event = make_event(payloads)
    handler_module.lambda_handler(event, lambda_context)

    assert set(_failure_reasons(transform_logs.records)) == {r["recordId"] for r in event["records"]}
    for log in transform_logs.records:
        rendered = json.dumps({k: v for k, v in vars(log).items() if k not in {"args", "exc_info"}}, default=str)
        assert secret not in rendered


def test_a_bug_in_validation_fails_one_record_not_the_batch(
    handler_module, make_event, lambda_context, monkeypatch, transform_logs
):
    """Given a transformer that blows up with an unexpected exception on one record,
    when the batch is transformed,
    then only that record is ProcessingFailed (reason internal_error) and the handler does not raise."""
    transformer_class = type(handler_module.TRANSFORMER)
    original = transformer_class.transform_bytes

    def flaky(self, raw: bytes):
        if b"boom" in raw:
            raise RuntimeError("unexpected")
        return original(self, raw)

    monkeypatch.setattr(transformer_class, "transform_bytes", flaky)
    event = make_event([VALID, {**VALID, "source": "boom"}, VALID])
    response = handler_module.lambda_handler(event, lambda_context)
    assert [r["result"] for r in response["records"]] == [OK, FAILED, OK]
    assert _failure_reasons(transform_logs.records) == {event["records"][1]["recordId"]: "internal_error"}


def test_empty_batch_returns_empty_records(handler_module, make_event, lambda_context, emitted_metrics):
    """Given a batch without records, when the handler runs, then it answers an empty list and counts zero."""
    assert handler_module.lambda_handler(make_event([]), lambda_context) == {"records": []}
    (blob,) = emitted_metrics()
    assert blob["RecordsOk"] == [0.0] and blob["RecordsFailed"] == [0.0]


# ---------------------------------------------------------------------------------------------- metrics
def test_metrics_count_ok_failed_and_failure_reasons(handler_module, make_event, lambda_context, emitted_metrics):
    """Given 3 valid, 2 non-JSON and 1 missing-field record,
    when the handler runs,
    then one EMF blob in the MlPlatform/Ingest namespace carries RecordsOk=3, RecordsFailed=3 and per-reason counts."""
    missing = {k: v for k, v in VALID.items() if k != "event_id"}
    event = make_event([VALID, b"{", VALID, b"not json", missing, VALID])
    handler_module.lambda_handler(event, lambda_context)

    (blob,) = emitted_metrics()
    directive = blob["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "MlPlatform/Ingest"
    assert blob["service"] == "firehose-transform"
    names = {m["Name"] for m in directive["Metrics"]}
    assert names == {"RecordsOk", "RecordsFailed", "RecordsFailed.invalid_json", "RecordsFailed.missing_field"}
    assert blob["RecordsOk"] == [3.0]
    assert blob["RecordsFailed"] == [3.0]
    assert blob["RecordsFailed.invalid_json"] == [2.0]
    assert blob["RecordsFailed.missing_field"] == [1.0]


def test_metrics_do_not_leak_between_invocations(handler_module, make_event, lambda_context, emitted_metrics):
    """Given two invocations in the same container, when each runs, then each blob counts only its own batch."""
    handler_module.lambda_handler(make_event([VALID, VALID]), lambda_context)
    handler_module.lambda_handler(make_event([b"x"]), lambda_context)
    first, second = emitted_metrics()
    assert (first["RecordsOk"], first["RecordsFailed"]) == ([2.0], [0.0])
    assert (second["RecordsOk"], second["RecordsFailed"]) == ([0.0], [1.0])


# ---------------------------------------------------------------------------------------------- 6 MB guard
LAMBDA_SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024


def _growing_record(i: int) -> dict[str, Any]:
    # 8,000 backslashes: 16 KB of JSON in, ~32 KB out once `attributes` is a JSON string embedded in JSON.
    return {**VALID, "event_id": f"evt-{i}", "attributes": {"path": "\\" * 8_000}}


def test_response_never_exceeds_the_budget_and_overflow_fails_the_rest_with_original_data(
    handler_module, make_event, lambda_context, emitted_metrics, transform_logs
):
    """Given a legal (< 6 MB) request whose Ok outputs would add up to ~11 MB (pathological escaping growth),
    when the handler runs,
    then the response stays within 6,000,000 bytes, a prefix of records is Ok, every later record is
    ProcessingFailed with its original data (reason response_size_limit), nothing is dropped, and it is counted."""
    event = make_event([_growing_record(i) for i in range(250)])
    assert len(json.dumps(event)) < LAMBDA_SYNC_PAYLOAD_LIMIT

    response = handler_module.lambda_handler(event, lambda_context)

    assert len(json.dumps(response)) <= handler_module.RESPONSE_BUDGET_BYTES
    results = [r["result"] for r in response["records"]]
    first_failed = results.index(FAILED)
    assert 0 < first_failed < len(results)
    assert results == [OK] * first_failed + [FAILED] * (len(results) - first_failed)
    for record_in, record_out in zip(event["records"], response["records"], strict=True):
        assert record_out["recordId"] == record_in["recordId"]
        if record_out["result"] == FAILED:
            assert record_out["data"] == record_in["data"]
    assert set(_failure_reasons(transform_logs.records).values()) == {"response_size_limit"}
    assert any("budget" in log.getMessage() for log in transform_logs.records)
    (blob,) = emitted_metrics()
    assert blob["RecordsFailed.response_size_limit"] == [float(len(results) - first_failed)]


@pytest.mark.parametrize("with_event_type_partition", [False, True])
def test_response_size_estimate_is_an_upper_bound(
    handler_module, make_event, load_handler, with_event_type_partition, ingest_rules
):
    """Given batches mixing Ok and failed records (and partitioning by event type or not),
    when transformed,
    then the size the guard accounts for is never below the real serialized response."""
    rules = dict(ingest_rules)
    if with_event_type_partition:
        rules["partition_keys"] = [*rules["partition_keys"], "event_type"]
    transformer = handler_module.RecordTransformer.from_rules(rules)
    payloads = [VALID, b"bad", {**VALID, "event_type": "inference_request"}, "!!", _growing_record(1)]
    outcome = handler_module.transform_batch(make_event(payloads), transformer)
    assert [r["result"] for r in outcome.response["records"]] == [OK, FAILED, OK, FAILED, OK]
    actual = len(json.dumps(outcome.response))
    assert actual <= outcome.response_bytes <= actual + 400


def test_budget_boundary_is_exact(handler_module, make_event):
    """Given the budget the guard computed for an all-Ok batch,
    when the same batch runs with exactly that budget it is all Ok, and with one byte less the last record
    (and only it) falls back to ProcessingFailed."""
    event = make_event([VALID, {**VALID, "event_id": "evt-2"}, {**VALID, "event_id": "evt-3"}])
    transformer = handler_module.TRANSFORMER
    full = handler_module.transform_batch(event, transformer)
    assert full.failed == 0

    exact = handler_module.transform_batch(event, transformer, budget_bytes=full.response_bytes)
    assert [r["result"] for r in exact.response["records"]] == [OK, OK, OK]

    tight = handler_module.transform_batch(event, transformer, budget_bytes=full.response_bytes - 1)
    assert [r["result"] for r in tight.response["records"]] == [OK, OK, FAILED]
    assert tight.response["records"][2]["data"] == event["records"][2]["data"]
    assert dict(tight.failed_by_reason) == {"response_size_limit": 1}


def test_shrinking_records_never_trip_the_guard(handler_module, make_event):
    """Given a budget already below the all-failed response size, a record whose Ok output is smaller than its input
    (a large unknown field dropped), a growing record and another shrinking one,
    when transformed,
    then the first shrinking record stays Ok (it only makes the response smaller), the growing one trips the guard,
    and from there every remaining record falls back to ProcessingFailed with its original data."""
    shrinking = {**VALID, "debug_blob": "x" * 2_000}
    event = make_event([shrinking, _growing_record(1), shrinking])
    outcome = handler_module.transform_batch(event, handler_module.TRANSFORMER, budget_bytes=100)
    assert [r["result"] for r in outcome.response["records"]] == [OK, FAILED, FAILED]
    assert [r["data"] for r in outcome.response["records"][1:]] == [r["data"] for r in event["records"][1:]]
    assert dict(outcome.failed_by_reason) == {"response_size_limit": 2}
