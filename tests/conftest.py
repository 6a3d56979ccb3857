"""Session fixtures: the whole app (every declared environment) is synthesized ONCE per test session."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Quiet, offline jsii/CDK, set before aws_cdk is imported anywhere.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("NODE_NO_WARNINGS", "1")
os.environ.setdefault("CDK_DISABLE_VERSION_CHECK", "true")
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")

import aws_cdk as cdk  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from platform_config import EnvironmentConfig, load_environments  # noqa: E402
from platform_constructs.compliance import COMPLIANCE_PACKS, Finding, findings  # noqa: E402
from stacks.stage import PlatformStage, build_platform  # noqa: E402
from tools.assembly import StackTemplate, read_assembly  # noqa: E402


def cdk_json_context() -> dict[str, Any]:
    """The feature flags from cdk.json, so test apps synthesize exactly like `cdk synth`."""
    return json.loads((ROOT / "cdk.json").read_text())["context"]


def new_app(outdir: Path | None = None) -> cdk.App:
    return cdk.App(context=cdk_json_context(), outdir=str(outdir) if outdir else None)


@dataclass
class SynthesizedPlatform:
    app: cdk.App
    stages: dict[str, PlatformStage]
    environments: dict[str, EnvironmentConfig]
    outdir: Path
    stacks: list[StackTemplate]

    def stack(self, environment: str, stack_id: str) -> StackTemplate:
        for stack in self.stacks:
            if stack.environment == environment and stack.stack_id == stack_id:
                return stack
        raise KeyError(f"{environment}/{stack_id}")

    def template(self, environment: str, stack_id: str) -> Template:
        return Template.from_json(self.stack(environment, stack_id).template)

    def resources(self, environment: str, stack_id: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return self.stack(environment, stack_id).of_type(resource_type)


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SynthesizedPlatform]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = new_app(outdir)
    environments = load_environments()
    # Exactly like app.py, except that the Control Tower plugin (cfn-guard) does not run in this synth: one run
    # over every environment takes about 12 s and is memory-bound, so the two workers' runs together would take
    # about 45 s. tests/compliance/test_control_tower.py runs it once over these templates, with the same
    # acknowledgments (they are recorded either way), and checks that it matches a registered synth.
    stages = build_platform(app, environments, control_tower=False)
    app.synth()  # the cdk-nag packs run here and raise on any unacknowledged finding
    yield SynthesizedPlatform(
        app=app,
        stages={stage.config.name: stage for stage in stages},
        environments={env.name: env for env in environments},
        outdir=outdir,
        stacks=read_assembly(outdir),
    )


@pytest.fixture(scope="session")
def compliance_findings(platform: SynthesizedPlatform) -> dict[str, list[Finding]]:
    """Unacknowledged findings per pack over every stack of every environment."""
    return {pack.__name__: findings(platform.app, [pack]) for pack in COMPLIANCE_PACKS}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``stack_ref`` parametrizes a test over every (environment, stack id) the app declares."""
    if "stack_ref" in metafunc.fixturenames:
        metafunc.parametrize("stack_ref", declared_stack_refs(), ids=lambda ref: f"{ref[0]}-{ref[1]}")


def declared_stack_refs() -> list[tuple[str, str]]:
    """(environment, stack id) pairs, known without synthesizing (for parametrization at collection)."""
    from stacks.stage import stack_ids

    return [(env.name, stack_id) for env in load_environments() for stack_id in stack_ids(env)]
