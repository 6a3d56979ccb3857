"""SageMakerEndpoint and DeploymentGuardrails against interfaces, in one small test app (synthesized once).

One file of ~700 lines on purpose: every test reads the same module-scoped synth of six endpoints, which a split
would synthesize once per file.

The test stack builds its own VPC, buckets, keys, topic and dead-letter queue; each endpoint below
exercises one policy type or feature.
"""

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
from ml_platform.inference.endpoint import AsyncNotifications, SageMakerEndpoint
from ml_platform.inference.endpoint.events import FAILURE_STATUSES
from ml_platform.shared.compliance import findings, flatten_reference
from tests.conftest import new_app, resources_of

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml-platform/churn-model:1.4.0"
CANARY = {
    "type": "canary",
    "canary_size": {"instances": 1},
    "wait_interval_seconds": 600,
    "termination_wait_seconds": 300,
    "maximum_execution_timeout_seconds": 3600,
}
LINEAR = {
    "type": "linear",
    "linear_step_size": {"percent": 25},
    "wait_interval_seconds": 300,
    "termination_wait_seconds": 600,
    "maximum_execution_timeout_seconds": 3600,
}
ALL_AT_ONCE = {
    "type": "all_at_once",
    "wait_interval_seconds": 300,
    "termination_wait_seconds": 0,
    "maximum_execution_timeout_seconds": 1800,
}
ROLLING = {"type": "rolling", "maximum_batch_size": {"instances": 1}, "rollback_maximum_batch_size": {"percent": 50},
           "wait_interval_seconds": 300, "maximum_execution_timeout_seconds": 3600}  # fmt: skip


def endpoint_config(name: str, **fields: Any) -> InferenceEndpoint:
    """A validated endpoint configuration (the construct takes nothing else): 4XX rollback alarm on, no capture."""
    return InferenceEndpoint.model_validate(
        {"name": name, "image_uri": IMAGE, "rollback_alarms": {"error_4xx_rate_percent": 5.0},
         "data_capture": {"enabled": False}, **fields}
    )  # fmt: skip


