"""Gate fixtures: the compliance packs' findings over the session's app, and the runtime flows of the declared app
(synthesized once per session) and of a features app that turns on what no declared environment uses (asynchronous
inference with notifications, a registry group shared with another environment, an A/B challenger serving a registry
version named by ARN, approvals forwarded to a delivery pipeline's event bus)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ml_platform.app import build_platform
from ml_platform.environment import EnvironmentConfig
from ml_platform.environments import load_environments
from ml_platform.shared.compliance import COMPLIANCE_PACKS, Finding, findings
from scripts.flows.catalogue import build, placements
from scripts.flows.engine import evaluate
from scripts.flows.model import FlowResult
from scripts.flows.templates import Deployment
from tests.conftest import SynthesizedPlatform, declared_environment, new_app

FEATURES_ENVIRONMENT = "features"
# The delivery pipeline's account in the features app (no pipeline stack is synthesized: its event bus is the
# destination of the registry's approval forwarding).
FEATURES_PIPELINE_BUS = "arn:aws:events:eu-west-1:333333333333:event-bus/default"


def features_environment() -> dict[str, Any]:
    """dev renamed, plus an asynchronous endpoint that notifies successes and failures and scales to zero, and an
    Athena query role."""
    data = declared_environment("dev", name=FEATURES_ENVIRONMENT)
    churn = data["inference"]["endpoints"][0]
    single = {k: v for k, v in churn.items() if k not in ("challengers", "initial_variant_weight")}
    batch = {
        **copy.deepcopy(single),
        "name": "batch",
        "async_inference": {"notify_success": True, "notify_errors": True},
        "autoscaling": {"registered_instance_type": churn["instance_type"], "min_instances": 0, "max_instances": 2,
                        "target_backlog_per_instance": 5},
    }  # fmt: skip
    # A registry group that prod's account may read, and a challenger serving one of its versions (by ARN)
    account = data["account"]
    data["inference"]["registry"] = {
        "groups": [
            {
                "name": "churn",
                "image_repositories": ["ml-platform/churn-model"],
                "model_data_prefix": "churn/",
                "shared_with": ["prod"],
            }
        ]
    }
    package = {"type": "package", "arn": f"arn:aws:sagemaker:eu-west-1:{account}:model-package/churn/3"}
    churn["challengers"] = [
        {
            "name": "registry",
            "model": package,
            "instance_type": churn["instance_type"],
            "initial_instance_count": 2,
            "initial_variant_weight": 0.1,
        }
    ]
    data["inference"]["endpoints"] = [churn, batch]
    # An Athena query role the account's administrators may assume
    data["data_lake"] = {**data.get("data_lake", {}), "athena": {"query_role_principals": [
        f"arn:aws:iam::{data['account']}:root"]}}  # fmt: skip
    return data


@pytest.fixture(scope="session")
def compliance_findings(platform: SynthesizedPlatform) -> dict[str, list[Finding]]:
    """Unacknowledged findings per pack over every stack of every environment."""
    return {pack.__name__: findings(platform.app, [pack]) for pack in COMPLIANCE_PACKS}


@pytest.fixture(scope="session")
def features_app(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list[EnvironmentConfig]]:
    outdir = tmp_path_factory.mktemp("features.out")
    # prod is declared beside it (the registry group is shared with prod) but not synthesized
    environments = list(load_environments([features_environment(), declared_environment("prod")]))
    app = new_app(outdir)
    build_platform(app, environments[:1], peers=environments, approval_bus_arn=FEATURES_PIPELINE_BUS)
    app.synth()
    return outdir, environments


@pytest.fixture(scope="session")
def features_results(features_app: tuple[Any, list[EnvironmentConfig]]) -> list[FlowResult]:
    outdir, environments = features_app
    return evaluate(build(outdir, environments))


@pytest.fixture(scope="session")
def declared_deployment(platform: SynthesizedPlatform) -> Deployment:
    return Deployment.from_assembly(platform.outdir, placements(list(platform.environments.values()), shared=False))


@pytest.fixture(scope="session")
def features_deployment(features_app: tuple[Any, list[EnvironmentConfig]]) -> Deployment:
    outdir, environments = features_app
    return Deployment.from_assembly(outdir, placements(environments, shared=False))


@pytest.fixture(params=["declared", "features"])
def app_flows(request: pytest.FixtureRequest) -> tuple[Deployment, list[FlowResult]]:
    """(deployment, flow results) of the declared app and of the features app."""
    name = request.param
    return request.getfixturevalue(f"{name}_deployment"), request.getfixturevalue(f"{name}_results")
