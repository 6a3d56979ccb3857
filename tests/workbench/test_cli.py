"""The app as a user runs it: bad input is one clear line on stderr, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import ROOT, cdk_json_context


def _run_app(context: dict[str, Any], outdir: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CDK_CONTEXT_JSON=json.dumps(context), CDK_OUTDIR=outdir)
    return subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_unknown_environment_is_one_clear_line_without_traceback(tmp_path):
    result = _run_app({"env": "nope"}, str(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("config error:")]
    assert lines == [
        "config error: context 'env': value 'nope': unknown environment; declared environments are dev, prod"
    ]


@pytest.mark.parametrize(
    ("versions", "line"),
    [
        ("{prod/churn: 3}", "context 'model_package_versions': not JSON (Expecting property name enclosed in double "
         "quotes at character 1); expected '{\"<environment>/<group>\": <version>, ...}'"),
        ('{"churn": 3}', "context 'model_package_versions': key 'churn': expected '<environment>/<group>' "
         "(e.g. 'prod/churn')"),
        ('{"prod/churn": 0}', "context 'model_package_versions': key 'prod/churn': version 0: a model package version "
         "is a whole number from 1"),
        ('{"qa/churn": 3}', "context 'model_package_versions': key 'qa/churn': unknown environment 'qa'; declared "
         "environments are dev, prod"),
        ('{"dev/churn": 3}', "context 'model_package_versions': key 'dev/churn': environment 'dev' declares no "
         "registry group 'churn' (inference.registry.groups: none)"),
    ],
)  # fmt: skip
def test_malformed_model_package_versions_are_one_line_and_exit_2(tmp_path, versions, line):
    # Given the context the pipeline's synth passes, malformed, When the app runs, Then it stops before any synth
    result = _run_app({"env": "prod", "model_package_versions": versions}, str(tmp_path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert [x for x in result.stderr.splitlines() if x.startswith("config error:")] == [f"config error: {line}"]
    assert not (tmp_path / "manifest.json").exists()


def test_resolved_versions_reach_the_templates_through_the_context(tmp_path):
    # Given prod's churn endpoint pinned to version 1 in the config, When the app runs with the version the pipeline
    # resolved (a real synth of prod: compliance packs and Control Tower included)
    context = {**cdk_json_context(), "env": "prod", "model_package_versions": '{"prod/churn": 7}'}
    result = _run_app(context, str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    # Then the Inference template deploys version 7, and nothing else of the endpoint changed
    (template,) = (tmp_path / "assembly-prod").glob("prodInference*.template.json")
    models = [r for r in json.loads(template.read_text())["Resources"].values() if r["Type"] == "AWS::SageMaker::Model"]
    packages = [m["Properties"]["PrimaryContainer"].get("ModelPackageName") for m in models]
    assert sorted(p for p in packages if p) == ["arn:aws:sagemaker:eu-west-1:222222222222:model-package/churn/7"]
