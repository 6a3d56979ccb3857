"""The rules the Lambda enforces are the ones ``EventSchema.validation_rules_json()`` produces, read at cold start."""

from __future__ import annotations

import base64
import json
from typing import Any, get_args

import pytest

from ml_platform.core import schema as schema_module
from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA
from ml_platform.core.schema import Column, EventSchema
from ml_platform.streaming.runtime import import_asset_module

record_transform = import_asset_module("record_transform")

VALID = {"event_id": "evt-1", "event_time": "2024-05-01T12:00:00Z", "event_type": "click", "source": "web"}


def _schema(**changes: Any) -> EventSchema:
    """A validated variant of the ingest schema (pydantic checks it like any declared schema)."""
    return EventSchema.model_validate({**INGEST_EVENT_SCHEMA.model_dump(), **changes})


def _results(module: Any, make_event: Any, lambda_context: Any, payloads: list[Any]) -> list[str]:
    return [r["result"] for r in module.lambda_handler(make_event(payloads), lambda_context)["records"]]


def test_deployed_handler_enforces_exactly_the_ingest_schema_rules(handler_module):
    """Given the handler initialised from INGEST_EVENT_SCHEMA.validation_rules_json() (as the construct deploys it),
    then its compiled rules are column-for-column the schema's: names, order, types, required, max_length,
    event-time/event-type columns, event types and partition keys."""
    rules = handler_module.TRANSFORMER.rules
    assert [(c.name, c.type, c.required, c.max_length) for c in rules.columns] == [
        (c.name, c.type, c.required, c.max_length) for c in INGEST_EVENT_SCHEMA.columns
    ]
    assert rules.event_time_column == INGEST_EVENT_SCHEMA.event_time_column
    assert rules.event_type_column == INGEST_EVENT_SCHEMA.event_type_column
    assert rules.event_types == INGEST_EVENT_SCHEMA.event_types
    assert rules.partition_keys == INGEST_EVENT_SCHEMA.partition_keys
    assert rules == record_transform.Rules.from_dict(json.loads(INGEST_EVENT_SCHEMA.validation_rules_json()))


def test_an_extra_required_column_in_the_schema_is_enforced_after_a_cold_start(
    handler_module, load_handler, make_event, lambda_context
):
    """Given a schema with an extra required column `tenant_id` (string, max 8) serialised the way the construct does,
    when a handler cold-starts with it,
    then records without tenant_id fail, records with it are Ok and carry it, while the deployed handler (ingest
    schema) still accepts the record without it: the rules come from EVENT_SCHEMA, not from the code."""
    schema = _schema(
        columns=[*INGEST_EVENT_SCHEMA.model_dump()["columns"], Column(name="tenant_id", type="string", max_length=8)]
    )
    tenant_handler = load_handler(schema.validation_rules_json())
    with_tenant = {**VALID, "tenantId": "acme"}

    assert _results(
        tenant_handler, make_event, lambda_context, [VALID, with_tenant, {**VALID, "tenant_id": "x" * 9}]
    ) == [
        "ProcessingFailed",
        "Ok",
        "ProcessingFailed",
    ]
    out = tenant_handler.lambda_handler(make_event([with_tenant]), lambda_context)["records"][0]
    assert json.loads(base64.b64decode(out["data"]))["tenant_id"] == "acme"
    assert _results(handler_module, make_event, lambda_context, [VALID]) == ["Ok"]


def test_tighter_limits_and_event_types_in_the_schema_are_enforced(load_handler, make_event, lambda_context):
    """Given a schema with a shorter event_id and a smaller closed set of event types,
    when a handler cold-starts with it,
    then values the ingest schema accepts are rejected by this one."""
    columns = [
        {**c, "max_length": 4} if c["name"] == "event_id" else c for c in INGEST_EVENT_SCHEMA.model_dump()["columns"]
    ]
    strict = load_handler(_schema(columns=columns, event_types=["view"]).validation_rules_json())
    payloads = [{**VALID, "event_type": "view", "event_id": "e-1"}, VALID, {**VALID, "event_type": "view"}]
    assert _results(strict, make_event, lambda_context, payloads) == ["Ok", "ProcessingFailed", "ProcessingFailed"]


def test_partitioning_by_event_type_adds_the_partition_key(load_handler, make_event, lambda_context):
    """Given a schema with partition_by_event_type=True,
    when a handler cold-starts with it,
    then Ok records carry the event type as a fourth partition key, in the schema's partition-key order."""
    schema = _schema(partition_by_event_type=True)
    partitioned = load_handler(schema.validation_rules_json())
    record = partitioned.lambda_handler(make_event([VALID]), lambda_context)["records"][0]
    keys = record["metadata"]["partitionKeys"]
    assert keys == {"year": "2024", "month": "05", "day": "01", "event_type": "click"}
    assert tuple(keys) == schema.partition_keys


