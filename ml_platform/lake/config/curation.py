"""Configuration of the curation job (``data_lake.curation``): the Glue Spark job that merges the raw zone into the
curated Apache Iceberg table, its schedule and size, its data-quality gate and the table's optimizers.

Every rule names the field, the bad value and the rule in one line; where AWS sets the rule, the comment says
where it is documented.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from ml_platform.core.config import FrozenModel
from ml_platform.core.curation import QUALITY_CATEGORIES, QualityCategory
from ml_platform.lake.config.schedule import check_glue_cron, minimum_interval_minutes

# Glue runs a schedule at most every 5 minutes ("The minimum precision for a schedule is 5 minutes", Time-based
# schedules for jobs and crawlers, AWS Glue Developer Guide).
MINIMUM_SCHEDULE_INTERVAL_MINUTES = 5
# A Spark job has a driver and at least one executor: "you can allocate from 2 to 100 DPUs" for a glueetl job (Glue
# API, JobRun MaxCapacity); that the same minimum of 2 holds for NumberOfWorkers is unverified (no page says it).
MINIMUM_WORKERS = 2
# Orphan files younger than this may belong to a write in progress; 3 days is Glue's default ("If you choose to use
# Default settings, all orphan files will be deleted after 3 days", Enabling orphan file deletion, Glue Developer
# Guide), and the platform refuses less.
MINIMUM_ORPHAN_FILE_RETENTION_DAYS = 3

# Spark ETL worker types (Glue API, Job WorkerType: G.025X is for streaming jobs only); each is 1, 2, 4 or 8 DPUs.
WorkerType = Literal["G.1X", "G.2X", "G.4X", "G.8X"]
DPUS_PER_WORKER: dict[str, int] = {"G.1X": 1, "G.2X": 2, "G.4X": 4, "G.8X": 8}


class DataQualityConfig(FrozenModel):
    """The Glue Data Quality gate the job evaluates on each batch before it writes.

    The rules come from the curated schema (``ml_platform.core.curation.quality_rules``), in four categories:
    ``completeness`` (required columns are not null), ``uniqueness`` (the event id), ``allowed_values`` (the event
    type) and ``value_ranges`` (numeric minimum/maximum, string maximum length).
    """

    blocking: tuple[QualityCategory, ...] = Field(
        default=("completeness", "uniqueness"),
        description=(
            "Categories whose failed rule stops the run before the write: the job fails (alarm), nothing is merged "
            "and its bookmark does not advance, so the same data is read again by the next run. A failed rule of "
            "any other category is published and alarmed, and the batch is written. Default: completeness and "
            "uniqueness."
        ),
    )

    @field_validator("blocking")
    @classmethod
    def _unique(cls, value: tuple[QualityCategory, ...]) -> tuple[QualityCategory, ...]:
        duplicates = sorted({c for c in value if value.count(c) > 1})
        if duplicates:
            raise ValueError(f"categories {duplicates} are listed more than once; each of {QUALITY_CATEGORIES} once")
        return value


class TableOptimizerConfig(FrozenModel):
    """Glue table optimizers of the curated Iceberg table (``AWS::Glue::TableOptimizer``, one per kind)."""

    compaction: bool = Field(
        default=True, description="Compact small data files (bin-packing). Default: on (each run writes small files)."
    )
    snapshot_retention_days: int | None = Field(
        default=7,
        ge=1,
        description=(
            "Expire snapshots older than this many days and delete the files only they reference (time travel "
            "reaches back this far). None: no snapshot retention optimizer. Default: 7."
        ),
    )
    snapshots_to_retain: int = Field(
        default=1, ge=1, description="Snapshots kept whatever their age (with snapshot retention). Default: 1."
    )
    orphan_file_retention_days: int | None = Field(
        default=MINIMUM_ORPHAN_FILE_RETENTION_DAYS,
        ge=MINIMUM_ORPHAN_FILE_RETENTION_DAYS,
        description=(
            "Delete files under the table's location that no snapshot references and that are older than this many "
            "days (failed writes). None: no orphan file deletion. Default and minimum: 3."
        ),
    )

    @property
    def deletes_files(self) -> bool:
        """Whether an optimizer deletes objects (snapshot retention or orphan file deletion)."""
        return self.snapshot_retention_days is not None or self.orphan_file_retention_days is not None


class CurationConfig(FrozenModel):
    """The curation job: raw zone (Firehose's Parquet) → curated Apache Iceberg table, on a schedule.

    Each run reads the raw objects written since the last successful run (job bookmarks), types the rows and
    quarantines the malformed ones (with the reason) under ``quarantine/``, de-duplicates by event id, evaluates the
    data-quality rules, and merges the batch into the Iceberg table (insert-only, so a re-run changes nothing).
    """

    enabled: bool = Field(default=True, description="Deploy the job, its trigger, ruleset and table. Default: on.")
    schedule: str = Field(
        default="cron(15 * * * ? *)",
        description="Glue cron schedule (UTC) of the job's trigger. Default: hourly at minute 15.",
    )
    worker_type: WorkerType = Field(default="G.1X", description="Spark worker type. Default: G.1X (1 DPU).")
    number_of_workers: int = Field(
        default=MINIMUM_WORKERS, description="Workers per run, the driver included. Default and minimum: 2."
    )
    timeout_minutes: int = Field(
        default=30,
        description=(
            "A run that takes longer is stopped (state TIMEOUT, alarmed). At most the schedule's shortest interval: "
            "with one run at a time, a run still going when the next is due makes that start fail. Default: 30."
        ),
    )
    data_quality: DataQualityConfig = DataQualityConfig()
    table_optimizers: TableOptimizerConfig = TableOptimizerConfig()

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        interval = minimum_interval_minutes(check_glue_cron(value))
        if interval < MINIMUM_SCHEDULE_INTERVAL_MINUTES:
            raise ValueError(
                f"{value!r} runs {interval} minutes apart; Glue schedules run at most every "
                f"{MINIMUM_SCHEDULE_INTERVAL_MINUTES} minutes"
            )
        return value

    @field_validator("number_of_workers")
    @classmethod
    def _workers(cls, value: int) -> int:
        if value < MINIMUM_WORKERS:
            raise ValueError(f"a Spark job needs at least {MINIMUM_WORKERS} workers (a driver and an executor)")
        return value

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> CurationConfig:
        interval = minimum_interval_minutes(self.schedule)
        if not 1 <= self.timeout_minutes <= interval:
            raise ValueError(
                f"timeout_minutes={self.timeout_minutes} must be between 1 and {interval}, the shortest interval of "
                f"schedule {self.schedule!r}: one run at a time, so a run still going blocks the next"
            )
        return self

    @property
    def dpus(self) -> int:
        """DPUs of one run (workers × DPUs per worker): what a run-hour is billed for."""
        return self.number_of_workers * DPUS_PER_WORKER[self.worker_type]
