"""The curation job's transformation under a local Spark session: typing, quarantine, de-duplication, the quality
gate and the merge, on generated raw data with duplicates, late and malformed records.

All Spark tests live in this one module: `make test` distributes by file (`--dist loadfile`), so one worker starts
one JVM. The session is module-scoped. Nothing here skips: `make install` provides pyspark (requirements-dev.txt)
and Java (the Makefile installs a JRE when `java` is missing), so a missing one is a failure.

What only AWS Glue has is replaced at the seams of ``run_batch``: the Data Quality transform by a small evaluator of
the same DQDL rules (``_evaluate``), the Iceberg ``MERGE INTO`` by ``emulate_merge`` over a checkpointed DataFrame,
S3 by a temporary folder. The real MERGE runs only in Glue; its SQL text is pinned here.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import ModuleType

import pytest

from ml_platform.core.curation import (
    CURATION_COLUMNS,
    ICEBERG_TYPES,
    QualityRule,
    dqdl,
    iceberg_fields,
    job_contract_json,
    quality_rules,
)
from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA
from ml_platform.lake.runtime import CURATION_JOB
from ml_platform.streaming.runtime import import_asset_module

STARTED = datetime(2026, 11, 30, 12, 0, 0)
BLOCKING = ("completeness", "uniqueness")


@pytest.fixture(scope="module")
def ct() -> ModuleType:
    return import_asset_module("curation_transform", directory=CURATION_JOB)


@pytest.fixture(scope="module")
def spark() -> Iterator:
    if shutil.which("java") is None:
        pytest.fail("the Spark tests need Java: run `make install` (it installs a JRE when java is missing)")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("curation-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        # Tiny data and a short-lived JVM: adaptive execution and whole-stage code generation cost more than they
        # save, and the JIT's first tier alone (C1) with the serial collector halves the module's time here.
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def contract(ct):
    return ct.Contract.from_json(job_contract_json(INGEST_EVENT_SCHEMA))


def _event(event_id, event_time="2026-11-30T10:00:00Z", **fields) -> dict:
    base = {"event_id": event_id, "event_time": event_time, "event_type": "click", "source": "web",
            "user_id": "u-1", "value": "1.5", "quantity": "2", "is_test": "false", "attributes": "{}"}  # fmt: skip
    return {**base, **fields}


def _literal(value) -> str:
    if value is None:
        return "NULL"
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _raw(spark, rows: list[dict]):
    """Raw rows as strings (the shape of the source records), as a SQL VALUES relation: built in the JVM, so no
    Python worker starts (a DataFrame from a Python list is a Python RDD, about 0.3 s more per action here)."""
    columns = sorted({key for row in rows for key in row})
    values = ", ".join("(" + ", ".join(_literal(row.get(c)) for c in columns) + ")" for row in rows)
    typed = ", ".join(f"CAST({c} AS STRING) AS {c}" for c in columns)
    return spark.sql(f"SELECT {typed} FROM VALUES {values} AS raw({', '.join(columns)})")


# ------------------------------------------------------------------------------------------------------ the contract
def test_the_job_module_matches_the_core_contract(ct, spark, contract):
    # Given the columns the core contract says the job adds
    assert tuple(c.name for c in CURATION_COLUMNS) == (ct.CURATED_AT, ct.RUN_ID)
    # Then every contract type has a Spark type, and the curated batch's Spark types are the Iceberg table's
    assert set(ct._SPARK_TYPES) == set(ICEBERG_TYPES)
    batch = ct.with_curation_columns(ct.split(ct.prepare(_raw(spark, [_event("a")]), contract), contract)[0],
                                     run_id="r", started_at=STARTED)  # fmt: skip
    spark_to_iceberg = {"StringType()": "string", "TimestampType()": "timestamptz", "LongType()": "long",
                        "DoubleType()": "double", "BooleanType()": "boolean", "IntegerType()": "int"}  # fmt: skip
    assert [(f.name, spark_to_iceberg[repr(f.dataType)]) for f in batch.schema.fields] == [
        (f["name"], f["type"]) for f in iceberg_fields(INGEST_EVENT_SCHEMA)
    ]


def test_the_job_script_imports_without_glue(ct):
    # awsglue and awsgluedq exist only in Glue: the script imports them inside main()
    job = import_asset_module("job", directory=CURATION_JOB)
    assert callable(job.main) and "contract" in job.ARGUMENTS


# ------------------------------------------------------------------------------------------------------ typing
def test_malformed_rows_are_quarantined_with_the_first_reason(ct, spark, contract):
    raw = _raw(spark, [
        _event("ok-1"),
        _event(None),                                           # no id
        _event("   "),                                          # blank id
        _event("t-1", event_time="yesterday"),                  # not a timestamp
        _event("t-2", event_time=None),                         # no time
        _event("t-3", event_time="1999-05-01T00:00:00Z"),       # outside the partition years
        _event("q-1", quantity="1.5"),                          # not an integer
        _event("v-1", value="lots"),                            # not a number
        _event("b-1", is_test="maybe"),                         # not a boolean
        _event("ok-2", source=None, event_type="unknown"),      # well-formed, but the quality rules judge it
    ])  # fmt: skip
    prepared = ct.prepare(raw, contract)
    valid, malformed = ct.split(prepared, contract)
    reasons = {json.loads(r.raw_record).get("event_id"): r.quarantine_reason for r in malformed.collect()}
    assert reasons == {
        None: "missing_field:event_id",
        "   ": "missing_field:event_id",
        "t-1": "invalid_type:event_time",
        "t-2": "missing_field:event_time",
        "t-3": "out_of_range:event_time",
        "q-1": "invalid_type:quantity",
        "v-1": "invalid_type:value",
        "b-1": "invalid_type:is_test",
    }
    assert sorted(r.event_id for r in valid.collect()) == ["ok-1", "ok-2"]
    # The raw record keeps what arrived, for the operator who reads the quarantine
    (q,) = [r for r in malformed.collect() if r.quarantine_reason == "invalid_type:quantity"]
    assert json.loads(q.raw_record)["quantity"] == "1.5"


def test_timestamps_in_iso_epoch_seconds_and_milliseconds_are_one_instant(ct, spark, contract):
    times = ["2026-11-30T10:00:00Z", "1796032800", "1796032800000", "2026-11-30T11:00:00+01:00"]
    raw = _raw(spark, [_event(f"t{i}", event_time=t) for i, t in enumerate(times)])
    valid, malformed = ct.split(ct.prepare(raw, contract), contract)
    assert malformed.count() == 0
    assert {r.event_time for r in valid.collect()} == {datetime(2026, 11, 30, 10, 0, 0)}


def test_typed_input_passes_through(ct, spark, contract):
    # Given raw rows with typed columns (what Firehose's Parquet conversion writes) and a column the contract lacks
    raw = spark.sql(
        "SELECT * FROM VALUES ('p-1', TIMESTAMP '2026-11-30 10:00:00', CAST(2 AS BIGINT), 1.5D, true, '2026'),"
        " ('p-2', TIMESTAMP '2026-11-30 11:00:00', CAST(NULL AS BIGINT), NULL, NULL, '2026')"
        " AS raw(event_id, event_time, quantity, value, is_test, year)"
    )
    # When it is prepared
    valid, malformed = ct.split(ct.prepare(raw, contract), contract)
    # Then nothing is quarantined, the types are kept, only contract columns remain (absent ones are null)
    assert malformed.count() == 0
    assert valid.columns == contract.column_names
    rows = {r.event_id: r for r in valid.collect()}
    assert (rows["p-1"].quantity, rows["p-1"].value, rows["p-1"].is_test, rows["p-2"].quantity) == (2, 1.5, True, None)
    assert rows["p-1"].event_time == datetime(2026, 11, 30, 10, 0) and rows["p-1"].source is None


def test_duplicates_keep_one_row_per_event_id_deterministically(ct, spark, contract):
    raw = _raw(spark, [_event("d", source="b"), _event("d", source="a"), _event("d", event_time="2026-11-30T09:00:00Z"),
                       _event("e")])  # fmt: skip
    valid, _ = ct.split(ct.prepare(raw, contract), contract)
    kept = {r.event_id: (r.event_time, r.source) for r in ct.deduplicate(valid, contract).collect()}
    assert kept == {"d": (datetime(2026, 11, 30, 9, 0, 0), "web"), "e": (datetime(2026, 11, 30, 10, 0, 0), "web")}
    # The same rows in another order keep the same copy
    again = ct.deduplicate(valid.orderBy("source", ascending=False), contract).collect()
    assert {r.event_id: (r.event_time, r.source) for r in again} == kept


# ------------------------------------------------------------------------------------------------------ merging
def test_the_merge_statement_is_insert_only_within_the_batch_window(ct, contract):
    sql = ct.merge_statement(database="ml_platform_dev_curated", table="ingest_events_v1", source_view="batch",
                             contract=contract,
                             window=(datetime(2026, 11, 29, 23, 0), datetime(2026, 11, 30, 1, 2, 3, 500)))  # fmt: skip
    assert sql == (
        "MERGE INTO glue_catalog.`ml_platform_dev_curated`.`ingest_events_v1` AS target\n"
        "USING batch AS source\n"
        "ON target.`event_id` = source.`event_id`\n"
        "AND target.`event_time` >= TIMESTAMP '2026-11-29 23:00:00.000000'\n"
        "AND target.`event_time` <= TIMESTAMP '2026-11-30 01:02:03.000500'\n"
        "WHEN NOT MATCHED THEN INSERT *"
    )
    assert "UPDATE" not in sql and "DELETE" not in sql
    conf = ct.iceberg_spark_conf("s3://bucket/")
    assert conf["spark.sql.catalog.glue_catalog.catalog-impl"] == "org.apache.iceberg.aws.glue.GlueCatalog"
    assert conf["spark.sql.catalog.glue_catalog.warehouse"] == "s3://bucket/"


# ------------------------------------------------------------------------------------------------------ a whole run
_RULE = re.compile(r'^(\w+) "(\w+)"(?: (in|>=|<=) (.+?))?(?: where "(\w+) is not null")?$')


def _evaluate(ct, rules: list[QualityRule], blocking: tuple[str, ...]):
    """A stand-in for Glue's Data Quality transform: evaluates the rule kinds the schema produces, with DQDL's null
    behaviour (ColumnValues fails on NULL rows unless a where clause skips them; ColumnLength counts NULL as 0)."""
    from pyspark.sql import functions as F  # noqa: N812

    def evaluate(batch):
        counts = []  # one aggregation over the batch: the number of rows that break each rule
        for rule in rules:
            kind, column, operator, operand, where = _RULE.match(rule.rule).groups()
            value = F.col(column)
            if kind == "IsUnique":
                counts.append(F.count(value) - F.countDistinct(value) + F.count(F.when(value.isNull(), 1)))
                continue
            if kind == "IsComplete":
                bad = value.isNull()
            elif kind == "ColumnLength":
                bad = F.coalesce(F.length(value), F.lit(0)) > int(operand)
            elif operator == "in":
                bad = value.isNull() | ~value.isin(json.loads(operand))
            else:
                bad = value.isNull() | ~(value >= float(operand) if operator == ">=" else value <= float(operand))
            if where:
                bad = F.col(where).isNotNull() & bad
            counts.append(F.count(F.when(bad, 1)))
        (row,) = batch.agg(*[c.alias(f"r{i}") for i, c in enumerate(counts)]).collect()
        return [
            ct.RuleOutcome(rule.rule, "Failed" if row[i] else "Passed", f"{row[i]} rows" if row[i] else "",
                           rule.category in blocking)
            for i, rule in enumerate(rules)
        ]  # fmt: skip

    return evaluate


class _Lake:
    """The curated table (a checkpointed DataFrame standing in for the Iceberg table: each merge is a new snapshot)
    and the quarantine prefix (a temporary folder, written by Spark as in the job)."""

    def __init__(self, spark, ct, contract, root: Path) -> None:
        self.spark, self.ct, self.contract, self.root = spark, ct, contract, root
        self.snapshots: list = []

    def table(self):
        return self.snapshots[-1] if self.snapshots else None

    def merge(self, batch) -> None:
        current = self.table()
        merged = batch if current is None else self.ct.emulate_merge(current, batch, self.contract)
        self.snapshots.append(merged.localCheckpoint(eager=True))

    def write_quarantine(self, rows) -> None:
        rows.write.mode("append").json(str(self.root / "quarantine"))

    def quarantine(self) -> list[dict]:
        """The quarantine's JSON lines, read without Spark (no schema inference job)."""
        files = sorted((self.root / "quarantine").glob("part-*.json"))
        return [json.loads(line) for file in files for line in file.read_text().splitlines() if line]

    def run(self, raw, *, run_id: str, blocking: tuple[str, ...] = BLOCKING):
        rules = quality_rules(INGEST_EVENT_SCHEMA)
        return self.ct.run_batch(
            raw, self.contract, run_id=run_id, started_at=STARTED, evaluate_quality=_evaluate(self.ct, rules, blocking),
            write_quarantine=self.write_quarantine, merge=self.merge,
        )  # fmt: skip