@pytest.mark.parametrize(
    ("schema_json", "message"),
    [
        (None, "EVENT_SCHEMA is missing"),
        ("", "EVENT_SCHEMA is missing"),
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        (json.dumps({"columns": []}), "lack"),
    ],
    ids=["unset", "empty", "not-json", "not-object", "incomplete"],
)
def test_missing_or_invalid_env_fails_the_cold_start(load_handler, schema_json, message):
    """Given EVENT_SCHEMA unset, empty or not a rules document, when the module initialises, then it raises."""
    with pytest.raises(record_transform.InvalidRulesError, match=message):
        load_handler(schema_json)


def _mutated_rules(**changes: Any) -> str:
    rules = json.loads(INGEST_EVENT_SCHEMA.validation_rules_json())
    for key, value in changes.items():
        if key == "columns_patch":
            for column in rules["columns"]:
                column.update(value.get(column["name"], {}))
        else:
            rules[key] = value
    return json.dumps(rules)


@pytest.mark.parametrize(
    ("schema_json", "message"),
    [
        (_mutated_rules(columns_patch={"value": {"type": "decimal"}}), "unsupported type"),
        (_mutated_rules(columns_patch={"value": {"max_length": 3}}), "bad max_length"),
        (_mutated_rules(columns_patch={"source": {"name": "Source"}}), "not a normalized snake_case name"),
        (_mutated_rules(columns_patch={"event_time": {"required": False}}), "event_time_column"),
        (_mutated_rules(event_time_column="source"), "event_time_column"),
        (_mutated_rules(event_type_column="value"), "event_type_column"),
        (_mutated_rules(partition_keys=["year", "month"]), "partition_keys must start with"),
        (_mutated_rules(partition_keys=["year", "month", "day", "source"]), "cannot be derived"),
        (_mutated_rules(partition_keys=["year", "month", "day", "event_type"], event_types=[]), "cannot be derived"),
    ],
    ids=[
        "unknown-type",
        "max-length-on-double",
        "unnormalized-name",
        "optional-event-time",
        "event-time-not-timestamp",
        "event-type-not-string",
        "missing-date-key",
        "underivable-key",
        "open-event-type-partition",
    ],
)
def test_structurally_wrong_rules_fail_the_cold_start(load_handler, schema_json, message):
    """Given rules the Lambda could not enforce or partition by, when the module initialises, then it raises."""
    with pytest.raises(record_transform.InvalidRulesError, match=message):
        load_handler(schema_json)


def test_lambda_constants_match_the_schema_module():
    """Given the Lambda's copies of the schema's constants (the asset cannot import the CDK app),
    then they equal the originals: date partition keys and the supported column types."""
    assert record_transform.DATE_PARTITION_KEYS == schema_module.DATE_PARTITION_KEYS
    assert set(get_args(schema_module.ColumnType)) == record_transform.COLUMN_TYPES


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("event_time", "event_time"),
        ("eventTime", "event_time"),
        ("EventTime", "event_time"),
        ("Event-Time", "event_time"),
        ("event time", "event_time"),
        ("  Event - Time\t", "event_time"),
        ("EVENT_TIME", "event_time"),
        ("userID", "user_id"),
        ("HTTPStatus", "http_status"),
        ("isTest", "is_test"),
        ("value2Usd", "value2_usd"),
    ],
)
def test_field_name_normalization(given, normalized):
    """Given a producer's field name, when normalized, then it is the snake_case column name."""
    assert record_transform.normalize_field_name(given) == normalized


def test_name_cache_is_bounded():
    """Given a stream of ever-new field names, when normalized, then the cache stops growing at its limit."""
    for i in range(record_transform._NAME_CACHE_LIMIT + 100):
        record_transform.normalize_field_name(f"unknownField{i}")
    assert len(record_transform._NAME_CACHE) <= record_transform._NAME_CACHE_LIMIT


def test_json_codec_matches_the_standard_library():
    """Given JSON texts with surrounding whitespace, unicode and nesting,
    when decoded/encoded by the transform's fast paths,
    then results equal json.loads / a compact non-ASCII json.dumps, and trailing garbage is still an error."""
    for text in ['{"a": [1, 2.5, null]}', ' \n{"é": "\\u00e9"}\r\n', '{"a": {"b": [true, false]}}  ']:
        assert record_transform._decode_json(text) == json.loads(text)
    value = {"a": [1, -2.5, None, True, 'é\n"'], "b": {"c": ""}, "d": 2**70}
    assert record_transform._ENCODE(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    with pytest.raises(json.JSONDecodeError):
        record_transform._decode_json('{"a": 1} x')
    with pytest.raises(ValueError):
        record_transform._ENCODE({"x": float("inf")})
