"""The Glue catalog (databases, tables from the event schema, the curated crawler, catalog encryption) and Athena."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from ml_platform.core import firehose_layout
from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA
from ml_platform.lake.catalog import PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT, PARQUET_SERDE
from tests.lake.conftest import ENVS, bucket, flatten, lake, lake_key, one, statement_resources


# --------------------------------------------------------------------------------------- catalog
@pytest.mark.parametrize("env", ENVS)
def test_one_database_per_catalog_zone(platform, env):
    names = {
        r["Properties"]["DatabaseInput"]["Name"]
        for r in lake(platform, env).values()
        if r["Type"] == "AWS::Glue::Database"
    }
    assert names == {f"ml_platform_{env}_{zone}" for zone in ("raw", "curated", "analytics")}
    assert platform.stages[env].data_lake.database_names["raw"] == f"ml_platform_{env}_raw"


def _table(platform, env: str, prefix: str) -> dict[str, Any]:
    return one(platform, env, "AWS::Glue::Table", prefix)[1]["Properties"]


@pytest.mark.parametrize("env", ENVS)
def test_raw_table_is_the_schema(platform, env):
    # Given the raw events table, Then columns, partition keys and formats come from the schema module
    props = _table(platform, env, "RawEventsTable")
    table = props["TableInput"]
    descriptor = table["StorageDescriptor"]
    assert props["DatabaseName"] == f"ml_platform_{env}_raw"
    assert table["Name"] == INGEST_EVENT_SCHEMA.name
    assert table["TableType"] == "EXTERNAL_TABLE"
    assert descriptor["Columns"] == [
        {"Name": c["name"], "Type": c["type"], "Comment": c["comment"]} for c in INGEST_EVENT_SCHEMA.glue_columns()
    ]
    assert table["PartitionKeys"] == [
        {"Name": c["name"], "Type": c["type"], "Comment": c["comment"]}
        for c in INGEST_EVENT_SCHEMA.glue_partition_keys()
    ]
    assert descriptor["SerdeInfo"]["SerializationLibrary"] == PARQUET_SERDE
    assert (
        descriptor["InputFormat"]
        == PARQUET_INPUT_FORMAT
        == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    )
    assert descriptor["OutputFormat"] == PARQUET_OUTPUT_FORMAT
    assert table["Parameters"]["classification"] == "parquet"


@pytest.mark.parametrize("env", ENVS)
def test_raw_table_projection_equals_the_schema_module(platform, env):
    table = _table(platform, env, "RawEventsTable")["TableInput"]
    raw_id, _ = bucket(platform, env, "raw")
    location = flatten(table["StorageDescriptor"]["Location"])
    assert location == f"s3://<{raw_id}>/{firehose_layout.data_location()}"
    parameters = {k: flatten(v) for k, v in table["Parameters"].items()}
    expected = INGEST_EVENT_SCHEMA.projection_parameters(location)
    assert {k: v for k, v in parameters.items() if k not in ("classification", "EXTERNAL")} == expected


@pytest.mark.parametrize("env", ENVS)
def test_projection_template_is_exactly_the_firehose_layout(platform, env):
    # Given the raw table's projection template and the prefix Firehose writes for the same record
    table = _table(platform, env, "RawEventsTable")["TableInput"]
    template = flatten(table["Parameters"]["storage.location.template"])
    raw_id, _ = bucket(platform, env, "raw")
    keys = INGEST_EVENT_SCHEMA.partition_keys
    values = {"year": "2025", "month": "03", "day": "07"}
    # When both are expanded for one partition, Then they name the same S3 prefix
    expanded = template
    for key in keys:
        expanded = expanded.replace(f"${{{key}}}", values[key])
    assert expanded == f"s3://<{raw_id}>/" + firehose_layout.render_data_prefix(keys, values)
    # And the Firehose prefix expression has exactly the template's shape
    firehose = re.sub(r"!\{partitionKeyFromLambda:(\w+)\}", r"${\1}", firehose_layout.data_prefix(keys))
    assert template == f"s3://<{raw_id}>/{firehose}"


def test_curated_table_projects_partitions_without_crawler_in_dev(platform):
    table = _table(platform, "dev", "CuratedEventsTable")["TableInput"]
    assert table["Parameters"]["projection.enabled"] == "true"
    assert (
        table["StorageDescriptor"]["Columns"]
        == _table(platform, "dev", "RawEventsTable")["TableInput"]["StorageDescriptor"]["Columns"]
    )
    assert not [r for r in lake(platform, "dev").values() if r["Type"] == "AWS::Glue::Crawler"]
    assert platform.stages["dev"].data_lake.curated_crawler is None


def test_prod_crawler_maintains_curated_partitions_with_encrypted_logs(platform):
    # Given prod, where the curated crawler is on
    config = platform.environments["prod"].data_lake.curated_crawler
    assert config.enabled
    _, crawler = one(platform, "prod", "AWS::Glue::Crawler")
    props = crawler["Properties"]
    # Then it targets the curated table, keeps the declared columns, runs on the configured schedule
    assert props["Targets"] == {
        "CatalogTargets": [{"DatabaseName": "ml_platform_prod_curated", "Tables": [INGEST_EVENT_SCHEMA.name]}]
    }
    assert props["SchemaChangePolicy"] == {"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"}
    assert props["Schedule"] == {"ScheduleExpression": config.schedule}
    assert (
        json.loads(props["Configuration"])["CrawlerOutput"]["Partitions"]["AddOrUpdateBehavior"] == "InheritFromTable"
    )
    # And the curated table has no projection (the crawler adds partitions)
    assert "projection.enabled" not in _table(platform, "prod", "CuratedEventsTable")["TableInput"]["Parameters"]
    # And its security configuration encrypts S3 and bookmarks with the lake key, logs with the logs key
    _, security = one(platform, "prod", "AWS::Glue::SecurityConfiguration", "CuratedCrawler")
    encryption = security["Properties"]["EncryptionConfiguration"]
    assert props["CrawlerSecurityConfiguration"] == {
        "Ref": one(platform, "prod", "AWS::Glue::SecurityConfiguration", "CuratedCrawler")[0]
    }
    assert encryption["S3Encryptions"][0]["S3EncryptionMode"] == "SSE-KMS"
    assert lake_key(encryption["S3Encryptions"][0]["KmsKeyArn"])
    assert encryption["JobBookmarksEncryption"]["JobBookmarksEncryptionMode"] == "CSE-KMS"
    assert encryption["CloudWatchEncryption"]["CloudWatchEncryptionMode"] == "SSE-KMS"
    assert "LogsKey" in flatten(encryption["CloudWatchEncryption"]["KmsKeyArn"])
    # And its log group exists encrypted, with the environment's retention
    _, log_group = one(platform, "prod", "AWS::Logs::LogGroup", "CuratedCrawler")
    assert log_group["Properties"]["LogGroupName"] == (
        "/aws-glue/crawlers-role/ml-platform-prod-curated-crawler-ml-platform-prod-curated-crawler"
    )
    assert "LogsKey" in flatten(log_group["Properties"]["KmsKeyId"])
    assert log_group["Properties"]["RetentionInDays"] == platform.environments["prod"].resolved_log_retention_days


def test_crawler_role_is_least_privilege(platform):
    _, policy = one(platform, "prod", "AWS::IAM::ManagedPolicy", "CuratedCrawler")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = [a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
    assert not [a for a in actions if "*" in a]
    resources = [r for s in statements for r in statement_resources(s)]
    assert not [r for r in resources if r == "*"]
    # object access only under the curated table's prefix
    (read,) = [s for s in statements if s.get("Sid") == "TableDataObjects"]
    assert statement_resources(read) == [f"<{bucket(platform, 'prod', 'curated')[0]}.Arn>/{INGEST_EVENT_SCHEMA.name}/*"]
    # and the encrypted log group by the ":*" form CloudWatch Logs authorizes stream writes against (regression:
    # the bare group ARN matched only the tagging actions, so the crawler could not create its stream)
    (logs,) = [s for s in statements if s.get("Sid") == "WriteTheEncryptedLogGroup"]
    (log_groups,) = statement_resources(logs)
    assert log_groups.endswith("-crawler:*") and ":log-group:/aws-glue/crawlers-role/" in log_groups
    assert {"logs:CreateLogStream", "logs:PutLogEvents", "logs:AssociateKmsKey"} <= set(logs["Action"])
    assert not [r for r in lake(platform, "prod").values() if r["Type"] == "AWS::IAM::Policy"]
    _, role = one(platform, "prod", "AWS::IAM::Role", "CuratedCrawler")
    assert "ManagedPolicyArns" not in role["Properties"] or all(
        "aws:policy" not in flatten(a) for a in role["Properties"]["ManagedPolicyArns"]
    )


@pytest.mark.parametrize("env", ENVS)
def test_catalog_encryption_uses_the_lake_key(platform, env):
    assert platform.environments[env].data_lake.catalog_encryption
    _, settings = one(platform, env, "AWS::Glue::DataCatalogEncryptionSettings")
    props = settings["Properties"]["DataCatalogEncryptionSettings"]
    assert props["EncryptionAtRest"]["CatalogEncryptionMode"] == "SSE-KMS"
    assert lake_key(props["EncryptionAtRest"]["SseAwsKmsKeyId"])
    assert props["ConnectionPasswordEncryption"]["ReturnConnectionPasswordEncrypted"] is True
    assert lake_key(props["ConnectionPasswordEncryption"]["KmsKeyId"])
    assert settings["Properties"]["CatalogId"] == {"Ref": "AWS::AccountId"}


# --------------------------------------------------------------------------------------- Athena
@pytest.mark.parametrize("env", ENVS)
def test_athena_workgroup_is_enforced_engine_v3_encrypted_and_cut_off(platform, env):
    _, workgroup = one(platform, env, "AWS::Athena::WorkGroup")
    props = workgroup["Properties"]
    configuration = props["WorkGroupConfiguration"]
    assert props["Name"] == f"ml-platform-{env}-lake"
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    assert configuration["PublishCloudWatchMetricsEnabled"] is True
    expected_cutoff = platform.environments[env].data_lake.athena.bytes_scanned_cutoff_per_query
    assert configuration["BytesScannedCutoffPerQuery"] == expected_cutoff
    results = configuration["ResultConfiguration"]
    analytics_id, _ = bucket(platform, env, "analytics")
    assert flatten(results["OutputLocation"]) == f"s3://<{analytics_id}>/athena-results/"
    assert results["EncryptionConfiguration"]["EncryptionOption"] == "SSE_KMS"
    assert lake_key(results["EncryptionConfiguration"]["KmsKey"])
    assert results["ExpectedBucketOwner"] == {"Ref": "AWS::AccountId"}


@pytest.mark.parametrize("env", ENVS)
def test_named_query_over_the_raw_table(platform, env):
    _, query = one(platform, env, "AWS::Athena::NamedQuery", "AthenaRawEventsPerTypeQuery")
    props = query["Properties"]
    assert props["Database"] == f"ml_platform_{env}_raw"
    assert props["WorkGroup"] == {"Ref": one(platform, env, "AWS::Athena::WorkGroup")[0]}
    assert f'FROM "ml_platform_{env}_raw"."{INGEST_EVENT_SCHEMA.name}"' in props["QueryString"]
    assert "year = '" in props["QueryString"] and "day = '" in props["QueryString"]
