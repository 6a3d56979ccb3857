"""SageMakerEndpoint with A/B challengers, a shadow variant and every model shape (pipeline, multi-model, registry
package), in one small test app synthesized once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from ml_platform.inference.config import InferenceEndpoint
from ml_platform.inference.config.registry import RegistryConfig
from ml_platform.inference.endpoint import SageMakerEndpoint
from ml_platform.shared.compliance import findings
from tests.conftest import new_app, resources_of
from tests.inference.test_sagemaker_endpoint_construct import ALL_AT_ONCE, CANARY, IMAGE, endpoint_config

NEXT = IMAGE.replace(":1.4.0", ":1.5.0")
REGISTRY = RegistryConfig.model_validate(
    {"groups": [{"name": "fraud", "image_repositories": ["ml-platform/fraud-model"], "model_data_prefix": "fraud/"}]}
)


def shaped_config(name: str, **fields: Any) -> InferenceEndpoint:
    """``endpoint_config`` for an endpoint whose control model is given in ``model`` (no image_uri)."""
    return InferenceEndpoint.model_validate(
        {"name": name, "rollback_alarms": {"error_4xx_rate_percent": 5.0}, "data_capture": {"enabled": False}, **fields}
    )


SCALED = {"registered_instance_type": "ml.m5.xlarge", "min_instances": 2, "max_instances": 4,
          "target_invocations_per_instance": 500}  # fmt: skip


class Variants:
    """The synthesized test app and its template."""

    def __init__(self, outdir: Path) -> None:
        self.app = new_app(outdir)
        stack = cdk.Stack(self.app, "Variants", env=cdk.Environment(account="123456789012", region="eu-west-1"))
        vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0, subnet_configuration=[
            ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)])  # fmt: skip
        key = kms.Key(stack, "Key", enable_key_rotation=True)
        common: dict[str, Any] = {
            "models_bucket": s3.Bucket(stack, "Models", encryption_key=key),
            "models_bucket_key": key,
            "capture_bucket": s3.Bucket(stack, "Capture", encryption_key=key),
            "vpc": vpc,
            "subnets": ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            "security_group": ec2.SecurityGroup(stack, "Sg", vpc=vpc),
            "ml_key": key,
            "logs_key": key,
            "alarm_topic": sns.Topic(stack, "Topic", master_key=key),
            "log_retention_days": 365,
            "log_removal_policy": cdk.RemovalPolicy.RETAIN,
            "region": "eu-west-1",
            "registry": REGISTRY,
            "event_dead_letter_queue": sqs.Queue(
                stack, "Dlq", encryption=sqs.QueueEncryption.KMS, encryption_master_key=key
            ),
        }
        next_model = {"type": "container", "image_uri": NEXT, "model_data_key": "ab/2/model.tar.gz"}
        challenger = {"name": "b", "instance_type": "ml.m5.xlarge", "initial_instance_count": 2,
                      "initial_variant_weight": 0.25, "autoscaling": SCALED, "model": next_model}  # fmt: skip
        self.ab = SageMakerEndpoint(stack, "Ab", endpoint_name="t-ab", config=endpoint_config(
            "ab", model_data_key="ab/1/model.tar.gz", instance_type="ml.m5.xlarge", initial_instance_count=2,
            initial_variant_weight=0.75, deployment=CANARY, autoscaling=SCALED, challengers=[challenger]),
            **common)  # fmt: skip
        self.shadow = SageMakerEndpoint(stack, "Sh", endpoint_name="t-sh", config=endpoint_config(
            "sh", model_data_key="sh/1/model.tar.gz", instance_type="ml.m5.xlarge", initial_instance_count=2,
            deployment=CANARY, data_capture={"csv_content_types": ["text/csv"]},
            shadow={"name": "candidate", "instance_type": "ml.m5.xlarge", "initial_instance_count": 2,
                    "model": {"type": "container", "image_uri": NEXT, "model_data_key": "sh/2/model.tar.gz"}}),
            **common)  # fmt: skip
        pipeline = {"type": "pipeline", "containers": [
            {"image_uri": IMAGE.replace("churn-model", "pre"), "model_data_key": "pre/1/model.tar.gz",
             "hostname": "pre"},
            {"image_uri": IMAGE, "model_data_key": "churn/1/model.tar.gz", "hostname": "predict",
             "environment": {"A": "1"}}]}  # fmt: skip
        self.pipeline = SageMakerEndpoint(stack, "Pipe", endpoint_name="t-pipe", config=shaped_config(
            "pipe", model=pipeline, instance_type="ml.m5.xlarge", initial_instance_count=2, deployment=CANARY),
            **common)  # fmt: skip
        self.multi = SageMakerEndpoint(stack, "Multi", endpoint_name="t-multi", config=shaped_config(
            "multi", model={"type": "multi_model", "image_uri": IMAGE, "model_data_prefix": "regions/v3/",
                            "cache_models": False},
            instance_type="ml.c5.xlarge", initial_instance_count=2, deployment=ALL_AT_ONCE), **common)  # fmt: skip
        self.package = SageMakerEndpoint(stack, "Pkg", endpoint_name="t-pkg", config=shaped_config(
            "pkg", model={"type": "package", "group": "fraud", "version": 7}, instance_type="ml.m5.xlarge",
            initial_instance_count=2, deployment=CANARY), **common)  # fmt: skip
        self.stack = stack
        self.app.synth()
        self.template: dict[str, Any] = json.loads((outdir / "Variants.template.json").read_text())

    def of(self, prefix: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return resources_of(self.template["Resources"], resource_type, prefix)

    def one(self, prefix: str, resource_type: str) -> dict[str, Any]:
        (resource,) = self.of(prefix, resource_type).values()
        return resource["Properties"]

    def statements(self, prefix: str) -> dict[str, dict[str, Any]]:
        policy = self.one(f"{prefix}ScopedPermissions", "AWS::IAM::ManagedPolicy")
        return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Variants:
    return Variants(tmp_path_factory.mktemp("variants"))


# ---------------------------------------------------------------------------------------------- A/B
def test_ab_endpoint_lists_both_variants_with_their_weights_and_models(built):
    config = built.one("Ab", "AWS::SageMaker::EndpointConfig")
    variants = {v["VariantName"]: v for v in config["ProductionVariants"]}
    assert {name: v["InitialVariantWeight"] for name, v in variants.items()} == {"AllTraffic": 0.75, "b": 0.25}
    models = built.of("Ab", "AWS::SageMaker::Model")
    assert len(models) == 2
    assert {variants[n]["ModelName"]["Fn::GetAtt"][0] for n in variants} == set(models)
    assert "ShadowProductionVariants" not in config


def test_configured_weights_win_over_retained_variant_properties(built):
    # Regression guard: RetainAllVariantProperties keeps "the instance count or the variant weight"; with
    # challengers the configured weights must win, the scaled instance counts stay
    endpoint = built.one("Ab", "AWS::SageMaker::Endpoint")
    assert endpoint["RetainAllVariantProperties"] is True
    assert endpoint["ExcludeRetainedVariantProperties"] == [{"VariantPropertyType": "DesiredWeight"}]
    single = built.one("Pipe", "AWS::SageMaker::Endpoint")
    assert "ExcludeRetainedVariantProperties" not in single


def test_each_ab_variant_scales_and_alarms_on_its_own(built):
    targets = {
        t["Properties"]["ResourceId"]["Fn::Join"][1][-1]
        for t in built.of("Ab", "AWS::ApplicationAutoScaling::ScalableTarget").values()
    }
    assert targets == {"/variant/AllTraffic", "/variant/b"}
    policies = {
        p["Properties"]["PolicyName"] for p in built.of("Ab", "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    }
    assert policies == {"t-ab-target-tracking", "t-ab-b-target-tracking"}
    names = {a["Properties"]["AlarmName"] for a in built.of("Ab", "AWS::CloudWatch::Alarm").values()}
    # the control keeps the names it always had; the challenger's carry its name; both have rollback alarms
    assert {"t-ab-5xx-rate", "t-ab-b-5xx-rate", "t-ab-rollback-5xx-rate", "t-ab-b-rollback-5xx-rate"} <= names
    refs = built.one("Ab", "AWS::SageMaker::Endpoint")["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    assert len(refs) == 6  # 5XX rate, p99 latency and 4XX rate of each variant's new fleet
    assert set(built.ab.critical_alarms) >= set(built.ab.operational_alarms[:1])
    assert len(built.ab.critical_alarms) == 4


# ---------------------------------------------------------------------------------------------- shadow
def test_shadow_variant_is_a_shadow_production_variant_with_its_own_model(built):
    config = built.one("Sh", "AWS::SageMaker::EndpointConfig")
    assert [v["VariantName"] for v in config["ProductionVariants"]] == ["AllTraffic"]
    (shadow,) = config["ShadowProductionVariants"]
    assert (shadow["VariantName"], shadow["InstanceType"], shadow["InitialInstanceCount"]) == (
        "candidate", "ml.m5.xlarge", 2)  # fmt: skip
    # one capture configuration for both: SageMaker splits captures by variant under the destination
    assert config["DataCaptureConfig"]["DestinationS3Uri"]["Fn::Join"][1][-1] == "/t-sh/data-capture"


def test_shadow_comparison_alarms_compare_shadow_with_control_and_never_roll_back(built):
    alarms = {a["Properties"]["AlarmName"]: a["Properties"] for a in built.of("Sh", "AWS::CloudWatch::Alarm").values()}
    rate, latency = alarms["t-sh-shadow-5xx-rate-delta"], alarms["t-sh-shadow-p99-latency-delta"]
    assert rate["Threshold"] == 1.0 and latency["Threshold"] == 200
    expressions = [m.get("Expression") for m in latency["Metrics"]]
    assert "(shadow - control) / 1000" in expressions
    variants = {
        d["Value"]
        for m in latency["Metrics"]
        if "MetricStat" in m
        for d in m["MetricStat"]["Metric"]["Dimensions"]
        if d["Name"] == "VariantName"
    }
    assert variants == {"AllTraffic", "candidate"}
    rollback = built.one("Sh", "AWS::SageMaker::Endpoint")["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    shadow_ids = set(built.of("ShShadow", "AWS::CloudWatch::Alarm"))
    assert shadow_ids and not shadow_ids & {ref["AlarmName"]["Ref"] for ref in rollback}


# ---------------------------------------------------------------------------------------------- model shapes
def test_pipeline_model_lists_its_containers_in_order_and_runs_them_serially(built):
    model = built.one("Pipe", "AWS::SageMaker::Model")
    assert "PrimaryContainer" not in model
    assert [c["ContainerHostname"] for c in model["Containers"]] == ["pre", "predict"]
    assert model["InferenceExecutionConfig"] == {"Mode": "Serial"}
    statements = built.statements("Pipe")
    assert len(statements["PullTheModelImage"]["Resource"]) == 2
    granted = json.dumps(statements)  # every container's model prefix is readable
    assert "/pre/*" in granted and "/churn/*" in granted


def test_multi_model_container_loads_the_models_under_its_prefix(built):
    model = built.one("Multi", "AWS::SageMaker::Model")
    container = model["PrimaryContainer"]
    assert container["Mode"] == "MultiModel"
    assert container["ModelDataUrl"]["Fn::Join"][1][-1] == "/regions/v3/"
    assert container["MultiModelConfig"] == {"ModelCacheSetting": "Disabled"}
    assert "/regions/v3/*" in json.dumps(built.statements("Multi"))


def test_package_model_deploys_the_pinned_version_and_reads_what_its_group_declares(built):
    container = built.one("Pkg", "AWS::SageMaker::Model")["PrimaryContainer"]
    assert container["ModelPackageName"] == "arn:aws:sagemaker:eu-west-1:123456789012:model-package/fraud/7"
    assert "Image" not in container and "ModelDataUrl" not in container
    statements = json.dumps(built.statements("Pkg"))
    assert "repository/ml-platform/fraud-model" in statements and "/fraud/*" in statements


def test_every_shape_passes_the_compliance_packs(built):
    # Given every pack over the test app, When the findings on the endpoint constructs are read, Then none
    ours = ("/Ab/", "/Sh/", "/Pipe/", "/Multi/", "/Pkg/")
    found = [f for f in findings(built.app) if any(part in f.construct_path for part in ours)]
    assert found == [], "\n".join(map(str, found))
