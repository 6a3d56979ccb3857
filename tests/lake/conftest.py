"""Helpers of the data lake tests: the DataLake stack's resources of the session's app, references flattened."""

from __future__ import annotations

from typing import Any

from ml_platform.lake.config import DATA_ZONES
from tests.conftest import one_resource

ENVS = ("dev", "prod")
ZONES = (*DATA_ZONES, "access-logs")
CONSTRUCT_IDS = {"raw": "Raw", "curated": "Curated", "analytics": "Analytics", "models": "Models", "capture": "Capture"}
CONSTRUCT_IDS["access-logs"] = "AccessLog"


# --------------------------------------------------------------------------------------- helpers
def flatten(value: Any) -> str:
    """A CloudFormation string value with references written as ``<LogicalId>`` / ``<LogicalId.Attr>``."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return delimiter.join(flatten(p) for p in parts)
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return "<{}.{}>".format(*value["Fn::GetAtt"])
    if "Fn::GetStackOutput" in value:
        return f"<{value['Fn::GetStackOutput']['OutputName']}>"
    raise AssertionError(f"unexpected value {value}")


def lake(platform, env: str) -> dict[str, dict[str, Any]]:
    return platform.stack(env, "DataLake").resources


def one(platform, env: str, resource_type: str, prefix: str = "") -> tuple[str, dict[str, Any]]:
    return one_resource(lake(platform, env), resource_type, prefix)


def bucket(platform, env: str, zone: str) -> tuple[str, dict[str, Any]]:
    return one(platform, env, "AWS::S3::Bucket", f"{CONSTRUCT_IDS[zone]}Bucket")


def lake_key(value: Any) -> bool:
    """The value is the Security stack's data-lake key ARN (a cross-stack reference)."""
    return "DataLakeKey" in flatten(value) and "Arn" in flatten(value)


def statement_resources(statement: dict[str, Any]) -> list[str]:
    """A policy statement's resources, flattened."""
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return [flatten(r) for r in resources]