@pytest.fixture
def lake(spark, ct, contract, tmp_path) -> _Lake:
    return _Lake(spark, ct, contract, tmp_path)


def test_a_run_writes_curated_rows_and_quarantine_and_a_rerun_changes_nothing(lake, spark):
    # Given a first raw batch with duplicates (Firehose retries) and a malformed record
    first = _raw(spark, [_event("a"), _event("a"), _event("b", event_type="view"), _event(None)])
    # When the job runs
    report = lake.run(first, run_id="run-1")
    # Then the curated table has one row per event with the job's columns, the quarantine the malformed row
    rows = {r.event_id: r for r in lake.table().collect()}
    assert sorted(rows) == ["a", "b"]
    assert rows["a"].curation_run_id == "run-1" and rows["a"].curated_at == STARTED and rows["a"].quantity == 2
    (q,) = lake.quarantine()
    assert q["quarantine_reason"] == "missing_field:event_id" and q["curation_run_id"] == "run-1"
    assert json.loads(q["raw_record"])["event_type"] == "click" and q["quarantined_at"].startswith("2026-11-30T12:00")
    assert (report.rows_read, report.rows_quarantined, report.duplicates_dropped, report.rows_merged) == (4, 1, 1, 2)
    assert report.written and report.rules_failed == 0
    # When the same batch runs again (a re-run after a bookmark reset)
    lake.run(first, run_id="run-2")
    # Then no curated row is added or changed
    assert sorted((r.event_id, r.curation_run_id) for r in lake.table().collect()) == [("a", "run-1"), ("b", "run-1")]


