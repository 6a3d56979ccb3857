"""The curated zone's contract derived from the event schema: Iceberg schema and partitioning, the job's contract,
and the Glue Data Quality ruleset."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from ml_platform.core.curation import (
    CURATION_COLUMNS,
    QUALITY_CATEGORIES,
    curated_columns,
    dqdl,
    iceberg_fields,
    iceberg_partition_fields,
    job_contract,
    job_contract_json,
    quality_rules,
)
from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA
from ml_platform.core.schema import Column, EventSchema


def _schema(**changes) -> EventSchema:
    return EventSchema.model_validate({**INGEST_EVENT_SCHEMA.model_dump(), **changes})


def test_the_curated_table_has_the_schema_columns_then_the_job_columns_all_optional_in_iceberg():
    fields = iceberg_fields(INGEST_EVENT_SCHEMA)
    assert [f["name"] for f in fields] == [c.name for c in INGEST_EVENT_SCHEMA.columns] + [
        "curated_at",
        "curation_run_id",
    ]
    assert [f["id"] for f in fields] == list(range(1, len(fields) + 1))
    types = {f["name"]: f["type"] for f in fields}
    assert types["event_time"] == "timestamptz" and types["quantity"] == "long" and types["curated_at"] == "timestamptz"
    assert not any(f["required"] for f in fields)


def test_partitioned_by_the_day_of_the_event_time_and_by_type_only_when_the_schema_says_so():
    assert iceberg_partition_fields(INGEST_EVENT_SCHEMA) == [
        {"source_id": 2, "transform": "day", "name": "event_time_day", "field_id": 1000}
    ]
    by_type = _schema(partition_by_event_type=True)
    assert [(f["transform"], f["name"], f["field_id"]) for f in iceberg_partition_fields(by_type)] == [
        ("day", "event_time_day", 1000),
        ("identity", "event_type", 1001),
    ]


def test_the_job_contract_names_the_id_and_time_columns_and_every_column_type():
    contract = json.loads(job_contract_json(INGEST_EVENT_SCHEMA))
    assert contract == job_contract(INGEST_EVENT_SCHEMA)
    assert (contract["event_id_column"], contract["event_time_column"]) == ("event_id", "event_time")
    assert contract["partition_years"] == [2024, 2099]
    assert {"name": "quantity", "type": "bigint"} in contract["columns"]
    with pytest.raises(ValueError, match="needs event_id_column"):
        job_contract(_schema(event_id_column=None))


def test_a_schema_column_may_not_clash_with_a_job_column():
    columns = [
        *INGEST_EVENT_SCHEMA.model_dump()["columns"],
        {"name": "curated_at", "type": "string", "required": False},
    ]
    with pytest.raises(ValueError, match="clash with the columns the curation job adds"):
        curated_columns(_schema(columns=columns))
    assert len(CURATION_COLUMNS) == 2


def test_the_ruleset_covers_every_category_from_the_schema():
    rules = quality_rules(INGEST_EVENT_SCHEMA)
    assert {r.category for r in rules} == set(QUALITY_CATEGORIES)
    texts = [r.rule for r in rules]
    # completeness: every required column, nothing optional
    assert [t for t in texts if t.startswith("IsComplete")] == [
        'IsComplete "event_id"', 'IsComplete "event_time"', 'IsComplete "event_type"', 'IsComplete "source"'
    ]  # fmt: skip
    assert 'IsUnique "event_id"' in texts
    assert 'ColumnValues "event_type" in ["click", "view", "purchase", "inference_request", "feedback"]' in texts
    # an optional column's value rule skips its NULL rows (ColumnValues fails on NULL)
    assert 'ColumnValues "quantity" >= 0 where "quantity is not null"' in texts
    assert 'ColumnLength "event_id" <= 128' in texts
    assert dqdl(rules).startswith('Rules = [ IsComplete "event_id", ') and dqdl(rules).endswith(" ]")
    assert "\n" not in dqdl(rules)
    with pytest.raises(ValueError, match="at least one rule"):
        dqdl([])


def test_a_required_column_range_has_no_where_clause_and_fractions_stay_exact():
    columns = [
        *INGEST_EVENT_SCHEMA.model_dump()["columns"],
        {"name": "score", "type": "double", "required": True, "minimum": 0, "maximum": 0.5},
    ]
    texts = [r.rule for r in quality_rules(_schema(columns=columns))]
    assert 'ColumnValues "score" >= 0' in texts and 'ColumnValues "score" <= 0.5' in texts


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ({"name": "x", "type": "string", "minimum": 1}, "apply only to numeric columns"),
        ({"name": "x", "type": "bigint", "minimum": 2, "maximum": 1}, "minimum 2 is above maximum 1"),
    ],
)
def test_ranges_are_only_for_numbers_and_ordered(column, message):
    with pytest.raises(ValidationError, match=message):
        Column.model_validate(column)


def test_the_event_id_column_must_be_a_required_string():
    with pytest.raises(ValidationError, match="event_id_column 'value' must name a required string column"):
        _schema(event_id_column="value")
