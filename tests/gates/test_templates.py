"""Gates over every synthesized template: cfn-lint, determinism, logical-ID pins, tags, guards."""

from __future__ import annotations

import json
import os
import socket
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from cfnlint.api import ManualArgs, lint_file

from ml_platform.app import build_platform
from ml_platform.environments import load_environments
from ml_platform.shared.guards import STATEFUL_RESOURCE_TYPES
from scripts.assembly import read_assembly
from tests.conftest import new_app

# The lake's buckets, Glue databases and tables (every environment), the curated Iceberg table and the curation
# job's log groups. Dev adds the auto-delete function's log group (allow_destroy), prod the curated crawler's log group.
_DATA_LAKE_PINS: set[str] = {
    "AccessLogBucketDA470295",
    "RawBucket0C3EE094",
    "CuratedBucket6A59C97E",
    "AnalyticsBucket39EAAEEA",
    "ModelsBucketA3610ED4",
    "CaptureBucket66D28918",
    "RawDatabase",
    "CuratedDatabase",
    "AnalyticsDatabase",
    "RawEventsTable9FBD83AE",
    "CuratedEventsTable1EBFDB0D",
    "CurationTableA5C2EE38",
    "CurationJobErrorLogsF8037678",
    "CurationJobOutputLogs309C5201",
}

# Every stateful resource's logical ID, per stack. A rename or replacement of a bucket, key, stream, log
# group, table or database changes this list: review whether data would be lost before updating it.
PINNED_STATEFUL_LOGICAL_IDS: dict[str, set[str]] = {
    "Security": {
        "DataLakeKeyBE531ED9",
        "StreamingKey739D0404",
        "MlKey732562E7",
        "LogsKeyFE4C4A83",
        "AlarmsKeyBF5F52A3",
    },
    "Stream": {"IngestStreamB259CF51"},
    # One model package group per declared group (its versions and approval history), as in ml_platform/environments.py.
    "prod/Registry": {"ChurnGroup"},
    "Ingestion": {"TransformLogs6C6200D4", "DeliveryLogsE7964E8F"},
    # The flow log group and the log group of the CDK's default-security-group provider function.
    "Network": {"NetworkFlowLogGroup4F8CEEEF", "CustomVpcRestrictDefaultSGCustomResourceProviderLogGroup8F67996D"},
    # Environment-specific pins ("<env>/<StackId>") win over the stack's pin.
    "dev/DataLake": _DATA_LAKE_PINS | {"CustomS3AutoDeleteObjectsCustomResourceProviderLogGroup99DE39BE"},
    "prod/DataLake": _DATA_LAKE_PINS | {"CuratedCrawlerLogGroup8989F734"},
    # One log group per endpoint (/aws/sagemaker/Endpoints/<name>), as declared in ml_platform/environments.py.
    "dev/Inference": {"ChurnLogGroup7D553E77"},
    "prod/Inference": {"ChurnLogGroup7D553E77", "RecommenderLogGroup369F5635"},
}


def _lint(template_path: Path, region: str) -> list[str]:
    """cfn-lint findings of one template as text (runs in a worker process)."""
    return [str(match) for match in lint_file(template_path, ManualArgs(regions=[region]))]


def test_cfn_lint_reports_nothing(platform):
    # Given every template of every environment, When cfn-lint checks it for its region (one process per core),
    # Then there are no errors, warnings or informational findings
    stacks = platform.stacks
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=get_context("spawn")) as pool:
        results = pool.map(_lint, [s.template_path for s in stacks], [s.region or "us-east-1" for s in stacks])
        problems = [
            f"{s.environment}/{s.stack_id}: {m}" for s, matches in zip(stacks, results, strict=True) for m in matches
        ]
    assert problems == []


def test_stateful_logical_ids_are_pinned(platform):
    for stack in platform.stacks:
        stateful = {lid for lid, r in stack.resources.items() if r["Type"] in STATEFUL_RESOURCE_TYPES}
        pinned = PINNED_STATEFUL_LOGICAL_IDS.get(
            f"{stack.environment}/{stack.stack_id}", PINNED_STATEFUL_LOGICAL_IDS.get(stack.stack_id, set())
        )
        assert stateful == pinned, (
            f"{stack.environment}/{stack.stack_id}: stateful logical IDs changed; a changed ID means "
            "CloudFormation deletes the old resource. Update the pin only after checking no data is lost."
        )


def test_every_taggable_resource_carries_the_environment_tags(platform):
    for stack in platform.stacks:
        expected = platform.environments[stack.environment].resource_tags
        for logical_id, resource in stack.resources.items():
            tags = resource.get("Properties", {}).get("Tags")
            if isinstance(tags, list):
                found = {t["Key"]: t["Value"] for t in tags}
                assert expected.items() <= found.items(), f"{stack.stack_name}/{logical_id}"


def test_declared_stack_ids_match_the_stages(platform):
    from ml_platform.stage import stack_ids

    for name, stage in platform.stages.items():
        assert [stack.node.id for stack in stage.stacks] == stack_ids(platform.environments[name])


def test_stack_names_and_protection(platform):
    names = {(s.environment, s.stack_id): s.stack_name for s in platform.stacks}
    assert names[("prod", "Security")] == "prod-Security"
    for env_name, stage in platform.stages.items():
        for stack in stage.stacks:
            assert stack.termination_protection is (env_name == "prod")


def test_synth_needs_no_lookup(platform):
    # Nothing the CLI would have to look up in an AWS account (a lookup is a network call at synth).
    for manifest in platform.outdir.glob("**/manifest.json"):
        assert "missing" not in json.loads(manifest.read_text()), manifest


def test_no_error_annotations(platform):
    for manifest in platform.outdir.glob("**/manifest.json"):
        for artifact in json.loads(manifest.read_text()).get("artifacts", {}).values():
            for entries in artifact.get("metadata", {}).values():
                errors = [e for e in entries if e.get("type") == "aws:cdk:error"]
                assert errors == [], errors


def test_two_synths_are_byte_identical_and_offline(platform, tmp_path, monkeypatch):
    # Given a second, independent synthesis with Python sockets disabled
    def refuse(*args, **kwargs):
        raise AssertionError("synth tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    app = new_app(tmp_path)
    # Like the session's synth, without the Control Tower plugin: it reads the written templates, never changes them
    build_platform(app, load_environments(), control_tower=False)
    app.synth()
    # Then every template is byte-identical to the session's
    first = {(s.environment, s.stack_id): s.template_path.read_bytes() for s in platform.stacks}
    second = {(s.environment, s.stack_id): s.template_path.read_bytes() for s in read_assembly(tmp_path)}
    assert first.keys() == second.keys()
    for key in first:
        assert first[key] == second[key], f"{key} differs between two synths"


def test_no_timestamps_or_user_names_in_templates(platform):
    import getpass

    user = getpass.getuser()
    for stack in platform.stacks:
        text = Path(stack.template_path).read_text()
        assert f"/{user}/" not in text and "2026-" not in text, stack.stack_name
