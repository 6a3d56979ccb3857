"""DataLake stack: buckets per zone, the Glue catalog from the event schema, Athena, removal, grants."""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
from typing import Any

import pytest
from aws_cdk import Environment, Stack
from aws_cdk import aws_iam as iam

from ml_platform.core import firehose_layout
from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA
from ml_platform.environments import load_environments
from ml_platform.lake.catalog import PARQUET_INPUT_FORMAT, PARQUET_OUTPUT_FORMAT, PARQUET_SERDE
from ml_platform.lake.config import DATA_ZONES
from ml_platform.lake.stack import DataLakeStack
from ml_platform.security.stack import SecurityStack
from scripts import render_data_contract
from tests.conftest import ROOT, declared_environment, flow_result, new_app, one_resource

ENVS = ("dev", "prod")
ZONES = (*DATA_ZONES, "access-logs")
_CONSTRUCT = {"raw": "Raw", "curated": "Curated", "analytics": "Analytics", "models": "Models", "capture": "Capture"}
_CONSTRUCT["access-logs"] = "AccessLog"


# --------------------------------------------------------------------------------------- helpers
def flatten(value: Any) -> str:
    """A CloudFormation string value with references written as ``<LogicalId>`` / ``<LogicalId.Attr>``."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return delimiter.join(flatten(p) for p in parts)
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if "Fn::GetStackOutput" in value:
        return f"<{value['Fn::GetStackOutput']['OutputName']}>"
    raise AssertionError(f"unexpected value {value}")


def lake(platform, env: str) -> dict[str, dict[str, Any]]:
    return platform.stack(env, "DataLake").resources


def one(platform, env: str, resource_type: str, prefix: str = "") -> tuple[str, dict[str, Any]]:
    return one_resource(lake(platform, env), resource_type, prefix)


def bucket(platform, env: str, zone: str) -> tuple[str, dict[str, Any]]:
    return one(platform, env, "AWS::S3::Bucket", f"{_CONSTRUCT[zone]}Bucket")


def lake_key(value: Any) -> bool:
    """The value is the Security stack's data-lake key ARN (a cross-stack reference)."""
    return "DataLakeKey" in flatten(value) and "Arn" in flatten(value)


# --------------------------------------------------------------------------------------- buckets
@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("zone", ZONES)
def test_bucket_name_starts_with_project_and_environment(platform, env, zone):
    # Given each bucket, Then its name is <project>-<env>-<zone>-<account>-<region> (the endpoint allow-list
    # of the network stack matches the <project>-<env>- prefix)
    _, resource = bucket(platform, env, zone)
    account = platform.environments[env].account
    assert flatten(resource["Properties"]["BucketName"]) == f"ml-platform-{env}-{zone}-{account}-eu-west-1"


