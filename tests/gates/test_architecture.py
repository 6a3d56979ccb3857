"""The import contracts of docs/architecture.md (pyproject.toml [tool.importlinter], also run by `make lint`):
they hold on the code, and each product contract breaks when the code breaks it (checked on a copy)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _lint(cwd: Path, *args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"PYTHONPATH": str(pythonpath)} if pythonpath else {})}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def test_the_code_keeps_every_contract():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(CONTRACTS['contracts'])} kept, 0 broken." in result.stdout


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return json.dumps(value)


@pytest.fixture
def product_copy(tmp_path: Path) -> Path:
    """A copy of ml_platform/ with the product contracts (the workbench packages are not copied)."""
    shutil.copytree(ROOT / "ml_platform", tmp_path / "ml_platform", ignore=shutil.ignore_patterns("__pycache__"))
    lines = ["[tool.importlinter]", 'root_packages = ["ml_platform"]', "include_external_packages = true"]
    for contract in CONTRACTS["contracts"]:
        if "ml_platform" in contract.get("source_modules", ["ml_platform"])[0] or contract["type"] == "layers":
            lines.append("[[tool.importlinter.contracts]]")
            lines += [f"{key} = {_toml(value)}" for key, value in contract.items()]
    (tmp_path / "contracts.toml").write_text("\n".join(lines) + "\n")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("core/schema.py", "import aws_cdk", "core is pure domain"),
        ("core/instances.py", "from ml_platform.shared import alarms", "core is pure domain"),
        ("lake/config.py", "import constructs", "configuration is pure data"),
        ("inference/config/features.py", "from aws_cdk import aws_sagemaker", "configuration is pure data"),
        ("streaming/constructs.py", "from ml_platform.lake import stack", "layers"),
        ("shared/alarms.py", "from ml_platform.inference import stack", "layers"),
        ("stage.py", "from ml_platform.delivery import stack", "layers"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(product_copy, module, line, broken):
    # Given a copy that keeps every contract
    assert _lint(product_copy, "--config", "contracts.toml", pythonpath=product_copy).returncode == 0
    # When one module gains a forbidden import
    with (product_copy / "ml_platform" / module).open("a") as source:
        source.write(f"\n{line}  # noqa\n")
    result = _lint(product_copy, "--config", "contracts.toml", pythonpath=product_copy)
    # Then lint-imports fails and reports that contract broken
    assert result.returncode == 1
    (name,) = [contract["name"] for contract in CONTRACTS["contracts"] if contract["name"].startswith(broken)]
    assert f"{name} BROKEN" in " ".join(result.stdout.split())  # (long names wrap in the report)


def test_configuration_and_the_validation_step_run_without_the_cdk():
    # Given an interpreter where aws_cdk and constructs cannot be imported (the pipeline's validation step
    # installs only boto3 and pydantic; the synth's version resolver needs no more)
    code = (
        "import sys, runpy\n"
        "for name in ('aws_cdk', 'constructs', 'cdk_nag', 'jsii'): sys.modules[name] = None\n"
        "from ml_platform.environments import load_environments\n"
        "assert load_environments()\n"
        "import ml_platform.delivery.approved_versions\n"
        "sys.argv = ['validate_deployment', '--help']\n"
        "runpy.run_module('ml_platform.delivery.validate_deployment', run_name='__main__')\n"
    )
    # When the environments load and the validator starts
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    # Then neither needs the CDK
    assert result.returncode == 0, result.stderr
    assert "--environment" in result.stdout
