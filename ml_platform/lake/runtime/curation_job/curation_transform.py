"""The curation job's logic on plain PySpark DataFrames: type the raw rows, quarantine the malformed ones with a
reason, de-duplicate by event id, gate on data quality, and merge into the curated Iceberg table.

Only PySpark is imported here, so the test suite runs every function under a local Spark session. What exists only
inside AWS Glue (``awsglue``: the DynamicFrame reader with job bookmarks, ``awsgluedq``: the Data Quality
transform, and the Iceberg ``MERGE INTO`` against the Glue catalog) is reached through the three callables that
:func:`run_batch` takes; ``job.py`` passes the Glue implementations, the tests local ones.

The contract (columns, id and time columns, partition years) arrives as JSON from
``ml_platform.core.curation.job_contract``; a test pins the constants below to that module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F  # noqa: N812 (PySpark's convention)
from pyspark.sql import types as T  # noqa: N812

# Must match ml_platform.core.curation.CURATION_COLUMNS (a test pins them together).
CURATED_AT = "curated_at"
RUN_ID = "curation_run_id"
# Columns of a quarantine row: why, the raw row as JSON, and which run set it aside when.
QUARANTINE_REASON = "quarantine_reason"
RAW_RECORD = "raw_record"
QUARANTINED_AT = "quarantined_at"
# Reason classes (the part before ':'), named like the transform Lambda's.
MISSING_FIELD = "missing_field"
INVALID_TYPE = "invalid_type"
OUT_OF_RANGE = "out_of_range"
# The Spark catalog name under which the job registers the Glue Data Catalog as an Iceberg catalog.
ICEBERG_CATALOG = "glue_catalog"

_SPARK_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "bigint": T.LongType(),
    "double": T.DoubleType(),
    "boolean": T.BooleanType(),
    "timestamp": T.TimestampType(),
}
# Epoch numbers with an absolute value below this are seconds, above it milliseconds (as in the transform Lambda).
_EPOCH_MS_THRESHOLD = 100_000_000_000


@dataclass(frozen=True)
class Contract:
    """What the job needs of the curated schema (``ml_platform.core.curation.job_contract``)."""

    name: str
    event_id_column: str
    event_time_column: str
    first_year: int
    last_year: int
    columns: tuple[tuple[str, str], ...]

    @classmethod
    def from_json(cls, text: str) -> Contract:
        data = json.loads(text)
        unknown = sorted({c["type"] for c in data["columns"]} - set(_SPARK_TYPES))
        if unknown:
            raise ValueError(f"contract {data['name']}: unsupported column types {unknown}")
        first, last = data["partition_years"]
        return cls(
            name=data["name"],
            event_id_column=data["event_id_column"],
            event_time_column=data["event_time_column"],
            first_year=int(first),
            last_year=int(last),
            columns=tuple((c["name"], c["type"]) for c in data["columns"]),
        )

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


def iceberg_spark_conf(warehouse: str) -> dict[str, str]:
    """Spark settings that register the Glue Data Catalog as the Iceberg catalog :data:`ICEBERG_CATALOG`
    ("Using the Iceberg framework in AWS Glue", AWS Glue Developer Guide); ``warehouse`` is ``s3://bucket/prefix/``."""
    catalog = f"spark.sql.catalog.{ICEBERG_CATALOG}"
    return {
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        catalog: "org.apache.iceberg.spark.SparkCatalog",
        f"{catalog}.warehouse": warehouse,
        f"{catalog}.catalog-impl": "org.apache.iceberg.aws.glue.GlueCatalog",
        f"{catalog}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
    }