class Fixture:
    """The synthesized test app: template and the constructs, for assertions."""

    def __init__(self, outdir: Path) -> None:
        self.app = new_app(outdir)
        stack = cdk.Stack(self.app, "Endpoints", env=cdk.Environment(account="123456789012", region="eu-west-1"))
        vpc = ec2.Vpc(
            stack,
            "Vpc",
            max_azs=2,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
            ],
        )
        self.security_group = ec2.SecurityGroup(stack, "Workload", vpc=vpc)
        self.lake_key = kms.Key(stack, "LakeKey", enable_key_rotation=True)
        self.ml_key = kms.Key(stack, "MlKey", enable_key_rotation=True)
        alarms_key = kms.Key(stack, "AlarmsKey", enable_key_rotation=True)
        self.models = s3.Bucket(stack, "Models", encryption_key=self.lake_key)
        self.capture = s3.Bucket(stack, "Capture", encryption_key=self.lake_key)
        self.topic = sns.Topic(stack, "Alarms", master_key=alarms_key)
        dlq = sqs.Queue(stack, "Dlq", encryption=sqs.QueueEncryption.KMS, encryption_master_key=alarms_key)
        common: dict[str, Any] = {
            "models_bucket": self.models,
            "models_bucket_key": self.lake_key,
            "vpc": vpc,
            "subnets": ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            "security_group": self.security_group,
            "capture_bucket": self.capture,
            "ml_key": self.ml_key,
            "logs_key": kms.Key(stack, "LogsKey", enable_key_rotation=True),
            "alarm_topic": self.topic,
            "log_retention_days": 30,
            "log_removal_policy": cdk.RemovalPolicy.RETAIN,
            "event_dead_letter_queue": dlq,
            "region": "eu-west-1",
        }
        self.canary = SageMakerEndpoint(
            stack,
            "Canary",
            endpoint_name="t-canary",
            config=endpoint_config(
                "canary",
                model_data_key="churn/1.4.0/model.tar.gz",
                instance_type="ml.m5.xlarge",
                initial_instance_count=4,
                environment={"MODEL_VERSION": "1.4.0"},
                deployment=CANARY,
                autoscaling={
                    "registered_instance_type": "ml.m5.xlarge",
                    "min_instances": 4,
                    "max_instances": 8,
                    "target_invocations_per_instance": 750,
                },
                data_capture={"sampling_percent": 20, "csv_content_types": ["text/csv"]},
                operational_alarms={"zero_invocations_minutes": 15},
                model_monitor={
                    "baseline_statistics_key": "churn/1.4.0/baseline/statistics.json",
                    "baseline_constraints_key": "churn/1.4.0/baseline/constraints.json",
                },
            ),
            zero_invocations_alarm=True,
            **common,
        )
        self.linear = SageMakerEndpoint(
            stack,
            "Linear",
            endpoint_name="t-linear",
            config=endpoint_config(
                "linear",
                model_data_key="rec/2.0.3/model.tar.gz",
                instance_type="ml.g4dn.xlarge",  # NVMe and a GPU
                initial_instance_count=4,
                deployment=LINEAR,
            ),
            **common,
        )
        self.all_at_once = SageMakerEndpoint(
            stack,
            "AllAtOnce",
            endpoint_name="t-all-at-once",
            config=endpoint_config(
                "all-at-once",
                model_data_key="x/1/model.tar.gz",
                instance_type="ml.c5.large",
                initial_instance_count=2,
                deployment=ALL_AT_ONCE,
            ),
            **common,
        )
        self.rolling = SageMakerEndpoint(
            stack,
            "Rolling",
            endpoint_name="t-rolling",
            config=endpoint_config(
                "rolling",
                model_data_key="x/1/model.tar.gz",
                instance_type="ml.m5d.large",  # NVMe, no GPU
                initial_instance_count=4,
                deployment=ROLLING,
            ),
            **common,
        )
        self.serverless = SageMakerEndpoint(
            stack,
            "Serverless",
            endpoint_name="t-serverless",
            config=endpoint_config(
                "serverless",
                model_data_key="x/1/model.tar.gz",
                serverless={
                    "memory_mib": 2048,
                    "max_concurrency": 20,
                    "provisioned_concurrency": 2,
                    "accept_no_vpc_isolation": True,
                },
                deployment=ALL_AT_ONCE,
            ),
            **common,
        )
        self.asynchronous = SageMakerEndpoint(
            stack,
            "Async",
            endpoint_name="t-async",
            config=endpoint_config(
                "async",
                external_model_data_url="s3://partner-models/fraud/3.1.0/model.tar.gz",
                instance_type="ml.m5.xlarge",
                initial_instance_count=2,
                async_inference={"max_concurrent_invocations_per_instance": 4},
                autoscaling={
                    "registered_instance_type": "ml.m5.xlarge",
                    "min_instances": 0,
                    "max_instances": 4,
                    "target_backlog_per_instance": 5,
                },
                deployment=LINEAR,
            ),
            async_notifications=AsyncNotifications(error_topic=self.topic, topic_keys=[alarms_key]),
            capture_bucket_key=self.lake_key,
            **common,
        )
        self.stack = stack
        self.app.synth()
        self.template: dict[str, Any] = json.loads((outdir / "Endpoints.template.json").read_text())

    def resources(self, prefix: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return resources_of(self.template["Resources"], resource_type, prefix)

    def lid(self, construct: Any) -> str:
        """Logical ID of an L2 construct's resource in the test stack."""
        return self.stack.get_logical_id(construct.node.default_child)

    def one(self, prefix: str, resource_type: str) -> dict[str, Any]:
        (resource,) = self.resources(prefix, resource_type).values()
        return resource["Properties"]

    def statements(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Statements of the execution role's policies (not the monitor role's) by Sid."""
        result = {}
        monitor = self.resources(f"{prefix}Monitor", "AWS::IAM::ManagedPolicy")
        for logical_id, policy in self.resources(prefix, "AWS::IAM::ManagedPolicy").items():
            if logical_id in monitor and not prefix.endswith("Monitor"):
                continue
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                result[statement["Sid"]] = statement
        return result


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    return Fixture(tmp_path_factory.mktemp("endpoints"))


# ---------------------------------------------------------------------------------------------- guardrails
def _rollback_alarm_refs(built: Fixture, prefix: str) -> list[dict[str, str]]:
    return [
        alarm["AlarmName"]
        for alarm in built.one(prefix, "AWS::SageMaker::Endpoint")["DeploymentConfig"]["AutoRollbackConfiguration"][
            "Alarms"
        ]
    ]


def _without_rollback(built: Fixture, prefix: str) -> dict[str, Any]:
    config = dict(built.one(prefix, "AWS::SageMaker::Endpoint")["DeploymentConfig"])
    config.pop("AutoRollbackConfiguration")
    return config


def test_canary_policy_emits_exactly_this_deployment_config(built):
    # Given a canary of one instance, 600 s bake, 300 s termination wait, 3600 s timeout
    # Then the endpoint's blue/green policy says exactly that
    assert _without_rollback(built, "Canary") == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
                "WaitIntervalInSeconds": 600,
            },
            "TerminationWaitInSeconds": 300,
            "MaximumExecutionTimeoutInSeconds": 3600,
        }
    }


def test_linear_policy_emits_exactly_this_deployment_config(built):
    assert _without_rollback(built, "Linear") == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "LINEAR",
                "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
                "WaitIntervalInSeconds": 300,
            },
            "TerminationWaitInSeconds": 600,
            "MaximumExecutionTimeoutInSeconds": 3600,
        }
    }


def test_all_at_once_policy_emits_exactly_this_deployment_config(built):
    assert _without_rollback(built, "AllAtOnce") == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300},
            "TerminationWaitInSeconds": 0,
            "MaximumExecutionTimeoutInSeconds": 1800,
        }
    }


def test_rolling_policy_emits_exactly_this_deployment_config(built):
    assert _without_rollback(built, "Rolling") == {
        "RollingUpdatePolicy": {
            "MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1},
            "RollbackMaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": 50},
            "WaitIntervalInSeconds": 300,
            "MaximumExecutionTimeoutInSeconds": 3600,
        }
    }


@pytest.mark.parametrize("prefix", ["Canary", "Linear", "AllAtOnce", "Rolling", "Serverless", "Async"])
def test_rollback_alarm_names_resolve_to_alarms_in_the_same_template(built, prefix):
    # Given the endpoint's AutoRollbackConfiguration
    refs = _rollback_alarm_refs(built, prefix)
    # Then every alarm name is a Ref to a CloudWatch alarm of this template, and they are the construct's three
    alarms = built.resources(f"{prefix}Guardrails", "AWS::CloudWatch::Alarm")
    assert sorted(ref["Ref"] for ref in refs) == sorted(alarms)
    names = sorted(alarm["Properties"]["AlarmName"] for alarm in alarms.values())
    endpoint = built.one(prefix, "AWS::SageMaker::Endpoint")["EndpointName"]
    assert names == [f"{endpoint}-rollback-{kind}" for kind in ("4xx-rate", "5xx-rate", "p99-latency")]


def test_rollback_alarms_watch_the_variant_notify_and_ignore_missing_data(built):
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in built.resources("Canary", "AWS::CloudWatch::Alarm").values()
    }
    latency = alarms["t-canary-rollback-p99-latency"]
    assert latency["MetricName"] == "ModelLatency" and latency["ExtendedStatistic"] == "p99"
    assert latency["Threshold"] == 1000 * 1000  # 1000 ms in microseconds
    # Regression: the rollback alarms watch the new fleet, i.e. the endpoint configuration being deployed, not the
    # endpoint as a whole (where the old fleet dilutes a bad new model and trips on its own errors)
    (config_id,) = built.resources("Canary", "AWS::SageMaker::EndpointConfig")
    new_fleet = {"Fn::GetAtt": [config_id, "EndpointConfigName"]}
    assert {d["Name"]: d["Value"] for d in latency["Dimensions"]} == {
        "EndpointName": "t-canary",
        "VariantName": "AllTraffic",
        "EndpointConfigName": new_fleet,
    }
    rate = alarms["t-canary-rollback-5xx-rate"]
    for metric in rate["Metrics"][1:]:
        dims = {d["Name"]: d["Value"] for d in metric["MetricStat"]["Metric"]["Dimensions"]}
        assert dims["EndpointConfigName"] == new_fleet
    # while the operational alarms keep watching the endpoint as a whole
    operational = alarms["t-canary-p99-model-latency"]
    assert {d["Name"] for d in operational["Dimensions"]} == {"EndpointName", "VariantName"}
    assert rate["Metrics"][0]["Expression"] == "IF(invocations > 0, 100 * errors / invocations, 0)"
    assert {m["Id"]: m.get("MetricStat", {}).get("Metric", {}).get("MetricName") for m in rate["Metrics"]} == {
        "expr_1": None, "errors": "Invocation5XXErrors", "invocations": "Invocations",
    }  # fmt: skip
    for name in ("t-canary-rollback-p99-latency", "t-canary-rollback-5xx-rate", "t-canary-rollback-4xx-rate"):
        assert alarms[name]["TreatMissingData"] == "notBreaching"
        assert alarms[name]["AlarmActions"] and alarms[name]["OKActions"]
        assert "rolls back" in alarms[name]["AlarmDescription"]


# ---------------------------------------------------------------------------------------------- model
def test_model_runs_in_the_isolated_subnets_with_the_workload_group_and_network_isolation(built):
    model = built.one("Canary", "AWS::SageMaker::Model")
    assert model["EnableNetworkIsolation"] is True
    group = built.lid(built.security_group)
    assert model["VpcConfig"]["SecurityGroupIds"] == [{"Fn::GetAtt": [group, "GroupId"]}]
    isolated = sorted(r for r, v in built.template["Resources"].items() if v["Type"] == "AWS::EC2::Subnet")
    assert sorted(s["Ref"] for s in model["VpcConfig"]["Subnets"]) == isolated and len(isolated) == 2
    assert "ModelName" not in model  # generated, so a change creates a new model
    assert model["PrimaryContainer"]["Image"] == IMAGE
    assert model["PrimaryContainer"]["Environment"] == {"MODEL_VERSION": "1.4.0"}
    models = built.stack.get_logical_id(built.models.node.default_child)
    url = {"Fn::Join": ["", ["s3://", {"Ref": models}, "/churn/1.4.0/model.tar.gz"]]}
    assert model["PrimaryContainer"]["ModelDataUrl"] == url


def test_external_model_data_is_used_as_given(built):
    model = built.one("Async", "AWS::SageMaker::Model")
    assert model["PrimaryContainer"]["ModelDataUrl"] == "s3://partner-models/fraud/3.1.0/model.tar.gz"
    statements = built.statements("Async")
    assert statements["ReadTheModelArtifact"]["Resource"] == "arn:aws:s3:::partner-models/fraud/3.1.0/model.tar.gz"
    assert "DecryptTheModelArtifact" not in statements  # the external object's key is not ours to grant


def test_serverless_model_has_no_vpc_settings(built):
    # The service rejects VPC configuration and network isolation for serverless variants.
    model = built.one("Serverless", "AWS::SageMaker::Model")
    assert "VpcConfig" not in model and "EnableNetworkIsolation" not in model
    assert not built.resources("ServerlessVpcNetworkInterfaces", "AWS::IAM::ManagedPolicy")


# ---------------------------------------------------------------------------------------------- endpoint config
def test_endpoint_config_name_is_generated_and_the_endpoint_name_is_stable(built):
    config = built.one("Canary", "AWS::SageMaker::EndpointConfig")
    assert "EndpointConfigName" not in config
    endpoint = built.one("Canary", "AWS::SageMaker::Endpoint")
    (config_id,) = built.resources("Canary", "AWS::SageMaker::EndpointConfig")
    assert endpoint["EndpointName"] == "t-canary"
    assert endpoint["EndpointConfigName"] == {"Fn::GetAtt": [config_id, "EndpointConfigName"]}


@pytest.mark.parametrize(
    ("prefix", "encrypted"),
    [
        ("Canary", True),
        ("AllAtOnce", True),
        ("Async", True),
        ("Linear", False),
        ("Rolling", False),
        ("Serverless", False),
    ],
)
def test_volume_key_is_set_except_for_local_nvme_and_serverless(built, prefix, encrypted):
    # ml.m5/ml.c5: EBS volumes take the ML key; ml.g4dn/ml.m5d: local NVMe, CreateEndpointConfig rejects a key
    config = built.one(prefix, "AWS::SageMaker::EndpointConfig")
    ml_key = built.stack.get_logical_id(built.ml_key.node.default_child)
    if encrypted:
        assert config["KmsKeyId"] == {"Fn::GetAtt": [ml_key, "Arn"]}
    else:
        assert "KmsKeyId" not in config


def test_data_capture_goes_to_the_endpoint_prefix_with_the_bucket_key(built):
    capture = built.one("Canary", "AWS::SageMaker::EndpointConfig")["DataCaptureConfig"]
    bucket = built.stack.get_logical_id(built.capture.node.default_child)
    ml_key = built.stack.get_logical_id(built.ml_key.node.default_child)
    assert capture == {
        "EnableCapture": True,
        "InitialSamplingPercentage": 20,
        "DestinationS3Uri": {"Fn::Join": ["", ["s3://", {"Ref": bucket}, "/t-canary/data-capture"]]},
        "KmsKeyId": {"Fn::GetAtt": [ml_key, "Arn"]},
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        # Regression: CSV requests are captured as CSV text, which Model Monitor's analyzer reads (without the
        # header SageMaker base64-encodes every payload)
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
    }
    assert "DataCaptureConfig" not in built.one("Linear", "AWS::SageMaker::EndpointConfig")


def test_production_variant(built):
    (variant,) = built.one("Canary", "AWS::SageMaker::EndpointConfig")["ProductionVariants"]
    (model_id,) = built.resources("Canary", "AWS::SageMaker::Model")
    assert variant == {
        "VariantName": "AllTraffic",
        "ModelName": {"Fn::GetAtt": [model_id, "ModelName"]},
        "InstanceType": "ml.m5.xlarge",
        "InitialInstanceCount": 4,
        "InitialVariantWeight": 1,
    }


def test_serverless_variant(built):
    (variant,) = built.one("Serverless", "AWS::SageMaker::EndpointConfig")["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 20, "ProvisionedConcurrency": 2}
    assert "InstanceType" not in variant and "InitialInstanceCount" not in variant


def test_async_inference_writes_to_the_capture_bucket_and_notifies_errors(built):
    config = built.one("Async", "AWS::SageMaker::EndpointConfig")["AsyncInferenceConfig"]
    bucket = built.stack.get_logical_id(built.capture.node.default_child)
    topic = built.stack.get_logical_id(built.topic.node.default_child)
    assert config["OutputConfig"]["S3OutputPath"] == {
        "Fn::Join": ["", ["s3://", {"Ref": bucket}, "/t-async/async/output"]]
    }
    assert config["OutputConfig"]["S3FailurePath"] == {
        "Fn::Join": ["", ["s3://", {"Ref": bucket}, "/t-async/async/failure"]]
    }
    assert config["OutputConfig"]["NotificationConfig"] == {"ErrorTopic": {"Ref": topic}}
    assert config["ClientConfig"] == {"MaxConcurrentInvocationsPerInstance": 4}
    assert built.statements("Async")["NotifyAsyncResults"]["Resource"] == {"Ref": topic}


def test_async_inference_reads_its_input_payloads_with_either_key(built):
    # Regression: SageMaker reads each asynchronous request from its InputLocation with the execution role, which
    # had neither s3:GetObject there nor kms:Decrypt, so every asynchronous request failed
    statements = built.statements("Async")
    capture = built.stack.get_logical_id(built.capture.node.default_child)
    assert statements["AsyncInputObjects"]["Action"] == "s3:GetObject"
    assert statements["AsyncInputObjects"]["Resource"] == {
        "Fn::Join": ["", [{"Fn::GetAtt": [capture, "Arn"]}, "/t-async/async/input/*"]]
    }
    keys = {built.stack.get_logical_id(key.node.default_child) for key in (built.lake_key, built.ml_key)}
    decrypt = statements["AsyncInputDecrypt"]
    assert {r["Fn::GetAtt"][0] for r in decrypt["Resource"]} == keys and decrypt["Action"] == "kms:Decrypt"
    assert decrypt["Condition"]["StringEquals"] == {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}


# ---------------------------------------------------------------------------------------------- autoscaling
def test_autoscaling_target_and_target_tracking_policy(built):
    target = built.one("Canary", "AWS::ApplicationAutoScaling::ScalableTarget")
    (endpoint_id,) = built.resources("Canary", "AWS::SageMaker::Endpoint")
    assert target == {
        "ServiceNamespace": "sagemaker",
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "ResourceId": {
            "Fn::Join": ["", ["endpoint/", {"Fn::GetAtt": [endpoint_id, "EndpointName"]}, "/variant/AllTraffic"]]
        },
        "MinCapacity": 4,
        "MaxCapacity": 8,
    }
    policy = built.one("Canary", "AWS::ApplicationAutoScaling::ScalingPolicy")
    (target_id,) = built.resources("Canary", "AWS::ApplicationAutoScaling::ScalableTarget")
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["ScalingTargetId"] == {"Ref": target_id}
    assert policy["TargetTrackingScalingPolicyConfiguration"] == {
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "TargetValue": 750,
        "ScaleInCooldown": 300,
        "ScaleOutCooldown": 60,
    }


def test_async_autoscaling_tracks_the_backlog(built):
    policy = built.one("Async", "AWS::ApplicationAutoScaling::ScalingPolicy")[
        "TargetTrackingScalingPolicyConfiguration"
    ]
    assert policy["CustomizedMetricSpecification"]["MetricName"] == "ApproximateBacklogSizePerInstance"
    assert policy["TargetValue"] == 5
    assert built.one("Async", "AWS::ApplicationAutoScaling::ScalableTarget")["MinCapacity"] == 0


@pytest.mark.parametrize(("prefix", "retained"), [("Canary", True), ("Async", True), ("Linear", False)])
def test_retain_all_variant_properties_exactly_when_autoscaled(built, prefix, retained):
    endpoint = built.one(prefix, "AWS::SageMaker::Endpoint")
    assert endpoint.get("RetainAllVariantProperties") is (True if retained else None)


# ---------------------------------------------------------------------------------------------- role
def test_execution_role_is_least_privilege(built):
    statements = built.statements("Canary")
    models = built.stack.get_logical_id(built.models.node.default_child)
    lake_key = built.stack.get_logical_id(built.lake_key.node.default_child)
    capture = built.stack.get_logical_id(built.capture.node.default_child)
    # reads every version of its model (a rollback launches the previous one) and nothing else of the bucket
    assert statements["ModelVersionsObjects"] == {
        "Sid": "ModelVersionsObjects", "Effect": "Allow", "Action": "s3:GetObject",
        "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": [models, "Arn"]}, "/churn/*"]]},
    }  # fmt: skip
    # pulls exactly its repository, derived from the image URI
    assert (
        statements["PullTheModelImage"]["Resource"]
        == "arn:aws:ecr:eu-west-1:123456789012:repository/ml-platform/churn-model"
    )
    assert sorted(statements["PullTheModelImage"]["Action"]) == [
        "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
    ]  # fmt: skip
    # decrypts the artifact only through S3, for objects of the models bucket (bucket ARN: S3 Bucket Keys)
    decrypt = statements["ModelVersionsDecrypt"]
    assert decrypt["Action"] == "kms:Decrypt" and decrypt["Resource"] == {"Fn::GetAtt": [lake_key, "Arn"]}
    assert decrypt["Condition"]["StringEquals"] == {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    assert {"Fn::GetAtt": [models, "Arn"]} in decrypt["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]
    # writes only under its capture prefix
    assert statements["EndpointCaptureObjects"]["Resource"] == {
        "Fn::Join": ["", [{"Fn::GetAtt": [capture, "Arn"]}, "/t-canary/*"]]
    }
    # logs only to its own log group
    (log_group,) = built.resources("Canary", "AWS::Logs::LogGroup")
    assert statements["WriteTheEndpointLogs"]["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}
    # reads exactly its rollback alarms (by name: the alarms depend on the configuration, which needs the role)
    alarms = built.resources("CanaryGuardrails", "AWS::CloudWatch::Alarm")
    assert statements["ReadTheRollbackAlarms"]["Action"] == "cloudwatch:DescribeAlarms"
    names = sorted(alarm["Properties"]["AlarmName"] for alarm in alarms.values())
    resources = sorted(json.dumps(r) for r in statements["ReadTheRollbackAlarms"]["Resource"])
    assert len(resources) == len(names) and all(name in r for name, r in zip(names, resources, strict=True))
    # metrics only in the endpoint instance namespace
    assert statements["PublishEndpointInstanceMetrics"]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/Endpoints"}
    }


def test_only_the_network_interface_and_service_wide_statements_use_resource_star(built):
    star = sorted(sid for sid, s in built.statements("Canary").items() if s["Resource"] == "*")
    assert star == ["AuthenticateToEcr", "ManageModelNetworkInterfaces", "PublishEndpointInstanceMetrics"]
    network = built.statements("CanaryVpcNetworkInterfaces")
    assert sorted(network["ManageModelNetworkInterfaces"]["Action"]) == sorted([
        "ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface",
        "ec2:DeleteNetworkInterfacePermission", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
        "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
    ])  # fmt: skip


def test_the_role_is_assumed_by_sagemaker_only_and_has_no_inline_policy(built):
    roles = built.resources("Canary", "AWS::IAM::Role")
    for role in roles.values():
        assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
            {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}}
        ]
        assert "Policies" not in role["Properties"]
    assert not built.resources("Canary", "AWS::IAM::Policy")


def test_model_and_endpoint_wait_for_the_role_policies(built):
    (model_id,) = built.resources("Canary", "AWS::SageMaker::Model")
    policies = set(built.resources("Canary", "AWS::IAM::ManagedPolicy")) - set(
        built.resources("CanaryMonitor", "AWS::IAM::ManagedPolicy")
    )
    assert policies <= set(built.template["Resources"][model_id]["DependsOn"])


# ---------------------------------------------------------------------------------------------- alarms and events
def test_operational_alarms_per_instance_family(built):
    def suffixes(prefix: str) -> set[str]:
        endpoint = built.one(prefix, "AWS::SageMaker::Endpoint")["EndpointName"]
        names = {a["Properties"]["AlarmName"] for a in built.resources(prefix, "AWS::CloudWatch::Alarm").values()}
        return {n.removeprefix(f"{endpoint}-") for n in names if "-rollback-" not in n}

    base = {"5xx-rate", "4xx-rate", "p99-model-latency", "p99-overhead-latency"}
    instance = {"cpu-utilization", "memory-utilization", "disk-utilization"}
    assert suffixes("Canary") == base | instance | {"no-invocations"}
    assert suffixes("Linear") == base | instance | {"gpu-utilization", "gpu-memory-utilization"}  # ml.g4dn: a GPU
    assert suffixes("Serverless") == base  # no instances to watch
    assert suffixes("AllAtOnce") == base | instance  # ml.c5: no GPU; no traffic alarm unless asked


def test_every_alarm_notifies_the_topic_says_what_to_do_and_treats_missing_data_deliberately(built):
    topic = built.stack.get_logical_id(built.topic.node.default_child)
    for alarm in built.resources("", "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": topic}] and props["OKActions"] == [{"Ref": topic}]
        assert props["TreatMissingData"] in ("notBreaching", "breaching")
        assert len(props["AlarmDescription"]) > 60


def test_cpu_threshold_covers_all_vcpus_and_zero_traffic_is_breaching(built):
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in built.resources("Canary", "AWS::CloudWatch::Alarm").values()
    }
    assert alarms["t-canary-cpu-utilization"]["Threshold"] == 85 * 4  # ml.m5.xlarge: 4 vCPUs, 0-100 % each
    assert alarms["t-canary-cpu-utilization"]["Namespace"] == "/aws/sagemaker/Endpoints"
    silent = alarms["t-canary-no-invocations"]
    assert (silent["TreatMissingData"], silent["ComparisonOperator"], silent["Threshold"]) == (
        "breaching", "LessThanThreshold", 1,
    )  # fmt: skip


def test_event_rules_forward_deployments_and_failures_of_this_endpoint(built):
    rules = {k: v["Properties"] for k, v in built.resources("Canary", "AWS::Events::Rule").items()}
    patterns = {k.removeprefix("Canary").rstrip("0123456789ABCDEF"): v["EventPattern"] for k, v in rules.items()}
    assert patterns["DeploymentEvents"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Endpoint Deployment State Change"],
        "detail": {
            "EndpointName": ["t-canary"],
            "PendingDeploymentSummary": {"EndpointConfigName": [{"exists": True}]},
        },
    }
    assert patterns["FailureEvents"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Endpoint State Change", "SageMaker Endpoint Deployment State Change"],
        "detail": {"EndpointName": ["t-canary"], "EndpointStatus": list(FAILURE_STATUSES)},
    }
    topic = built.stack.get_logical_id(built.topic.node.default_child)
    for rule in rules.values():
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Ref": topic}
        assert "DeadLetterConfig" in target
        assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}


def test_dead_letter_queue_accepts_exactly_the_endpoint_rules(built):
    (policy,) = [p["Properties"] for p in built.resources("", "AWS::SQS::QueuePolicy").values()]
    sources = [
        statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0]
        for statement in policy["PolicyDocument"]["Statement"]
        if "ArnEquals" in statement.get("Condition", {})
    ]
    assert sorted(sources) == sorted(built.resources("", "AWS::Events::Rule"))


# ---------------------------------------------------------------------------------------------- monitor, logs
def test_data_quality_monitor_runs_hourly_in_the_vpc_with_kms(built):
    job = built.one("Canary", "AWS::SageMaker::DataQualityJobDefinition")
    schedule = built.one("Canary", "AWS::SageMaker::MonitoringSchedule")
    assert schedule["MonitoringScheduleConfig"]["ScheduleConfig"] == {"ScheduleExpression": "cron(0 * ? * * *)"}
    assert schedule["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"] == job["JobDefinitionName"]
    assert schedule["MonitoringScheduleConfig"]["MonitoringType"] == "DataQuality"
    assert (
        job["DataQualityAppSpecification"]["ImageUri"]
        == "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    )
    assert job["JobResources"]["ClusterConfig"]["VolumeKmsKeyId"] == {"Fn::GetAtt": [built.lid(built.ml_key), "Arn"]}
    assert job["DataQualityJobOutputConfig"]["KmsKeyId"] == {"Fn::GetAtt": [built.lid(built.ml_key), "Arn"]}
    assert job["NetworkConfig"]["EnableInterContainerTrafficEncryption"] is True
    assert "VpcConfig" in job["NetworkConfig"]
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 1800}
    assert (
        job["JobDefinitionName"].startswith("t-canary-dq-") and len(job["JobDefinitionName"]) == len("t-canary-dq-") + 8
    )


def test_endpoint_log_group_is_encrypted_named_and_kept(built):
    (log_group,) = built.resources("Canary", "AWS::Logs::LogGroup").values()
    assert log_group["Properties"]["LogGroupName"] == "/aws/sagemaker/Endpoints/t-canary"
    assert log_group["Properties"]["RetentionInDays"] == 30
    assert "KmsKeyId" in log_group["Properties"]
    assert log_group["DeletionPolicy"] == "Retain"


# ---------------------------------------------------------------------------------------------- compliance
def test_no_unacknowledged_findings_on_the_endpoints(built):
    # Given every pack over the test app, When the findings on the endpoint constructs are read, Then none
    ours = ("/Canary/", "/Linear/", "/AllAtOnce/", "/Rolling/", "/Serverless/", "/Async/")
    found = [f for f in findings(built.app) if any(part in f.construct_path for part in ours)]
    assert found == [], "\n".join(map(str, found))


def test_nvme_volume_key_finding_is_acknowledged_with_the_reason(built):
    acknowledged = {}
    for entry in built.linear.endpoint_config.node.metadata:
        if entry.type == "aws:cdk:acknowledged-rules":
            acknowledged.update(entry.data)
    for pack in ("HIPAA.Security", "NIST.800.53.R5", "PCI.DSS.321"):
        (reason,) = [
            v for k, v in acknowledged.items() if k.endswith(f"{pack}-SageMakerEndpointConfigurationKMSKeyConfigured")
        ]
        assert "ml.g4dn.xlarge has local NVMe" in reason
    # and nothing is acknowledged where the key is set
    assert not [e for e in built.canary.endpoint_config.node.metadata if e.type == "aws:cdk:acknowledged-rules"]


def test_flatten_matches_cdk_nag_naming():
    assert flatten_reference({"Fn::Join": ["", [{"Fn::GetAtt": ["B", "Arn"]}, "/p/*"]]}) == "<B.Arn>/p/*"
    assert flatten_reference({"Ref": "AWS::AccountId"}) == "<AWS::AccountId>"
    assert flatten_reference({"Fn::GetStackOutput": {"StackName": "s"}}) == '{"Fn::GetStackOutput":{"StackName":"s"}}'
