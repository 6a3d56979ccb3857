"""The curated zone's contract, derived from an :class:`~ml_platform.core.schema.EventSchema`: the columns the
curation job writes (the event's columns plus the ones the job adds), the Apache Iceberg schema and partitioning of
the curated table, the contract the job script receives, and the Glue Data Quality ruleset (DQDL).

One schema drives all of them, so the Glue table, the job and its quality rules cannot drift apart. The job script
(``ml_platform/lake/runtime/curation_job/``) cannot import this package: it receives :func:`job_contract` as JSON
and the rulesets as DQDL text (job arguments), and a test pins its own constants to the ones here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from ml_platform.core.schema import NUMERIC_TYPES, Column, EventSchema

# What the job adds to every curated row. Idempotent MERGE inserts a row once, so both describe its first write.
CURATION_COLUMNS: tuple[Column, ...] = (
    Column(name="curated_at", type="timestamp", description="When the curation run that merged the row started (UTC)."),
    Column(name="curation_run_id", type="string", description="The Glue job run that merged the row."),
)

# Contract type → Iceberg type. A Spark TimestampType column is an Iceberg `timestamptz` (Iceberg's Spark type
# conversion, "Spark type to Iceberg type": timestamp → timestamp with timezone); Athena queries every Iceberg
# timestamp type ("Supported data types for Iceberg tables in Athena", Athena User Guide).
ICEBERG_TYPES: dict[str, str] = {
    "string": "string",
    "int": "int",
    "bigint": "long",
    "double": "double",
    "boolean": "boolean",
    "timestamp": "timestamptz",
}
# Iceberg numbers partition fields from 1000 (Iceberg table spec, "Partition Specs": partition field ids start there).
FIRST_PARTITION_FIELD_ID = 1000

QualityCategory = Literal["completeness", "uniqueness", "allowed_values", "value_ranges"]
QUALITY_CATEGORIES: tuple[QualityCategory, ...] = ("completeness", "uniqueness", "allowed_values", "value_ranges")


@dataclass(frozen=True)
class QualityRule:
    """One DQDL rule and the category a configuration marks blocking or not."""

    category: QualityCategory
    rule: str


def iceberg_table_name(schema: EventSchema) -> str:
    """The curated Iceberg table's name, which is also its key prefix: ``<schema name>_v<schema version>``.

    CloudFormation creates an Iceberg table but cannot change one (``OpenTableFormatInput`` is write-only, and an
    update through the table input drops the Iceberg metadata: cloudformation-coverage-roadmap issues #1919 and
    #2495), so a schema change is a new version, a new table and a new prefix (docs/lake.md, "Changing the curated
    schema").
    """
    return f"{schema.name}_v{schema.version}"


def curated_columns(schema: EventSchema) -> tuple[Column, ...]:
    """The curated table's columns in order: the schema's, then :data:`CURATION_COLUMNS`."""
    clash = sorted({c.name for c in schema.columns} & {c.name for c in CURATION_COLUMNS})
    if clash:
        raise ValueError(f"schema {schema.name}: columns {clash} clash with the columns the curation job adds")
    return (*schema.columns, *CURATION_COLUMNS)


def iceberg_fields(schema: EventSchema) -> list[dict[str, Any]]:
    """Iceberg schema fields (id from 1, name, type, doc). Every field is optional (``required: False``): Spark's
    Iceberg writes refuse a nullable source column for a required field at analysis time, whatever the data
    ("spark.sql.iceberg.check-nullability", Iceberg Spark configuration), and quarantine plus the quality rules are
    what keep nulls out."""
    return [
        {"id": index, "name": c.name, "type": ICEBERG_TYPES[c.type], "required": False, "doc": c.description}
        for index, c in enumerate(curated_columns(schema), start=1)
    ]


def iceberg_partition_fields(schema: EventSchema) -> list[dict[str, Any]]:
    """Hidden partitioning: ``day(<event time>)`` (plus ``identity(<event type>)`` when the schema partitions by
    it), so a query that filters on the event time reads only that day's files ("Create Iceberg tables", Athena User
    Guide: partition transforms)."""
    ids = {f["name"]: f["id"] for f in iceberg_fields(schema)}
    time_column = schema.event_time_column
    fields = [{"source_id": ids[time_column], "transform": "day", "name": f"{time_column}_day"}]
    if schema.partition_by_event_type and schema.event_type_column:
        column = schema.event_type_column
        fields.append({"source_id": ids[column], "transform": "identity", "name": column})
    return [{**field, "field_id": FIRST_PARTITION_FIELD_ID + index} for index, field in enumerate(fields)]


def job_contract(schema: EventSchema) -> dict[str, Any]:
    """What the curation job needs to type, quarantine and de-duplicate raw rows (JSON-serialisable)."""
    if schema.event_id_column is None:
        raise ValueError(f"schema {schema.name}: curation needs event_id_column (the id it de-duplicates by)")
    return {
        "name": schema.name,
        "version": schema.version,
        "event_id_column": schema.event_id_column,
        "event_time_column": schema.event_time_column,
        "partition_years": [schema.first_partition_year, schema.last_partition_year],
        "columns": [{"name": c.name, "type": c.type} for c in schema.columns],
    }


def job_contract_json(schema: EventSchema) -> str:
    """Compact, key-sorted JSON of :func:`job_contract` (stable across synths)."""
    return json.dumps(job_contract(schema), separators=(",", ":"), sort_keys=True)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def quality_rules(schema: EventSchema) -> list[QualityRule]:
    """The Glue Data Quality rules the schema implies, in DQDL ("Data Quality Definition Language (DQDL)
    reference", AWS Glue Developer Guide):

    * completeness: ``IsComplete`` for every required column;
    * uniqueness: ``IsUnique`` of the event id;
    * allowed values: ``ColumnValues <event type> in [...]``;
    * value ranges: ``ColumnValues`` ``>=``/``<=`` for numeric columns with a minimum/maximum, and ``ColumnLength``
      ``<=`` for strings with a maximum length. A ``ColumnValues`` rule fails on NULL rows ("Null behavior",
      ColumnValues), so for an optional column it is limited to non-null rows with a ``where`` clause;
      ``ColumnLength`` counts NULL as length 0 ("Null behavior", ColumnLength).
    """
    rules = [QualityRule("completeness", f'IsComplete "{c.name}"') for c in schema.columns if c.required]
    if schema.event_id_column:
        rules.append(QualityRule("uniqueness", f'IsUnique "{schema.event_id_column}"'))
    if schema.event_type_column and schema.event_types:
        values = ", ".join(f'"{value}"' for value in schema.event_types)
        rules.append(QualityRule("allowed_values", f'ColumnValues "{schema.event_type_column}" in [{values}]'))
    for column in schema.columns:
        where = "" if column.required else f' where "{column.name} is not null"'
        if column.type in NUMERIC_TYPES:
            for operator, bound in ((">=", column.minimum), ("<=", column.maximum)):
                if bound is not None:
                    rule = f'ColumnValues "{column.name}" {operator} {_number(bound)}{where}'
                    rules.append(QualityRule("value_ranges", rule))
        if column.max_length is not None:
            rules.append(QualityRule("value_ranges", f'ColumnLength "{column.name}" <= {column.max_length}'))
    return rules


def dqdl(rules: list[QualityRule]) -> str:
    """A DQDL ruleset of ``rules`` on one line (``Rules = [ ... ]``, the rules comma-separated)."""
    if not rules:
        raise ValueError("a DQDL ruleset needs at least one rule")
    return "Rules = [ " + ", ".join(rule.rule for rule in rules) + " ]"