@pytest.mark.parametrize("env", ENVS)
def test_every_bucket_is_reachable_through_the_network_s3_endpoint(platform, env):
    # Given the S3 gateway endpoint policy of the environment's network stack (allow-list by name prefix)
    patterns = [
        flatten(resource)
        for endpoint in platform.stack(env, "Network").of_type("AWS::EC2::VPCEndpoint").values()
        for statement in endpoint["Properties"].get("PolicyDocument", {}).get("Statement", [])
        for resource in (statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]])
    ]
    # Then every lake bucket and its objects match it
    for zone in ZONES:
        name = flatten(bucket(platform, env, zone)[1]["Properties"]["BucketName"])
        for arn in (f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/some/key"):
            assert any(fnmatch.fnmatchcase(arn, pattern) for pattern in patterns), (zone, arn)


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("zone", DATA_ZONES)
def test_data_bucket_properties(platform, env, zone):
    # Given a data zone bucket, When synthesized, Then every secure default is set
    props = bucket(platform, env, zone)[1]["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert lake_key(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"])
    assert rule["BucketKeyEnabled"] is True
    assert rule["BlockedEncryptionTypes"] == {"EncryptionType": ["SSE-C"]}
    assert all(props["PublicAccessBlockConfiguration"].values()) and len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    access_log_id, _ = bucket(platform, env, "access-logs")
    assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": access_log_id}
    assert props["LoggingConfiguration"]["LogFilePrefix"] == f"{zone}/"
    assert props["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}


@pytest.mark.parametrize("env", ENVS)
def test_no_notifications_custom_resource(platform, env):
    types = {r["Type"] for r in lake(platform, env).values()}
    assert "Custom::S3BucketNotifications" not in types


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("zone", ZONES)
def test_lifecycle_follows_the_zone_config(platform, env, zone):
    # Given the zone's lifecycle config, Then the bucket's tiering rule has exactly its steps
    config = platform.environments[env].data_lake
    lifecycle = config.access_logs.lifecycle if zone == "access-logs" else config.bucket(zone).lifecycle
    rules = {r["Id"]: r for r in bucket(platform, env, zone)[1]["Properties"]["LifecycleConfiguration"]["Rules"]}
    tiering = rules["tiering"]
    transitions = [(t["StorageClass"], t["TransitionInDays"]) for t in tiering.get("Transitions", [])]
    assert transitions + ([("EXPIRE", tiering["ExpirationInDays"])] if "ExpirationInDays" in tiering else []) == (
        lifecycle.current_steps()
    )
    noncurrent = [(t["StorageClass"], t["TransitionInDays"]) for t in tiering.get("NoncurrentVersionTransitions", [])]
    expiry = tiering.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays")
    assert noncurrent + ([("EXPIRE", expiry)] if expiry else []) == lifecycle.noncurrent_steps()
    assert tiering["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": lifecycle.abort_incomplete_multipart_upload_after_days
    }
    assert tiering["Status"] == "Enabled"
    # And the analytics bucket also expires Athena results
    if zone == "analytics":
        assert rules["athena-results-expiry"]["Prefix"] == "athena-results/"
        assert rules["athena-results-expiry"]["ExpirationInDays"] == config.athena.results_expire_after_days


def test_seed_lifecycle_values_in_the_raw_zone(platform):
    # The seed's 60/180-day tiering, with Glacier Instant Retrieval: Athena skips Flexible Retrieval objects
    rule = bucket(platform, "prod", "raw")[1]["Properties"]["LifecycleConfiguration"]["Rules"][0]
    assert rule["Transitions"] == [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": 60},
        {"StorageClass": "GLACIER_IR", "TransitionInDays": 180},
    ]
    assert rule["NoncurrentVersionTransitions"] == [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": 30},
        {"StorageClass": "DEEP_ARCHIVE", "TransitionInDays": 90},
    ]
    access_logs = bucket(platform, "prod", "access-logs")[1]["Properties"]["LifecycleConfiguration"]["Rules"][0]
    assert access_logs["ExpirationInDays"] == 365


@pytest.mark.parametrize("env", ENVS)
def test_access_log_bucket_is_sse_s3_and_receives_logs_only_from_s3_logging(platform, env):
    _, resource = bucket(platform, env, "access-logs")
    (rule,) = resource["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    _, policy = one(platform, env, "AWS::S3::BucketPolicy", "AccessLogBucketPolicy")
    allows = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    # One statement per data zone: only S3 server access logging of this account, from that zone's bucket,
    # into that zone's prefix (plus, in dev, CDK's auto-delete function, which empties the bucket)
    logging = [s for s in allows if s["Principal"] == {"Service": "logging.s3.amazonaws.com"}]
    others = [s for s in allows if s not in logging]
    assert len(logging) == len(DATA_ZONES)
    assert all(s["Action"] == "s3:PutObject" for s in logging)
    account = platform.environments[env].account
    assert all(s["Condition"]["StringEquals"] == {"aws:SourceAccount": account} for s in logging)
    prefixes = sorted(flatten(s["Resource"]).rsplit("/", 2)[-2] for s in logging)
    assert prefixes == sorted(DATA_ZONES)
    assert all("AutoDeleteObjects" in flatten(s["Principal"]["AWS"]) for s in others)
    assert len(others) == (1 if env == "dev" else 0)


# What producers send, as runtime flows (scripts/flows/catalogue/lake.py) evaluated by the IAM simulator against
# each zone bucket's policy: (flow name, allowed?).
HEADER_CASES: tuple[tuple[str, bool], ...] = (
    ("put-default-encryption", True),  # no header: Firehose without KMS config, most SDK clients
    ("put-lake-key", True),  # aws:kms naming the lake key: Firehose KMS config, Athena SSE_KMS results
    ("put-sse-s3", False),
    ("put-other-kms-key", False),
    ("put-kms-without-key-id", False),  # S3 would use the aws/s3 key
    ("put-dsse", False),
    ("read-without-tls", False),
    ("read-tls-1.1", False),
)


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("zone", DATA_ZONES)
def test_bucket_policy_denies_wrong_encryption_but_not_default_encryption(platform, declared_results, env, zone):
    # Given the zone bucket's policy: both encryption denies, the capture bucket also accepting the ML key
    policy_id = f"{_CONSTRUCT[zone]}BucketPolicy"
    _, policy = one(platform, env, "AWS::S3::BucketPolicy", policy_id)
    document = policy["Properties"]["PolicyDocument"]
    sids = {s.get("Sid") for s in document["Statement"]}
    assert {"DenyEncryptionOtherThanSseKms", "DenyKmsKeyOtherThanTheBucketKey"} <= sids
    (key_condition,) = [s for s in document["Statement"] if s.get("Sid") == "DenyKmsKeyOtherThanTheBucketKey"]
    allowed_keys = key_condition["Condition"]["StringNotEquals"]["s3:x-amz-server-side-encryption-aws-kms-key-id"]
    if zone == "capture":
        lake_key_arn, ml_key_arn = allowed_keys
        assert "MlKey" in flatten(ml_key_arn)
        assert flow_result(declared_results, f"separate/{env}/lake/capture-put-ml-key").actual == "allow"
    else:
        lake_key_arn = allowed_keys
    assert lake_key(lake_key_arn)
    # When each producer's request is authorized (a role of the account whose own policies allow everything),
    # Then only no-header and aws:kms-with-an-allowed-key puts over TLS 1.2+ pass
    for case, allowed in HEADER_CASES:
        result = flow_result(declared_results, f"separate/{env}/lake/{zone}-{case}")
        assert (result.actual == "allow") is allowed, f"{env}/{zone}: {case}: {result.deciding}"


# --------------------------------------------------------------------------------------- removal
@pytest.mark.parametrize(("env", "policy"), [("dev", "Delete"), ("prod", "Retain")])
def test_removal_policy_follows_the_stage(platform, env, policy):
    # dev declares allow_destroy (DESTROY + auto-delete); prod retains every bucket, database and table
    for resource in lake(platform, env).values():
        if resource["Type"] in ("AWS::S3::Bucket", "AWS::Glue::Database", "AWS::Glue::Table"):
            assert resource["DeletionPolicy"] == policy and resource["UpdateReplacePolicy"] == policy
    auto_delete = [r for r in lake(platform, env).values() if r["Type"] == "Custom::S3AutoDeleteObjects"]
    assert len(auto_delete) == (6 if env == "dev" else 0)


@pytest.fixture(scope="module")
def isolated(tmp_path_factory):
    """A dev environment WITHOUT allow_destroy, plus a consumer stack using every grant method."""
    data = declared_environment("dev", without=("inference",), allow_destroy=False)
    (config,) = load_environments([data])
    app = new_app(tmp_path_factory.mktemp("isolated"))
    env = Environment(region=config.region)
    security = SecurityStack(app, "Security", config=config, env=env)
    data_lake = DataLakeStack(
        app, "DataLake", config=config, lake_key=security.data_lake_key, logs_key=security.logs_key, env=env
    )
    consumer = Stack(app, "Consumer", env=env)
    roles = {}
    for name in ("Models", "Capture", "Raw", "Table"):
        roles[name] = iam.Role(consumer, name, assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    data_lake.grant_read_models(roles["Models"], prefix="churn/")
    data_lake.grant_write_capture(roles["Capture"], prefix="churn/")
    data_lake.grant_write_raw(roles["Raw"])
    data_lake.grant_read_raw_table(roles["Table"])
    assembly = app.synth()
    return {
        "lake": assembly.get_stack_by_name(data_lake.stack_name).template,
        "consumer": assembly.get_stack_by_name(consumer.stack_name).template,
        "data_lake": data_lake,
    }


def test_dev_without_allow_destroy_retains_everything(isolated):
    resources = isolated["lake"]["Resources"].values()
    stateful = [r for r in resources if r["Type"] in ("AWS::S3::Bucket", "AWS::Glue::Database", "AWS::Glue::Table")]
    assert len(stateful) == 11
    assert all(r["DeletionPolicy"] == "Retain" and r["UpdateReplacePolicy"] == "Retain" for r in stateful)
    assert not [r for r in resources if r["Type"] == "Custom::S3AutoDeleteObjects"]


# --------------------------------------------------------------------------------------- grants
def _statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    result = []
    for resource in template["Resources"].values():
        if (
            resource["Type"] == "AWS::IAM::Policy"
            and {"Ref": _role_id(template, role)} in resource["Properties"]["Roles"]
        ):
            result += resource["Properties"]["PolicyDocument"]["Statement"]
    return result


def _role_id(template: dict[str, Any], name: str) -> str:
    return one_resource(template["Resources"], "AWS::IAM::Role", name)[0]


def _by_action(statements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    result = {}
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            result[action] = statement
    return result


def _resources(statement: dict[str, Any]) -> list[str]:
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return [flatten(r) for r in resources]


def test_grant_read_models_is_prefix_scoped_with_kms_via_s3(isolated):
    by_action = _by_action(_statements(isolated["consumer"], "Models"))
    assert set(by_action) == {"s3:GetObject", "s3:ListBucket", "kms:Decrypt"}
    (objects,) = _resources(by_action["s3:GetObject"])
    assert "ModelsBucket" in objects and objects.endswith("/churn/*")
    assert by_action["s3:ListBucket"]["Condition"] == {"StringLike": {"s3:prefix": ["churn/", "churn/*"]}}
    kms = by_action["kms:Decrypt"]
    assert kms["Condition"]["StringEquals"] == {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    assert "kms:EncryptionContext:aws:s3:arn" in kms["Condition"]["StringLike"]
    assert all("DataLakeKey" in r for r in _resources(kms))


def test_grant_write_capture_writes_only_its_prefix(isolated):
    by_action = _by_action(_statements(isolated["consumer"], "Capture"))
    assert set(by_action) == {
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:GetBucketLocation",
        "s3:ListBucketMultipartUploads",
        "kms:GenerateDataKey",
        "kms:Decrypt",
    }
    assert all("CaptureBucket" in r and r.endswith("/churn/*") for r in _resources(by_action["s3:PutObject"]))
    assert by_action["kms:GenerateDataKey"]["Condition"]["StringEquals"] == {
        "kms:ViaService": "s3.eu-west-1.amazonaws.com"
    }
    assert "s3:DeleteObject" not in by_action


def test_grant_write_raw_covers_the_firehose_layout_prefixes(isolated):
    by_action = _by_action(_statements(isolated["consumer"], "Raw"))
    written = sorted(r.rsplit("/", 2)[-2] for r in _resources(by_action["s3:PutObject"]))
    assert written == sorted(
        p.rstrip("/") for p in (firehose_layout.DATA_ROOT, firehose_layout.ERROR_ROOT, firehose_layout.BACKUP_ROOT)
    )
    assert {"s3:GetObject", "s3:ListBucket", "kms:GenerateDataKey", "kms:Decrypt"} <= set(by_action)


def test_grant_read_raw_table_reads_the_definition_and_decrypts_the_catalog(isolated):
    data_lake = isolated["data_lake"]
    by_action = _by_action(_statements(isolated["consumer"], "Table"))
    assert {"glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions", "kms:Decrypt"} == set(by_action)
    glue_resources = _resources(by_action["glue:GetTable"])
    assert [r.rsplit(":", 1)[-1] for r in glue_resources] == [
        "catalog",
        "database/ml_platform_dev_raw",
        "table/ml_platform_dev_raw/ingest_events",
    ]
    assert by_action["kms:Decrypt"]["Condition"] == {"StringEquals": {"kms:ViaService": "glue.eu-west-1.amazonaws.com"}}
    assert data_lake.raw_table_database_name == "ml_platform_dev_raw"
    assert data_lake.raw_table_name == INGEST_EVENT_SCHEMA.name


def test_grants_refuse_a_malformed_prefix(isolated):
    role = iam.Role(Stack(new_app(), "Other"), "R", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    with pytest.raises(ValueError, match="must be '' or a relative key prefix ending with '/'"):
        isolated["data_lake"].grant_read_models(role, prefix="churn")


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
    _, security = one(platform, "prod", "AWS::Glue::SecurityConfiguration")
    encryption = security["Properties"]["EncryptionConfiguration"]
    assert props["CrawlerSecurityConfiguration"] == {
        "Ref": one(platform, "prod", "AWS::Glue::SecurityConfiguration")[0]
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
    resources = [r for s in statements for r in _resources(s)]
    assert not [r for r in resources if r == "*"]
    # object access only under the curated table's prefix
    (read,) = [s for s in statements if s.get("Sid") == "TableDataObjects"]
    assert _resources(read) == [f"<{bucket(platform, 'prod', 'curated')[0]}.Arn>/{INGEST_EVENT_SCHEMA.name}/*"]
    # and the encrypted log group by the ":*" form CloudWatch Logs authorizes stream writes against (regression:
    # the bare group ARN matched only the tagging actions, so the crawler could not create its stream)
    (logs,) = [s for s in statements if s.get("Sid") == "WriteTheEncryptedLogGroup"]
    (log_groups,) = _resources(logs)
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
    _, query = one(platform, env, "AWS::Athena::NamedQuery")
    props = query["Properties"]
    assert props["Database"] == f"ml_platform_{env}_raw"
    assert props["WorkGroup"] == {"Ref": one(platform, env, "AWS::Athena::WorkGroup")[0]}
    assert f'FROM "ml_platform_{env}_raw"."{INGEST_EVENT_SCHEMA.name}"' in props["QueryString"]
    assert "year = '" in props["QueryString"] and "day = '" in props["QueryString"]


# --------------------------------------------------------------------------------------- exposed objects
def test_stack_exposes_buckets_key_and_table_refs(platform):
    data_lake = platform.stages["dev"].data_lake
    for attribute in ("raw", "curated", "analytics", "models", "capture", "access_log"):
        assert getattr(data_lake, f"{attribute}_bucket") is not None
    assert data_lake.lake_key is platform.stages["dev"].security.data_lake_key
    resolve = Stack.of(data_lake).resolve
    assert flatten(resolve(data_lake.raw_table.table_arn)) == (
        "arn:aws:glue:eu-west-1:111111111111:table/ml_platform_dev_raw/ingest_events"
    )
    assert data_lake.workgroup_name == "ml-platform-dev-lake"


# --------------------------------------------------------------------------------------- data contract
def test_documented_data_contract_equals_the_schema():
    text = (ROOT / "docs" / "lake.md").read_text()
    assert render_data_contract.documented_table(text) == INGEST_EVENT_SCHEMA.markdown_table(), (
        "the data contract in docs/lake.md is stale: run `make docs`"
    )


def test_render_tool_prints_the_table():
    result = subprocess.run(
        [sys.executable, "-m", "scripts.render_data_contract"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == INGEST_EVENT_SCHEMA.markdown_table()
