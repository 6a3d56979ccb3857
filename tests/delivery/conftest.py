"""Delivery test data: a valid pipeline configuration (its connection in the pipeline account)."""

from __future__ import annotations

from typing import Any

PIPELINE_ACCOUNT = "111111111111"
CONNECTION = "arn:aws:codeconnections:eu-west-1:111111111111:connection/12345678-abcd-4321-dcba-1234567890ab"
VALID_PIPELINE: dict[str, Any] = {
    "connection_arn": CONNECTION,
    "repository": "my-org/ml-platform",
    "account": PIPELINE_ACCOUNT,
    "region": "eu-west-1",
    "tags": {"owner": "ml-platform-team", "cost_center": "cc-1234"},
}
