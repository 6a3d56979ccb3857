"""The lake's buckets (what each bucket policy refuses), S3 server access logging, the auto-delete provider,
the curated crawler, Athena queries through the data lake's grant helpers, and the curation job
(``lake_curation``)."""

from __future__ import annotations

from ml_platform.core.curation import iceberg_table_name
from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA
from ml_platform.lake.config import DATA_ZONES
from scripts.flows.catalogue import lake_curation
from scripts.flows.catalogue.base import OTHER_ACCOUNT, Environment
from scripts.flows.catalogue.context import kms_via_s3, s3_bucket, s3_object, sse_kms
from scripts.flows.templates import PARTITION, Principal


def _bucket_cases(env: Environment) -> list[tuple[str, str, str, str, dict[str, str]]]:
    """What a role of the account whose own policies allow everything sends to a data bucket, and whether the
    bucket policy lets it through: (case, action, expected, description, condition keys)."""
    lake_key = env.key_arn("DataLakeKey")
    sse = "s3:x-amz-server-side-encryption"
    return [
        ("read-without-tls", "s3:GetObject", "deny", "plain HTTP is refused", {"aws:SecureTransport": "false"}),
        ("read-tls-1.1", "s3:GetObject", "deny", "TLS below 1.2 is refused", {"s3:TlsVersion": "1.1"}),
        ("put-sse-s3", "s3:PutObject", "deny", "SSE-S3 instead of the bucket's KMS key", {sse: "AES256"}),
        ("put-other-kms-key", "s3:PutObject", "deny", "another KMS key",
         sse_kms(lake_key.replace(env.account, OTHER_ACCOUNT))),
        ("put-kms-without-key-id", "s3:PutObject", "deny", "aws:kms without a key id (S3 would use aws/s3)",
         {sse: "aws:kms"}),
        ("put-dsse", "s3:PutObject", "deny", "dual-layer SSE", sse_kms(lake_key) | {sse: "aws:kms:dsse"}),
        ("put-lake-key", "s3:PutObject", "allow", "aws:kms naming the bucket's key (Firehose, Athena results)",
         sse_kms(lake_key)),
        ("put-default-encryption", "s3:PutObject", "allow", "no encryption header: the bucket's default SSE-KMS", {}),
    ]  # fmt: skip


def add(env: Environment) -> None:
    component = "lake"
    access_logs = env.bucket("access-logs")
    cases = _bucket_cases(env)
    for zone in DATA_ZONES:
        bucket = env.bucket(zone)
        obj = s3_object(bucket, "some/key")
        env.anonymous_request(component, f"{zone}-anonymous-read", "s3:GetObject", obj, description="unsigned read")
        zone_cases = cases + (
            [("put-ml-key", "s3:PutObject", "allow", "SageMaker's captures and results name the ML key",
              sse_kms(env.key_arn("MlKey")))]
            if zone == "capture" else []
        )  # fmt: skip
        for case, action, expected, description, context in zone_cases:
            env.workload_request(
                component,
                f"{zone}-{case}",
                action,
                obj,
                expected=expected,  # type: ignore[arg-type]
                resource_side="templates",
                description=f"{zone} bucket: {description}",
                context=context,
            )
        env.service_request(
            component,
            f"{zone}-server-access-logs",
            "logging.s3.amazonaws.com",
            "s3:PutObject",
            s3_object(access_logs, f"{zone}/2026/11/30/log"),
            expected="allow",
            description=f"S3 server access logging delivers the {zone} bucket's logs",
            source_arn=s3_bucket(bucket),
            source_account=env.account,
        )
    env.service_request(
        component,
        "server-access-logs-of-another-account",
        "logging.s3.amazonaws.com",
        "s3:PutObject",
        s3_object(access_logs, "raw/x"),
        expected="deny",
        description="S3 logging for another account's bucket cannot write into the access log bucket",
        source_arn=s3_bucket("not-ours"),
        source_account=OTHER_ACCOUNT,
    )
    _auto_delete(env)
    if env.config.data_lake.curated_crawler.enabled:
        _crawler(env)
    if env.config.data_lake.athena.query_role_principals:
        _athena_queries(env)
    if env.config.data_lake.curation.enabled:
        lake_curation.add(env)


def _auto_delete(env: Environment) -> None:
    """dev with allow_destroy: the CDK's auto-delete-objects provider empties every bucket on stack deletion."""
    roles = [r for r in env.deployment.roles(env.name) if r.logical_id.startswith("CustomS3AutoDeleteObjects")]
    if not roles:
        return
    (role,) = roles
    env.assumed_by(
        "lake", "lambda.amazonaws.com", role, name="auto-delete-assume-role",
        description="Lambda assumes the auto-delete provider's role",
    )  # fmt: skip
    for zone in (*DATA_ZONES, "access-logs"):
        bucket = env.bucket(zone)
        env.role_request(
            "lake",
            f"auto-delete-lists-{zone}",
            role,
            "s3:ListBucketVersions",
            s3_bucket(bucket),
            expected="allow",
            description=f"the auto-delete provider lists the {zone} bucket's versions",
        )
        env.role_request(
            "lake",
            f"auto-delete-deletes-{zone}",
            role,
            "s3:DeleteObjectVersion",
            s3_object(bucket, "k"),
            expected="allow",
            description=f"the auto-delete provider deletes the {zone} bucket's objects",
        )
    env.role_request(
        "lake",
        "auto-delete-writes",
        role,
        "s3:PutObject",
        s3_object(env.bucket("raw"), "k"),
        expected="deny",
        description="the auto-delete provider cannot write data",
    )


