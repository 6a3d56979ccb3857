"""DataLake stack: buckets per zone, the Glue catalog from the event schema, Athena, removal, grants."""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest
from aws_cdk import Environment, Stack
from aws_cdk import aws_iam as iam

from ml_platform.core import firehose_layout
from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA
from ml_platform.environments import load_environments
from ml_platform.lake.config import DATA_ZONES
from ml_platform.lake.stack import DataLakeStack
from ml_platform.security.stack import SecurityStack
from tests.conftest import declared_environment, flow_result, new_app, one_resource
from tests.lake.conftest import CONSTRUCT_IDS, ENVS, ZONES, bucket, flatten, lake, lake_key, one, statement_resources


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
    policy_id = f"{CONSTRUCT_IDS[zone]}BucketPolicy"
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
        app,
        "DataLake",
        config=config,
        lake_key=security.data_lake_key,
        logs_key=security.logs_key,
        alarm_topic=security.alarm_topic,
        env=env,
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
    assert len(stateful) == 12  # six buckets, three databases, raw, curated and the curated Iceberg table
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


def test_grant_read_models_is_prefix_scoped_with_kms_via_s3(isolated):
    by_action = _by_action(_statements(isolated["consumer"], "Models"))
    assert set(by_action) == {"s3:GetObject", "s3:ListBucket", "kms:Decrypt"}
    (objects,) = statement_resources(by_action["s3:GetObject"])
    assert "ModelsBucket" in objects and objects.endswith("/churn/*")
    assert by_action["s3:ListBucket"]["Condition"] == {"StringLike": {"s3:prefix": ["churn/", "churn/*"]}}
    kms = by_action["kms:Decrypt"]
    assert kms["Condition"]["StringEquals"] == {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    assert "kms:EncryptionContext:aws:s3:arn" in kms["Condition"]["StringLike"]
    assert all("DataLakeKey" in r for r in statement_resources(kms))


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
    assert all("CaptureBucket" in r and r.endswith("/churn/*") for r in statement_resources(by_action["s3:PutObject"]))
    assert by_action["kms:GenerateDataKey"]["Condition"]["StringEquals"] == {
        "kms:ViaService": "s3.eu-west-1.amazonaws.com"
    }
    assert "s3:DeleteObject" not in by_action


def test_grant_write_raw_covers_the_firehose_layout_prefixes(isolated):
    by_action = _by_action(_statements(isolated["consumer"], "Raw"))
    written = sorted(r.rsplit("/", 2)[-2] for r in statement_resources(by_action["s3:PutObject"]))
    assert written == sorted(
        p.rstrip("/") for p in (firehose_layout.DATA_ROOT, firehose_layout.ERROR_ROOT, firehose_layout.BACKUP_ROOT)
    )
    assert {"s3:GetObject", "s3:ListBucket", "kms:GenerateDataKey", "kms:Decrypt"} <= set(by_action)


def test_grant_read_raw_table_reads_the_definition_and_decrypts_the_catalog(isolated):
    data_lake = isolated["data_lake"]
    by_action = _by_action(_statements(isolated["consumer"], "Table"))
    assert {"glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions", "kms:Decrypt"} == set(by_action)
    glue_resources = statement_resources(by_action["glue:GetTable"])
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
