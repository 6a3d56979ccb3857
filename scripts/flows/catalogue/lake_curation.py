"""The curation job's and the table optimizers' requests: what Glue does with each role at run time (allowed), and
what each role must be refused (writing the raw zone, reading zones it does not use, other tables and prefixes).

The job reads Firehose's Parquet under ``events/`` of the raw bucket, reads and writes the Iceberg table's files
(``<table>/data/``, ``<table>/metadata/``: Iceberg's S3FileIO sends no encryption header, so the bucket's default
SSE-KMS applies) and commits it in the catalog, writes the quarantine through Spark (EMRFS with the security
configuration's SSE-KMS header naming the lake key, through a ``_temporary`` folder it deletes), encrypts its
bookmarks and writes its logs and metrics.
"""

from __future__ import annotations

from ml_platform.core.curation import iceberg_table_name
from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA
from scripts.flows.catalogue.base import Environment
from scripts.flows.catalogue.context import kms_via, kms_via_s3, s3_bucket, s3_object, sse_kms
from scripts.flows.templates import PARTITION


def add(env: Environment) -> None:
    schema = env.config.data_lake.curated_schema or INGEST_EVENT_SCHEMA
    table = iceberg_table_name(schema)
    _job(env, table)
    _optimizers(env, table)


def _glue(env: Environment) -> str:
    return f"arn:{PARTITION}:glue:{env.region}:{env.account}"