def _crawler(env: Environment) -> None:
    component = "crawler"
    role = env.role("DataLake", "CuratedCrawlerRole")
    schema = env.config.data_lake.curated_schema
    table_name = schema.name if schema else "ingest_events"
    database = f"{env.prefix}_curated".replace("-", "_")
    curated = env.bucket("curated")
    lake_key = env.key_arn("DataLakeKey")
    glue = f"arn:{PARTITION}:glue:{env.region}:{env.account}"
    env.assumed_by(component, "glue.amazonaws.com", role, description="Glue assumes the crawler role")
    env.role_allows(
        component,
        role,
        (
            ("glue:GetTable", f"{glue}:table/{database}/{table_name}"),
            ("glue:GetDatabase", f"{glue}:database/{database}"),
            ("glue:BatchCreatePartition", f"{glue}:table/{database}/{table_name}"),
            ("glue:GetPartitions", f"{glue}:table/{database}/{table_name}"),
        ),
        description="the crawler reads the table and adds its partitions",
    )
    env.role_request(
        component,
        "list-prefix",
        role,
        "s3:ListBucket",
        s3_bucket(curated),
        expected="allow",
        description="the crawler lists the table's prefix",
        context={"s3:prefix": f"{table_name}/year=2026/"},
    )
    env.role_request(
        component,
        "read-data",
        role,
        "s3:GetObject",
        s3_object(curated, f"{table_name}/year=2026/part.parquet"),
        expected="allow",
        description="the crawler reads the table's objects",
    )
    env.s3_decrypts(
        component,
        "decrypt-data",
        role,
        lake_key,
        curated,
        description="S3 decrypts the table's objects for the crawler",
    )
    env.decrypts_catalog(component, role, description="Glue decrypts the encrypted catalog for the crawler")
    group = f"/aws-glue/crawlers-role/{env.prefix}-curated-crawler-{env.prefix}-curated-crawler"
    group_arn = env.log_group_arn(group)
    crawler = f"{env.prefix}-curated"
    env.role_allows(
        component,
        role,
        (
            ("logs:CreateLogGroup", f"{group_arn}:log-stream:"),
            ("logs:AssociateKmsKey", f"{group_arn}:log-stream:"),
            ("logs:CreateLogStream", f"{group_arn}:log-stream:{crawler}"),
            ("logs:PutLogEvents", f"{group_arn}:log-stream:{crawler}"),
        ),
        description="the crawler writes its encrypted log group (Glue security configuration)",
    )
    raw = env.bucket("raw")
    env.role_request(
        component,
        "read-raw",
        role,
        "s3:GetObject",
        s3_object(raw, "events/x.parquet"),
        expected="deny",
        description="the crawler cannot read another zone",
    )
    env.role_request(
        component,
        "write-data",
        role,
        "s3:PutObject",
        s3_object(curated, f"{table_name}/x"),
        expected="deny",
        description="the crawler cannot write data",
    )


