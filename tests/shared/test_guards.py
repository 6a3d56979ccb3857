"""The stateful-resource guard: production-like stages must retain data on delete and replacement."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Annotations, Match

from ml_platform.shared.guards import StatefulResourceGuard
from tests.conftest import new_app


def _stack_with(policy: cdk.RemovalPolicy, tmp_path) -> cdk.Stack:
    app = new_app(tmp_path)
    stack = cdk.Stack(app, "Guarded")
    s3.Bucket(stack, "Data", removal_policy=policy)
    kinesis.Stream(stack, "Events", removal_policy=policy)
    cdk.Aspects.of(stack).add(StatefulResourceGuard())
    return stack


def test_guard_fails_synth_for_a_bucket_and_stream_that_would_be_deleted(tmp_path):
    # Given a bucket and a stream with RemovalPolicy.DESTROY under the guard
    stack = _stack_with(cdk.RemovalPolicy.DESTROY, tmp_path)
    # When the app synthesizes, Then the synth fails naming both resources
    with pytest.raises(RuntimeError, match="StatefulResourceGuard") as raised:
        stack.node.root.synth()
    message = str(raised.value)
    assert "Guarded/Data/Resource" in message and "Guarded/Events/Resource" in message
    assert "DeletionPolicy is Delete" in message


def test_guard_accepts_retained_resources(tmp_path):
    stack = _stack_with(cdk.RemovalPolicy.RETAIN, tmp_path)
    stack.node.root.synth()
    assert Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("StatefulResourceGuard")) == []


def test_guard_catches_replace_with_delete(tmp_path):
    # Given a bucket retained on stack deletion but deleted when CloudFormation replaces it
    app = new_app(tmp_path)
    stack = cdk.Stack(app, "Guarded")
    bucket = s3.CfnBucket(stack, "Raw")
    bucket.cfn_options.deletion_policy = cdk.CfnDeletionPolicy.RETAIN
    bucket.cfn_options.update_replace_policy = cdk.CfnDeletionPolicy.DELETE
    cdk.Aspects.of(stack).add(StatefulResourceGuard())
    # Then the synth fails on the replacement policy alone
    with pytest.raises(RuntimeError, match=r"would lose data \(UpdateReplacePolicy is Delete\)"):
        app.synth()


def test_prod_stage_has_the_guard_and_dev_does_not(platform):
    def has_guard(stage):
        return any(isinstance(a, StatefulResourceGuard) for a in cdk.Aspects.of(stage).all)

    assert has_guard(platform.stages["prod"]) and not has_guard(platform.stages["dev"])
