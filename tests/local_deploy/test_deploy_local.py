"""`make deploy-local`: the dev environment deployed with the real CDK CLI into a local moto server.

Runs the local-deploy harness (tests/local_deploy/harness.py) once for the module (bootstrap, deploy, read-back) with
the cloud assembly the session fixture synthesized (`--assembly`, so the app is not synthesized a second time;
`make deploy-local` lets the CLI synthesize it), and checks its report against those templates.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
ENVIRONMENT = "dev"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, platform) -> dict[str, Any]:
    # Given nothing but this repository (no AWS account, no credentials)
    path = tmp_path_factory.mktemp("deploy-local") / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    # When `make deploy-local` runs on the session's assembly
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.local_deploy.harness",
            "--environment",
            ENVIRONMENT,
            "--report",
            str(path),
            "--assembly",
            str(platform.outdir),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-4000:]
    data = json.loads(path.read_text())
    data["stdout"] = result.stdout
    return data


def _rows(report: dict[str, Any], result: str | None = None) -> list[dict[str, Any]]:
    return [r for r in report["rows"] if result is None or r["result"] == result]


def test_every_stack_deployed_and_every_resource_reported_once(report, platform):
    # Then every stack of the environment was deployed, and the table has every template resource exactly once
    expected = {
        (stack.stack_name, logical_id)
        for stack in platform.stacks
        if stack.environment == ENVIRONMENT
        for logical_id in stack.resources
    }
    reported = Counter((r["stack"], r["logical_id"]) for r in report["rows"])
    assert set(reported) == expected
    assert max(reported.values()) == 1
    assert sorted(report["stacks"]) == sorted(s.stack_name for s in platform.stacks if s.environment == ENVIRONMENT)
    assert report["problems"] == []
    assert {r["result"] for r in report["rows"]} <= {"verified", "created", "not emulated"}


def test_a_type_moto_cannot_create_is_never_reported_as_deployed(report):
    # Given the resource types moto's CloudFormation implements (plain moto, without the local stubs)
    from moto.cloudformation.parsing import get_model_map

    supported = set(get_model_map())
    for row in report["rows"]:
        emulated = row["resource_type"] in supported and not row["resource_type"].startswith("Custom::")
        # Then a resource is verified/created only if moto implements its type, and "not emulated" otherwise
        assert (row["result"] != "not emulated") == emulated, row


@pytest.mark.parametrize(
    ("resource_type", "check"),
    [
        ("AWS::KMS::Key", "key rotation"),
        ("AWS::S3::Bucket", "encryption"),
        ("AWS::Kinesis::Stream", "stream encryption"),
        ("AWS::EC2::VPCEndpoint", "service"),
        ("AWS::IAM::Role", "trusted services"),
        ("AWS::SageMaker::Endpoint", "endpoint status"),
        ("AWS::Logs::LogGroup", "encryption key"),
    ],
)
def test_what_matters_is_read_back_from_moto(report, resource_type, check):
    # Then every resource of the type was read back from moto and the named property matched the template
    rows = [r for r in report["rows"] if r["resource_type"] == resource_type]
    assert rows, resource_type
    for row in rows:
        assert row["result"] == "verified", row
        assert check in row["detail"], row


def test_the_pipeline_validator_passes_against_the_deployed_endpoints(report):
    assert report["validation"], "dev declares endpoints; the validator must have checked them"
    assert all(check["passed"] for check in report["validation"]), report["validation"]


def test_the_table_is_printed(report):
    out = report["stdout"]
    assert "STACK" in out and "RESULT" in out
    counts = Counter(r["result"] for r in report["rows"])
    assert f"{len(report['rows'])} resources: {counts['verified']} verified" in out


def test_the_server_it_started_is_stopped(report):
    # Then the moto process is gone and nothing listens on its port any more
    with pytest.raises(ProcessLookupError):
        os.kill(report["moto_pid"], 0)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        assert sock.connect_ex(("127.0.0.1", report["port"])) != 0


def test_it_finishes_within_minutes(report):
    assert report["timings"]["total_seconds"] < 300, report["timings"]