def _athena_queries(env: Environment) -> None:
    """The query role: Athena reads the catalog and the data and writes the results with the caller's permissions
    (Athena User Guide, "Access to Amazon S3 from Athena"); those S3 requests carry aws:CalledVia athena."""
    component = "athena"
    role = env.role("DataLake", "AthenaQueryRole")
    lake_key = env.key_arn("DataLakeKey")
    raw, analytics = env.bucket("raw"), env.bucket("analytics")
    via_athena = {"aws:CalledVia": ["athena.amazonaws.com"]}
    workgroup = f"arn:{PARTITION}:athena:{env.region}:{env.account}:workgroup/{env.prefix}-lake"
    glue = f"arn:{PARTITION}:glue:{env.region}:{env.account}"
    database = f"{env.prefix}_raw".replace("-", "_")
    # A principal of the account (the trust policy names the account root: IAM then decides by the caller's own
    # policies, here a role that may assume anything) assumes the query role; another account's may not.
    env.workload_request(
        component,
        "assume-role",
        "sts:AssumeRole",
        role.arn,
        expected="allow",
        resource_side="templates",
        description="an analyst's role of the account assumes the query role",
    )
    env.workload_request(
        component,
        "assume-role-from-another-account",
        "sts:AssumeRole",
        role.arn,
        expected="deny",
        principal_account=OTHER_ACCOUNT,
        resource_side="templates",
        description="a role of another account cannot assume the query role",
    )
    env.role_request(
        component,
        "start-query",
        role,
        "athena:StartQueryExecution",
        workgroup,
        expected="allow",
        description="an analyst starts a query in the lake's workgroup",
    )
    env.role_request(
        component,
        "other-workgroup",
        role,
        "athena:StartQueryExecution",
        f"{workgroup}-other",
        expected="deny",
        description="no other workgroup (whose settings are not enforced)",
    )
    env.role_request(
        component,
        "read-table",
        role,
        "glue:GetTable",
        f"{glue}:table/{database}/ingest_events",
        expected="allow",
        description="Athena reads the raw table's definition with the analyst's permissions",
    )
    obj = s3_object(raw, "events/year=2026/month=11/day=30/part-0001.parquet")
    env.role_request(
        component,
        "read-data",
        role,
        "s3:GetObject",
        obj,
        expected="allow",
        context=via_athena,
        description="Athena reads the table's objects with the analyst's permissions",
    )
    env.s3_decrypts(
        component,
        "decrypt-data",
        role,
        lake_key,
        raw,
        obj,
        context=via_athena,
        description="S3 decrypts the table's objects",
    )
    result = s3_object(analytics, "athena-results/0123-abcd.csv")
    env.role_request(
        component,
        "write-results",
        role,
        "s3:PutObject",
        result,
        expected="allow",
        context={**sse_kms(lake_key), **via_athena},
        description="Athena writes the results (SSE-KMS, lake key)",
    )
    env.role_request(
        component,
        "results-data-key",
        role,
        "kms:GenerateDataKey",
        lake_key,
        expected="allow",
        context={**kms_via_s3(env, analytics, result), **via_athena},
        description="S3 encrypts the results",
    )
    env.role_request(
        component,
        "write-raw",
        role,
        "s3:PutObject",
        s3_object(raw, "events/x"),
        expected="deny",
        context=sse_kms(lake_key),
        description="queries never write the raw zone",
    )
    env.role_request(
        component,
        "read-models",
        role,
        "s3:GetObject",
        s3_object(env.bucket("models"), "churn/1.4.0/model.tar.gz"),
        expected="deny",
        description="the query role reads only the queried tables",
    )
    if env.config.data_lake.curation.enabled:
        _athena_iceberg_queries(env, role, via_athena)


def _athena_iceberg_queries(env: Environment, role: Principal, via_athena: dict[str, list[str]]) -> None:
    """The curated Iceberg table through the query role: Athena reads the table's definition, then its metadata
    and data files under ``<table>/`` with the caller's permissions ("Query Apache Iceberg tables", Athena User
    Guide); the curation job's quarantine beside it is not a table and stays unreadable."""
    component = "athena"
    schema = env.config.data_lake.curated_schema or INGEST_EVENT_SCHEMA
    table = iceberg_table_name(schema)
    curated, lake_key = env.bucket("curated"), env.key_arn("DataLakeKey")
    database = f"{env.prefix}_curated".replace("-", "_")
    glue = f"arn:{PARTITION}:glue:{env.region}:{env.account}"
    env.role_request(
        component, "read-iceberg-table", role, "glue:GetTable", f"{glue}:table/{database}/{table}", expected="allow",
        description="Athena reads the Iceberg table's definition (its current metadata location)",
    )  # fmt: skip
    for kind, key in (
        ("metadata", f"{table}/metadata/00001-0a1b.metadata.json"),
        ("data", f"{table}/data/event_time_day=2026-11-30/00000-0-abc.parquet"),
    ):
        obj = s3_object(curated, key)
        env.role_request(
            component, f"read-iceberg-{kind}", role, "s3:GetObject", obj, expected="allow", context=via_athena,
            description=f"Athena reads the Iceberg table's {kind} files",
        )  # fmt: skip
        env.s3_decrypts(
            component, f"decrypt-iceberg-{kind}", role, lake_key, curated, obj, context=via_athena,
            description=f"S3 decrypts the Iceberg table's {kind} files",
        )  # fmt: skip
    env.role_request(
        component, "read-quarantine", role, "s3:GetObject",
        s3_object(curated, f"quarantine/{table}/run_id=jr_0123/part-0000.json"), expected="deny", context=via_athena,
        description="the quarantine (raw records that failed typing) is not a queried table",
    )  # fmt: skip
    env.role_request(
        component, "write-iceberg-data", role, "s3:PutObject", s3_object(curated, f"{table}/data/x.parquet"),
        expected="deny", context={**sse_kms(lake_key), **via_athena},
        description="queries only read: the curation job alone writes the Iceberg table",
    )  # fmt: skip
    env.role_request(
        component, "update-iceberg-table", role, "glue:UpdateTable", f"{glue}:table/{database}/{table}",
        expected="deny", description="queries never commit to the Iceberg table",
    )  # fmt: skip
