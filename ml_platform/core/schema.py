"""Typed description of a tabular event schema: the single source of truth for a data contract.

One ``EventSchema`` value drives three consumers, so they cannot drift apart:

* the Glue table (columns, partition keys, partition projection) via :meth:`EventSchema.glue_columns`
  and :meth:`EventSchema.projection_parameters`;
* the Firehose transform Lambda's validation rules via :meth:`EventSchema.validation_rules`, which the
  streaming construct hands to the function as JSON in an environment variable;
* the data contract table of docs/lake.md via :meth:`EventSchema.markdown_table`.

The concrete ingest schema the platform ships is declared in ``ml_platform.core.event_schema``.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ColumnType = Literal["string", "int", "bigint", "double", "boolean", "timestamp"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Glue partition keys derived from the event time. Their projection ranges live here so that Athena can
# prune partitions without a crawler.
DATE_PARTITION_KEYS: tuple[str, ...] = ("year", "month", "day")
NUMERIC_TYPES: frozenset[str] = frozenset({"int", "bigint", "double"})


class Column(BaseModel):
    """One column of the contract.

    ``required`` columns must be present and non-null in every record; optional columns may be missing
    or null and are written as null.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_NAME.pattern, description="Lower snake_case column name (Glue/Athena rule).")
    type: ColumnType
    required: bool = True
    description: str = ""
    max_length: int | None = Field(
        default=None, gt=0, description="Only for strings: longest accepted value in characters."
    )
    minimum: float | None = Field(
        default=None, description="Only for numbers: smallest expected value (a data-quality rule, not a type rule)."
    )
    maximum: float | None = Field(
        default=None, description="Only for numbers: largest expected value (a data-quality rule, not a type rule)."
    )

    @model_validator(mode="after")
    def _max_length_only_for_strings(self) -> Column:
        if self.max_length is not None and self.type != "string":
            raise ValueError(f"column {self.name}: max_length applies only to string columns")
        if (self.minimum is not None or self.maximum is not None) and self.type not in NUMERIC_TYPES:
            raise ValueError(f"column {self.name}: minimum and maximum apply only to numeric columns")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"column {self.name}: minimum {self.minimum:g} is above maximum {self.maximum:g}")
        return self


