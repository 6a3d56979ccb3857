"""Data lake configuration: seed defaults, and one clear line per bad value."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from ml_platform.core.errors import ConfigError
from ml_platform.environments import ENVIRONMENTS, load_environments
from ml_platform.lake.config import (
    ATHENA_MINIMUM_BYTES_SCANNED_CUTOFF,
    BUCKET_NAME_MAX_LENGTH,
    DATA_ZONES,
    DataLakeConfig,
    LifecycleConfig,
    bucket_name,
    catalog_encryption_owner_problems,
    glue_database_name,
)
from tests.conftest import declared_environment


def _env(index: int = 0, **overrides: Any) -> dict[str, Any]:
    """A declared environment without its inference endpoints (their rules tie it to a region)."""
    return declared_environment(ENVIRONMENTS[index]["name"], without=("inference",), **overrides)


def _lake(**data_lake: Any) -> dict[str, Any]:
    return _env(data_lake=data_lake)


def test_seed_lifecycle_defaults():
    # Given the default lake config
    lake = DataLakeConfig()
    # Then raw tiers to Standard-IA after 60 days and Glacier Instant Retrieval after 180 (queried zones stay
    # readable by Athena); noncurrent versions go to Standard-IA then Deep Archive and expire; multipart uploads
    # are aborted
    assert lake.raw.lifecycle.current_steps() == [("STANDARD_IA", 60), ("GLACIER_IR", 180)]
    assert lake.curated.lifecycle.current_steps() == [("STANDARD_IA", 60), ("GLACIER_IR", 180)]
    assert lake.raw.lifecycle.noncurrent_steps() == [("STANDARD_IA", 30), ("DEEP_ARCHIVE", 90), ("EXPIRE", 365)]
    assert lake.raw.lifecycle.abort_incomplete_multipart_upload_after_days == 7
    # And models/analytics never reach Glacier; access logs expire after 365 days
    assert lake.models.lifecycle.current_steps() == [("STANDARD_IA", 60)]
    assert lake.analytics.lifecycle.current_steps() == [("STANDARD_IA", 60)]
    assert lake.access_logs.lifecycle.current_steps() == [("EXPIRE", 365)]
    # And the catalog is encrypted, the crawler is off, the cutoff is above Athena's minimum
    assert lake.catalog_encryption is True
    assert lake.curated_crawler.enabled is False
    assert lake.athena.bytes_scanned_cutoff_per_query >= ATHENA_MINIMUM_BYTES_SCANNED_CUTOFF


@pytest.mark.parametrize("zone", ["raw", "curated", "analytics"])
@pytest.mark.parametrize(
    "lifecycle",
    [
        {"glacier_storage_class": "GLACIER"},
        {"glacier_storage_class": "GLACIER_IR", "glacier_after_days": 180, "deep_archive_after_days": 365},
    ],
)
def test_queried_zones_refuse_storage_classes_athena_skips(zone, lifecycle):
    # Given a zone that backs a queried table moving current versions to Flexible Retrieval or Deep Archive
    data = _lake(**{zone: {"lifecycle": lifecycle}})
    # When loaded, Then one line names the zone, the class and the way out (Athena skips those objects silently)
    with pytest.raises(ConfigError) as error:
        load_environments([data])
    (line,) = str(error.value).splitlines()
    assert f"{zone}.lifecycle" in line and "Athena skips" in line and "allow_unqueryable_archive" in line
    # And the explicit opt-in is accepted
    accepted = _lake(**{zone: {"lifecycle": lifecycle, "allow_unqueryable_archive": True}})
    assert load_environments([accepted])[0].data_lake.bucket(zone).allow_unqueryable_archive


def test_zones_no_table_reads_may_archive_to_flexible_retrieval():
    (env,) = load_environments([_lake(capture={"lifecycle": {"glacier_storage_class": "GLACIER"}})])
    assert env.data_lake.capture.lifecycle.glacier_storage_class == "GLACIER"


def test_bucket_names_start_with_project_and_environment():
    # The network stack's S3 endpoint policy allows exactly the `<project>-<env>-` prefix.
    name = bucket_name("ml-platform-dev", "raw", "123456789012", "eu-west-1")
    assert name == "ml-platform-dev-raw-123456789012-eu-west-1"
    assert name.startswith("ml-platform-dev-")
    assert glue_database_name("ml-platform-dev", "raw") == "ml_platform_dev_raw"


def test_declared_environments_fit_the_bucket_name_limit():
    for env in load_environments():
        for zone in (*DATA_ZONES, "access-logs"):
            assert len(bucket_name(f"{env.tags.project}-{env.name}", zone, "123456789012", env.region)) <= 63


BAD_LAKE_INPUTS = [
    # lifecycle days in the wrong order
    (
        {"raw": {"lifecycle": {"infrequent_access_after_days": 200, "glacier_after_days": 100}}},
        "data_lake.raw.lifecycle",
        "glacier_after_days=100",
    ),
    # Standard-IA earlier than S3 allows
    ({"curated": {"lifecycle": {"infrequent_access_after_days": 10}}}, "data_lake.curated.lifecycle", "at least 30"),
    # Glacier before objects spent 30 days in Standard-IA
    (
        {"raw": {"lifecycle": {"infrequent_access_after_days": 60, "glacier_after_days": 80}}},
        "data_lake.raw.lifecycle",
        "earliest allowed is day 90",
    ),
    # noncurrent expiry before the last noncurrent transition
    (
        {"capture": {"lifecycle": {"noncurrent_expire_after_days": 60}}},
        "data_lake.capture.lifecycle",
        "noncurrent_expire_after_days=60",
    ),
    # current expiry before Glacier's minimum storage duration
    (
        {"raw": {"lifecycle": {"expire_after_days": 200}}},
        "data_lake.raw.lifecycle",
        "expire_after_days=200",
    ),
    # Object Lock without versioning
    (
        {"capture": {"versioned": False, "object_lock_retention_days": 30}},
        "data_lake.capture",
        "needs versioned=True",
    ),
    # cutoff below Athena's minimum
    (
        {"athena": {"bytes_scanned_cutoff_per_query": 1_000_000}},
        "data_lake.athena.bytes_scanned_cutoff_per_query",
        "10 MB",
    ),
    # a crawler schedule that is not Glue cron
    ({"curated_crawler": {"schedule": "rate(1 day)"}}, "data_lake.curated_crawler.schedule", "six fields"),
    ({"curated_crawler": {"schedule": "cron(0 3 * * * *)"}}, "data_lake.curated_crawler.schedule", "'?'"),
    # an unknown field is a typo, not a silent default
    ({"raw": {"lifecycle": {"glacier_days": 90}}}, "data_lake.raw.lifecycle.glacier_days", "Extra inputs"),
    ({"curated": {"lifecycle": {"glacier_storage_class": "DEEP"}}}, "glacier_storage_class", "'DEEP'"),
]


@pytest.mark.parametrize(("data_lake", "field", "rule"), BAD_LAKE_INPUTS)
def test_bad_lake_config_fails_with_one_clear_line(data_lake, field, rule):
    # Given a dev environment with one bad data lake value
    # When the environments are loaded
    with pytest.raises(ConfigError) as error:
        load_environments([_lake(**data_lake)])
    # Then one line names the environment, the field and the rule
    lines = str(error.value).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("environment 'dev': field '")
    assert field in lines[0] and rule in lines[0]


def test_bucket_name_too_long_is_refused():
    # Given an environment whose name and project make the access-log bucket name longer than 63 characters
    data = _env(name="sandbox-analytic", tags={"owner": "team", "cost_center": "cc-1", "project": "ml-platform-lab"})
    expected = "ml-platform-lab-sandbox-analytic-access-logs-123456789012-eu-west-1"
    assert len(expected) > BUCKET_NAME_MAX_LENGTH
    # When loaded, Then the error names the too-long bucket name and S3's limit
    with pytest.raises(ConfigError) as error:
        load_environments([data])
    assert f"has {len(expected)} characters; S3 allows at most {BUCKET_NAME_MAX_LENGTH}" in str(error.value)
    assert "field '(root)'" in str(error.value) and "data_lake: bucket name" in str(error.value)


def test_bucket_name_with_uppercase_project_is_refused():
    data = _env(tags={"owner": "team", "cost_center": "cc-1", "project": "ML Platform"})
    with pytest.raises(ConfigError, match="not a valid S3 bucket name"):
        load_environments([data])


def test_object_lock_with_allow_destroy_is_refused():
    # Given dev (allow_destroy) with Object Lock on capture
    data = _lake(capture={"object_lock_retention_days": 30})
    # Then locked versions could never be emptied by `cdk destroy`: refused
    with pytest.raises(ConfigError, match="object_lock_retention_days=30 cannot be combined with allow_destroy"):
        load_environments([data])


def test_object_lock_without_allow_destroy_is_accepted():
    data = _env(1, data_lake={"capture": {"object_lock_retention_days": 30}})
    (env,) = load_environments([data])
    assert env.data_lake.capture.object_lock_retention_days == 30


def test_two_environments_of_one_account_and_region_cannot_both_own_catalog_encryption():
    # Given dev and prod declared in the same account and region, both with catalog encryption on
    dev = _env(0, account="111111111111")
    prod = _env(1, account="111111111111")
    # When loaded, Then the singleton rule names both environments and the field
    with pytest.raises(ConfigError) as error:
        load_environments([dev, prod])
    assert "environments 'dev', 'prod': field 'data_lake.catalog_encryption'" in str(error.value)
    # And turning it off in one of them is accepted
    prod["data_lake"] = {**prod["data_lake"], "catalog_encryption": False}
    assert len(load_environments([dev, prod])) == 2


def _owner(name: str, account: str | None, region: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, account=account, region=region, data_lake=DataLakeConfig())


def test_catalog_encryption_in_different_accounts_or_regions_is_accepted():
    env = _owner
    # Given owners in different accounts, or in one account but different regions, or alone in a region
    # Then there is no conflict
    assert catalog_encryption_owner_problems([env("a", "1" * 12, "eu-west-1"), env("b", "2" * 12, "eu-west-1")]) == []
    assert (
        catalog_encryption_owner_problems([env("a", "1" * 12, "eu-west-1"), env("b", "1" * 12, "eu-central-1")]) == []
    )
    assert catalog_encryption_owner_problems([env("a", None, "eu-west-1"), env("b", None, "eu-central-1")]) == []
    # And the same account and region is one
    assert (
        len(catalog_encryption_owner_problems([env("a", "1" * 12, "eu-west-1"), env("b", "1" * 12, "eu-west-1")])) == 1
    )


def test_two_owners_without_accounts_in_one_region_are_refused_as_ambiguous():
    # Given dev and prod in one region, both owning catalog encryption, without declared accounts (they may share
    # an account, and the last deploy would re-key the catalog under the other environment)
    dev, prod = _env(0), _env(1)
    dev.pop("account", None)
    prod.pop("account", None)
    # When loaded, Then one line names both environments, the field and the way out
    with pytest.raises(ConfigError) as error:
        load_environments([dev, prod])
    (line,) = str(error.value).splitlines()
    assert "environments 'dev', 'prod': field 'data_lake.catalog_encryption'" in line
    assert "declares no account" in line and "declare each environment's account" in line
    # And one declared account is not enough: the other may still be in it
    assert (
        len(catalog_encryption_owner_problems([_owner("a", "1" * 12, "eu-west-1"), _owner("b", None, "eu-west-1")]))
        == 1
    )


def test_declared_environments_own_catalog_encryption_in_distinct_accounts():
    environments = load_environments()
    owners = [(env.account, env.region) for env in environments if env.data_lake.catalog_encryption]
    assert len(owners) == len(set(owners)) and all(account for account, _ in owners)


def test_lifecycle_steps_can_be_turned_off_and_instant_retrieval_chosen():
    config = LifecycleConfig(
        infrequent_access_after_days=None, glacier_after_days=0, glacier_storage_class="GLACIER_IR"
    )
    assert config.current_steps() == [("GLACIER_IR", 0)]


@pytest.mark.parametrize("principal", ["111111111111", "arn:aws:iam::111111111111:user/alice", "arn:aws:s3:::x"])
def test_query_role_principals_must_be_an_account_root_or_a_role(principal):
    with pytest.raises(ConfigError) as error:
        load_environments([_lake(athena={"query_role_principals": [principal]})])
    (line,) = str(error.value).splitlines()
    assert "athena.query_role_principals" in line and "is not an account root or role ARN" in line


def test_no_query_role_by_default():
    assert DataLakeConfig().athena.query_role_principals == ()