# ------------------------------------------------------------------------------------------------------ typing
def _typed_column(raw: DataFrame, name: str, kind: str) -> tuple[Column, Column]:
    """(typed value, condition "a value was given but is not of the type") of one contract column."""
    if name not in raw.columns:
        return F.lit(None).cast(_SPARK_TYPES[kind]), F.lit(False)
    source = F.col(f"`{name}`")
    source_type = raw.schema[name].dataType
    if kind == "timestamp":
        if isinstance(source_type, T.TimestampType | T.TimestampNTZType):
            typed = source.cast(T.TimestampType())
        else:
            number = source.cast(T.DoubleType())
            seconds = F.when(F.abs(number) < _EPOCH_MS_THRESHOLD, number).otherwise(number / 1000)
            # A string that is a number is epoch seconds or milliseconds; any other string must be ISO-8601.
            typed = F.when(number.isNotNull(), F.timestamp_seconds(seconds)).otherwise(source.cast(T.TimestampType()))
    elif kind in ("int", "bigint") and not isinstance(source_type, T.IntegralType):
        # 1.5 or "1.5" is not an integer: only whole values cast (Spark's cast would truncate them).
        number = source.cast(T.DoubleType())
        whole = (number == F.floor(number)) & ~F.isnan(number)
        typed = F.when(whole, number.cast(_SPARK_TYPES[kind]))
    elif kind == "boolean" and isinstance(source_type, T.StringType):
        lowered = F.lower(F.trim(source))
        typed = F.when(lowered == "true", True).when(lowered == "false", False)
    else:
        typed = source.cast(_SPARK_TYPES[kind])
    invalid = source.isNotNull() & typed.isNull()
    return typed, invalid


def prepare(raw: DataFrame, contract: Contract) -> DataFrame:
    """Every contract column cast to its type (absent: null), the raw row as JSON (:data:`RAW_RECORD`) and the
    reason the row is malformed (:data:`QUARANTINE_REASON`, null when it is not), the first that applies:

    * ``invalid_type:<column>``: a value is given but is not of the column's type;
    * ``missing_field:<column>``: no event id (or a blank one) or no event time;
    * ``out_of_range:<time column>``: the event time's year is outside the partition years.

    Rows that are well-formed but wrong (a required attribute missing, an unknown event type, a value out of range)
    are not malformed: the quality rules judge them.
    """
    # Two projections: typed values and "not of its type" flags first, then the reason from those columns (one
    # expression per column, not the whole cast repeated in every condition).
    values, flags = [], []
    for name, kind in contract.columns:
        value, invalid = _typed_column(raw, name, kind)
        values.append(value.alias(name))
        flags.append(invalid.alias(f"_invalid_{name}"))
    record = F.to_json(F.struct(*[F.col(f"`{c}`").cast("string").alias(c) for c in raw.columns]))
    typed = raw.select(*values, *flags, record.alias(RAW_RECORD))
    event_id, event_time = F.col(contract.event_id_column), F.col(contract.event_time_column)
    reasons = [F.when(F.col(f"_invalid_{name}"), F.lit(f"{INVALID_TYPE}:{name}")) for name, _ in contract.columns]
    reasons += [
        F.when(event_id.isNull() | (F.trim(event_id) == ""), F.lit(f"{MISSING_FIELD}:{contract.event_id_column}")),
        F.when(event_time.isNull(), F.lit(f"{MISSING_FIELD}:{contract.event_time_column}")),
        F.when(
            ~F.year(event_time).between(contract.first_year, contract.last_year),
            F.lit(f"{OUT_OF_RANGE}:{contract.event_time_column}"),
        ),
    ]
    return typed.select(*contract.column_names, RAW_RECORD, F.coalesce(*reasons).alias(QUARANTINE_REASON))


def split(prepared: DataFrame, contract: Contract) -> tuple[DataFrame, DataFrame]:
    """(well-formed rows with the contract's columns, malformed rows with their reason and raw record)."""
    valid = prepared.where(F.col(QUARANTINE_REASON).isNull()).select(*contract.column_names)
    malformed = prepared.where(F.col(QUARANTINE_REASON).isNotNull()).select(QUARANTINE_REASON, RAW_RECORD)
    return valid, malformed


