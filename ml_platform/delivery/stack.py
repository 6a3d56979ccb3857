"""The delivery pipeline: CDK Pipelines on CodePipeline, deploying every environment into its own account.

Source (CodeConnections) → Synth (installs the project, ``make test``, ``npx cdk synth``) → UpdatePipeline
(self-mutation) → Assets → one stage per environment in declaration order; a manual approval before every
``prod`` environment; after each environment a validation step (``ml_platform/delivery/validate_deployment.py``).

Cross-account: the target accounts are bootstrapped with ``cdk bootstrap --trust <pipeline account>``; the
pipeline assumes their bootstrap deploy roles (CloudFormation) and file-publishing roles (assets), and the
validation step their read-only lookup role.

The findings on what CDK Pipelines generates are acknowledged in ``generated_findings.py``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_codepipeline as codepipeline
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import pipelines
from constructs import Construct

from ml_platform.delivery.approvals import ApprovalTrigger
from ml_platform.delivery.config import PipelineConfig, lookup_role_arn
from ml_platform.delivery.generated_findings import acknowledge_generated
from ml_platform.environment import EnvironmentConfig
from ml_platform.inference.config.packages import PACKAGE_VERSIONS_CONTEXT
from ml_platform.shared.compliance import acknowledge_finding
from ml_platform.shared.encrypted_bucket import (
    AccessLogBucket,
    EncryptedBucket,
    event_bridge_notifications,
    tiering_rule,
)
from ml_platform.shared.kms_keys import KeyPurpose, PlatformKey, deny_grants_except_for_aws_services
from ml_platform.shared.log_retention import retention
from ml_platform.stage import PlatformStage

ROOT = Path(__file__).resolve().parents[2]

# CodeBuild image of every step: Ubuntu standard 8.0, which offers Python 3.10-3.14 and Node.js 22/24
# (aws-codebuild-docker-images, ubuntu/standard/8.0/runtimes.yml). The project needs Python >= 3.11 and
# Node.js >= 20; `runtime-versions` selects Python 3.11 (the version the suite is developed on) and Node.js
# 22 (20 is end-of-life and standard 8.0 no longer ships it). A version the image lacks fails the build.
BUILD_IMAGE = codebuild.LinuxBuildImage.STANDARD_8_0
RUNTIME_VERSIONS = {"python": "3.11", "nodejs": "22"}
# Quiet, offline CDK CLI, as in the Makefile.
CLI_ENVIRONMENT = {
    "CDK_DISABLE_VERSION_CHECK": "true",
    "CDK_DISABLE_CLI_TELEMETRY": "true",
}
SYNTH_COMMANDS = ("make test", "npx cdk synth")
# With registry groups, the synth deploys the latest approved version of every group: the resolver
# (approved_versions.py, boto3 only) asks each environment's registry through its lookup role, the synth passes its
# JSON as context, and the JSON travels in the synth output (cdk.out) to the validation steps.
PACKAGE_VERSIONS_FILE = "model-package-versions.json"
RESOLVER_MODULE = "ml_platform.delivery.approved_versions"
REGISTRY_SYNTH_COMMANDS = (
    "make test",
    f".venv/bin/python -m {RESOLVER_MODULE} --output {PACKAGE_VERSIONS_FILE}",
    f'npx cdk synth -c {PACKAGE_VERSIONS_CONTEXT}="$(cat {PACKAGE_VERSIONS_FILE})"',
    f"cp {PACKAGE_VERSIONS_FILE} cdk.out/{PACKAGE_VERSIONS_FILE}",
)
# Where a validation step finds the synth output (an additional input directory of its CodeBuild action).
SYNTH_OUTPUT_DIRECTORY = "synth-output"
# The validation step needs only boto3 and pydantic (the environments' config), at the project's pins.
VALIDATION_MODULE = "ml_platform.delivery.validate_deployment"
VALIDATION_INSTALL = "python3 -m pip install --quiet $(grep -E '^(boto3|pydantic)==' requirements.txt)"


def cli_version() -> str:
    """The CDK CLI pinned in package.json; the pipeline's self-mutation and asset steps use the same."""
    return json.loads((ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]


class PipelineStack(cdk.Stack):
    """The delivery pipeline in the tooling account. Construct ids are a stable contract (self-mutation
    deploys this stack by its id)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PipelineConfig,
        environments: Sequence[EnvironmentConfig],
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            env=cdk.Environment(account=config.account, region=config.region),
            stack_name=config.pipeline_name,
            description=f"ML platform delivery pipeline ({config.repository}@{config.branch})",
            termination_protection=True,
            **kwargs,
        )
        self.config = config

        # ---------------------------------------------------------------- encryption and storage
        # One customer-managed key for the artifact bucket, every CodeBuild project and the build logs.
        # CDK Pipelines adds the target accounts' bootstrap roles to its policy (cross-account delivery).
        self.artifact_key = PlatformKey(
            self,
            "ArtifactKey",
            purpose=KeyPurpose(
                name="artifacts",
                description=f"{config.pipeline_name}: pipeline artifacts, CodeBuild projects and build logs",
                cloudwatch_logs=True,
            ),
            alias_prefix=config.pipeline_name,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        ).key
        self.access_log_bucket = _access_log_bucket(self, "ArtifactAccessLogs")
        # Object Lock is on (Control Tower CT.S3.PR.9) without a default retention, so nothing is locked.
        self.artifact_bucket = EncryptedBucket(
            self,
            "ArtifactBucket",
            encryption_key=self.artifact_key,
            access_log_bucket=self.access_log_bucket,
            access_log_prefix="artifacts/",
            lifecycle_rules=[_OLD_ARTIFACTS],
            removal_policy=cdk.RemovalPolicy.RETAIN,
            # CodePipeline and CodeBuild choose the encryption headers of their artifact puts themselves.
            deny_other_put_encryption=False,
            partitioned_access_logs=False,
        )
        _acknowledge_no_replication(self.artifact_bucket)
        self.build_log_group = logs.LogGroup(
            self,
            "BuildLogs",
            encryption_key=self.artifact_key,
            retention=retention(config.log_retention_days),
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

        # ---------------------------------------------------------------- pipeline
        self.source = pipelines.CodePipelineSource.connection(
            config.repository, config.branch, connection_arn=config.connection_arn, trigger_on_push=True
        )
        runtime_spec = codebuild.BuildSpec.from_object({"phases": {"install": {"runtime-versions": RUNTIME_VERSIONS}}})
        self.registries = [environment for environment in environments if environment.inference.registry.groups]
        self.synth_step = pipelines.CodeBuildStep(
            "Synth",
            input=self.source,
            install_commands=["python3 --version", "node --version"],
            commands=list(REGISTRY_SYNTH_COMMANDS if self.registries else SYNTH_COMMANDS),
            # The resolver reads each registry through the environment's read-only lookup role, nothing else.
            role_policy_statements=[
                iam.PolicyStatement(
                    actions=["sts:AssumeRole"], resources=[self._lookup_role(e) for e in self.registries]
                )
            ]
            if self.registries
            else None,
            primary_output_directory="cdk.out",
            env=CLI_ENVIRONMENT,
            # The synth runs the whole test suite (a cdk synth per session, cfn-lint, the local deploy smoke):
            # MEDIUM (4 vCPU, 7 GB) keeps it within minutes.
            build_environment=codebuild.BuildEnvironment(compute_type=codebuild.ComputeType.MEDIUM),
            partial_build_spec=runtime_spec,
        )
        self.pipeline = pipelines.CodePipeline(
            self,
            "Pipeline",
            pipeline_name=config.pipeline_name,
            synth=self.synth_step,
            self_mutation=True,
            cross_account_keys=True,
            enable_key_rotation=True,
            artifact_bucket=self.artifact_bucket,
            cli_version=cli_version(),
            publish_assets_in_parallel=False,
            code_build_defaults=pipelines.CodeBuildOptions(
                build_environment=codebuild.BuildEnvironment(build_image=BUILD_IMAGE, privileged=False),
                partial_build_spec=runtime_spec,
                logging=codebuild.LoggingOptions(
                    cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.build_log_group)
                ),
            ),
        )

        # ---------------------------------------------------------------- one stage per environment
        self.stages: list[PlatformStage] = []
        self.validation_steps: dict[str, pipelines.CodeBuildStep] = {}
        for environment in environments:
            stage = PlatformStage(self, environment, peers=environments, approval_bus_arn=config.event_bus_arn)
            pre: list[pipelines.Step] = []
            if environment.stage == "prod":
                pre.append(
                    pipelines.ManualApprovalStep(
                        f"Approve-{environment.name}",
                        comment=f"Promote to {environment.name} (account {environment.account}, "
                        f"{environment.region})? Check the previous environment's validation first.",
                    )
                )
            validation = self._validation_step(environment)
            self.validation_steps[environment.name] = validation
            self.pipeline.add_stage(stage, pre=pre, post=[validation])
            self.stages.append(stage)

        self.pipeline.build_pipeline()
        # An approved model package version starts the pipeline (approvals.py).
        self.approval_trigger = (
            ApprovalTrigger(
                self, "ModelApprovals", config=config, pipeline=self.pipeline.pipeline, environments=self.registries
            )
            if self.registries
            else None
        )
        self._source_action_can_use_connection()
        self.support_stacks = self._harden_cross_region_support()
        self._lint_clean_pipeline_resource()
        for stack in (self, *self.support_stacks):
            for key, value in {
                "project": config.tags.project,
                "owner": config.tags.owner,
                "cost-center": config.tags.cost_center,
            }.items():
                cdk.Tags.of(stack).add(key, value)
        acknowledge_generated(self)

    def _lint_clean_pipeline_resource(self) -> None:
        """Two cfn-lint findings on the generated AWS::CodePipeline::Pipeline, fixed in the template:

        * E3703 "Prefer using Fn::Sub over Fn::Join with an empty delimiter": the target accounts' execution
          role ARNs in the deploy actions' configuration are rendered as ``Fn::Join`` of the partition; the same
          ARN as ``Fn::Sub``.
        * W3005 "obsolete DependsOn": the pipeline depends on its role, which its ``RoleArn`` (GetAtt) already
          enforces; only the dependency on the role's policy is needed (the pipeline must not start before its
          permissions exist).
        """
        cfn = self.pipeline.pipeline.node.default_child
        assert isinstance(cfn, codepipeline.CfnPipeline)
        for i, stage in enumerate(self.resolve(cfn.stages)):
            # Resolved L1 values use the construct library's camelCase keys; the override path uses CFN's.
            for j, action in enumerate(stage["actions"]):
                role_arn = _join_as_sub((action.get("configuration") or {}).get("RoleArn"))
                if role_arn is not None:
                    cfn.add_property_override(f"Stages.{i}.Actions.{j}.Configuration.RoleArn", role_arn)
        role = self.pipeline.pipeline.role
        policy = role.node.try_find_child("DefaultPolicy")
        assert isinstance(policy, iam.Policy)
        cfn.add_override("DependsOn", [self.get_logical_id(policy.node.default_child)])  # type: ignore[arg-type]

    def _source_action_can_use_connection(self) -> None:
        """CDK grants ``codestar-connections:UseConnection``; a connection created since the CodeConnections
        rename has a ``codeconnections`` ARN, and "the service prefix needs to match that of the resource"
        (Developer Tools console guide, "Connections rename"). Grant the matching prefix too."""
        if _connection_service(self.config.connection_arn) != "codeconnections":
            return
        roles = [
            c
            for c in self.pipeline.pipeline.node.find_all()
            if isinstance(c, iam.Role) and "/Source/" in c.node.path and c.node.id == "CodePipelineActionRole"
        ]
        for role in roles:
            role.add_to_principal_policy(
                iam.PolicyStatement(actions=["codeconnections:UseConnection"], resources=[self.config.connection_arn])
            )

    def _harden_cross_region_support(self) -> list[cdk.Stack]:
        """An environment outside the pipeline's region needs an artifact store in its region: CodePipeline
        adds a support stack per region (``<pipeline>-support-<region>``) with a replication bucket and a
        rotating key. Bring that bucket to the platform's baseline: versioned with the artifact bucket's lifecycle
        and Object Lock, access-logged, events to EventBridge, key retained and granting only AWS services."""
        stacks = []
        for region, support in sorted(self.pipeline.pipeline.cross_region_support.items()):
            stack = support.stack
            bucket = support.replication_bucket
            logs_bucket = _access_log_bucket(stack, "ReplicationAccessLogs")
            cfn_bucket = bucket.node.default_child
            assert isinstance(cfn_bucket, s3.CfnBucket), region
            cfn_bucket.versioning_configuration = s3.CfnBucket.VersioningConfigurationProperty(status="Enabled")
            bucket.add_lifecycle_rule(
                id=_OLD_ARTIFACTS.id,
                noncurrent_version_expiration=_OLD_ARTIFACTS.noncurrent_version_expiration,
                abort_incomplete_multipart_upload_after=_OLD_ARTIFACTS.abort_incomplete_multipart_upload_after,
            )
            cfn_bucket.object_lock_enabled = True
            event_bridge_notifications(bucket)
            cfn_bucket.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
                destination_bucket_name=logs_bucket.bucket_name, log_file_prefix="replication/"
            )
            cfn_bucket.ownership_controls = s3.CfnBucket.OwnershipControlsProperty(
                rules=[s3.CfnBucket.OwnershipControlsRuleProperty(object_ownership="BucketOwnerEnforced")]
            )
            cfn_bucket.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
            # What `server_access_logs_bucket` would add: S3 log delivery may write this bucket's logs.
            logs_bucket.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="S3ServerAccessLogsPolicy",
                    principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
                    actions=["s3:PutObject"],
                    resources=[logs_bucket.arn_for_objects("replication/*")],
                    conditions={
                        "ArnLike": {"aws:SourceArn": bucket.bucket_arn},
                        "StringEquals": {"aws:SourceAccount": stack.account},
                    },
                )
            )
            for construct in stack.node.find_all():
                if isinstance(construct, (kms.CfnKey, kms.CfnAlias)):
                    construct.apply_removal_policy(cdk.RemovalPolicy.RETAIN)
                if isinstance(construct, kms.Key):
                    construct.add_to_resource_policy(deny_grants_except_for_aws_services())
            _acknowledge_no_replication(bucket)
            stacks.append(stack)
        return stacks

    def _lookup_role(self, environment: EnvironmentConfig) -> str:
        assert environment.account is not None  # load_pipeline requires it
        return lookup_role_arn(account=environment.account, region=environment.region, partition=self.config.partition)

    def _validation_step(self, environment: EnvironmentConfig) -> pipelines.CodeBuildStep:
        """Describe the deployed environment through its read-only lookup role; fail on any mismatch. With registry
        groups, the step also reads the versions the synth deployed (from the synth output)."""
        role_arn = self._lookup_role(environment)
        command = f"python3 -m {VALIDATION_MODULE} --environment {environment.name} --role-arn {role_arn}"
        if self.registries:
            command += f" --model-package-versions {SYNTH_OUTPUT_DIRECTORY}/{PACKAGE_VERSIONS_FILE}"
        return pipelines.CodeBuildStep(
            f"Validate-{environment.name}",
            input=self.source,
            additional_inputs={SYNTH_OUTPUT_DIRECTORY: self.synth_step} if self.registries else None,
            install_commands=[VALIDATION_INSTALL],
            commands=[command],
            env={"AWS_DEFAULT_REGION": environment.region},
            role_policy_statements=[iam.PolicyStatement(actions=["sts:AssumeRole"], resources=[role_arn])],
        )


# Pipeline artifacts are rebuilt by re-running the pipeline: old versions go after 30 days.
_OLD_ARTIFACTS = s3.LifecycleRule(
    id="old-artifacts",
    noncurrent_version_expiration=cdk.Duration.days(30),
    abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
)


def _access_log_bucket(scope: Construct, construct_id: str) -> AccessLogBucket:
    """Target of a pipeline bucket's server access logs (retained); logs expire after a year."""
    bucket = AccessLogBucket(
        scope,
        construct_id,
        lifecycle_rules=[tiering_rule(rule_id="expiry", expire_after_days=365, noncurrent_expire_after_days=30)],
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    _acknowledge_no_replication(bucket)
    return bucket


def _acknowledge_no_replication(bucket: s3.IBucket) -> None:
    acknowledge_finding(
        bucket,
        "S3BucketReplicationEnabled",
        reason="Pipeline artifacts (and their access logs) are rebuilt from the source repository by re-running "
        "the pipeline; a replica in a second Region would protect nothing that cannot be regenerated.",
    )


def _join_as_sub(value: object) -> dict[str, str] | None:
    """``{"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, "..."]]}`` as the equivalent ``Fn::Sub``; None for
    anything else (only strings and pseudo-parameter references are rewritten)."""
    if not isinstance(value, dict) or set(value) != {"Fn::Join"}:
        return None
    delimiter, parts = value["Fn::Join"]
    text = []
    for part in parts:
        if isinstance(part, str):
            text.append(part)
        elif isinstance(part, dict) and set(part) == {"Ref"} and str(part["Ref"]).startswith("AWS::"):
            text.append("${" + part["Ref"] + "}")
        else:
            return None
    return {"Fn::Sub": delimiter.join(text)} if delimiter == "" else None


def _connection_service(arn: str) -> str:
    return arn.split(":")[2]