def _job(env: Environment, table: str) -> None:
    component = "curation"
    role = env.role("DataLake", "CurationJobRole")
    name = f"{env.prefix}-curation"
    raw, curated = env.bucket("raw"), env.bucket("curated")
    lake_key, logs_key = env.key_arn("DataLakeKey"), env.key_arn("LogsKey")
    database = f"{env.prefix}_curated".replace("-", "_")
    glue = _glue(env)
    env.assumed_by(component, "glue.amazonaws.com", role, description="Glue assumes the curation job's role")
    # The script and the module archive, from the CDK bootstrap bucket (the job's DefaultArguments name them)
    view = env.view("DataLake")
    (job,) = view.of_type("AWS::Glue::Job").values()
    for argument, path in (
        ("script", job["Properties"]["Command"]["ScriptLocation"]),
        ("modules", job["Properties"]["DefaultArguments"]["--extra-py-files"]),
    ):
        location = str(view.resolve(path)).removeprefix("s3://")
        env.role_request(
            component, f"read-{argument}", role, "s3:GetObject", f"arn:{PARTITION}:s3:::{location}", expected="allow",
            description=f"Glue fetches the job's {argument} with the job's role",
        )  # fmt: skip
    # ------------------------------------------------------------------ raw zone: read only
    env.role_request(
        component, "list-raw", role, "s3:ListBucket", s3_bucket(raw), expected="allow",
        context={"s3:prefix": "events/"}, description="the bookmarked reader lists Firehose's data prefix",
    )  # fmt: skip
    raw_object = s3_object(raw, "events/year=2026/month=11/day=30/ingest-1-2026-11-30-10-00-00-abc.parquet")
    env.role_request(
        component, "read-raw", role, "s3:GetObject", raw_object, expected="allow",
        description="the job reads the raw events written since its last run",
    )  # fmt: skip
    env.s3_decrypts(component, "decrypt-raw", role, lake_key, raw, description="S3 decrypts the raw objects")
    env.role_request(
        component, "write-raw", role, "s3:PutObject", s3_object(raw, "events/x.parquet"), expected="deny",
        description="the job never writes the raw zone",
    )  # fmt: skip
    env.role_request(
        component, "read-raw-errors", role, "s3:GetObject", s3_object(raw, "errors/processing-failed/x"),
        expected="deny", description="the job reads only Firehose's data prefix of the raw zone",
    )  # fmt: skip
    # ------------------------------------------------------------------ the Iceberg table
    data_file = s3_object(curated, f"{table}/data/event_time_day=2026-11-30/00000-1-abc.parquet")
    metadata = s3_object(curated, f"{table}/metadata/00001-abc.metadata.json")
    env.role_request(
        component, "read-table-metadata", role, "s3:GetObject", metadata, expected="allow",
        description="Iceberg reads the table's current metadata",
    )  # fmt: skip
    for case, obj in (("write-data-file", data_file), ("write-metadata", metadata)):
        env.role_request(
            component, case, role, "s3:PutObject", obj, expected="allow",
            description="Iceberg's S3FileIO writes data and metadata files (no encryption header: bucket default)",
        )  # fmt: skip
    env.role_request(
        component, "table-data-key", role, "kms:GenerateDataKey", lake_key, expected="allow",
        context=kms_via_s3(env, curated, f"{table}/data/x.parquet"), description="S3 encrypts the table's files",
    )  # fmt: skip
    env.role_request(
        component, "delete-table-file", role, "s3:DeleteObject", data_file, expected="deny",
        description="the job never deletes table files (expiry is the optimizers')",
    )  # fmt: skip
    env.role_allows(
        component,
        role,
        (
            ("glue:GetDatabase", f"{glue}:database/{database}"),
            ("glue:GetTable", f"{glue}:table/{database}/{table}"),
            ("glue:UpdateTable", f"{glue}:table/{database}/{table}"),
        ),
        description="Iceberg's Glue catalog loads the table and commits the new snapshot",
        name_prefix="table-",
    )
    env.decrypts_catalog(component, role, description="Glue decrypts the encrypted catalog for the job")
    env.role_request(
        component, "encrypt-catalog", role, "kms:GenerateDataKey", lake_key, expected="allow",
        context=kms_via(env, "glue"), description="Glue encrypts the table's new metadata in the catalog",
    )  # fmt: skip
    for case, action, resource, description in (
        ("update-raw-table", "glue:UpdateTable", f"{glue}:table/{database.replace('_curated', '_raw')}/ingest_events",
         "the job cannot change the raw table"),
        ("update-hive-table", "glue:UpdateTable", f"{glue}:table/{database}/ingest_events",
         "the job changes only its own table"),
        ("delete-table", "glue:DeleteTable", f"{glue}:table/{database}/{table}", "the job cannot drop its table"),
    ):  # fmt: skip
        env.role_request(component, case, role, action, resource, expected="deny", description=description)
    # ------------------------------------------------------------------ quarantine
    quarantine = s3_object(curated, f"quarantine/{table}/run_id=jr_1/part-00000.json")
    env.role_request(
        component, "write-quarantine", role, "s3:PutObject", quarantine, expected="allow",
        context=sse_kms(lake_key), description="Spark writes malformed rows (SSE-KMS from the security configuration)",
    )  # fmt: skip
    env.role_request(
        component, "commit-quarantine", role, "s3:DeleteObject",
        s3_object(curated, f"quarantine/{table}/run_id=jr_1/_temporary/0/part-00000.json"), expected="allow",
        description="Spark's commit protocol deletes its temporary files",
    )  # fmt: skip
    env.role_request(
        component, "list-quarantine", role, "s3:ListBucket", s3_bucket(curated), expected="allow",
        context={"s3:prefix": f"quarantine/{table}/"}, description="Spark lists its output folder",
    )  # fmt: skip
    env.role_request(
        component, "write-other-curated-prefix", role, "s3:PutObject", s3_object(curated, "ingest_events/x"),
        expected="deny", description="the job writes only its table and quarantine prefixes",
    )  # fmt: skip
    # ------------------------------------------------------------------ zones it does not use
    for zone, key in (("models", "churn/1.4.0/model.tar.gz"), ("analytics", "warehouse/x"), ("capture", "x")):
        env.role_request(
            component, f"read-{zone}", role, "s3:GetObject", s3_object(env.bucket(zone), key), expected="deny",
            description=f"the job cannot read the {zone} zone",
        )  # fmt: skip
    # ------------------------------------------------------------------ bookmarks, logs, metrics
    env.role_request(
        component, "bookmark-data-key", role, "kms:GenerateDataKey", lake_key, expected="allow",
        description="job bookmarks are encrypted client-side with the lake key (CSE-KMS)",
        unverified="which service calls KMS for CSE-KMS bookmarks (and so its context keys) is not documented",
    )  # fmt: skip
    for kind in ("error", "output"):
        group = env.log_group_arn(f"/aws-glue/jobs/{name}/{kind}")
        env.role_allows(
            component,
            role,
            (
                ("logs:CreateLogStream", f"{group}:log-stream:jr_1-driver"),
                ("logs:PutLogEvents", f"{group}:log-stream:jr_1-driver"),
                ("logs:AssociateKmsKey", f"{group}:log-stream:"),
            ),
            description=f"the job writes its {kind} log group (--custom-logGroup-prefix)",
            name_prefix=f"{kind}-",
        )
    env.role_request(
        component, "logs-key", role, "kms:GenerateDataKey", logs_key, expected="allow",
        description="the Glue guide's use of the logs key by a role with a security configuration",
    )  # fmt: skip
    env.role_request(
        component, "other-log-group", role, "logs:PutLogEvents",
        f"{env.log_group_arn('/aws-glue/jobs/other/error')}:log-stream:x", expected="deny",
        description="no other job's log group",
    )  # fmt: skip
    for namespace in ("MlPlatform/Curation", "Glue Data Quality", "Glue"):
        env.role_request(
            component, f"metrics-{namespace.replace(' ', '-').replace('/', '-')}", role, "cloudwatch:PutMetricData",
            "*", expected="allow", context={"cloudwatch:namespace": namespace},
            description="the job's, Glue's and Data Quality's metrics",
        )  # fmt: skip
    env.role_request(
        component, "metrics-elsewhere", role, "cloudwatch:PutMetricData", "*", expected="deny",
        context={"cloudwatch:namespace": "AWS/Glue"}, description="no metrics into other namespaces",
    )  # fmt: skip


