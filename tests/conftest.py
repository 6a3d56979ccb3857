"""Session fixtures: the whole app (every declared environment) is synthesized ONCE per test session."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Quiet, offline jsii/CDK, set before aws_cdk is imported anywhere.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("NODE_NO_WARNINGS", "1")
os.environ.setdefault("CDK_DISABLE_VERSION_CHECK", "true")
os.environ.setdefault("CDK_DISABLE_CLI_TELEMETRY", "true")

import aws_cdk as cdk  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from ml_platform.app import build_platform  # noqa: E402
from ml_platform.environment import EnvironmentConfig  # noqa: E402
from ml_platform.environments import load_environments  # noqa: E402
from ml_platform.shared.compliance import COMPLIANCE_PACKS, Finding, findings  # noqa: E402
from ml_platform.stage import PlatformStage  # noqa: E402
from scripts.assembly import StackTemplate, read_assembly  # noqa: E402


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
    # about 45 s. tests/gates/test_control_tower.py runs it once over these templates, with the same
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


@pytest.fixture(scope="session")
def declared_results(platform: SynthesizedPlatform) -> list[Any]:
    """Every runtime flow of the declared app (scripts/flows), evaluated once per session."""
    from scripts.flows.catalogue import build
    from scripts.flows.engine import evaluate

    return evaluate(build(platform.outdir, list(platform.environments.values())))


def flow_result(results: Sequence[Any], flow_id: str) -> Any:
    """The one result whose flow id is ``flow_id``."""
    (result,) = [r for r in results if r.flow.flow_id == flow_id]
    return result


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``stack_ref`` parametrizes a test over every (environment, stack id) the app declares."""
    if "stack_ref" in metafunc.fixturenames:
        metafunc.parametrize("stack_ref", declared_stack_refs(), ids=lambda ref: f"{ref[0]}-{ref[1]}")


def declared_in_accounts(
    accounts: Mapping[str, str | None], declared: Sequence[Mapping[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Deep copies of the declared environments (or ``declared``), each moved to ``accounts[name]`` with its
    endpoint images (images come from the environment's own registry). ``None`` removes the account; then only
    the first account-less environment keeps the Data Catalog encryption (one owner per account and region)."""
    from ml_platform.environments import ENVIRONMENTS

    result = []
    owner_kept = False
    for env in copy.deepcopy(list(declared if declared is not None else ENVIRONMENTS)):
        name = env["name"]
        if name not in accounts:
            result.append(env)
            continue
        old, new = env.get("account"), accounts[name]
        if new is None:
            env.pop("account", None)
            if owner_kept:
                env["data_lake"] = {**env.get("data_lake", {}), "catalog_encryption": False}
            owner_kept = True
        else:
            env["account"] = new
        for endpoint in env.get("inference", {}).get("endpoints", []):
            if old and new:
                endpoint["image_uri"] = endpoint["image_uri"].replace(old, new, 1)
        result.append(env)
    return result


def declared_stack_refs() -> list[tuple[str, str]]:
    """(environment, stack id) pairs, known without synthesizing (for parametrization at collection)."""
    from ml_platform.stage import stack_ids

    return [(env.name, stack_id) for env in load_environments() for stack_id in stack_ids(env)]
