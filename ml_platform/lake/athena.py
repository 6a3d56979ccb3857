"""The lake's Athena workgroup: enforced settings, engine v3, encrypted results, a cost guardrail."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_athena as athena
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from ml_platform.core.schema import EventSchema
from ml_platform.shared.lake_access import TableRef

ENGINE_VERSION = "Athena engine version 3"


class AthenaWorkgroup(Construct):
    """An Athena workgroup whose settings clients cannot override.

    * Engine version 3; CloudWatch query metrics on.
    * Results in ``s3://<results_bucket>/<results_prefix>``, SSE-KMS with ``results_key`` (the ARN, which is
      what the results bucket's policy accepts), owner-checked.
    * Every query that would scan more than ``bytes_scanned_cutoff_per_query`` bytes is cancelled.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        results_bucket: s3.IBucket,
        results_prefix: str,
        results_key: kms.IKey,
        bytes_scanned_cutoff_per_query: int,
        delete_saved_queries_with_workgroup: bool = False,
    ) -> None:
        """
        :param name: workgroup name (changing it replaces the workgroup and its saved queries).
        :param results_bucket: and ``results_prefix`` (ends with ``/``): where query results go.
        :param results_key: encrypts query results (SSE-KMS).
        :param bytes_scanned_cutoff_per_query: per-query data usage limit in bytes (Athena's minimum: 10 MB).
        :param delete_saved_queries_with_workgroup: let a stack deletion delete the workgroup even when users
            saved queries in it. Default: off (the deletion fails instead, so saved work is not lost silently).
        """
        super().__init__(scope, construct_id)
        if not results_prefix.endswith("/"):
            raise ValueError(f"AthenaWorkgroup: results_prefix {results_prefix!r} must end with '/'")
        self.name = name
        self.output_location = f"s3://{results_bucket.bucket_name}/{results_prefix}"
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=name,
            description="ML platform data lake queries (enforced settings, encrypted results, scan cutoff)",
            state="ENABLED",
            recursive_delete_option=delete_saved_queries_with_workgroup,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(selected_engine_version=ENGINE_VERSION),
                publish_cloud_watch_metrics_enabled=True,
                requester_pays_enabled=False,
                bytes_scanned_cutoff_per_query=bytes_scanned_cutoff_per_query,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=self.output_location,
                    expected_bucket_owner=Aws.ACCOUNT_ID,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=results_key.key_arn
                    ),
                ),
            ),
        )

    def add_named_query(self, construct_id: str, *, name: str, description: str, database: str, query: str) -> None:
        """Save a query in this workgroup."""
        athena.CfnNamedQuery(
            self,
            construct_id,
            name=name,
            description=description,
            database=database,
            query_string=query,
            work_group=self.workgroup.ref,
        )


def events_per_type_query(schema: EventSchema, table: TableRef, *, year: str, month: str, day: str) -> str:
    """Example query over one day of an event table: partition predicates let projection prune to one prefix."""
    dimension = schema.event_type_column or schema.event_time_column
    return (
        f"-- Events per {dimension} on one day; edit the date. The year/month/day predicates make partition\n"
        "-- projection read a single S3 prefix (a query without them scans the whole table).\n"
        f"SELECT {dimension}, count(*) AS events\n"
        f'FROM "{table.database_name}"."{table.table_name}"\n'
        f"WHERE year = '{year}' AND month = '{month}' AND day = '{day}'\n"
        f"GROUP BY {dimension}\n"
        "ORDER BY events DESC"
    )


def iceberg_events_per_type_query(schema: EventSchema, table: TableRef, *, day: str) -> str:
    """Example query over one day of the curated Iceberg table: a predicate on the event time itself lets Iceberg's
    hidden ``day(<event time>)`` partitioning read only that day's files ("Create Iceberg tables", Athena User
    Guide: partition transforms)."""
    dimension = schema.event_type_column or schema.event_time_column
    time = schema.event_time_column
    return (
        f"-- Curated events per {dimension} on one day (UTC); edit the date. Iceberg prunes to the day's files\n"
        f"-- from the predicate on {time} (hidden partitioning: no year/month/day columns).\n"
        f"SELECT {dimension}, count(*) AS events\n"
        f'FROM "{table.database_name}"."{table.table_name}"\n'
        f"WHERE {time} >= TIMESTAMP '{day} 00:00:00 UTC'\n"
        f"  AND {time} < TIMESTAMP '{day} 00:00:00 UTC' + INTERVAL '1' DAY\n"
        f"GROUP BY {dimension}\n"
        "ORDER BY events DESC"
    )
