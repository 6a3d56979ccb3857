"""Compliance gate: every pack, every stack, every environment, zero unacknowledged findings.

Findings are read from each pack's validation report (cdk-nag 3 writes nothing to Annotations).
"""

from __future__ import annotations

import pytest
from aws_cdk import Stack
from aws_cdk import aws_s3 as s3

from ml_platform.shared.compliance import COMPLIANCE_PACKS, acknowledge, findings, register_compliance_packs
from tests.conftest import new_app


@pytest.mark.parametrize("pack", [p.__name__ for p in COMPLIANCE_PACKS])
def test_pack_reports_no_unacknowledged_findings(compliance_findings, pack):
    # Given every stack of every declared environment, synthesized once
    # When the pack's report is read
    # Then it lists neither errors nor warnings
    assert compliance_findings[pack] == [], "\n".join(str(f) for f in compliance_findings[pack])


def test_harness_goes_red_on_a_non_compliant_bucket(tmp_path):
    # Given an app with a plain bucket (no TLS policy, no access logs, no KMS, no versioning)
    app = new_app(tmp_path)
    stack = Stack(app, "Bad")
    s3.Bucket(stack, "PlainBucket")
    # When the packs read it
    found = findings(app)
    # Then several packs report the bucket
    packs = {f.pack for f in found if "PlainBucket" in f.construct_path}
    assert {"AwsSolutionsChecks", "HIPAASecurityChecks", "NIST80053R5Checks", "PCIDSS321Checks"} <= packs
    assert any(f.rule == "AwsSolutions-S10" for f in found)


def test_registered_packs_fail_the_synth(tmp_path):
    # Given the packs registered the way the app registers them
    app = new_app(tmp_path)
    stack = Stack(app, "Bad")
    s3.Bucket(stack, "PlainBucket")
    register_compliance_packs(app)
    # When the app synthesizes, Then the synth fails
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()


def test_acknowledgment_removes_exactly_that_finding(tmp_path):
    app = new_app(tmp_path)
    stack = Stack(app, "Ack")
    bucket = s3.Bucket(stack, "PlainBucket")
    acknowledge(bucket, "AwsSolutions-S1", "Test: access logging is deliberately off in this fixture bucket.")
    rules = {f.rule for f in findings(app, [COMPLIANCE_PACKS[0]])}
    assert "AwsSolutions-S1" not in rules
    assert "AwsSolutions-S10" in rules


def test_acknowledgment_needs_a_specific_reason(tmp_path):
    stack = Stack(new_app(tmp_path), "Ack")
    with pytest.raises(ValueError, match="specific reason"):
        acknowledge(s3.Bucket(stack, "B"), "AwsSolutions-S1", "n/a")


def test_summary_lists_the_same_packs():
    from scripts.synth_summary import COMPLIANCE_PACK_NAMES

    assert tuple(p.__name__ for p in COMPLIANCE_PACKS) == COMPLIANCE_PACK_NAMES