def test_late_records_are_merged_into_their_day_and_late_duplicates_are_dropped(lake, spark):
    lake.run(_raw(spark, [_event("x", event_time="2026-11-30T10:00:00Z")]), run_id="run-1")
    # Given a later batch with an event of two days ago and a late copy of an event already curated
    late = _raw(
        spark, [_event("old", event_time="2026-11-28T23:59:00Z"), _event("x", event_time="2026-11-30T10:00:00Z")]
    )
    # When it runs
    report = lake.run(late, run_id="run-2")
    # Then the old event is added (with its own event time, so Iceberg's day partition is its day), the copy is not
    rows = {r.event_id: r for r in lake.table().collect()}
    assert sorted(rows) == ["old", "x"]
    assert rows["old"].event_time == datetime(2026, 11, 28, 23, 59) and rows["x"].curation_run_id == "run-1"
    assert report.rows_merged == 2  # the batch offered to MERGE; the statement itself skips the copy


def test_a_failed_blocking_rule_writes_nothing(ct, lake, spark):
    lake.run(_raw(spark, [_event("a")]), run_id="run-1")
    # Given a batch whose event lacks a required attribute (completeness is blocking) and a malformed row
    bad = _raw(spark, [_event("c", source=None), _event(None)])
    # When it runs, the run fails with the rule named
    with pytest.raises(ct.BlockingQualityError, match='IsComplete "source"') as error:
        lake.run(bad, run_id="run-2")
    # Then neither the table nor the quarantine changed, and the report says why
    assert [r.event_id for r in lake.table().collect()] == ["a"] and lake.quarantine() == []
    assert error.value.report.blocking_rules_failed == 1 and not error.value.report.written


