"""Delivery pipeline configuration: validated connection and repository, accounts required, one line per error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from ml_platform.core.errors import ConfigError
from ml_platform.delivery.config import load_pipeline, lookup_role_arn, select_pipeline
from ml_platform.environments import ENVIRONMENTS, PIPELINE, load_environments
from tests.conftest import ROOT, declared_in_accounts
from tests.delivery.conftest import CONNECTION
from tests.delivery.conftest import VALID_PIPELINE as VALID


def _environments(with_accounts: bool = True) -> tuple[Any, ...]:
    names = [env["name"] for env in ENVIRONMENTS]
    accounts = {name: (f"{index + 2}" * 12 if with_accounts else None) for index, name in enumerate(names)}
    return load_environments(declared_in_accounts(accounts))


def _error(declared: dict[str, Any], environments: tuple[Any, ...] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_pipeline(declared, _environments() if environments is None else environments)
    return raised.value.problems


def test_not_configured_by_default_so_there_is_no_pipeline():
    # Given the declared config, Then no pipeline is configured and none is selected
    assert PIPELINE is None
    assert select_pipeline(None) is None


def test_valid_pipeline_with_defaults():
    config = load_pipeline(VALID, _environments())
    assert config is not None
    assert (config.branch, config.pipeline_name, config.log_retention_days) == ("main", "ml-platform-delivery", 365)
    assert (config.connection_account, config.connection_region, config.partition) == (
        "111111111111",
        "eu-west-1",
        "aws",
    )


def test_the_older_codestar_connections_arn_is_accepted():
    legacy = CONNECTION.replace(":codeconnections:", ":codestar-connections:")
    config = load_pipeline({**VALID, "connection_arn": legacy}, _environments())
    assert config is not None and config.connection_arn == legacy


def test_an_environment_filter_leaves_the_pipeline_out_but_still_validates_it():
    # Given a configured pipeline, When one environment is selected, Then no pipeline is built
    assert select_pipeline("dev", VALID, _environments()) is None
    assert select_pipeline(None, VALID, _environments()) is not None
    # And a broken pipeline config is still an error
    with pytest.raises(ConfigError):
        select_pipeline("dev", {**VALID, "repository": "nope"}, _environments())


BAD_CONNECTIONS = [
    "arn:aws:codestar:eu-west-1:111111111111:connection/12345678-abcd-4321-dcba-1234567890ab",  # wrong service
    "arn:aws:codeconnections:eu-west-1:11111111111:connection/12345678-abcd-4321-dcba-1234567890ab",  # 11 digits
    "arn:aws:codeconnections:eu-west-1:111111111111:connection/not-a-uuid",
    "arn:aws:codeconnections:eu-west-1:111111111111:host/12345678-abcd-4321-dcba-1234567890ab",  # a host
    "arn:aws:codecommit:eu-west-1:111111111111:ml-platform",  # a CodeCommit repository
    "my-connection",
]


@pytest.mark.parametrize("arn", BAD_CONNECTIONS)
def test_bad_connection_arn_is_one_clear_line(arn):
    problems = _error({**VALID, "connection_arn": arn})
    assert len(problems) == 1
    (line,) = problems
    assert line.startswith("pipeline: field 'connection_arn':")
    assert repr(arn)[:60] in line
    assert "arn:aws:codeconnections:<region>:<12-digit account>:connection/<uuid>" in line


@pytest.mark.parametrize(
    "repository", ["ml-platform", "my-org/", "/ml-platform", "-org/ml-platform", "org/ml platform", "a/b/c", "org/.."]
)
def test_bad_repository_is_one_clear_line(repository):
    (line,) = _error({**VALID, "repository": repository})
    assert line.startswith(f"pipeline: field 'repository': value {repository!r}: must be 'owner/name'")


@pytest.mark.parametrize("branch", ["feature..x", "-x", "a b", "x.lock", "release/", "a~1"])
def test_bad_branch_is_one_clear_line(branch):
    (line,) = _error({**VALID, "branch": branch})
    assert line.startswith(f"pipeline: field 'branch': value {branch!r}: not a valid Git branch name")


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("account", "1234", "exactly 12 digits"),
        ("region", "eu-west", "not an AWS region name"),
        ("pipeline_name", "1-pipeline", "must start with a letter"),
        ("log_retention_days", 42, "not a CloudWatch Logs retention period"),
        ("log_retention_days", 180, "below 365"),
    ],
)
def test_other_bad_fields(field, value, rule):
    (line,) = _error({**VALID, field: value})
    assert line.startswith(f"pipeline: field '{field}': value {value!r}:") and rule in line


def test_unknown_field_is_refused():
    (line,) = _error({**VALID, "brnach": "main"})
    assert line.startswith("pipeline: field 'brnach':")


def test_every_environment_needs_an_account_when_the_pipeline_is_configured():
    # Given environments without accounts (the declared default), When a pipeline is configured
    problems = _error(VALID, _environments(with_accounts=False))
    # Then each environment is named once, with the field and the rule
    assert problems == [
        f"pipeline: environment {name!r}: field 'account': value None: the delivery pipeline deploys every "
        "environment into its own account; declare the environment's 12-digit account"
        for name in ("dev", "prod")
    ]


def test_lookup_role_is_the_cdk_bootstrap_lookup_role():
    assert (
        lookup_role_arn(account="222222222222", region="eu-west-1")
        == "arn:aws:iam::222222222222:role/cdk-hnb659fds-lookup-role-222222222222-eu-west-1"
    )


def test_app_reports_a_pipeline_config_error_as_one_line(tmp_path):
    # Given app.py run with a PIPELINE whose repository is bad (patched in a child process)
    code = (
        "import runpy, sys, ml_platform.environments as e; "
        f"e.PIPELINE = {json.dumps({**VALID, 'repository': 'nope'})}; "
        "sys.argv = ['app.py']; runpy.run_path('app.py', run_name='__main__')"
    )
    env = dict(os.environ, CDK_OUTDIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    # Then it exits 2 with one config error line and no traceback
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("config error:")]
    assert len(lines) == 1 and lines[0].startswith("config error: pipeline: field 'repository': value 'nope':")
