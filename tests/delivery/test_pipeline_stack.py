"""The delivery pipeline: stages in config order, approval before prod, synth commands, self-mutation,
CMK encryption, validation steps, compliance packs and cfn-lint — over ONE app with the pipeline configured
(the session-scoped ``delivery`` fixture of tests/delivery/conftest.py)."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint_file

from ml_platform.app import build_platform
from ml_platform.delivery.config import load_pipeline, lookup_role_arn
from ml_platform.delivery.stack import BUILD_IMAGE, PipelineStack, cli_version
from ml_platform.environments import load_environments
from ml_platform.shared.compliance import (
    COMPLIANCE_PACKS,
    Finding,
    control_tower_unacknowledged,
    findings,
    run_control_tower,
)
from tests.conftest import new_app
from tests.delivery.conftest import ACCOUNTS, CONNECTION, Delivery, declared_with_accounts
from tests.delivery.conftest import VALID_PIPELINE as PIPELINE


@pytest.fixture(scope="module")
def delivery_findings(delivery: Delivery) -> list[Finding]:
    return findings(delivery.app)


def test_build_platform_adds_the_pipeline_only_when_configured(tmp_path):
    # Given one environment with an account
    environments = list(load_environments(declared_with_accounts()[:1]))
    config = load_pipeline(PIPELINE, environments)
    # When the app is assembled without and with a pipeline (construction only, no synth)
    without, with_pipeline = new_app(tmp_path / "a"), new_app(tmp_path / "b")
    build_platform(without, environments)
    build_platform(with_pipeline, environments, pipeline=config)
    # Then only the second has the `Pipeline` stack, next to the environment's own stage
    assert not [c for c in without.node.children if isinstance(c, PipelineStack)]
    (stack,) = [c for c in with_pipeline.node.children if isinstance(c, PipelineStack)]
    assert stack.node.id == "Pipeline"
    assert [s.config.name for s in stack.stages] == ["dev"]
    assert with_pipeline.node.try_find_child("dev") is not None


# ---------------------------------------------------------------------------------------------------- stages
def test_one_stage_per_environment_in_config_order(delivery):
    # Then the pipeline runs source, synth, self-mutation and assets, then the environments in config order
    names = [stage["Name"] for stage in delivery.stages]
    assert names == ["Source", "Build", "UpdatePipeline", "Assets", "dev", "staging", "prod"]


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_each_stage_deploys_into_its_environments_account_and_region(delivery, environment):
    # Given the CDK stage the pipeline deploys for the environment
    (stage,) = [s for s in delivery.stack.stages if s.config.name == environment]
    # Then its account and region are the environment's
    assert (stage.account, stage.region) == (ACCOUNTS[environment], stage.config.region)
    # And every deploy action assumes that account's bootstrap deploy role, in that region
    deploys = [a for a in delivery.stage(environment)["Actions"] if a["ActionTypeId"]["Provider"] == "CloudFormation"]
    assert deploys
    role = f"cdk-hnb659fds-deploy-role-{ACCOUNTS[environment]}-{stage.config.region}"
    for action in deploys:
        assert role in json.dumps(action["RoleArn"])
        assert action["Configuration"]["StackName"].startswith(f"{environment}-")
        assert action.get("Region", delivery.config.region) == stage.config.region


def test_stage_stacks_keep_the_stack_names_of_a_direct_deploy(delivery):
    # Then a stack deployed by the pipeline is the same CloudFormation stack as `cdk deploy 'dev/*'` makes
    (dev,) = [s for s in delivery.stack.stages if s.config.name == "dev"]
    assert sorted(stack.stack_name for stack in dev.stacks) == sorted(f"dev-{stack.node.id}" for stack in dev.stacks)


def test_manual_approval_before_prod_only(delivery):
    # Then prod starts with a manual approval, before any deployment; no other environment waits for one
    for environment in ("dev", "staging", "prod"):
        actions = delivery.stage(environment)["Actions"]
        approvals = [a for a in actions if a["ActionTypeId"]["Category"] == "Approval"]
        if environment == "prod":
            (approval,) = approvals
            first_deploy = min(a["RunOrder"] for a in actions if a["ActionTypeId"]["Category"] == "Deploy")
            assert approval["RunOrder"] < first_deploy
        else:
            assert approvals == []


# ---------------------------------------------------------------------------------------------------- source and synth
def test_source_is_the_configured_connection_repository_and_branch(delivery):
    (action,) = delivery.stage("Source")["Actions"]
    assert action["ActionTypeId"]["Provider"] == "CodeStarSourceConnection"
    assert action["Configuration"]["ConnectionArn"] == CONNECTION
    assert action["Configuration"]["FullRepositoryId"] == "my-org/ml-platform"
    assert action["Configuration"]["BranchName"] == "main"


def test_source_role_may_use_a_codeconnections_connection(delivery):
    # Given a connection ARN with the new `codeconnections` prefix, Then the source role may use it by that prefix
    statements = [
        s
        for policy in delivery.of_type("AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    uses = [s for s in statements if s["Resource"] == CONNECTION]
    assert uses and all("codeconnections:UseConnection" in s["Action"] for s in uses)


def test_synth_installs_tests_then_synthesizes(delivery):
    # Given the synth action's CodeBuild project
    (action,) = delivery.stage("Build")["Actions"]
    project = delivery.resources[delivery.project_of(action)]["Properties"]
    spec = delivery.buildspec(delivery.project_of(action))
    commands = spec["phases"]["build"]["commands"]
    # Then `make test` (which installs the project) runs first; with registry groups (prod declares one), the latest
    # approved versions are resolved, passed to `npx cdk synth` as context and kept in its output, cdk.out
    assert commands == [
        "make test",
        ".venv/bin/python -m ml_platform.delivery.approved_versions --output model-package-versions.json",
        'npx cdk synth -c model_package_versions="$(cat model-package-versions.json)"',
        "cp model-package-versions.json cdk.out/model-package-versions.json",
    ]
    assert spec["artifacts"]["base-directory"] == "cdk.out"
    # And the image offers the runtimes the project needs (Python 3.11, Node.js 22)
    assert spec["phases"]["install"]["runtime-versions"] == {"python": "3.11", "nodejs": "22"}
    assert project["Environment"]["Image"] == BUILD_IMAGE.image_id == "aws/codebuild/standard:8.0"
    assert project["Environment"]["PrivilegedMode"] is False


def test_self_mutation_deploys_the_pipeline_stack_with_the_pinned_cli(delivery):
    # Then an UpdatePipeline stage redeploys this stack with the CLI version of package.json
    (action,) = delivery.stage("UpdatePipeline")["Actions"]
    assert action["Name"] == "SelfMutate"
    spec = json.dumps(delivery.buildspec(delivery.project_of(action)))
    assert f"aws-cdk@{cli_version()}" in spec
    assert "deploy Pipeline" in spec
    assert delivery.stack.pipeline.self_mutation_enabled


# ---------------------------------------------------------------------------------------------------- encryption
def _logical_id(delivery, construct) -> str:
    return delivery.stack.get_logical_id(construct.node.default_child)


def test_artifact_bucket_and_pipeline_are_encrypted_with_a_rotating_cmk(delivery):
    key_id = _logical_id(delivery, delivery.stack.artifact_key)
    bucket_id = _logical_id(delivery, delivery.stack.artifact_bucket)
    # Then the key rotates and is kept
    key = delivery.resources[key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    # And the bucket's default encryption is SSE-KMS with that key, versioned, access-logged
    bucket = delivery.resources[bucket_id]["Properties"]
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
    }
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert "LoggingConfiguration" in bucket
    # And SSE-C is blocked on it and on its access-log bucket (EncryptedBucket, AccessLogBucket)
    for props in (bucket, delivery.resources[_logical_id(delivery, delivery.stack.access_log_bucket)]["Properties"]):
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["BlockedEncryptionTypes"] == {"EncryptionType": ["SSE-C"]}
    # And the pipeline's artifact store in its own region uses the bucket and the key
    (pipeline,) = delivery.of_type("AWS::CodePipeline::Pipeline").values()
    stores = {s["Region"]: s["ArtifactStore"] for s in pipeline["Properties"]["ArtifactStores"]}
    assert stores["eu-west-1"] == {
        "Type": "S3",
        "Location": {"Ref": bucket_id},
        "EncryptionKey": {"Type": "KMS", "Id": {"Fn::GetAtt": [key_id, "Arn"]}},
    }


def test_every_codebuild_project_and_its_logs_use_the_cmk(delivery):
    key = {"Fn::GetAtt": [_logical_id(delivery, delivery.stack.artifact_key), "Arn"]}
    projects = delivery.of_type("AWS::CodeBuild::Project")
    # Synth, self-mutation, assets and one validation per environment
    assert len(projects) == 3 + len(delivery.environments)
    for logical_id, project in projects.items():
        assert project["Properties"]["EncryptionKey"] == key, logical_id
        assert "CloudWatchLogs" in project["Properties"]["LogsConfig"], logical_id
    (log_group,) = delivery.of_type("AWS::Logs::LogGroup").values()
    assert log_group["Properties"]["KmsKeyId"] == key
    assert log_group["Properties"]["RetentionInDays"] == 365


def test_cross_region_environment_gets_a_hardened_artifact_store(delivery):
    # Given staging in eu-central-1, Then CodePipeline's support stack there keeps a versioned, access-logged
    # replication bucket encrypted with a rotating, retained key
    (support,) = delivery.stack.support_stacks
    assert support.region == "eu-central-1"
    resources = delivery.template(support.artifact_id)["Resources"]
    buckets = [r for r in resources.values() if r["Type"] == "AWS::S3::Bucket"]
    (replication,) = [b for b in buckets if "LoggingConfiguration" in b["Properties"]]
    assert replication["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert replication["DeletionPolicy"] == "Retain"
    (key,) = [r for r in resources.values() if r["Type"] == "AWS::KMS::Key"]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"


# ---------------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_validation_runs_after_the_deployment_with_only_the_lookup_role(delivery, environment):
    env = next(e for e in delivery.environments if e.name == environment)
    role_arn = lookup_role_arn(account=env.account, region=env.region)
    actions = delivery.stage(environment)["Actions"]
    (validate,) = [a for a in actions if a["Name"] == f"Validate-{environment}"]
    # Then it runs after every deploy action of the environment
    assert validate["RunOrder"] > max(a["RunOrder"] for a in actions if a["ActionTypeId"]["Category"] == "Deploy")
    # And it runs the validator for this environment with the environment's lookup role
    project_id = delivery.project_of(validate)
    commands = delivery.buildspec(project_id)["phases"]["build"]["commands"]
    assert commands == [
        f"python3 -m ml_platform.delivery.validate_deployment --environment {environment} --role-arn {role_arn}"
        " --model-package-versions synth-output/model-package-versions.json"
    ]
    # And it reads the versions the synth deployed from the synth output (a second input artifact)
    (synth,) = delivery.stage("Build")["Actions"]
    assert [a["Name"] for a in validate["InputArtifacts"]] == [
        delivery.stage("Source")["Actions"][0]["OutputArtifacts"][0]["Name"],
        synth["OutputArtifacts"][0]["Name"],
    ]
    # And the only role it may assume is exactly that lookup role
    role_id = delivery.resources[project_id]["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
    statements = [
        s
        for policy in delivery.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    assumes = [s for s in statements if "sts:AssumeRole" in json.dumps(s["Action"])]
    assert assumes == [{"Action": "sts:AssumeRole", "Effect": "Allow", "Resource": role_arn}]


# ---------------------------------------------------------------------------------------------------- gates
@pytest.mark.parametrize("pack", [p.__name__ for p in COMPLIANCE_PACKS])
def test_compliance_packs_report_nothing_with_the_pipeline(delivery_findings, pack):
    # Then every pack reports zero unacknowledged findings over the pipeline stack, its support stack and
    # every environment stage it deploys
    found = [f for f in delivery_findings if f.pack == pack]
    assert found == [], "\n".join(str(f) for f in found)


def test_control_tower_reports_nothing_on_the_pipeline_templates(delivery):
    # Given the pipeline stack and its cross-region support stack (the environment stages it deploys are the
    # declared app's, checked in tests/gates/test_control_tower.py)
    stacks = (delivery.stack, *delivery.stack.support_stacks)
    templates = [delivery.outdir / f"{stack.artifact_id}.template.json" for stack in stacks]
    # When the Control Tower plugin reads them, Then nothing is left beside the acknowledged log targets
    found = control_tower_unacknowledged(delivery.app, run_control_tower(templates))
    assert found == [], "\n".join(str(f) for f in found)


def test_cfn_lint_reports_nothing_on_the_pipeline_templates(delivery):
    problems = []
    for stack in (delivery.stack, *delivery.stack.support_stacks):
        path = delivery.outdir / f"{stack.artifact_id}.template.json"
        problems += [f"{stack.stack_name}: {m}" for m in lint_file(path, ManualArgs(regions=[stack.region]))]
    assert problems == []


def test_pipeline_stack_is_protected_and_tagged(delivery):
    assert delivery.stack.termination_protection is True
    assert delivery.stack.stack_name == "ml-platform-delivery"
    (key,) = [r for lid, r in delivery.resources.items() if lid == _logical_id(delivery, delivery.stack.artifact_key)]
    tags = {t["Key"]: t["Value"] for t in key["Properties"]["Tags"]}
    assert tags == {"project": "ml-platform", "owner": "ml-platform-team", "cost-center": "cc-1234"}


def test_stateful_logical_ids_of_the_pipeline_are_pinned(delivery):
    # A renamed key, bucket or log group would be replaced: the artifacts and build logs would be orphaned.
    from ml_platform.shared.guards import STATEFUL_RESOURCE_TYPES

    stateful = {lid for lid, r in delivery.resources.items() if r["Type"] in STATEFUL_RESOURCE_TYPES}
    assert stateful == {
        "ArtifactKey3DC626F1",
        "ArtifactAccessLogsF8325158",
        "ArtifactBucket7410C9EF",
        "BuildLogs3759266E",
        # The key of the undeliverable model approval events (approvals.py)
        "ModelApprovalsEventsKeyE0F6B2A0",
    }
