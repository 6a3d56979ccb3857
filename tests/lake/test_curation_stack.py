"""The curation resources of the DataLake stack (dev and prod of the session's app): the Iceberg table and its
optimizers, the Glue job, its trigger, rulesets, logs and alarms; and the create-only guard of the Iceberg table."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from ml_platform.core.curation import dqdl, iceberg_fields, job_contract_json, quality_rules
from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA
from ml_platform.environments import load_environments
from ml_platform.lake.runtime import CURATION_JOB
from ml_platform.streaming.runtime import import_asset_module
from tests.conftest import declared_environment, imports_security_key, new_app
from tests.lake.conftest import ENVS, flatten, lake, lake_key, one

# CloudFormation creates an Iceberg table and cannot change one (OpenTableFormatInput is write-only; an update drops
# the Iceberg metadata). So the definition of each table name is pinned: a change to the schema, partitioning or
# properties must come with a new schema version, which is a new table (docs/lake.md, "Changing the curated schema").
PINNED_ICEBERG_DEFINITIONS: dict[str, str] = {"ingest_events_v1": "4d59fc00b02e1277"}


def _definition_hash(table: dict[str, Any]) -> str:
    text = json.dumps(table["Properties"]["OpenTableFormatInput"], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def iceberg_definition_problems(resources: dict[str, dict[str, Any]], pins: dict[str, str]) -> list[str]:
    """One line per Iceberg table whose definition differs from the pin of its name."""
    problems = []
    for resource in resources.values():
        if resource["Type"] != "AWS::Glue::Table" or "OpenTableFormatInput" not in resource["Properties"]:
            continue
        name, actual = resource["Properties"]["Name"], _definition_hash(resource)
        if pins.get(name) != actual:
            problems.append(
                f"Iceberg table {name}: definition {actual} is not the pinned {pins.get(name)}; CloudFormation cannot "
                "update an Iceberg table, so bump the curated schema's version (a new table) and pin the new name"
            )
    return problems


@pytest.mark.parametrize("env", ENVS)
def test_the_iceberg_table_is_created_from_the_schema_and_never_changed_in_place(platform, env):
    _, table = one(platform, env, "AWS::Glue::Table", "CurationTable")
    props = table["Properties"]
    assert props["Name"] == "ingest_events_v1" and props["DatabaseName"] == f"ml_platform_{env}_curated"
    assert "TableInput" not in props
    iceberg = props["OpenTableFormatInput"]["IcebergInput"]
    assert (iceberg["MetadataOperation"], iceberg["Version"]) == ("CREATE", "2")
    table_input = iceberg["IcebergTableInput"]
    assert flatten(table_input["Location"]) == "s3://<CuratedBucket6A59C97E>/ingest_events_v1/"
    assert [(f["Id"], f["Name"], f["Type"]) for f in table_input["Schema"]["Fields"]] == [
        (f["id"], f["name"], f["type"]) for f in iceberg_fields(INGEST_EVENT_SCHEMA)
    ]
    assert table_input["PartitionSpec"]["Fields"] == [
        {"Name": "event_time_day", "SourceId": 2, "Transform": "day", "FieldId": 1000}
    ]
    assert table_input["Properties"]["write.parquet.compression-codec"] == "zstd"
    assert table["DeletionPolicy"] == ("Delete" if env == "dev" else "Retain")
    assert iceberg_definition_problems(lake(platform, env), PINNED_ICEBERG_DEFINITIONS) == []


def test_red_path_a_changed_iceberg_definition_under_the_same_name_is_refused(platform):
    resources = json.loads(json.dumps(lake(platform, "dev")))
    _, table = one(platform, "dev", "AWS::Glue::Table", "CurationTable")
    logical_id = next(k for k, v in resources.items() if v == table)
    fields = resources[logical_id]["Properties"]["OpenTableFormatInput"]["IcebergInput"]["IcebergTableInput"]
    fields["Schema"]["Fields"].append({"Id": 99, "Name": "tenant", "Type": "string", "Required": False})
    (problem,) = iceberg_definition_problems(resources, PINNED_ICEBERG_DEFINITIONS)
    assert "ingest_events_v1" in problem and "bump the curated schema's version" in problem


@pytest.mark.parametrize("env", ENVS)
def test_the_job_is_glue_5_spark_one_run_at_a_time_with_a_timeout_and_its_security_configuration(platform, env):
    config = platform.environments[env].data_lake.curation
    _, job = one(platform, env, "AWS::Glue::Job")
    props = job["Properties"]
    assert props["Name"] == f"ml-platform-{env}-curation"
    assert (props["Command"]["Name"], props["Command"]["PythonVersion"], props["GlueVersion"]) == (
        "glueetl",
        "3",
        "5.0",
    )
    assert (props["WorkerType"], props["NumberOfWorkers"]) == (config.worker_type, config.number_of_workers)
    assert props["Timeout"] == config.timeout_minutes and props["MaxRetries"] == 0
    assert props["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
    security_id, security = one(platform, env, "AWS::Glue::SecurityConfiguration", "CurationJob")
    assert props["SecurityConfiguration"] == {"Ref": security_id}
    encryption = security["Properties"]["EncryptionConfiguration"]
    assert lake_key(encryption["S3Encryptions"][0]["KmsKeyArn"])
    assert encryption["JobBookmarksEncryption"]["JobBookmarksEncryptionMode"] == "CSE-KMS"
    assert imports_security_key(encryption["CloudWatchEncryption"]["KmsKeyArn"], "LogsKey", env)


@pytest.mark.parametrize("env", ENVS)
def test_the_job_arguments_are_what_the_script_reads(platform, env):
    _, job = one(platform, env, "AWS::Glue::Job")
    arguments = job["Properties"]["DefaultArguments"]
    script = import_asset_module("job", directory=CURATION_JOB)
    # Every argument the script reads (but the one Glue passes itself) is set
    assert {f"--{name}" for name in script.ARGUMENTS} - {"--JOB_NAME"} <= set(arguments)
    assert arguments["--job-bookmark-option"] == "job-bookmark-enable"
    assert arguments["--datalake-formats"] == "iceberg"
    assert arguments["--custom-logGroup-prefix"] == f"/aws-glue/jobs/ml-platform-{env}-curation"
    assert arguments["--extra-py-files"].endswith(".zip")
    assert flatten(arguments["--raw_path"]) == "s3://<RawBucket0C3EE094>/events/"
    assert flatten(arguments["--quarantine_path"]) == "s3://<CuratedBucket6A59C97E>/quarantine/ingest_events_v1/"
    assert arguments["--contract"] == job_contract_json(INGEST_EVENT_SCHEMA)
    # The default gate: completeness and uniqueness block, the other categories warn
    rules = quality_rules(INGEST_EVENT_SCHEMA)
    blocking = [r for r in rules if r.category in ("completeness", "uniqueness")]
    assert arguments["--blocking_ruleset"] == dqdl(blocking)
    assert arguments["--warning_ruleset"] == dqdl([r for r in rules if r not in blocking])


@pytest.mark.parametrize("env", ENVS)
def test_the_schedule_trigger_and_the_rulesets_come_from_the_config(platform, env):
    config = platform.environments[env].data_lake.curation
    job_id, _ = one(platform, env, "AWS::Glue::Job")
    _, trigger = one(platform, env, "AWS::Glue::Trigger")
    props = trigger["Properties"]
    assert (props["Type"], props["Schedule"], props["StartOnCreation"]) == ("SCHEDULED", config.schedule, True)
    assert props["Actions"] == [{"JobName": {"Ref": job_id}}]
    rulesets = {r["Properties"]["Name"]: r["Properties"] for r in lake(platform, env).values()
                if r["Type"] == "AWS::Glue::DataQualityRuleset"}  # fmt: skip
    assert set(rulesets) == {f"ml-platform-{env}-curation-blocking", f"ml-platform-{env}-curation-warning"}
    _, job = one(platform, env, "AWS::Glue::Job")
    assert (
        rulesets[f"ml-platform-{env}-curation-blocking"]["Ruleset"]
        == job["Properties"]["DefaultArguments"]["--blocking_ruleset"]
    )
    assert rulesets[f"ml-platform-{env}-curation-warning"]["TargetTable"] == {
        "DatabaseName": f"ml_platform_{env}_curated",
        "TableName": "ingest_events_v1",
    }


@pytest.mark.parametrize("env", ENVS)
def test_the_job_logs_are_encrypted_and_retained(platform, env):
    groups = {flatten(r["Properties"]["LogGroupName"]): r for r in lake(platform, env).values()
              if r["Type"] == "AWS::Logs::LogGroup"}  # fmt: skip
    for kind in ("error", "output"):
        group = groups[f"/aws-glue/jobs/ml-platform-{env}-curation/{kind}"]
        assert group["Properties"]["RetentionInDays"] == 365
        assert imports_security_key(group["Properties"]["KmsKeyId"], "LogsKey", env)


@pytest.mark.parametrize("env", ENVS)
def test_every_optimizer_runs_with_its_own_role_on_the_table(platform, env):
    optimizers = {r["Properties"]["Type"]: r["Properties"] for r in lake(platform, env).values()
                  if r["Type"] == "AWS::Glue::TableOptimizer"}  # fmt: skip
    assert set(optimizers) == {"compaction", "retention", "orphan_file_deletion"}
    role_id, role = one(platform, env, "AWS::IAM::Role", "CurationOptimizersRole")
    assert role["Properties"]["RoleName"] == f"ml-platform-{env}-curation-optimizer"
    for optimizer in optimizers.values():
        assert optimizer["TableName"] == "ingest_events_v1"
        assert optimizer["TableOptimizerConfiguration"]["RoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    retention = optimizers["retention"]["TableOptimizerConfiguration"]["RetentionConfiguration"]["IcebergConfiguration"]
    assert retention == {"SnapshotRetentionPeriodInDays": 7, "NumberOfSnapshotsToRetain": 1, "CleanExpiredFiles": True}
    orphans = optimizers["orphan_file_deletion"]["TableOptimizerConfiguration"]["OrphanFileDeletionConfiguration"]
    assert orphans["IcebergConfiguration"]["OrphanFileRetentionPeriodInDays"] == 3


@pytest.mark.parametrize("env", ENVS)
def test_failed_runs_and_failed_rules_alarm_the_topic(platform, env):
    alarms = {k: r["Properties"] for k, r in lake(platform, env).items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    run_failed = next(a for k, a in alarms.items() if k.startswith("CurationRunFailedAlarm"))
    rules_failed = next(a for k, a in alarms.items() if k.startswith("CurationRulesFailedAlarm"))
    rule_id, rule = one(platform, env, "AWS::Events::Rule", "CurationRunFailed")
    assert rule["Properties"]["EventPattern"]["detail"] == {
        "jobName": [f"ml-platform-{env}-curation"],
        "state": ["FAILED", "TIMEOUT", "ERROR"],
    }
    assert (run_failed["Namespace"], run_failed["MetricName"]) == ("AWS/Events", "TriggeredRules")
    assert run_failed["Dimensions"] == [{"Name": "RuleName", "Value": {"Ref": rule_id}}]
    assert (rules_failed["Namespace"], rules_failed["MetricName"]) == ("MlPlatform/Curation", "RulesFailed")
    for alarm in (run_failed, rules_failed):
        assert alarm["TreatMissingData"] == "notBreaching" and "docs/lake.md#runbook" in alarm["AlarmDescription"]
        assert "AlarmTopic" in json.dumps(alarm["AlarmActions"]) and "AlarmTopic" in json.dumps(alarm["OKActions"])


def test_curation_can_be_turned_off(tmp_path):
    from aws_cdk import Environment

    from ml_platform.lake.stack import DataLakeStack
    from ml_platform.security.stack import SecurityStack

    data = declared_environment("dev", without=("inference",), data_lake={"curation": {"enabled": False},
                                "curated": {"lifecycle": {"glacier_storage_class": "GLACIER_IR"}}})  # fmt: skip
    (config,) = load_environments([data])
    app = new_app(tmp_path)
    env = Environment(region=config.region)
    security = SecurityStack(app, "Security", config=config, env=env)
    # No alarm topic is needed without curation
    lake_stack = DataLakeStack(app, "DataLake", config=config, lake_key=security.data_lake_key,
                               logs_key=security.logs_key, env=env)  # fmt: skip
    resources = app.synth().get_stack_by_name(lake_stack.stack_name).template["Resources"]
    kinds = {r["Type"] for r in resources.values()}
    assert not kinds & {"AWS::Glue::Job", "AWS::Glue::Trigger", "AWS::Glue::TableOptimizer"}
    assert lake_stack.curation is None and lake_stack.dashboard_section() is None


def test_curation_without_an_alarm_topic_is_a_clear_error(tmp_path):
    from aws_cdk import Environment

    from ml_platform.lake.stack import DataLakeStack
    from ml_platform.security.stack import SecurityStack

    (config,) = load_environments([declared_environment("dev", without=("inference",))])
    app = new_app(tmp_path)
    security = SecurityStack(app, "Security", config=config, env=Environment(region=config.region))
    with pytest.raises(ValueError, match=r"data_lake\.curation is enabled, so pass alarm_topic"):
        DataLakeStack(app, "DataLake", config=config, lake_key=security.data_lake_key, logs_key=security.logs_key,
                      env=Environment(region=config.region))  # fmt: skip
