"""Curation job configuration (data_lake.curation): defaults, the schedule arithmetic, and one clear line per bad
value."""

from __future__ import annotations

from typing import Any

import pytest

from ml_platform.core.errors import ConfigError
from ml_platform.environments import load_environments
from ml_platform.lake.config.curation import CurationConfig
from ml_platform.lake.config.schedule import minimum_interval_minutes
from tests.conftest import declared_environment

# The curated zone's default lifecycle, which a test that sets `curated` must keep (Athena-readable Glacier).
_CURATED_LIFECYCLE = {"lifecycle": {"glacier_storage_class": "GLACIER_IR"}}


def _lake(**data_lake: Any) -> dict[str, Any]:
    return declared_environment("dev", without=("inference",), data_lake=data_lake)


def test_defaults_are_an_hourly_two_worker_job_with_a_blocking_gate_and_every_optimizer():
    curation = CurationConfig()
    assert curation.enabled and curation.schedule == "cron(15 * * * ? *)"
    assert (curation.worker_type, curation.number_of_workers, curation.dpus) == ("G.1X", 2, 2)
    assert curation.timeout_minutes == 30
    assert curation.data_quality.blocking == ("completeness", "uniqueness")
    optimizers = curation.table_optimizers
    assert optimizers.compaction and optimizers.deletes_files
    assert (optimizers.snapshot_retention_days, optimizers.snapshots_to_retain) == (7, 1)
    assert optimizers.orphan_file_retention_days == 3


@pytest.mark.parametrize(
    ("schedule", "minutes"),
    [
        ("cron(15 * * * ? *)", 60),
        ("cron(0 3 * * ? *)", 24 * 60),
        ("cron(0/5 * * * ? *)", 5),
        ("cron(0,30 */6 * * ? *)", 30),
        ("cron(0 8-18 ? * MON-FRI *)", 60),  # the day fields only leave days out
        ("cron(50 23 * * ? *)", 24 * 60),
        ("cron(55 0,23 * * ? *)", 60),  # 23:55 → 00:55 the next day
    ],
)
def test_the_shortest_interval_of_a_schedule(schedule, minutes):
    assert minimum_interval_minutes(schedule) == minutes


BAD_CURATION_INPUTS = [
    ({"schedule": "rate(1 hour)"}, "data_lake.curation.schedule", "six fields"),
    ({"schedule": "cron(0 3 * * * *)"}, "data_lake.curation.schedule", "'?'"),
    ({"schedule": "cron(0/2 * * * ? *)"}, "data_lake.curation.schedule", "at most every 5 minutes"),
    ({"schedule": "cron(L * * * ? *)"}, "data_lake.curation.schedule", "minutes field 'L' is not supported"),
    ({"schedule": "cron(0 25 * * ? *)"}, "data_lake.curation.schedule", "outside 0-23"),
    ({"worker_type": "G.025X"}, "data_lake.curation.worker_type", "'G.1X'"),
    ({"number_of_workers": 1}, "data_lake.curation.number_of_workers", "at least 2 workers"),
    ({"timeout_minutes": 0}, "data_lake.curation", "timeout_minutes=0 must be between 1 and 60"),
    ({"timeout_minutes": 61}, "data_lake.curation", "timeout_minutes=61 must be between 1 and 60"),
    (
        {"schedule": "cron(0/10 * * * ? *)", "timeout_minutes": 30},
        "data_lake.curation",
        "between 1 and 10, the shortest interval of schedule 'cron(0/10 * * * ? *)'",
    ),
    ({"data_quality": {"blocking": ["completeness", "freshness"]}}, "blocking[1]", "'allowed_values'"),
    ({"data_quality": {"blocking": ["uniqueness", "uniqueness"]}}, "blocking", "['uniqueness'] are listed more"),
    ({"table_optimizers": {"orphan_file_retention_days": 1}}, "orphan_file_retention_days", "greater than or equal"),
    ({"table_optimizers": {"snapshots_to_retain": 0}}, "snapshots_to_retain", "greater than or equal to 1"),
    ({"tmeout_minutes": 10}, "data_lake.curation.tmeout_minutes", "Extra inputs"),
]


@pytest.mark.parametrize(("curation", "field", "rule"), BAD_CURATION_INPUTS)
def test_bad_curation_config_fails_with_one_clear_line(curation, field, rule):
    # Given a dev environment with one bad curation value
    with pytest.raises(ConfigError) as error:
        load_environments([_lake(curation=curation)])
    # Then one line names the environment, the field and the rule
    lines = str(error.value).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("environment 'dev': field '")
    assert field in lines[0] and rule in lines[0], lines[0]


def test_object_lock_on_the_curated_zone_conflicts_with_optimizers_that_delete_files():
    with pytest.raises(ConfigError) as error:
        load_environments([_lake(curated={**_CURATED_LIFECYCLE, "object_lock_retention_days": 30})])
    (line,) = str(error.value).splitlines()
    assert "curated.object_lock_retention_days=30 locks the Iceberg files" in line


def test_object_lock_is_accepted_when_no_optimizer_deletes_files():
    optimizers = {"snapshot_retention_days": None, "orphan_file_retention_days": None}
    locked = {**_CURATED_LIFECYCLE, "object_lock_retention_days": 30}
    data = _lake(curated=locked, curation={"table_optimizers": optimizers})
    (env,) = load_environments([{**data, "allow_destroy": False}])
    assert env.data_lake.curated.object_lock_retention_days == 30


def test_a_curated_schema_without_an_event_id_is_refused_while_curation_is_on():
    from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA

    schema = {**INGEST_EVENT_SCHEMA.model_dump(), "event_id_column": None}
    with pytest.raises(ConfigError) as error:
        load_environments([_lake(curated_schema=schema)])
    assert "declares no event_id_column" in str(error.value)
    # And with curation off the same schema is accepted
    (env,) = load_environments([_lake(curated_schema=schema, curation={"enabled": False})])
    assert env.data_lake.curation.enabled is False