def deduplicate(valid: DataFrame, contract: Contract) -> DataFrame:
    """One row per event id: the earliest event time, then the smallest row (all columns as JSON), so every run
    keeps the same copy whatever the order the files were read in."""
    tiebreak = F.to_json(F.struct(*[F.col(c).cast("string") for c in contract.column_names]))
    order = Window.partitionBy(contract.event_id_column).orderBy(F.col(contract.event_time_column).asc(), tiebreak)
    return valid.withColumn("_rank", F.row_number().over(order)).where(F.col("_rank") == 1).drop("_rank")


def with_curation_columns(batch: DataFrame, *, run_id: str, started_at: datetime) -> DataFrame:
    """The batch with the columns the job adds (when this run started, which run)."""
    return batch.withColumn(CURATED_AT, F.lit(started_at).cast(T.TimestampType())).withColumn(RUN_ID, F.lit(run_id))


def quarantine_rows(malformed: DataFrame, *, run_id: str, started_at: datetime) -> DataFrame:
    """What the job writes under ``quarantine/``: reason, raw record (as JSON), run id and time."""
    return malformed.select(
        QUARANTINE_REASON,
        RAW_RECORD,
        F.lit(run_id).alias(RUN_ID),
        F.lit(started_at).cast(T.TimestampType()).alias(QUARANTINED_AT),
    )


# ------------------------------------------------------------------------------------------------------ merging
def time_window(batch: DataFrame, contract: Contract) -> tuple[datetime, datetime] | None:
    """The first and last event time of the batch (None when it is empty)."""
    row = batch.agg(F.min(contract.event_time_column), F.max(contract.event_time_column)).first()
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


def _timestamp_literal(value: datetime) -> str:
    return f"TIMESTAMP '{value.strftime('%Y-%m-%d %H:%M:%S.%f')}'"


def merge_statement(*, database: str, table: str, source_view: str, contract: Contract, window: tuple) -> str:
    """Spark SQL that inserts the batch's events the table does not have yet (insert-only ``MERGE INTO``: a re-run
    of the same batch inserts nothing). The time window limits the target rows to compare to the batch's days, so
    Iceberg reads only those partitions; a true duplicate has the same event time, so it is inside the window."""
    event_id, event_time = contract.event_id_column, contract.event_time_column
    first, last = window
    return (
        f"MERGE INTO {ICEBERG_CATALOG}.`{database}`.`{table}` AS target\n"
        f"USING {source_view} AS source\n"
        f"ON target.`{event_id}` = source.`{event_id}`\n"
        f"AND target.`{event_time}` >= {_timestamp_literal(first)}\n"
        f"AND target.`{event_time}` <= {_timestamp_literal(last)}\n"
        "WHEN NOT MATCHED THEN INSERT *"
    )


def emulate_merge(target: DataFrame, batch: DataFrame, contract: Contract) -> DataFrame:
    """What :func:`merge_statement` leaves in the table, computed without Iceberg (the test suite has no Iceberg
    runtime): the target's rows plus the batch rows whose event id has no target row inside the batch's window."""
    window = time_window(batch, contract)
    if window is None:
        return target
    event_time = F.col(contract.event_time_column)
    compared = target.where((event_time >= F.lit(window[0])) & (event_time <= F.lit(window[1])))
    new = batch.join(compared.select(contract.event_id_column), contract.event_id_column, "left_anti")
    return target.unionByName(new.select(*target.columns))


# ------------------------------------------------------------------------------------------------------ quality
@dataclass(frozen=True)
class RuleOutcome:
    """One evaluated rule (a row of the Data Quality transform's result: ``Rule``, ``Outcome``, ``FailureReason``)."""

    rule: str
    outcome: str
    failure_reason: str = ""
    blocking: bool = False

    @property
    def failed(self) -> bool:
        return self.outcome.lower() == "failed"


