"""The Inference stack of each environment, read from the session's synthesized app."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ml_platform.stage import stack_ids
from tests.conftest import one_resource


def _of_type(platform, env: str, resource_type: str) -> dict[str, dict[str, Any]]:
    return platform.resources(env, "Inference", resource_type)


def _endpoint(platform, env: str, name: str) -> tuple[str, dict[str, Any]]:
    for logical_id, resource in _of_type(platform, env, "AWS::SageMaker::Endpoint").items():
        if resource["Properties"]["EndpointName"] == f"ml-platform-{env}-{name}":
            return logical_id, resource["Properties"]
    raise KeyError(name)


def _construct_prefix(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def _one(platform, env: str, name: str, resource_type: str) -> dict[str, Any]:
    return one_resource(_of_type(platform, env, resource_type), prefix=_construct_prefix(name))[1]["Properties"]


def _reference(value: Any) -> str:
    """What a (cross-stack) reference points at, as text, for assertions on its producer."""
    return json.dumps(value)


def test_inference_stack_exists_exactly_where_endpoints_are_configured(platform):
    for env in platform.environments.values():
        assert ("Inference" in stack_ids(env)) is bool(env.inference.endpoints)
        assert (env.name, "Inference") in {(s.environment, s.stack_id) for s in platform.stacks}


def test_dev_has_one_endpoint_and_prod_two_with_different_policies(platform):
    dev = {r["Properties"]["EndpointName"] for r in _of_type(platform, "dev", "AWS::SageMaker::Endpoint").values()}
    prod = {r["Properties"]["EndpointName"] for r in _of_type(platform, "prod", "AWS::SageMaker::Endpoint").values()}
    assert dev == {"ml-platform-dev-churn"}
    assert prod == {"ml-platform-prod-churn", "ml-platform-prod-recommender"}


def _policy_only(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k != "AutoRollbackConfiguration"}


def test_prod_churn_shifts_linearly(platform):
    _, churn = _endpoint(platform, "prod", "churn")
    assert _policy_only(churn["DeploymentConfig"]) == {
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


def test_prod_recommender_uses_a_canary(platform):
    _, recommender = _endpoint(platform, "prod", "recommender")
    assert _policy_only(recommender["DeploymentConfig"]) == {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 50},
                "WaitIntervalInSeconds": 600,
            },
            "TerminationWaitInSeconds": 300,
            "MaximumExecutionTimeoutInSeconds": 2400,
        }
    }


def test_dev_churn_uses_a_canary_of_one_instance(platform):
    _, churn = _endpoint(platform, "dev", "churn")
    routing = churn["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    canary = {"Type": "INSTANCE_COUNT", "Value": 1}
    assert routing == {"Type": "CANARY", "CanarySize": canary, "WaitIntervalInSeconds": 300}


@pytest.mark.parametrize(("env", "name"), [("dev", "churn"), ("prod", "churn"), ("prod", "recommender")])
def test_rollback_alarms_resolve_to_alarms_of_the_same_template(platform, env, name):
    _, endpoint = _endpoint(platform, env, name)
    alarms = _of_type(platform, env, "AWS::CloudWatch::Alarm")
    refs = [a["AlarmName"]["Ref"] for a in endpoint["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]]
    assert refs and all(ref in alarms for ref in refs)
    # the control variant's alarms keep their names; a challenger's carry its variant name
    names = [alarms[ref]["Properties"]["AlarmName"] for ref in refs]
    config = next(e for e in platform.environments[env].inference.endpoints if e.name == name)
    variants = config.production_variants
    prefixes = [f"ml-platform-{env}-{name}-"] + [f"ml-platform-{env}-{name}-{v.name}-" for v in variants[1:]]
    assert all(any(n.startswith(f"{p}rollback-") for p in prefixes) for n in names), names
    assert len(names) == len(variants) * config.rollback_alarms.count  # each production variant's new fleet


def test_models_run_in_the_network_stacks_isolated_subnets_with_the_workload_group(platform):
    for env in ("dev", "prod"):
        for model in _of_type(platform, env, "AWS::SageMaker::Model").values():
            props = model["Properties"]
            assert props["EnableNetworkIsolation"] is True
            assert "WorkloadSecurityGroup" in _reference(props["VpcConfig"]["SecurityGroupIds"])
            subnets = props["VpcConfig"]["Subnets"]
            assert len(subnets) == platform.environments[env].network.resolved_az_count(env)
            assert all("IsolatedSubnet" in _reference(subnet) for subnet in subnets)


def test_model_data_is_read_from_the_data_lake_models_bucket(platform):
    # The recommender's control model (its shadow has a model of its own)
    props = _of_type(platform, "prod", "AWS::SageMaker::Model")["RecommenderModelA6EE6CE4"]["Properties"]
    url = props["PrimaryContainer"]["ModelDataUrl"]
    assert "ModelsBucket" in _reference(url) and url["Fn::Join"][1][-1] == "/recommender/2.0.3/model.tar.gz"
    assert props["PrimaryContainer"]["Image"].endswith("/ml-platform/recommender:2.0.3")


def test_prod_churn_serves_the_pinned_version_of_its_registry_group(platform):
    # Given prod's churn endpoint declared as {type: package, group: churn, version: 1}
    container = _one(platform, "prod", "churn", "AWS::SageMaker::Model")["PrimaryContainer"]
    # Then its model names exactly that version of prod's own registry, and no image or artifact of its own
    assert container == {"ModelPackageName": "arn:aws:sagemaker:eu-west-1:222222222222:model-package/churn/1"}


def test_volume_key_on_ebs_instances_and_none_on_nvme(platform):
    churn = _one(platform, "prod", "churn", "AWS::SageMaker::EndpointConfig")
    recommender = _one(platform, "prod", "recommender", "AWS::SageMaker::EndpointConfig")
    assert "MlKey" in _reference(churn["KmsKeyId"])  # ml.m5.xlarge: EBS volume, the ML key
    assert "KmsKeyId" not in recommender  # ml.g4dn.xlarge: local NVMe, the hardware encrypts it


def test_data_capture_uses_the_capture_bucket_and_the_ml_key(platform):
    capture = _one(platform, "prod", "churn", "AWS::SageMaker::EndpointConfig")["DataCaptureConfig"]
    assert capture["InitialSamplingPercentage"] == 20
    assert "CaptureBucket" in _reference(capture["DestinationS3Uri"])
    assert capture["DestinationS3Uri"]["Fn::Join"][1][-1] == "/ml-platform-prod-churn/data-capture"
    # Captured payloads are encrypted with the ML key; the capture bucket's policy accepts it (DataLakeStack).
    assert "MlKey" in _reference(capture["KmsKeyId"])
    recommender = _one(platform, "prod", "recommender", "AWS::SageMaker::EndpointConfig")["DataCaptureConfig"]
    assert recommender["CaptureOptions"] == [{"CaptureMode": "Input"}]


def test_only_the_autoscaled_endpoint_retains_variant_properties(platform):
    _, churn = _endpoint(platform, "prod", "churn")
    _, recommender = _endpoint(platform, "prod", "recommender")
    assert churn["RetainAllVariantProperties"] is True
    assert "RetainAllVariantProperties" not in recommender
    (target,) = _of_type(platform, "prod", "AWS::ApplicationAutoScaling::ScalableTarget").values()
    assert (target["Properties"]["MinCapacity"], target["Properties"]["MaxCapacity"]) == (4, 8)
    (policy,) = _of_type(platform, "prod", "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    tracking = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert tracking["TargetValue"] == 750


def test_zero_invocation_alarms_in_prod_only(platform):
    def names(env: str) -> set[str]:
        return {a["Properties"]["AlarmName"] for a in _of_type(platform, env, "AWS::CloudWatch::Alarm").values()}

    assert {"ml-platform-prod-churn-no-invocations", "ml-platform-prod-recommender-no-invocations"} <= names("prod")
    assert not [n for n in names("dev") if n.endswith("no-invocations")]
    assert {"ml-platform-prod-recommender-gpu-utilization"} <= names("prod")  # ml.g4dn has a GPU
    assert not [n for n in names("prod") if n.startswith("ml-platform-prod-churn-gpu")]


def test_alarms_and_events_go_to_the_security_stacks_alarm_topic(platform):
    for env in ("dev", "prod"):
        for alarm in _of_type(platform, env, "AWS::CloudWatch::Alarm").values():
            assert "AlarmTopic" in _reference(alarm["Properties"]["AlarmActions"])
        rules = _of_type(platform, env, "AWS::Events::Rule")
        assert len(rules) == 2 * len(platform.environments[env].inference.endpoints)
        for rule in rules.values():
            (target,) = rule["Properties"]["Targets"]
            assert "AlarmTopic" in _reference(target["Arn"]) and "DeadLetterConfig" in target


def test_events_dead_letter_queue_is_encrypted_with_the_alarms_key(platform):
    (queue,) = _of_type(platform, "prod", "AWS::SQS::Queue").values()
    assert "AlarmsKey" in _reference(queue["Properties"]["KmsMasterKeyId"])


@pytest.mark.parametrize(("env", "days", "policy"), [("dev", 365, "Delete"), ("prod", 365, "Retain")])
def test_endpoint_log_groups_follow_the_stage(platform, env, days, policy):
    for logical_id, group in _of_type(platform, env, "AWS::Logs::LogGroup").items():
        assert group["Properties"]["RetentionInDays"] == days, logical_id
        assert group["DeletionPolicy"] == policy and "LogsKey" in _reference(group["Properties"]["KmsKeyId"])


def test_model_monitor_on_prod_churn_only(platform):
    (job,) = _of_type(platform, "prod", "AWS::SageMaker::DataQualityJobDefinition").values()
    assert job["Properties"]["EndpointName"] == "ml-platform-prod-churn"
    assert job["Properties"]["DataQualityAppSpecification"]["ImageUri"].startswith("468650794304.dkr.ecr.eu-west-1.")
    assert not _of_type(platform, "dev", "AWS::SageMaker::DataQualityJobDefinition")


def test_outputs_name_the_live_configuration(platform):
    outputs = platform.stack("prod", "Inference").template["Outputs"]
    (config_id,) = [k for k in _of_type(platform, "prod", "AWS::SageMaker::EndpointConfig") if k.startswith("Churn")]
    assert outputs["ChurnEndpointConfigName"]["Value"] == {"Fn::GetAtt": [config_id, "EndpointConfigName"]}
    assert "ChurnEndpointName" in outputs and "RecommenderEndpointConfigName" in outputs


def test_no_inline_policies_and_no_aws_managed_policies(platform):
    for env in ("dev", "prod"):
        assert not _of_type(platform, env, "AWS::IAM::Policy")
        for role in _of_type(platform, env, "AWS::IAM::Role").values():
            assert "Policies" not in role["Properties"] and "ManagedPolicyArns" not in role["Properties"]
