"""tests/local_deploy/harness.py's classification: a resource is only "verified" when moto has it and a property read
back matches; anything moto did not create is "not emulated", never deployed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.local_deploy.harness import MISMATCH, Context, classify, free_port, table
from tests.local_deploy.moto_server import NOT_EMULATED

REGION = "eu-west-1"


def _ctx(session: Any = None, **physical_ids: str) -> Context:
    return Context(
        session=session,
        account="123456789012",
        region=REGION,
        stack_name="dev-Security",
        physical_ids=physical_ids,
        types={},
        outputs={"dev-Security": {"KeyArn": "arn:aws:kms:eu-west-1:123456789012:key/abc"}},
    )


def _listed(physical: str, status: str = "CREATE_COMPLETE") -> dict[str, str]:
    return {"PhysicalResourceId": physical, "ResourceStatus": status}


def test_absent_from_moto_is_not_emulated():
    row = classify(_ctx(), "Alarm", {"Type": "AWS::CloudWatch::Alarm"}, None)
    assert (row.result, row.detail) == ("not emulated", "absent from moto's stack resources (skipped by moto)")


@pytest.mark.parametrize(
    ("resource_type", "detail"),
    [
        ("AWS::Glue::Table", "moto's CloudFormation has no AWS::Glue::Table"),
        ("Custom::S3AutoDeleteObjects", "custom resource: its provider Lambda was not run"),
    ],
)
def test_a_stubbed_resource_is_not_emulated(resource_type, detail):
    row = classify(_ctx(), "X", {"Type": resource_type}, _listed(f"{NOT_EMULATED}-X"))
    assert (row.result, row.detail) == ("not emulated", detail)


def test_a_type_without_a_read_back_is_only_created():
    row = classify(_ctx(), "Dash", {"Type": "AWS::CloudWatch::Dashboard"}, _listed("ml-platform-dev"))
    assert row.result == "created"


def test_a_matching_property_is_verified_and_a_different_one_is_a_mismatch(aws):
    # Given a key with rotation on and one without
    kms = aws.client("kms")
    rotating = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=rotating)
    plain = kms.create_key()["KeyMetadata"]["KeyId"]
    template = {"Type": "AWS::KMS::Key", "Properties": {"EnableKeyRotation": True}}
    # Then the rotating key is verified, the other is a mismatch naming expected and actual
    assert classify(_ctx(aws), "Key", template, _listed(rotating)).result == "verified"
    row = classify(_ctx(aws), "Key", template, _listed(plain))
    assert row.result == MISMATCH
    assert "key rotation: expected True, moto has False" in row.detail


def test_listed_but_missing_in_the_service_is_missing(aws):
    row = classify(_ctx(aws), "Key", {"Type": "AWS::KMS::Key", "Properties": {}}, _listed("no-such-key"))
    assert row.result == "MISSING"


def test_template_values_resolve_only_what_is_known():
    ctx = _ctx(Bucket="my-bucket")
    assert ctx.resolve({"Ref": "Bucket"}) == "my-bucket"
    assert ctx.resolve({"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":s3:::x"]]}) == "arn:aws:s3:::x"
    output = {"Fn::GetStackOutput": {"StackName": "dev-Security", "OutputName": "KeyArn"}}
    assert ctx.resolve(output) == "arn:aws:kms:eu-west-1:123456789012:key/abc"
    assert repr(ctx.resolve({"Fn::GetAtt": ["Role", "Arn"]})) == "<unresolved>"


def test_free_port_is_on_loopback_and_free():
    port = free_port()
    assert 1024 < port < 65536


def test_table_has_one_line_per_row_and_a_header():
    from tests.local_deploy.harness import Row

    rows = [Row("dev-Stream", "IngestStream", "AWS::Kinesis::Stream", "verified", "stream ACTIVE")]
    lines = table(rows).splitlines()
    assert lines[0].split() == ["STACK", "LOGICAL", "ID", "TYPE", "RESULT", "DETAIL"]
    assert lines[1].split()[:4] == ["dev-Stream", "IngestStream", "AWS::Kinesis::Stream", "verified"]
