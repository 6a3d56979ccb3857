"""Control Tower gate: the AWS Control Tower proactive controls (the cfn-guard rules of
``cdklabs.cdk-validator-cfnguard``) over every stack of every environment, zero unacknowledged findings.

The session's synth leaves the plugin out (tests/conftest.py); here it runs once over those templates, and its
report is read with the app's acknowledgments applied the way CDK applies them at synth. A small app below
checks that this reading and a registered synth agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3

from ml_platform.shared.compliance import (
    CONTROL_TOWER_PLUGIN,
    CONTROL_TOWER_RULES,
    acknowledge_control,
    construct_paths_by_logical_id,
    control_tower_acknowledged,
    control_tower_findings,
    control_tower_rule_id,
    control_tower_unacknowledged,
    register_compliance_packs,
    run_control_tower,
)
from tests.conftest import new_app


@pytest.fixture(scope="module")
def report(platform):
    """The plugin's own report over every template of every environment (nothing acknowledged yet)."""
    return run_control_tower([stack.template_path for stack in platform.stacks])


def _control(description: str) -> str:
    """``[CT.S3.PR.9]: Require ...`` → ``CT.S3.PR.9``."""
    return description[1 : description.index("]")]


def test_control_tower_reports_no_unacknowledged_findings(platform, report):
    # Given every stack of every declared environment, When the Control Tower report is read with the app's
    # acknowledgments, Then nothing is left
    found = control_tower_unacknowledged(platform.app, report)
    assert found == [], "\n".join(str(f) for f in found)
    # And the plugin did read the templates of every environment: each has acknowledged findings
    templates = {r.template_path for v in report.violations for r in v.violating_resources}
    assert {stack.environment for stack in platform.stacks if stack.template_path.as_posix() in templates} == set(
        platform.environments
    )


def test_every_control_tower_acknowledgment_matches_a_finding(platform, report):
    # Given the resources the report names per rule
    paths = construct_paths_by_logical_id(platform.app)
    reported = {
        (v.rule_name, paths[(Path(r.template_path).name, r.resource_logical_id)])
        for v in report.violations
        for r in v.violating_resources
    }
    # Then every Control Tower acknowledgment in the app sits on (or above) a resource the rule reports: none is
    # stale, none hides a rule that passes
    for construct in platform.app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type != "aws:cdk:acknowledged-rules":
                continue
            for rule_id in dict(entry.data):
                namespace, _, rule = rule_id.partition("::")
                if namespace != CONTROL_TOWER_PLUGIN:
                    continue
                at = construct.node.path
                assert any(r == rule and (p == at or p.startswith(f"{at}/")) for r, p in reported), (rule_id, at)


def test_control_ids_name_the_rules_the_plugin_reports(report):
    # The acknowledgment helper maps control ids to rule names; the report's descriptions start with the id
    seen = {v.rule_name: _control(v.description) for v in report.violations}
    for control, rule in CONTROL_TOWER_RULES.items():
        if rule in seen:
            assert seen[rule] == control
    assert set(seen) <= set(CONTROL_TOWER_RULES.values()), "a new rule fires: fix the resource or map and acknowledge"


def test_cross_stack_references_are_weak(platform):
    # The decision recorded in docs/compliance.md (cdk.json "@aws-cdk/core:defaultCrossStackReferences": "weak"): every
    # cross-stack reference is Fn::GetStackOutput, no stack exports a value for Fn::ImportValue
    for stack in platform.stacks:
        text = json.dumps(stack.template)
        assert "Fn::ImportValue" not in text, stack.stack_name
        assert not [o for o in stack.template.get("Outputs", {}).values() if "Export" in o], stack.stack_name
    assert any("Fn::GetStackOutput" in json.dumps(stack.template) for stack in platform.stacks)


# ------------------------------------------------------------------------------------------- red path
def _small_app(tmp_path):
    """A producer stack with a key and a consumer stack with: a log group encrypted with that key (a cross-stack
    reference), a log group whose "key" is a bucket ARN of the producer, two plain buckets (one with an
    acknowledgment of CT.S3.PR.9)."""
    app = new_app(tmp_path)
    producer, consumer = Stack(app, "Producer"), Stack(app, "Consumer")
    key = kms.Key(producer, "Key", enable_key_rotation=True)
    not_a_key = s3.Bucket(producer, "NotAKey")
    logs.LogGroup(consumer, "Encrypted", encryption_key=key, retention=logs.RetentionDays.ONE_YEAR)
    logs.CfnLogGroup(consumer, "WrongType", kms_key_id=not_a_key.bucket_arn, retention_in_days=365)
    acknowledged = s3.Bucket(consumer, "Acknowledged")
    acknowledge_control(acknowledged, "CT.S3.PR.9", "Test: Object Lock is deliberately off in this fixture bucket.")
    s3.Bucket(consumer, "Plain")
    return app


def test_registered_gate_fails_the_synth_and_an_acknowledgment_removes_exactly_its_finding(tmp_path):
    # Given the small app with every gate registered the way app.py registers them
    app = _small_app(tmp_path)
    register_compliance_packs(app)
    # When it synthesizes, Then the synth fails and the report names the Control Tower findings
    with pytest.raises(RuntimeError, match="ValidationFailed") as failure:
        app.synth()
    assert f"({CONTROL_TOWER_PLUGIN})" in str(failure.value) and "[CT.S3.PR.9]" in str(failure.value)
    found = {(f.rule, f.construct_path) for f in control_tower_findings(tmp_path)}
    acknowledged = {(f.rule, f.construct_path) for f in control_tower_acknowledged(tmp_path)}
    lock, logging = CONTROL_TOWER_RULES["CT.S3.PR.9"], CONTROL_TOWER_RULES["CT.S3.PR.2"]
    encrypted_log_group = CONTROL_TOWER_RULES["CT.CLOUDWATCH.PR.3"]
    # And the acknowledgment removed exactly its finding: that rule on that bucket
    assert (lock, "Consumer/Acknowledged/Resource") in acknowledged
    assert (lock, "Consumer/Acknowledged/Resource") not in found
    assert (lock, "Consumer/Plain/Resource") in found
    assert (logging, "Consumer/Acknowledged/Resource") in found
    # And the cross-stack key of a log group is acknowledged, a reference to a bucket in the key's place is not
    assert (encrypted_log_group, "Consumer/Encrypted/Resource") in acknowledged
    assert (encrypted_log_group, "Consumer/WrongType") in found
    # And reading the plugin's own report with the app's acknowledgments gives the same findings
    templates = sorted(tmp_path.glob("*.template.json"))
    direct = control_tower_unacknowledged(app, run_control_tower(templates))
    assert {(f.rule, f.construct_path) for f in direct} == found


def test_acknowledgment_of_a_control_needs_a_known_control_and_a_specific_reason(tmp_path):
    bucket = s3.Bucket(Stack(new_app(tmp_path), "Ack"), "B")
    assert control_tower_rule_id("CT.S3.PR.9") == "cdk-validator-cfnguard::s3_bucket_object_lock_enabled_check"
    with pytest.raises(ValueError, match="not in CONTROL_TOWER_RULES"):
        acknowledge_control(bucket, "CT.S3.PR.99", "Test: a control id the mapping does not know of.")
    with pytest.raises(ValueError, match="specific reason"):
        acknowledge_control(bucket, "CT.S3.PR.9", "n/a")
