"""Configuration of the S3 zones, Glue catalog and Athena.

Every rule here names the field, the bad value and the rule. Where the rule comes from AWS (a storage
class's minimum, an API limit), the comment next to it says where it is documented.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, Protocol

from pydantic import Field, field_validator, model_validator

from ml_platform.core.config import FrozenModel
from ml_platform.core.schema import EventSchema
from ml_platform.lake.config.curation import CurationConfig
from ml_platform.lake.config.schedule import check_glue_cron

# The lake's data zones, in the order the stack creates them, plus the server access log bucket.
DATA_ZONES: tuple[str, ...] = ("raw", "curated", "analytics", "models", "capture")
ACCESS_LOG_ZONE = "access-logs"
# Zones with a Glue database (the catalog of what Athena can query).
CATALOG_ZONES: tuple[str, ...] = ("raw", "curated", "analytics")
# Storage classes whose objects Athena ignores (Athena User Guide, "Create tables in Athena"; restored objects are
# readable only with a per-table property on Hive tables, "Query restored Amazon Glacier objects").
ATHENA_SKIPS: frozenset[str] = frozenset({"GLACIER", "DEEP_ARCHIVE"})

# S3 general purpose bucket names: 3-63 characters, lowercase letters, digits, hyphens (dots are allowed by
# S3 but break virtual-hosted-style TLS, so this platform does not use them).
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
BUCKET_NAME_MAX_LENGTH = 63
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
# Stand-in for an account-agnostic environment's account id (a 12-digit token at deploy time).
_ACCOUNT_PLACEHOLDER = "123456789012"

# Days an object must stay in a storage class before the next lifecycle action may move or delete it.
# Standard-IA: transitions to it need >= 30 days in Standard, and objects must stay 30 days in it before
# moving on (S3 rejects a rule otherwise); Glacier and Deep Archive: the minimum storage durations (an
# earlier transition or expiry is billed as an early deletion).
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-transition-general-considerations.html
MINIMUM_STORAGE_DAYS: dict[str, int] = {
    "STANDARD": 0,
    "STANDARD_IA": 30,
    "GLACIER_IR": 90,
    "GLACIER": 90,
    "DEEP_ARCHIVE": 180,
}
# S3 accepts a Standard-IA transition only 30 or more days after creation (or after becoming noncurrent).
# https://docs.aws.amazon.com/AmazonS3/latest/API/API_Transition.html
STANDARD_IA_MINIMUM_DAYS = 30

# Athena's documented minimum per-query data usage control: 10 MB (AWS::Athena::WorkGroup resource
# schema, WorkGroupConfiguration.BytesScannedCutoffPerQuery "minimum": 10000000).
ATHENA_MINIMUM_BYTES_SCANNED_CUTOFF = 10_000_000


class LifecycleConfig(FrozenModel):
    """Storage-class tiering and expiry of one bucket. ``None`` turns a step off.

    Current versions move Standard → Standard-IA → Glacier (Flexible Retrieval by default; Instant
    Retrieval keeps objects queryable by Athena without a restore) → Deep Archive and may expire;
    noncurrent versions move to Standard-IA then Deep Archive and expire. Each step must come at least the
    previous storage class's minimum days after the previous step (see ``MINIMUM_STORAGE_DAYS``).
    """

    infrequent_access_after_days: int | None = Field(default=60, ge=1)
    glacier_after_days: int | None = Field(default=180, ge=0)
    glacier_storage_class: Literal["GLACIER", "GLACIER_IR"] = "GLACIER"
    deep_archive_after_days: int | None = Field(default=None, ge=0)
    expire_after_days: int | None = Field(default=None, ge=1)
    noncurrent_infrequent_access_after_days: int | None = Field(default=30, ge=1)
    noncurrent_deep_archive_after_days: int | None = Field(default=90, ge=1)
    noncurrent_expire_after_days: int | None = Field(default=365, ge=1)
    abort_incomplete_multipart_upload_after_days: int = Field(default=7, ge=1)

    def current_steps(self) -> list[tuple[str, int]]:
        """(storage class or ``EXPIRE``, days after creation) of current versions, in order."""
        steps = [
            ("STANDARD_IA", self.infrequent_access_after_days),
            (self.glacier_storage_class, self.glacier_after_days),
            ("DEEP_ARCHIVE", self.deep_archive_after_days),
            ("EXPIRE", self.expire_after_days),
        ]
        return [(name, days) for name, days in steps if days is not None]

    def noncurrent_steps(self) -> list[tuple[str, int]]:
        """(storage class or ``EXPIRE``, days after becoming noncurrent) of noncurrent versions, in order."""
        steps = [
            ("STANDARD_IA", self.noncurrent_infrequent_access_after_days),
            ("DEEP_ARCHIVE", self.noncurrent_deep_archive_after_days),
            ("EXPIRE", self.noncurrent_expire_after_days),
        ]
        return [(name, days) for name, days in steps if days is not None]

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleConfig:
        for label, prefix, steps in (
            ("current", "", self.current_steps()),
            ("noncurrent", "noncurrent_", self.noncurrent_steps()),
        ):
            previous_class, previous_days = "STANDARD", 0
            for storage_class, days in steps:
                field = _step_field(prefix, storage_class)
                if storage_class == "STANDARD_IA" and days < STANDARD_IA_MINIMUM_DAYS:
                    raise ValueError(
                        f"{field}={days}: S3 moves {label} versions to Standard-IA only after at least "
                        f"{STANDARD_IA_MINIMUM_DAYS} days"
                    )
                if previous_class != "STANDARD":
                    earliest = max(previous_days + MINIMUM_STORAGE_DAYS[previous_class], previous_days + 1)
                    if days < earliest:
                        raise ValueError(
                            f"{field}={days}: {label}-version lifecycle steps must be in ascending order, each at "
                            f"least the previous storage class's minimum duration later; after {previous_class} "
                            f"at day {previous_days} the earliest allowed is day {earliest}"
                        )
                previous_class, previous_days = storage_class, days
        return self


def _step_field(prefix: str, storage_class: str) -> str:
    name = {
        "STANDARD_IA": "infrequent_access_after_days",
        "GLACIER": "glacier_after_days",
        "GLACIER_IR": "glacier_after_days",
        "DEEP_ARCHIVE": "deep_archive_after_days",
        "EXPIRE": "expire_after_days",
    }[storage_class]
    return prefix + name


class BucketConfig(FrozenModel):
    """One data zone's bucket."""

    allow_unqueryable_archive: bool = Field(
        default=False,
        description=(
            "Zones that back a queried table (raw, curated, analytics) refuse lifecycle steps into Glacier Flexible "
            "Retrieval or Deep Archive, whose objects Athena skips without an error. True accepts that old "
            "partitions silently drop out of query results. Default: refused."
        ),
    )

    versioned: bool = Field(
        default=True,
        description="S3 versioning. Turning it off fails the compliance packs (S3BucketVersioningEnabled).",
    )
    lifecycle: LifecycleConfig = LifecycleConfig()
    object_lock_retention_days: int | None = Field(
        default=None,
        ge=1,
        le=36500,
        description=(
            "Default retention (days, GOVERNANCE mode) of every new object version. Object Lock itself is on "
            "for every versioned data bucket (Control Tower CT.S3.PR.9), so this can be added to a deployed "
            "bucket too. Default: none, nothing is locked."
        ),
    )

    @model_validator(mode="after")
    def _object_lock_needs_versioning(self) -> BucketConfig:
        if self.object_lock_retention_days is not None and not self.versioned:
            raise ValueError(
                f"object_lock_retention_days={self.object_lock_retention_days} needs versioned=True: "
                "S3 Object Lock works only on versioned buckets"
            )
        return self


