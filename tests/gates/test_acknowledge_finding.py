"""acknowledge_finding: one cdk-nag finding acknowledged under every pack that reports it, and only known rules.

The table it reads (NAG_RULES) is checked against the rules the packs of the installed cdk-nag apply, read from
the JavaScript that cdk-nag's jsii bundle ships (cdk-nag 3 has no API that lists a pack's rules).
"""

from __future__ import annotations

import importlib
import re
import tarfile
from functools import cache
from pathlib import Path

import pytest
from aws_cdk import Stack, Validations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs

from ml_platform.shared.compliance import COMPLIANCE_PACKS, NAG_RULES, acknowledge_finding, findings
from tests.conftest import new_app

REASON = "Test: this fixture resource is deliberately configured against the rule."


@cache
def pack_rules() -> dict[str, dict[str, str]]:
    """Pack name → {rule name: finding id}, for every pack of the installed cdk-nag."""
    (bundle,) = Path(importlib.import_module("cdk_nag._jsii").__file__ or "").parent.glob("*.jsii.tgz")
    packs: dict[str, dict[str, str]] = {}
    with tarfile.open(bundle) as archive:
        for member in archive.getmembers():
            if not re.fullmatch(r"package/lib/packs/[\w-]+\.js", member.name):
                continue
            source = archive.extractfile(member).read().decode().split("//# sourceMappingURL")[0]  # type: ignore[union-attr]
            pack = re.search(r"this\.packName = '([^']+)'", source).group(1)  # type: ignore[union-attr]
            rules = {}
            for call in source.split("this.applyRule(")[1:]:
                body = call.split("});")[0]
                rule = re.search(r"\brule: [\w$]+\.(\w+)", body).group(1)  # type: ignore[union-attr]
                suffix = re.search(r"ruleSuffixOverride: '([^']+)'", body)
                rules[rule] = f"{pack}-{suffix.group(1) if suffix else rule}"
            packs[pack] = rules
    return packs


def test_the_bundle_reader_finds_every_pack_of_the_app():
    packs = pack_rules()
    # Then every pack the app runs is there, each with the rules it applies (a reader that found none would
    # make the next test pass for any table)
    assert {pack().read_pack_name for pack in COMPLIANCE_PACKS} <= set(packs)
    assert all(len(packs[pack().read_pack_name]) >= 15 for pack in COMPLIANCE_PACKS)
    assert packs["AwsSolutions"]["SQSQueueDLQ"] == "AwsSolutions-SQS3"


@pytest.mark.parametrize("rule", sorted(NAG_RULES))
def test_table_names_the_rule_in_exactly_the_packs_that_run_it(rule):
    app_packs = [pack().read_pack_name for pack in COMPLIANCE_PACKS]
    expected = {pack_rules()[pack][rule] for pack in app_packs if rule in pack_rules()[pack]}
    assert expected, f"{rule}: no pack of the app runs it"
    assert sorted(NAG_RULES[rule]) == sorted(expected)


def _rules_on(app: object, construct_id: str) -> set[str]:
    return {f.rule for f in findings(app) if f"/{construct_id}/" in f"{f.construct_path}/"}  # type: ignore[arg-type]


def test_acknowledges_the_finding_in_every_pack_that_reports_it(tmp_path):
    # Given a bucket with SSE-S3 default encryption, which three packs report as S3DefaultEncryptionKMS
    app = new_app(tmp_path)
    bucket = s3.Bucket(Stack(app, "Ack"), "SseS3Bucket", encryption=s3.BucketEncryption.S3_MANAGED)
    before = _rules_on(app, "SseS3Bucket")
    assert {r for r in before if r.endswith("-S3DefaultEncryptionKMS")} == set(NAG_RULES["S3DefaultEncryptionKMS"])
    # When that one finding is acknowledged
    acknowledge_finding(bucket, "S3DefaultEncryptionKMS", reason=REASON)
    # Then no pack reports it, and every other finding stays
    after = _rules_on(app, "SseS3Bucket")
    assert after == before - set(NAG_RULES["S3DefaultEncryptionKMS"])


def test_acknowledges_a_finding_that_packs_check_with_different_rules(tmp_path):
    # Given a queue without a dead-letter queue: AwsSolutions reports it as SQS3, Serverless as SQSRedrivePolicy
    app = new_app(tmp_path)
    queue = sqs.Queue(Stack(app, "Ack"), "Queue", enforce_ssl=True, encryption=sqs.QueueEncryption.KMS_MANAGED)
    assert {"AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"} <= _rules_on(app, "Queue")
    # When both rules are acknowledged in one call, Then neither pack reports the queue's missing DLQ
    acknowledge_finding(queue, "SQSQueueDLQ", "SQSRedrivePolicy", reason=REASON)
    assert not {"AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"} & _rules_on(app, "Queue")


@pytest.mark.parametrize(
    "rules",
    [
        ("S3DefaultEncryptionKMs",),  # a typo
        ("SQS3",),  # a pack's code instead of the rule's name
        ("AwsSolutions-SQS3",),  # a finding id
        ("S3DefaultEncryptionKMS", "S3BucketReplicationEnabld"),  # one known rule and one typo
    ],
)
def test_refuses_a_rule_no_pack_has_and_acknowledges_nothing(tmp_path, rules):
    bucket = s3.Bucket(Stack(new_app(tmp_path), "Ack"), "B")
    with pytest.raises(ValueError, match="no cdk-nag rule of that name"):
        acknowledge_finding(bucket, *rules, reason=REASON)
    assert not [e for e in bucket.node.metadata if e.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY]


def test_needs_a_rule_and_a_specific_reason(tmp_path):
    bucket = s3.Bucket(Stack(new_app(tmp_path), "Ack"), "B")
    with pytest.raises(ValueError, match="at least one cdk-nag rule"):
        acknowledge_finding(bucket, reason=REASON)
    with pytest.raises(ValueError, match="specific reason"):
        acknowledge_finding(bucket, "S3DefaultEncryptionKMS", reason="n/a")