def _optimizers(env: Environment, table: str) -> None:
    optimizers = env.config.data_lake.curation.table_optimizers
    if not (optimizers.compaction or optimizers.deletes_files):
        return
    component = "table-optimizers"
    role = env.role("DataLake", "CurationOptimizersRole")
    curated = env.bucket("curated")
    lake_key = env.key_arn("DataLakeKey")
    database = f"{env.prefix}_curated".replace("-", "_")
    glue = _glue(env)
    env.assumed_by(component, "glue.amazonaws.com", role, description="Glue assumes the table optimizers' role")
    env.role_allows(
        component,
        role,
        (
            ("glue:GetTable", f"{glue}:table/{database}/{table}"),
            ("glue:UpdateTable", f"{glue}:table/{database}/{table}"),
        ),
        description="an optimizer reads the table and commits its rewrite or expiry",
    )
    env.decrypts_catalog(component, role, description="Glue decrypts the encrypted catalog for the optimizers")
    data_file = s3_object(curated, f"{table}/data/event_time_day=2026-11-30/00000-1-abc.parquet")
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        env.role_request(
            component, action, role, action, data_file, expected="allow",
            description="compaction rewrites data files, retention and orphan deletion delete them",
        )  # fmt: skip
    env.role_request(
        component, "list-table", role, "s3:ListBucket", s3_bucket(curated), expected="allow",
        context={"s3:prefix": f"{table}/"}, description="orphan file deletion lists the table's location",
    )  # fmt: skip
    env.s3_decrypts(component, "decrypt-table", role, lake_key, curated, description="S3 decrypts the table's files")
    env.role_request(
        component, "table-data-key", role, "kms:GenerateDataKey", lake_key, expected="allow",
        context=kms_via_s3(env, curated, f"{table}/data/x.parquet"), description="S3 encrypts rewritten files",
    )  # fmt: skip
    group = env.log_group_arn("/aws-glue/iceberg-compaction/logs")
    env.role_allows(
        component,
        role,
        (("logs:CreateLogStream", f"{group}:log-stream:x"), ("logs:PutLogEvents", f"{group}:log-stream:x")),
        description="compaction writes Glue's optimizer log group",
    )
    for case, action, resource, description in (
        ("delete-quarantine", "s3:DeleteObject", s3_object(curated, f"quarantine/{table}/x.json"),
         "the optimizers touch only the table's prefix"),
        ("read-raw", "s3:GetObject", s3_object(env.bucket("raw"), "events/x.parquet"), "no other zone"),
        ("update-raw-table", "glue:UpdateTable",
         f"{glue}:table/{database.replace('_curated', '_raw')}/ingest_events", "no other table"),
    ):  # fmt: skip
        env.role_request(component, case, role, action, resource, expected="deny", description=description)