def test_a_failed_warning_rule_is_reported_and_the_batch_written(lake, spark):
    # Given an unknown event type and a negative quantity (allowed values and ranges are not blocking by default)
    report = lake.run(_raw(spark, [_event("w", event_type="unknown", quantity="-1")]), run_id="run-1")
    # Then the row is curated and two warning rules failed
    assert [r.event_id for r in lake.table().collect()] == ["w"]
    failed = sorted(o.rule for o in report.outcomes if o.failed)
    assert failed == ['ColumnValues "event_type" in ["click", "view", "purchase", "inference_request", "feedback"]',
                      'ColumnValues "quantity" >= 0 where "quantity is not null"']  # fmt: skip
    assert report.rules_failed == 2 and report.blocking_rules_failed == 0
    # And made blocking, the same batch stops the run
    with pytest.raises(Exception, match="blocking data-quality"):
        lake.run(_raw(spark, [_event("w2", event_type="unknown")]), run_id="run-2", blocking=("allowed_values",))


def test_an_empty_read_writes_nothing_and_evaluates_nothing(ct, lake, spark):
    report = lake.run(spark.sql("SELECT CAST(NULL AS STRING) AS event_id WHERE false"), run_id="run-1")
    assert (report.rows_read, report.outcomes, report.written) == (0, [], False)
    assert lake.table() is None


def test_the_metrics_of_a_run(ct):
    report = ct.BatchReport(rows_read=10, rows_quarantined=1, duplicates_dropped=2, rows_merged=7, written=True,
                            outcomes=[ct.RuleOutcome("IsUnique \"event_id\"", "Failed", "x", True)])  # fmt: skip
    data = {d["MetricName"]: d for d in ct.metric_data(report, job_name="job", duration_seconds=12.5, succeeded=False)}
    assert {k: d["Value"] for k, d in data.items()} == {
        "RowsRead": 10, "RowsQuarantined": 1, "DuplicatesDropped": 2, "RowsMerged": 7, "RulesFailed": 1,
        "BlockingRulesFailed": 1, "RunSucceeded": 0, "DurationSeconds": 12.5,
    }  # fmt: skip
    assert all(d["Dimensions"] == [{"Name": "JobName", "Value": "job"}] for d in data.values())
    assert dqdl(quality_rules(INGEST_EVENT_SCHEMA)).count("IsComplete") == 4
