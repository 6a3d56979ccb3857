"""Data lake: encrypted S3 zones with lifecycle, the Glue catalog built from the event schema, Athena."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_platform.core import firehose_layout
from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA
from ml_platform.lake.athena import AthenaWorkgroup, events_per_type_query, iceberg_events_per_type_query
from ml_platform.lake.catalog import CatalogEncryption, EventTable, PartitionCrawler, catalog_database
from ml_platform.lake.config import (
    ACCESS_LOG_ZONE,
    CATALOG_ZONES,
    DATA_ZONES,
    LifecycleConfig,
    bucket_name,
    glue_database_name,
)
from ml_platform.lake.curation import Curation
from ml_platform.shared.compliance import acknowledge_finding, acknowledge_resource_wildcards
from ml_platform.shared.dashboard import DashboardSection
from ml_platform.shared.encrypted_bucket import (
    AccessLogBucket,
    EncryptedBucket,
    tidy_auto_delete_provider,
    tiering_rule,
)
from ml_platform.shared.lake_access import (
    TableRef,
    athena_query_statements,
    grant,
    grant_object_read,
    grant_object_write,
    grant_table_read,
)
from ml_platform.shared.stack import PlatformStack

ATHENA_RESULTS_PREFIX = "athena-results/"
ANALYTICS_WAREHOUSE_PREFIX = "warehouse/"
# Where the raw table's partitions live: exactly where the Firehose delivery stream writes them.
RAW_EVENTS_PREFIX = firehose_layout.data_location()
# Everything the ingest delivery stream writes: converted data, failed records, source backup.
FIREHOSE_PREFIXES: tuple[str, ...] = (
    RAW_EVENTS_PREFIX,
    f"{firehose_layout.ERROR_ROOT}/",
    f"{firehose_layout.BACKUP_ROOT}/",
)

_REPLICATION_REASON = (
    "Cross-Region replication needs a replica bucket and KMS key in a second Region, which no environment "
    "declares yet (a disaster-recovery decision outside the lake issue). Within the Region S3 stores objects "
    "across at least three AZs; versioning, RETAIN and the TLS/encryption policies protect the data."
)


def _construct_id(zone: str) -> str:
    return "".join(part.capitalize() for part in zone.split("-"))


def _lifecycle(config: LifecycleConfig, *, rule_id: str = "tiering") -> s3.LifecycleRule:
    return tiering_rule(rule_id=rule_id, **config.model_dump())


class DataLakeStack(PlatformStack):
    """Stateful: the lake buckets, catalog databases and tables; plus the crawler and Athena workgroup.

    Exposes the buckets (``raw_bucket``, ``curated_bucket``, ``analytics_bucket``, ``models_bucket``,
    ``capture_bucket``, ``access_log_bucket``), ``lake_key``, ``database_names``, ``raw_table`` and
    ``curated_table`` (:class:`~ml_platform.lake.catalog.TableRef`), ``workgroup_name``, and grant
    methods that give consumers least-privilege access including the key.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lake_key: kms.IKey,
        logs_key: kms.IKey,
        ml_key: kms.IKey | None = None,
        alarm_topic: sns.ITopic | None = None,
        **kwargs: Any,
    ) -> None:
        """
        :param lake_key: encrypts every data zone, the catalog and Athena results (SecurityStack.data_lake_key).
        :param alarm_topic: where the curation job's alarms go; required while ``data_lake.curation`` is enabled.
            Default: none.
        :param ml_key: the ML key SageMaker writes data capture, asynchronous results and monitoring reports
            with; the capture bucket accepts puts naming it besides the lake key. Default: none (lake key only).
        :param logs_key: encrypts the crawler's and the auto-delete function's log groups (SecurityStack.logs_key).
        """
        super().__init__(scope, construct_id, description="S3 lake zones, Glue catalog and Athena", **kwargs)
        lake = self.config.data_lake
        removal = self.stateful_removal_policy
        self.lake_key = lake_key

        # ------------------------------------------------------------------ buckets
        self.access_log_bucket = AccessLogBucket(
            self,
            "AccessLogBucket",
            bucket_name=self._bucket_name(ACCESS_LOG_ZONE),
            lifecycle_rules=[_lifecycle(lake.access_logs.lifecycle)],
            removal_policy=removal,
        )
        buckets: dict[str, EncryptedBucket] = {}
        for zone in DATA_ZONES:
            zone_config = lake.bucket(zone)
            rules = [_lifecycle(zone_config.lifecycle)]
            if zone == "analytics":
                rules.append(
                    s3.LifecycleRule(
                        id="athena-results-expiry",
                        enabled=True,
                        prefix=ATHENA_RESULTS_PREFIX,
                        expiration=Duration.days(lake.athena.results_expire_after_days),
                        noncurrent_version_expiration=Duration.days(1),
                    )
                )
            buckets[zone] = EncryptedBucket(
                self,
                f"{_construct_id(zone)}Bucket",
                bucket_name=self._bucket_name(zone),
                encryption_key=lake_key,
                access_log_bucket=self.access_log_bucket,
                access_log_prefix=f"{zone}/",
                lifecycle_rules=rules,
                removal_policy=removal,
                versioned=zone_config.versioned,
                object_lock_retention_days=zone_config.object_lock_retention_days,
                additional_put_keys=[ml_key] if zone == "capture" and ml_key is not None else [],
            )
        self.raw_bucket: s3.IBucket = buckets["raw"]
        self.curated_bucket: s3.IBucket = buckets["curated"]
        self.analytics_bucket: s3.IBucket = buckets["analytics"]
        self.models_bucket: s3.IBucket = buckets["models"]
        self.capture_bucket: s3.IBucket = buckets["capture"]
        tidy_auto_delete_provider(
            self,
            log_key=logs_key,
            retention_days=self.config.resolved_log_retention_days,
            removal_policy=removal,
        )
        for bucket in (*buckets.values(), self.access_log_bucket):
            acknowledge_finding(bucket, "S3BucketReplicationEnabled", reason=_REPLICATION_REASON)

        # ------------------------------------------------------------------ catalog
        locations = {
            "raw": f"s3://{self.raw_bucket.bucket_name}/",
            "curated": f"s3://{self.curated_bucket.bucket_name}/",
            "analytics": f"s3://{self.analytics_bucket.bucket_name}/{ANALYTICS_WAREHOUSE_PREFIX}",
        }
        self.database_names: dict[str, str] = {}
        databases: dict[str, glue.CfnDatabase] = {}
        for zone in CATALOG_ZONES:
            name = glue_database_name(self.name_prefix, zone)
            self.database_names[zone] = name
            databases[zone] = catalog_database(
                self,
                f"{_construct_id(zone)}Database",
                name=name,
                location_uri=locations[zone],
                description=f"ML platform {self.config.name}: {zone} zone",
                removal_policy=removal,
            )
        raw_table = EventTable(
            self,
            "RawEventsTable",
            database=databases["raw"],
            database_name=self.database_names["raw"],
            schema=INGEST_EVENT_SCHEMA,
            bucket=self.raw_bucket,
            prefix=RAW_EVENTS_PREFIX,
            partition_projection=True,
            removal_policy=removal,
            description=(
                f"Ingest events v{INGEST_EVENT_SCHEMA.version} as delivered by Firehose (Parquet); partitions "
                "are projected, no crawler needed."
            ),
        )
        self.raw_table = raw_table.ref
        self.raw_table_database_name = self.raw_table.database_name
        self.raw_table_name = self.raw_table.table_name
        curated_schema = lake.curated_schema or INGEST_EVENT_SCHEMA
        crawler_config = lake.curated_crawler
        curated_table = EventTable(
            self,
            "CuratedEventsTable",
            database=databases["curated"],
            database_name=self.database_names["curated"],
            schema=curated_schema,
            bucket=self.curated_bucket,
            prefix=f"{curated_schema.name}/",
            partition_projection=not crawler_config.enabled,
            removal_policy=removal,
            description=(
                f"Curated {curated_schema.name} v{curated_schema.version} (Parquet); partitions are "
                + ("added by the curated crawler." if crawler_config.enabled else "projected, no crawler needed.")
            ),
        )
        self.curated_table = curated_table.ref
        self.curated_crawler: PartitionCrawler | None = None
        if crawler_config.enabled:
            self.curated_crawler = PartitionCrawler(
                self,
                "CuratedCrawler",
                name=f"{self.name_prefix}-curated",
                table=curated_table,
                bucket=self.curated_bucket,
                prefix=f"{curated_schema.name}/",
                data_key=lake_key,
                logs_key=logs_key,
                log_retention_days=self.config.resolved_log_retention_days,
                removal_policy=removal,
                schedule=crawler_config.schedule,
            )
        self.catalog_key: kms.IKey | None = None
        if lake.catalog_encryption:
            CatalogEncryption(self, "CatalogEncryption", key=lake_key)
            self.catalog_key = lake_key
        self.curation: Curation | None = None
        if lake.curation.enabled:
            if alarm_topic is None:
                raise ValueError("DataLakeStack: data_lake.curation is enabled, so pass alarm_topic for its alarms")
            self.curation = Curation(
                self,
                "Curation",
                name=f"{self.name_prefix}-curation",
                config=lake.curation,
                schema=curated_schema,
                database=databases["curated"],
                database_name=self.database_names["curated"],
                raw_bucket=self.raw_bucket,
                raw_prefix=RAW_EVENTS_PREFIX,
                curated_bucket=self.curated_bucket,
                data_key=lake_key,
                logs_key=logs_key,
                log_retention_days=self.config.resolved_log_retention_days,
                removal_policy=removal,
                alarm_topic=alarm_topic,
            )

        # ------------------------------------------------------------------ Athena
        workgroup = AthenaWorkgroup(
            self,
            "Athena",
            name=f"{self.name_prefix}-lake",
            results_bucket=self.analytics_bucket,
            results_prefix=ATHENA_RESULTS_PREFIX,
            results_key=lake_key,
            bytes_scanned_cutoff_per_query=lake.athena.bytes_scanned_cutoff_per_query,
            delete_saved_queries_with_workgroup=self.config.destroy_on_delete,
        )
        workgroup.add_named_query(
            "RawEventsPerTypeQuery",
            name="raw-events-per-type-one-day",
            description="Example: ingest events per type for one day of the raw zone (partition-pruned).",
            database=self.database_names["raw"],
            query=events_per_type_query(INGEST_EVENT_SCHEMA, self.raw_table, year="2025", month="01", day="01"),
        )
        self.workgroup_name = workgroup.name
        self.athena_results_location = workgroup.output_location
        self._query_tables = [
            (self.raw_table, self.raw_bucket, RAW_EVENTS_PREFIX),
            (self.curated_table, self.curated_bucket, f"{curated_schema.name}/"),
        ]
        self.iceberg_table: TableRef | None = None
        if self.curation is not None:
            self.iceberg_table = self.curation.ref
            self._query_tables.append((self.iceberg_table, self.curated_bucket, self.curation.table.prefix))
            workgroup.add_named_query(
                "CuratedEventsPerTypeQuery",
                name="curated-events-per-type-one-day",
                description="Example: curated events per type for one day of the Iceberg table (partition-pruned).",
                database=self.database_names["curated"],
                query=iceberg_events_per_type_query(curated_schema, self.iceberg_table, day="2025-01-01"),
            )
        self.query_role: iam.Role | None = None
        if lake.athena.query_role_principals:
            self.query_role = self._query_role(lake.athena.query_role_principals)

    # ------------------------------------------------------------------ monitoring contributions
    @property
    def critical_alarms(self) -> list[cloudwatch.IAlarm]:
        """None: the curation job's alarms notify the alarm topic themselves (a late curated table is not a platform
        outage), and a failed crawler run is forwarded as an event (``crawler_names``)."""
        return []

    @property
    def crawler_names(self) -> list[str]:
        """The Glue crawlers whose failed runs the monitoring component forwards to the alarm topic."""
        return [self.curated_crawler.crawler.ref] if self.curated_crawler is not None else []

    def dashboard_section(self) -> DashboardSection | None:
        """The curation job (rows, rules, duration, failed runs) and the curated crawler's runs and failures, from
        its log group; None with neither."""
        rows = list(self.curation.dashboard_section().rows) if self.curation is not None else []
        if self.curated_crawler is not None:
            rows.append(
                [
                    cloudwatch.LogQueryWidget(
                        title="Curated crawler runs and failures",
                        log_group_names=[self.curated_crawler.log_group.log_group_name],
                        query_lines=[
                            "fields @timestamp, @message",
                            "filter @message like /(Crawler has finished|ERROR|Failed)/",
                            "sort @timestamp desc",
                            "limit 50",
                        ],
                        width=24,
                        height=6,
                    )
                ]
            )
        return DashboardSection(title="Data lake", rows=rows) if rows else None

    def _query_role(self, principals: Sequence[str]) -> iam.Role:
        """A role the configured principals assume to query the raw and curated tables in the workgroup."""
        role = iam.Role(
            self,
            "AthenaQueryRole",
            role_name=f"{self.name_prefix}-athena-query",
            assumed_by=iam.CompositePrincipal(*(iam.ArnPrincipal(arn) for arn in principals)),
            description=f"Athena queries over the {self.config.name} lake's raw and curated tables",
        )
        policy = iam.ManagedPolicy(
            self,
            "AthenaQueryPolicy",
            description="Query the raw and curated tables in the lake workgroup; results under athena-results/",
            statements=self._athena_query_statements(),
            roles=[role],
        )
        acknowledge_resource_wildcards(
            policy,
            suffixes=[*(f"/{prefix}*" for _, _, prefix in self._query_tables), f"/{ATHENA_RESULTS_PREFIX}*"],
            reason="Athena reads every object of a table's partitions and writes results under names it "
            "generates; each grant is limited to the table's own prefix or the workgroup's results prefix.",
        )
        return role

    def _athena_query_statements(self) -> list[iam.PolicyStatement]:
        return athena_query_statements(
            workgroup_arn=self.format_arn(service="athena", resource="workgroup", resource_name=self.workgroup_name),
            tables=self._query_tables,
            results_bucket=self.analytics_bucket,
            results_prefix=ATHENA_RESULTS_PREFIX,
            key=self.lake_key,
            catalog_key=self.catalog_key,
        )

    # ------------------------------------------------------------------ naming
    def _bucket_name(self, zone: str) -> str:
        return bucket_name(self.name_prefix, zone, self.account, self.region)

    # ------------------------------------------------------------------ grants
    def grant_read_models(self, grantee: iam.IGrantable, prefix: str = "") -> iam.Grant:
        """Read model artifacts under ``prefix`` of the models bucket (e.g. a SageMaker execution role)."""
        return grant_object_read(grantee, bucket=self.models_bucket, key=self.lake_key, prefix=prefix)

    def grant_write_capture(self, grantee: iam.IGrantable, prefix: str = "") -> iam.Grant:
        """Write endpoint data capture under ``prefix`` of the capture bucket.

        Configure the endpoint's ``DataCaptureConfig.KmsKeyId`` with ``lake_key.key_arn`` (the ARN: the bucket
        policy denies ``aws:kms`` puts naming any other key, by id, alias or ARN) or leave it unset.
        """
        return grant_object_write(grantee, bucket=self.capture_bucket, key=self.lake_key, prefixes=[prefix])

    def grant_write_raw(self, grantee: iam.IGrantable, prefixes: Sequence[str] = FIREHOSE_PREFIXES) -> iam.Grant:
        """What a Firehose delivery stream needs on the raw bucket: write (and read back, list) ``prefixes``.

        Default: the delivery stream's data, error and backup prefixes (``ml_platform.core.firehose_layout``).
        Firehose's own S3 access guide also lists ``s3:GetObject`` and ``s3:ListBucket``.
        """
        grant = grant_object_write(grantee, bucket=self.raw_bucket, key=self.lake_key, prefixes=prefixes)
        for prefix in prefixes:
            grant = grant.combine(grant_object_read(grantee, bucket=self.raw_bucket, key=self.lake_key, prefix=prefix))
        return grant

    def grant_athena_query(self, grantee: iam.IGrantable) -> iam.Grant:
        """Query the raw and curated tables in the lake's workgroup (what the query role has)."""
        return grant(grantee, self._athena_query_statements())

    def grant_read_raw_table(self, grantee: iam.IGrantable) -> iam.Grant:
        """Read the raw table's definition (Firehose's Parquet conversion), incl. the catalog key if encrypted."""
        return grant_table_read(grantee, table=self.raw_table, catalog_key=self.catalog_key)
