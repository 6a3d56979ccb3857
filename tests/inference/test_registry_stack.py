"""The Registry stack: model package groups (retained, tagged, a resource policy only when shared), the approval rule
to the alarm topic and, with a delivery pipeline, to the pipeline account's bus; its place among the stacks."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns

from ml_platform.environments import load_environments
from ml_platform.inference.registry import RegistryStack
from ml_platform.stage import stack_ids
from tests.conftest import new_app, one_resource

BUS = "arn:aws:events:eu-west-1:333333333333:event-bus/default"


def test_only_environments_with_groups_get_a_registry_before_their_endpoints(platform):
    dev, prod = platform.environments["dev"], platform.environments["prod"]
    assert "Registry" not in stack_ids(dev)
    ids = stack_ids(prod)
    assert ids.index("Security") < ids.index("Registry") < ids.index("Inference")
    # And the endpoints, which name registry versions by ARN (no reference), are deployed after it
    inference = platform.stages["prod"].inference
    assert inference is not None and platform.stages["prod"].registry in inference.dependencies


def test_each_group_is_retained_tagged_and_unshared_by_default(platform):
    logical_id, group = one_resource(platform.resources("prod", "Registry", "AWS::SageMaker::ModelPackageGroup"))
    assert logical_id == "ChurnGroup"
    assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Retain"
    props = group["Properties"]
    assert props["ModelPackageGroupName"] == "churn"
    assert props["ModelPackageGroupDescription"] == "Churn model versions"
    assert "ModelPackageGroupPolicy" not in props  # prod shares it with nobody
    tags = {t["Key"]: t["Value"] for t in props["Tags"]}
    assert tags.items() >= platform.environments["prod"].resource_tags.items()


def test_approvals_of_the_groups_notify_the_alarm_topic_with_a_dead_letter_queue(platform):
    _, rule = one_resource(platform.resources("prod", "Registry", "AWS::Events::Rule"))
    props = rule["Properties"]
    assert props["Name"] == "ml-platform-prod-model-package-approved"
    assert props["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": ["churn"], "ModelApprovalStatus": ["Approved"]},
    }
    # No pipeline is declared: the alarm topic is the only target
    (target,) = props["Targets"]
    assert "AlarmTopic" in json.dumps(target["Arn"])
    assert "UndeliveredApprovalEvents" in json.dumps(target["DeadLetterConfig"])
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
    assert not platform.resources("prod", "Registry", "AWS::IAM::Role")
    # And the dead-letter queue has its alarm on the topic
    _, alarm = one_resource(platform.resources("prod", "Registry", "AWS::CloudWatch::Alarm"))
    assert alarm["Properties"]["AlarmName"] == "ml-platform-prod-undelivered-approval-events"


# ---------------------------------------------------------------------------------------------------- shared, forwarded
@pytest.fixture(scope="module")
def shared_registry() -> dict[str, Any]:
    """prod's Registry stack with its group shared with dev's account and approvals forwarded to a pipeline bus."""
    prod = load_environments()[1]
    app = new_app()
    env = cdk.Environment(account=prod.account, region=prod.region)
    security = cdk.Stack(app, "Security", env=env)
    topic = sns.Topic(security, "Topic")
    key = kms.Key(security, "Key")
    stack = RegistryStack(
        app, "Registry", config=prod, env=env, alarm_topic=topic, alarms_key=key,
        reader_accounts={"churn": ("111111111111",)}, approval_bus_arn=BUS,
    )  # fmt: skip
    return app.synth().get_stack_by_name(stack.stack_name).template


def test_a_shared_group_lets_the_readers_describe_and_list_but_not_approve(shared_registry):
    (group,) = [r for r in shared_registry["Resources"].values() if r["Type"] == "AWS::SageMaker::ModelPackageGroup"]
    policy = group["Properties"]["ModelPackageGroupPolicy"]
    # Then the accounts it is shared with may read the group and its versions, and nothing else: only the owning
    # account approves or rejects (no sagemaker:UpdateModelPackage)
    reader = {"AWS": "arn:aws:iam::111111111111:root"}
    arn = "arn:aws:sagemaker:eu-west-1:222222222222"
    assert policy["Statement"] == [
        {"Sid": "ReadTheGroup", "Effect": "Allow", "Principal": reader, "Action": "sagemaker:DescribeModelPackageGroup",
         "Resource": f"{arn}:model-package-group/churn"},
        {"Sid": "ReadItsVersions", "Effect": "Allow", "Principal": reader,
         "Action": ["sagemaker:DescribeModelPackage", "sagemaker:ListModelPackages"],
         "Resource": f"{arn}:model-package/churn/*"},
    ]  # fmt: skip


def test_approvals_are_forwarded_to_the_pipeline_bus_with_a_managed_policy_only(shared_registry):
    resources = shared_registry["Resources"]
    (rule,) = [r for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    topic, bus = rule["Properties"]["Targets"]
    assert bus["Arn"] == BUS and bus["DeadLetterConfig"] == topic["DeadLetterConfig"]
    role_id = bus["RoleArn"]["Fn::GetAtt"][0]
    assert resources[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "events.amazonaws.com"
    }
    # No inline policy; one customer-managed policy with PutEvents on the pipeline bus only
    assert not [r for r in resources.values() if r["Type"] == "AWS::IAM::Policy"]
    (managed,) = [r for r in resources.values() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    assert managed["Properties"]["Roles"] == [{"Ref": role_id}]
    assert managed["Properties"]["PolicyDocument"]["Statement"] == [
        {"Action": "events:PutEvents", "Effect": "Allow", "Resource": BUS, "Sid": "PutOnThePipelineBus"}
    ]
