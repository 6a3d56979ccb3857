"""An approved model package version starts the pipeline, which deploys the latest approved versions: the synth's
resolver and its role, the environments' forwarding to the pipeline account's bus, the bus policy, the trigger rule
and its role, and their runtime flows. Over the session's pipeline app (tests/delivery/conftest.py)."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from ml_platform.delivery.config import lookup_role_arn
from scripts.assembly import StackTemplate
from scripts.flows.catalogue.registry import pipeline_flows
from scripts.flows.engine import evaluate
from scripts.flows.templates import Placement
from tests.delivery.conftest import ACCOUNTS, PIPELINE_ACCOUNT, Delivery

BUS = f"arn:aws:events:eu-west-1:{PIPELINE_ACCOUNT}:event-bus/default"
PROD_RULE = f"arn:aws:events:eu-west-1:{ACCOUNTS['prod']}:rule/ml-platform-prod-model-package-approved"


def _one(delivery: Delivery, resource_type: str, prefix: str = "ModelApprovals") -> dict[str, Any]:
    (resource,) = [r for lid, r in delivery.of_type(resource_type).items() if lid.startswith(prefix)]
    return resource["Properties"]


def _role_statements(delivery: Delivery, role_id: str) -> list[dict[str, Any]]:
    return [
        s
        for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        for policy in delivery.of_type(kind).values()
        if {"Ref": role_id} in policy["Properties"].get("Roles", [])
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_synth_may_assume_only_the_lookup_roles_of_environments_with_a_registry(delivery):
    # Given the synth action's CodeBuild project (its resolver reads the registries)
    (action,) = delivery.stage("Build")["Actions"]
    role_id = delivery.resources[delivery.project_of(action)]["Properties"]["ServiceRole"]["Fn::GetAtt"][0]
    # Then the only role it may assume is prod's lookup role (only prod declares registry groups)
    assumes = [s for s in _role_statements(delivery, role_id) if "sts:AssumeRole" in json.dumps(s["Action"])]
    prod = lookup_role_arn(account=ACCOUNTS["prod"], region="eu-west-1")
    assert assumes == [{"Action": "sts:AssumeRole", "Effect": "Allow", "Resource": prod}]


def test_the_default_bus_admits_each_registry_environments_approval_rule_only(delivery):
    policy = _one(delivery, "AWS::Events::EventBusPolicy")
    assert policy["EventBusName"] == "default"
    assert policy["Statement"] == {
        "Effect": "Allow",
        "Principal": {"AWS": [f"arn:aws:iam::{ACCOUNTS['prod']}:root"]},
        "Action": "events:PutEvents",
        "Resource": BUS,
        "Condition": {"ArnEquals": {"aws:SourceArn": [PROD_RULE]}},
    }


def test_approvals_of_the_declared_groups_start_the_pipeline_through_a_role_of_its_own(delivery):
    rule = _one(delivery, "AWS::Events::Rule")
    # Then the rule matches approvals of prod's groups, from prod's account
    assert rule["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Model Package State Change"],
        "detail": {"ModelPackageGroupName": ["churn"], "ModelApprovalStatus": ["Approved"]},
        "account": [ACCOUNTS["prod"]],
    }
    # And it starts this pipeline with its role, retrying for a day, then dead-letters
    (target,) = rule["Targets"]
    (pipeline_id,) = delivery.of_type("AWS::CodePipeline::Pipeline")
    assert pipeline_id in json.dumps(target["Arn"])
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
    assert "ModelApprovalsUndelivered" in json.dumps(target["DeadLetterConfig"])
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    # And the role's only permission is a customer-managed policy to start this pipeline (no inline policy)
    assert not [
        p for p in delivery.of_type("AWS::IAM::Policy").values() if {"Ref": role_id} in p["Properties"]["Roles"]
    ]
    (statement,) = _role_statements(delivery, role_id)
    assert statement["Action"] == "codepipeline:StartPipelineExecution"
    assert pipeline_id in json.dumps(statement["Resource"])


def test_the_prod_stage_the_pipeline_deploys_forwards_approvals_to_the_pipeline_bus(delivery):
    # Given the Registry stack of the prod stage inside the pipeline
    (prod,) = [s for s in delivery.stack.stages if s.config.name == "prod"]
    assert prod.registry is not None and prod.registry.forwarder_role is not None
    template = json.loads((Path(prod.outdir) / prod.registry.template_file).read_text())
    (rule,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    # Then the approval rule (fixed name: the bus policy names it) notifies the alarm topic and forwards to the bus
    assert rule["Properties"]["Name"] == "ml-platform-prod-model-package-approved"
    topic, bus = rule["Properties"]["Targets"]
    assert "AlarmTopic" in json.dumps(topic["Arn"]) and bus["Arn"] == BUS
    assert "ApprovalForwarderRole" in json.dumps(bus["RoleArn"])
    # And the environments without groups have no Registry stack
    (dev,) = [s for s in delivery.stack.stages if s.config.name == "dev"]
    assert dev.registry is None


# ---------------------------------------------------------------------------------------------------- runtime flows
@pytest.fixture(scope="module")
def trigger_flows(delivery: Delivery) -> list[Any]:
    template = delivery.template()
    stack = StackTemplate(
        environment="Pipeline", stack_id="Pipeline", stack_name=delivery.stack.stack_name, region="eu-west-1",
        template_path=delivery.outdir / f"{delivery.stack.artifact_id}.template.json", template=template,
        account=PIPELINE_ACCOUNT,
    )  # fmt: skip
    flows = pipeline_flows(stack, Placement(PIPELINE_ACCOUNT, "eu-west-1"), {"prod": (ACCOUNTS["prod"], PROD_RULE)})
    return evaluate(flows)


def test_every_trigger_flow_is_authorized_as_expected(trigger_flows):
    unexpected = [(r.flow.flow_id, r.actual, r.errors) for r in trigger_flows if not r.as_expected]
    assert unexpected == []
    expected = {r.flow.flow_id.rsplit("/", 1)[-1]: r.flow.expected for r in trigger_flows}
    assert expected == {
        "bus-prod-its-rule": "allow",
        "bus-prod-another-rule": "deny",
        "bus-unknown-account": "deny",
        "trigger-assumed": "allow",
        "trigger-start": "allow",
        "trigger-start-other": "deny",
        "dead-letters": "allow",
        "dead-letters-key": "allow",
        "other-rule-dead-letters": "deny",
    }


def test_red_path_a_bus_policy_without_the_rule_condition_admits_any_rule_of_the_account(trigger_flows):
    # Given the flow of another rule of prod's account, refused today
    (flow,) = [r.flow for r in trigger_flows if r.flow.flow_id.endswith("bus-prod-another-rule")]
    assert evaluate([flow])[0].actual == "deny"
    # When the bus policy lost its aws:SourceArn condition
    name, document = flow.resource_policy
    broken = copy.deepcopy(dict(document))
    del broken["Statement"][0]["Condition"]
    (result,) = evaluate([dataclasses.replace(flow, flow_id="broken", resource_policy=(name, broken))])
    # Then any rule (or role) of the account could put events on the pipeline's bus
    assert result.actual == "allow"