def rule_outcomes(rows: Sequence[Mapping[str, Any]], *, blocking: bool) -> list[RuleOutcome]:
    """The transform's result rows as outcomes of the blocking or the warning ruleset."""
    return [RuleOutcome(str(r["Rule"]), str(r["Outcome"]), str(r.get("FailureReason") or ""), blocking) for r in rows]


class BlockingQualityError(RuntimeError):
    """A rule of a blocking category failed: the batch is not written and the run fails."""


@dataclass
class BatchReport:
    """What one run did; :func:`metric_data` turns it into CloudWatch metrics."""

    rows_read: int = 0
    rows_quarantined: int = 0
    duplicates_dropped: int = 0
    rows_merged: int = 0
    outcomes: list[RuleOutcome] = field(default_factory=list)
    written: bool = False

    @property
    def rules_failed(self) -> int:
        return sum(1 for o in self.outcomes if o.failed)

    @property
    def blocking_rules_failed(self) -> int:
        return sum(1 for o in self.outcomes if o.failed and o.blocking)


QualityEvaluator = Callable[[DataFrame], list[RuleOutcome]]


def run_batch(
    raw: DataFrame,
    contract: Contract,
    *,
    run_id: str,
    started_at: datetime,
    evaluate_quality: QualityEvaluator,
    write_quarantine: Callable[[DataFrame], None],
    merge: Callable[[DataFrame], None],
) -> BatchReport:
    """One run over the raw rows read since the last one: type, split, de-duplicate, gate, then write.

    The quality rules see the batch that would be merged. When a blocking rule fails, nothing is written and
    :class:`BlockingQualityError` is raised (carrying the report); otherwise the malformed rows go to quarantine and
    the batch is merged.
    """
    report = BatchReport()
    prepared = prepare(raw, contract).cache()
    valid, malformed = split(prepared, contract)
    totals = prepared.agg(F.count(F.lit(1)), F.count(QUARANTINE_REASON)).first()
    report.rows_read, report.rows_quarantined = (int(totals[0]), int(totals[1])) if totals else (0, 0)
    batch = deduplicate(valid, contract).cache()
    report.rows_merged = batch.count()
    report.duplicates_dropped = report.rows_read - report.rows_quarantined - report.rows_merged
    if report.rows_read == 0:
        return report
    report.outcomes = evaluate_quality(batch)
    if report.blocking_rules_failed:
        failed = "; ".join(f"{o.rule} ({o.failure_reason})" for o in report.outcomes if o.failed and o.blocking)
        error = BlockingQualityError(f"{report.blocking_rules_failed} blocking data-quality rule(s) failed: {failed}")
        error.report = report  # type: ignore[attr-defined]
        raise error
    if report.rows_quarantined:
        write_quarantine(quarantine_rows(malformed, run_id=run_id, started_at=started_at))
    if report.rows_merged:
        merge(with_curation_columns(batch, run_id=run_id, started_at=started_at))
    report.written = True
    return report


def metric_data(report: BatchReport, *, job_name: str, duration_seconds: float, succeeded: bool) -> list[dict]:
    """The run's CloudWatch metrics (``PutMetricData`` ``MetricData``), each with the ``JobName`` dimension."""
    values = {
        "RowsRead": report.rows_read,
        "RowsQuarantined": report.rows_quarantined,
        "DuplicatesDropped": report.duplicates_dropped,
        "RowsMerged": report.rows_merged if report.written else 0,
        "RulesFailed": report.rules_failed,
        "BlockingRulesFailed": report.blocking_rules_failed,
        "RunSucceeded": 1 if succeeded else 0,
    }
    dimensions = [{"Name": "JobName", "Value": job_name}]
    data = [
        {"MetricName": name, "Dimensions": dimensions, "Value": float(v), "Unit": "Count"} for name, v in values.items()
    ]
    data.append(
        {"MetricName": "DurationSeconds", "Dimensions": dimensions, "Value": float(duration_seconds), "Unit": "Seconds"}
    )
    return data
