"""Delivery test data: a valid pipeline configuration (its connection in the pipeline account), and ONE synthesized
app with the pipeline configured (session-scoped fixture ``delivery``: the only extra synth of a worker's session),
read by test_pipeline_stack.py and test_pipeline_approvals.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ml_platform.delivery.config import PipelineConfig, load_pipeline
from ml_platform.delivery.stack import PipelineStack
from ml_platform.environments import ENVIRONMENTS, load_environments
from tests.conftest import declared_in_accounts, new_app, resources_of

PIPELINE_ACCOUNT = "111111111111"
CONNECTION = "arn:aws:codeconnections:eu-west-1:111111111111:connection/12345678-abcd-4321-dcba-1234567890ab"
VALID_PIPELINE: dict[str, Any] = {
    "connection_arn": CONNECTION,
    "repository": "my-org/ml-platform",
    "account": PIPELINE_ACCOUNT,
    "region": "eu-west-1",
    "tags": {"owner": "ml-platform-team", "cost_center": "cc-1234"},
}

ACCOUNTS = {"dev": "222222222222", "staging": "333333333333", "prod": "444444444444"}
# A staging environment in another region exercises CodePipeline's cross-region artifact store.
STAGING = {
    "name": "staging",
    "stage": "staging",
    "region": "eu-central-1",
    "tags": {"owner": "ml-platform-team", "cost_center": "cc-1234"},
    # The S3 gateway prefix list of eu-central-1 (network config needs it outside eu-west-1).
    "network": {"s3_prefix_list_id": "pl-6ea54007"},
}


def declared_with_accounts() -> list[dict[str, Any]]:
    """The declared environments plus a staging one between dev and prod, each with its own account."""
    declared = [dict(env) for env in ENVIRONMENTS]
    declared.insert(1, STAGING)
    return declared_in_accounts(ACCOUNTS, declared)


@dataclass
class Delivery:
    app: Any
    stack: PipelineStack
    config: PipelineConfig
    environments: list[Any]
    outdir: Path

    def template(self, name: str | None = None) -> dict[str, Any]:
        return json.loads((self.outdir / f"{name or self.stack.artifact_id}.template.json").read_text())

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template()["Resources"]

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return resources_of(self.resources, resource_type)

    @property
    def stages(self) -> list[dict[str, Any]]:
        (pipeline,) = self.of_type("AWS::CodePipeline::Pipeline").values()
        return pipeline["Properties"]["Stages"]

    def stage(self, name: str) -> dict[str, Any]:
        (stage,) = [s for s in self.stages if s["Name"] == name]
        return stage

    def buildspec(self, project_logical_id: str) -> dict[str, Any]:
        return json.loads(self.resources[project_logical_id]["Properties"]["Source"]["BuildSpec"])

    def project_of(self, action: dict[str, Any]) -> str:
        return action["Configuration"]["ProjectName"]["Ref"]


@pytest.fixture(scope="session")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> Delivery:
    # Given the declared environments, each with an account, and a configured pipeline
    environments = list(load_environments(declared_with_accounts()))
    config = load_pipeline(VALID_PIPELINE, environments)
    assert config is not None
    outdir = tmp_path_factory.mktemp("pipeline.out")
    app = new_app(outdir)
    # When the pipeline stack is synthesized (the top-level environment stages are the session fixture's; the
    # pipeline deploys its own copy of every stage). The packs are read below, not registered: one report.
    stack = PipelineStack(app, "Pipeline", config=config, environments=environments)
    app.synth()
    return Delivery(app=app, stack=stack, config=config, environments=environments, outdir=outdir)
