"""Session fixtures: the whole app (every declared environment) is synthesized ONCE per test session.

Also the helpers tests of more than one component share (imported as ``from tests.conftest import ...``): declared
environments with overrides, picking resources out of a template, masking asset hashes, and moto (``aws``).
A component's own shared helpers are in its folder's conftest.py."""

from __future__ import annotations

import copy
import json
import os
import re
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
        if old and new and "inference" in env:
            # Every image (control, challengers, shadow, pipeline containers) moves to the new account's registry
            env["inference"] = json.loads(json.dumps(env["inference"]).replace(f"{old}.dkr.ecr.", f"{new}.dkr.ecr."))
        result.append(env)
    return result


def declared_stack_refs() -> list[tuple[str, str]]:
    """(environment, stack id) pairs, known without synthesizing (for parametrization at collection)."""
    from ml_platform.stage import stack_ids

    return [(env.name, stack_id) for env in load_environments() for stack_id in stack_ids(env)]


def declared_environment(name: str = "dev", /, *, without: Sequence[str] = (), **overrides: Any) -> dict[str, Any]:
    """A deep copy of the declared environment ``name`` without the keys ``without``, then updated with
    ``overrides`` (top-level keys, replaced whole)."""
    from ml_platform.environments import ENVIRONMENTS

    (declared,) = [env for env in ENVIRONMENTS if env["name"] == name]
    data = copy.deepcopy(dict(declared))
    for key in without:
        data.pop(key, None)
    data.update(overrides)
    return data


# ------------------------------------------------------------------------------------------- template helpers
def resources_of(
    resources: Mapping[str, dict[str, Any]], resource_type: str | None = None, prefix: str = ""
) -> dict[str, dict[str, Any]]:
    """The resources (a template's ``Resources``) of ``resource_type`` (any type: None) whose logical ID starts
    with ``prefix``."""
    return {
        logical_id: resource
        for logical_id, resource in resources.items()
        if logical_id.startswith(prefix) and (resource_type is None or resource["Type"] == resource_type)
    }


def one_resource(
    resources: Mapping[str, dict[str, Any]], resource_type: str | None = None, prefix: str = ""
) -> tuple[str, dict[str, Any]]:
    """(logical ID, resource) of the one resource :func:`resources_of` selects; fails unless there is exactly one."""
    found = resources_of(resources, resource_type, prefix)
    assert len(found) == 1, f"{len(found)} resources of type {resource_type} with prefix {prefix!r}: {list(found)}"
    return next(iter(found.items()))


def imports_security_key(value: Any, key_prefix: str, environment: str | None = None) -> bool:
    """True if ``value`` reads the Security stack's output for the key ``key_prefix`` (a weak cross-stack
    reference); with ``environment``, the output of that environment's Security stack."""
    output = value.get("Fn::GetStackOutput", {})
    stack_name = output.get("StackName", "")
    stack_matches = stack_name == f"{environment}-Security" if environment else stack_name.endswith("-Security")
    return stack_matches and key_prefix in output.get("OutputName", "")


_ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


def masked(template: dict[str, Any]) -> dict[str, Any]:
    """``template`` with every asset hash replaced by ``<asset-hash>`` (they change with any asset's content)."""
    return json.loads(_ASSET_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True)))


# ------------------------------------------------------------------------------------------------------ moto
MOTO_REGION = "eu-west-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto intercepts every AWS call; fake credentials and region, no profile, no endpoint override, so nothing can
    reach a real account. Yields a boto3 session in ``MOTO_REGION``."""
    import boto3
    from moto import mock_aws

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": MOTO_REGION,
        "AWS_REGION": MOTO_REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield boto3.Session(region_name=MOTO_REGION)