class EventSchema(BaseModel):
    """An event contract: columns, the event-time column and the partitioning scheme.

    Partitions are always ``year/month/day`` derived from ``event_time_column`` (UTC). When
    ``partition_by_event_type`` is on, ``event_type_column`` becomes a fourth partition key whose values
    are restricted to ``event_types`` (a closed set keeps Firehose below its active-partition limit and
    lets Athena project partitions from an enum).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_NAME.pattern)
    version: int = Field(ge=1)
    columns: tuple[Column, ...] = Field(min_length=1)
    event_time_column: str
    event_id_column: str | None = Field(
        default=None,
        description="The producer-assigned unique id of an event (what curation de-duplicates by). Default: none.",
    )
    event_type_column: str | None = None
    event_types: tuple[str, ...] = ()
    partition_by_event_type: bool = False
    first_partition_year: int = Field(
        default=2024, ge=1970, le=2100, description="Lower bound of the year projection range."
    )
    last_partition_year: int = Field(
        default=2099, ge=1970, le=2100, description="Upper bound of the year projection range."
    )

    @model_validator(mode="after")
    def _consistent(self) -> EventSchema:
        names = [c.name for c in self.columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate column names: {', '.join(duplicates)}")
        clash = sorted(set(names) & set(DATE_PARTITION_KEYS))
        if clash:
            raise ValueError(f"columns {clash} clash with the date partition keys {DATE_PARTITION_KEYS}")
        by_name = {c.name: c for c in self.columns}
        time_col = by_name.get(self.event_time_column)
        if time_col is None or time_col.type != "timestamp" or not time_col.required:
            raise ValueError(f"event_time_column {self.event_time_column!r} must name a required timestamp column")
        if self.event_id_column is not None:
            id_col = by_name.get(self.event_id_column)
            if id_col is None or id_col.type != "string" or not id_col.required:
                raise ValueError(f"event_id_column {self.event_id_column!r} must name a required string column")
        if self.event_type_column is not None:
            type_col = by_name.get(self.event_type_column)
            if type_col is None or type_col.type != "string" or not type_col.required:
                raise ValueError(f"event_type_column {self.event_type_column!r} must name a required string column")
        if self.partition_by_event_type:
            if self.event_type_column is None:
                raise ValueError("partition_by_event_type needs event_type_column")
            if not self.event_types:
                raise ValueError("partition_by_event_type needs a closed list of event_types")
        for value in self.event_types:
            if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,63}", value):
                raise ValueError(f"event type {value!r} must match [a-z0-9][a-z0-9_.-]{{0,63}}")
        if self.first_partition_year > self.last_partition_year:
            raise ValueError("first_partition_year must not be after last_partition_year")
        return self

    # ----------------------------------------------------------------- derived views
    @property
    def partition_keys(self) -> tuple[str, ...]:
        """Partition keys in S3 path order."""
        extra = (self.event_type_column,) if self.partition_by_event_type and self.event_type_column else ()
        return DATE_PARTITION_KEYS + extra

    def data_columns(self) -> tuple[Column, ...]:
        """Columns stored in the Parquet files (partition keys live in the S3 path instead)."""
        return tuple(c for c in self.columns if c.name not in self.partition_keys)

    def glue_columns(self) -> list[dict[str, str]]:
        """``Name``/``Type``/``Comment`` triples for the Glue table's StorageDescriptor.Columns."""
        return [{"name": c.name, "type": c.type, "comment": c.description} for c in self.data_columns()]

    def glue_partition_keys(self) -> list[dict[str, str]]:
        keys = [
            {"name": k, "type": "string", "comment": f"{k} of {self.event_time_column} (UTC)"}
            for k in DATE_PARTITION_KEYS
        ]
        if self.partition_by_event_type and self.event_type_column:
            keys.append({"name": self.event_type_column, "type": "string", "comment": "event type"})
        return keys

    def s3_partition_path(self) -> str:
        """Hive-style key template, e.g. ``year=${year}/month=${month}/day=${day}``."""
        return "/".join(f"{k}=${{{k}}}" for k in self.partition_keys)

    def projection_parameters(self, location_prefix: str) -> dict[str, str]:
        """Athena partition projection table parameters for ``location_prefix`` (``s3://bucket/prefix``)."""
        params = {
            "projection.enabled": "true",
            "projection.year.type": "integer",
            "projection.year.range": f"{self.first_partition_year},{self.last_partition_year}",
            "projection.month.type": "integer",
            "projection.month.range": "1,12",
            "projection.month.digits": "2",
            "projection.day.type": "integer",
            "projection.day.range": "1,31",
            "projection.day.digits": "2",
            "storage.location.template": f"{location_prefix.rstrip('/')}/{self.s3_partition_path()}/",
        }
        if self.partition_by_event_type and self.event_type_column:
            params[f"projection.{self.event_type_column}.type"] = "enum"
            params[f"projection.{self.event_type_column}.values"] = ",".join(self.event_types)
        return params

    def validation_rules(self) -> dict[str, object]:
        """The rules the transform Lambda enforces, as plain JSON-serialisable data."""
        return {
            "name": self.name,
            "version": self.version,
            "event_time_column": self.event_time_column,
            "event_type_column": self.event_type_column,
            "event_types": list(self.event_types),
            "partition_keys": list(self.partition_keys),
            # Athena projects partitions only inside this year range: events outside it would be invisible.
            "partition_years": [self.first_partition_year, self.last_partition_year],
            "columns": [
                {
                    "name": c.name,
                    "type": c.type,
                    "required": c.required,
                    **({"max_length": c.max_length} if c.max_length is not None else {}),
                }
                for c in self.columns
            ],
        }

    def validation_rules_json(self) -> str:
        """Compact, key-sorted JSON of :meth:`validation_rules` (stable across synths)."""
        return json.dumps(self.validation_rules(), separators=(",", ":"), sort_keys=True)

    def markdown_table(self) -> str:
        """The data contract as a Markdown table for docs/lake.md."""
        rows = ["| column | type | required | stored as | description |", "|---|---|---|---|---|"]
        partition_keys = set(self.partition_keys)
        for c in self.columns:
            stored = "partition key" if c.name in partition_keys else "Parquet column"
            rows.append(f"| `{c.name}` | {c.type} | {'yes' if c.required else 'no'} | {stored} | {c.description} |")
        for key in DATE_PARTITION_KEYS:
            rows.append(f"| `{key}` | string | derived | partition key | {key} of `{self.event_time_column}` in UTC |")
        return "\n".join(rows)