class AccessLogBucketConfig(FrozenModel):
    """The server access log bucket: versioned, no Object Lock (S3 cannot deliver logs to a locked bucket)."""

    lifecycle: LifecycleConfig = LifecycleConfig(
        infrequent_access_after_days=None,
        glacier_after_days=None,
        expire_after_days=365,
        noncurrent_infrequent_access_after_days=None,
        noncurrent_deep_archive_after_days=None,
        noncurrent_expire_after_days=30,
    )


class CrawlerConfig(FrozenModel):
    """The optional Glue crawler that adds partitions of the curated table.

    On: the crawler keeps the curated table's partitions and the table has no partition projection.
    Off: the curated table uses partition projection like the raw table, so no crawler is needed.
    The crawler never changes the declared columns (schema change policy LOG).
    """

    enabled: bool = False
    schedule: str | None = Field(
        default="cron(0 3 * * ? *)",
        description="Glue cron schedule (UTC). None: on demand only. Default: daily at 03:00 UTC.",
    )

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return value if value is None else check_glue_cron(value)


class AthenaConfig(FrozenModel):
    """The lake's Athena workgroup."""

    bytes_scanned_cutoff_per_query: int = Field(
        default=10_000_000_000,
        description="Queries scanning more bytes are cancelled. Default: 10 GB. Athena's minimum: 10 MB.",
    )
    results_expire_after_days: int = Field(
        default=30, ge=1, description="Query results under athena-results/ expire after this many days."
    )
    query_role_principals: tuple[str, ...] = Field(
        default=(),
        description=(
            "IAM principals of this environment's account (the account root or role ARNs) that may assume a "
            "query role: Athena queries over the raw and curated tables in the lake's workgroup, results in "
            "athena-results/. Default: none, and no query role."
        ),
    )

    @field_validator("query_role_principals")
    @classmethod
    def _principals(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for principal in value:
            if not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:(root|role/[\w+=,.@/-]+)$", principal):
                raise ValueError(f"{principal!r} is not an account root or role ARN")
        return value

    @field_validator("bytes_scanned_cutoff_per_query")
    @classmethod
    def _cutoff(cls, value: int) -> int:
        if value < ATHENA_MINIMUM_BYTES_SCANNED_CUTOFF:
            raise ValueError(
                f"Athena's per-query cutoff must be at least {ATHENA_MINIMUM_BYTES_SCANNED_CUTOFF} bytes (10 MB)"
            )
        return value


class DataLakeConfig(FrozenModel):
    """S3 zones, Glue catalog and Athena (data lake issue).

    Zone defaults follow the seed lifecycle (Standard-IA after 60 days, Glacier after 180, noncurrent
    versions to Standard-IA after 30 then Deep Archive after 90, expired after 365; incomplete multipart
    uploads aborted after 7 days). ``raw`` and ``curated`` back queried tables, so their Glacier step is
    Glacier Instant Retrieval (Athena skips Flexible Retrieval and Deep Archive objects without an error; the
    config refuses those for the queried zones unless ``allow_unqueryable_archive``). ``models`` and
    ``analytics`` do not go to Glacier: SageMaker must load any model version without a restore, and analytics
    results stay queryable.
    """

    # Queried zones tier to Glacier Instant Retrieval, which Athena reads ("Objects in the S3 Glacier Flexible
    # Retrieval and S3 Glacier Deep Archive storage classes are ignored. As an alternative, you can use the Amazon
    # S3 Glacier Instant Retrieval storage class, which is queryable by Athena", Athena User Guide, "Create tables
    # in Athena", considerations and limitations).
    raw: BucketConfig = BucketConfig(lifecycle=LifecycleConfig(glacier_storage_class="GLACIER_IR"))
    curated: BucketConfig = BucketConfig(lifecycle=LifecycleConfig(glacier_storage_class="GLACIER_IR"))
    analytics: BucketConfig = BucketConfig(lifecycle=LifecycleConfig(glacier_after_days=None))
    models: BucketConfig = BucketConfig(lifecycle=LifecycleConfig(glacier_after_days=None))
    capture: BucketConfig = BucketConfig()
    access_logs: AccessLogBucketConfig = AccessLogBucketConfig()
    catalog_encryption: bool = Field(
        default=True,
        description=(
            "Own the account's Glue Data Catalog encryption settings (SSE-KMS with the lake key). The setting is "
            "a singleton per account and region: exactly one environment per account and region may turn it on."
        ),
    )
    curated_schema: EventSchema | None = Field(
        default=None, description="Schema of the curated table. Default: the ingest event schema."
    )
    curated_crawler: CrawlerConfig = CrawlerConfig()
    curation: CurationConfig = Field(
        default=CurationConfig(),
        description="The Glue job that curates the raw zone into the curated Iceberg table (docs/lake.md#curation).",
    )
    athena: AthenaConfig = AthenaConfig()

    @model_validator(mode="after")
    def _queried_zones_stay_queryable(self) -> DataLakeConfig:
        for zone in CATALOG_ZONES:
            bucket = self.bucket(zone)
            if bucket.allow_unqueryable_archive:
                continue
            archived = [(name, days) for name, days in bucket.lifecycle.current_steps() if name in ATHENA_SKIPS]
            if archived:
                storage_class, days = archived[0]
                raise ValueError(
                    f"{zone}.lifecycle: current versions move to {storage_class} after {days} days, and Athena skips "
                    f"objects in {storage_class} without an error while the {zone} zone backs a queried table; use "
                    f"glacier_storage_class GLACIER_IR (and no deep_archive_after_days), or set "
                    f"{zone}.allow_unqueryable_archive: true to accept that old partitions drop out of queries"
                )
        return self

    @model_validator(mode="after")
    def _curation_fits_the_curated_zone(self) -> DataLakeConfig:
        if not self.curation.enabled:
            return self
        schema = self.curated_schema
        if schema is not None and schema.event_id_column is None:
            raise ValueError(
                f"curated_schema {schema.name!r} declares no event_id_column, which curation de-duplicates by; "
                "declare it or set curation.enabled: false"
            )
        days = self.curated.object_lock_retention_days
        if days is not None and self.curation.table_optimizers.deletes_files:
            raise ValueError(
                f"curated.object_lock_retention_days={days} locks the Iceberg files that snapshot retention and "
                "orphan file deletion delete (they would fail); set curation.table_optimizers.snapshot_retention_days "
                "and orphan_file_retention_days to null, or remove the retention"
            )
        return self

    def bucket(self, zone: str) -> BucketConfig:
        """The config of a data zone (``raw``, ``curated``, ...)."""
        return getattr(self, zone)

    def environment_problems(
        self, *, project: str, environment: str, account: str | None, region: str, allow_destroy: bool
    ) -> list[str]:
        """Rules that need the environment around the lake (names, destroy flag)."""
        problems = []
        prefix = f"{project}-{environment}"
        names = [
            bucket_name(prefix, zone, account or _ACCOUNT_PLACEHOLDER, region)
            for zone in (*DATA_ZONES, ACCESS_LOG_ZONE)
        ]
        longest = max(names, key=len)
        if len(longest) > BUCKET_NAME_MAX_LENGTH:
            problems.append(
                f"data_lake: bucket name {longest!r} has {len(longest)} characters; S3 allows at most "
                f"{BUCKET_NAME_MAX_LENGTH} (shorten the environment name or tags.project)"
            )
        elif not all(_BUCKET_NAME.match(name) for name in names):
            problems.append(
                f"data_lake: bucket name {longest!r} is not a valid S3 bucket name (lowercase letters, digits and "
                "hyphens; tags.project and the environment name must be lowercase)"
            )
        if allow_destroy:
            for zone in DATA_ZONES:
                days = self.bucket(zone).object_lock_retention_days
                if days is not None:
                    problems.append(
                        f"data_lake.{zone}.object_lock_retention_days={days} cannot be combined with "
                        "allow_destroy=True: locked object versions cannot be deleted before their retention ends"
                    )
        return problems


def bucket_name(name_prefix: str, zone: str, account: str, region: str) -> str:
    """Physical name of a lake bucket: ``<project>-<env>-<zone>-<account>-<region>``.

    It starts with ``<project>-<env>-`` (the network stack's S3 endpoint policy allows exactly that prefix)
    and carries the account and region so it is globally unique yet deterministic. ``account`` may be the
    ``AWS::AccountId`` token of an account-agnostic stack.
    """
    return f"{name_prefix}-{zone}-{account}-{region}"


def glue_database_name(name_prefix: str, zone: str) -> str:
    """Glue/Athena database name of a zone: lowercase with underscores (Athena rejects hyphens in names)."""
    return f"{name_prefix}_{zone}".replace("-", "_")


class _LakeEnvironment(Protocol):
    name: str
    account: str | None
    region: str
    data_lake: DataLakeConfig


def catalog_encryption_owner_problems(environments: Sequence[_LakeEnvironment]) -> list[str]:
    """Exactly one owner of the Data Catalog encryption settings per account and region.

    ``AWS::Glue::DataCatalogEncryptionSettings`` is one setting per account and region ("Each AWS account has
    one AWS Glue Data Catalog per AWS region", AWS Glue concepts; "You can turn on or turn off encryption
    settings for the entire Data Catalog", Encrypting your Data Catalog): two owners in one account would
    re-key each other's catalog on every deploy and break the other environment's Firehose conversion. So two
    owners in one region must each declare an account, and the accounts must differ; an environment without
    an account may own it only when it is the only owner in its region.
    """
    by_region: dict[str, list[_LakeEnvironment]] = {}
    for env in environments:
        if env.data_lake.catalog_encryption:
            by_region.setdefault(env.region, []).append(env)
    problems = []
    for region, owners in sorted(by_region.items()):
        if len(owners) < 2:
            continue
        names = ", ".join(repr(env.name) for env in owners)
        unnamed = [env.name for env in owners if env.account is None]
        accounts = [env.account for env in owners if env.account is not None]
        if unnamed:
            problems.append(
                f"environments {names}: field 'data_lake.catalog_encryption': value True in more than one "
                f"environment of region {region} while {', '.join(map(repr, unnamed))} declares no account, so they "
                "may share an account whose Glue Data Catalog encryption settings (one per account and region) each "
                "would overwrite: declare each environment's account, or set catalog_encryption=False in all but one"
            )
        elif len(set(accounts)) < len(accounts):
            shared = sorted({a for a in accounts if accounts.count(a) > 1})
            problems.append(
                f"environments {names}: field 'data_lake.catalog_encryption': value True in more than one "
                f"environment of account {', '.join(shared)} in {region}; the Glue Data Catalog encryption settings "
                "are one per account and region, so set catalog_encryption=False in all but one of them"
            )
    return problems
