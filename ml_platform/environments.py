"""The environments this platform deploys, declared in code.

Each entry is plain data validated into an :class:`EnvironmentConfig`; a mistake fails synth with one
line naming the environment, the field, the bad value and the rule. Order matters: it is the promotion
order (dev → staging → prod) used by the delivery pipeline.

To add an environment, append a mapping here (see docs/configuration.md, "Adding an environment").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ml_platform.core.errors import ConfigError, build
from ml_platform.environment import EnvironmentConfig
from ml_platform.inference.config.packages import pin_package_versions, unknown_pins
from ml_platform.inference.config.registry import sharing_problems
from ml_platform.lake.config import catalog_encryption_owner_problems

# Placeholder account ids: replace them with your own. Each environment declares its account, so the Glue Data
# Catalog encryption settings (one per account and region) have exactly one owner each, and `cdk deploy` refuses
# credentials of any other account.
_DEV_ACCOUNT = "111111111111"
_PROD_ACCOUNT = "222222222222"

# SageMaker endpoints (ml_platform/inference/config/, docs/inference.md). Images come from the environment's own
# ECR repositories; model data is a key in the environment's models bucket (<model>/<version>/...). Ship a new
# model version by changing the image tag and/or model_data_key: the endpoint updates through its deployment
# guardrail.
_CHURN_DEV = {
    "name": "churn",
    "image_uri": f"{_DEV_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/ml-platform/churn-model:1.4.0",
    "model_data_key": "churn/1.4.0/model.tar.gz",
    "environment": {"MODEL_VERSION": "1.4.0"},
    "instance_type": "ml.m5.large",
    # The model takes CSV rows: captured as CSV text, which Model Monitor's analyzer reads.
    "data_capture": {"csv_content_types": ["text/csv"]},
    "initial_instance_count": 2,  # a canary needs a second instance
    "deployment": {"type": "canary", "canary_size": {"instances": 1}, "wait_interval_seconds": 300,
                   "termination_wait_seconds": 120, "maximum_execution_timeout_seconds": 1800},
}  # fmt: skip
# prod serves a pinned version of its registry group `churn` (docs/releases.md): register and approve the version in
# prod's registry, then set `version` here, or let the delivery pipeline resolve the latest approved version.
_CHURN_PROD = {
    **{key: value for key, value in _CHURN_DEV.items() if key not in ("image_uri", "model_data_key", "environment")},
    "model": {"type": "package", "group": "churn", "version": 1},
    "instance_type": "ml.m5.xlarge",
    "initial_instance_count": 4,
    "deployment": {"type": "linear", "linear_step_size": {"percent": 25}, "wait_interval_seconds": 300,
                   "termination_wait_seconds": 600, "maximum_execution_timeout_seconds": 3600},
    "rollback_alarms": {"error_5xx_rate_percent": 1.0, "p99_model_latency_ms": 500, "error_4xx_rate_percent": 5.0},
    "autoscaling": {"registered_instance_type": "ml.m5.xlarge", "min_instances": 4, "max_instances": 8,
                    "target_invocations_per_instance": 750},
    "data_capture": {"sampling_percent": 20, "csv_content_types": ["text/csv"]},
    "model_monitor": {"baseline_statistics_key": "churn/1.4.0/baseline/statistics.json",
                      "baseline_constraints_key": "churn/1.4.0/baseline/constraints.json"},
}  # fmt: skip
# prod's model registry (docs/releases.md): one model package group per model served from it. The versions of
# `churn` run images of prod's own churn repository and artifacts under churn/ in prod's models bucket; the execution
# role may read exactly there.
_REGISTRY_PROD = {
    "groups": [{"name": "churn", "description": "Churn model versions",
                "image_repositories": ["ml-platform/churn-model"], "model_data_prefix": "churn/"}],
}  # fmt: skip
# dev's A/B test: 1.5.0 as a challenger beside 1.4.0, on a tenth of the traffic (weights are relative). Each variant
# has its own model, instances, alarms and dashboard row; docs/inference.md ("Run an A/B test") reads them.
_CHURN_AB_DEV = {
    **_CHURN_DEV,
    "initial_variant_weight": 0.9,
    "challengers": [{
        "name": "churn-1-5-0",
        "model": {"type": "container",
                  "image_uri": f"{_DEV_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/ml-platform/churn-model:1.5.0",
                  "model_data_key": "churn/1.5.0/model.tar.gz", "environment": {"MODEL_VERSION": "1.5.0"}},
        "instance_type": "ml.m5.large",
        "initial_instance_count": 2,  # the canary moves one instance of each variant's fleet
        "initial_variant_weight": 0.1,
    }],
}  # fmt: skip
_RECOMMENDER_PROD = {
    "name": "recommender",
    "image_uri": f"{_PROD_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/ml-platform/recommender:2.0.3",
    "model_data_key": "recommender/2.0.3/model.tar.gz",
    "instance_type": "ml.g4dn.xlarge",  # local NVMe: no KMS volume key (the hardware encrypts it)
    "initial_instance_count": 2,
    "deployment": {"type": "canary", "canary_size": {"percent": 50}, "wait_interval_seconds": 600,
                   "termination_wait_seconds": 300, "maximum_execution_timeout_seconds": 2400},
    "data_capture": {"sampling_percent": 10, "capture_response": False, "json_content_types": ["application/json"]},
    # Shadow test of 2.1.0 on a copy of live traffic (same instance type and count, as SageMaker recommends for a
    # comparable test); it answers no caller. docs/inference.md ("Run a shadow test") says how to promote it.
    "shadow": {
        "name": "recommender-2-1-0",
        "model": {"type": "container",
                  "image_uri": f"{_PROD_ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/ml-platform/recommender:2.1.0",
                  "model_data_key": "recommender/2.1.0/model.tar.gz"},
        "instance_type": "ml.g4dn.xlarge",
        "initial_instance_count": 2,
    },
}  # fmt: skip

ENVIRONMENTS: tuple[Mapping[str, Any], ...] = (
    {
        "name": "dev",
        "stage": "dev",
        "account": _DEV_ACCOUNT,
        "region": "eu-west-1",
        "tags": {"owner": "ml-platform-team", "cost_center": "cc-1234"},
        "allow_destroy": True,
        "inference": {"endpoints": [_CHURN_AB_DEV]},
    },
    {
        "name": "prod",
        "stage": "prod",
        "account": _PROD_ACCOUNT,
        "region": "eu-west-1",
        "tags": {"owner": "ml-platform-team", "cost_center": "cc-1234"},
        "security": {"alarm_emails": ["ml-platform-oncall@example.com"]},
        "data_lake": {"curated_crawler": {"enabled": True}},
        # 1,000 events/s of ~2 KB read by Firehose: max(2,000/1,000, 1,000/1,000, 2,000/2,000) × 1.5 → 3 shards.
        "streaming": {"capacity": {"write_kb_per_second": 2000, "write_records_per_second": 1000}},
        "inference": {"endpoints": [_CHURN_PROD, _RECOMMENDER_PROD], "registry": _REGISTRY_PROD},
    },
)


# The delivery pipeline (ml_platform/delivery/config.py, docs/delivery.md). None: no pipeline stack. When set,
# every environment above must declare its `account` (the pipeline deploys each into its own account). E.g.:
#
# PIPELINE = {
#     "connection_arn": "arn:aws:codeconnections:eu-west-1:111111111111:connection/<uuid>",
#     "repository": "my-org/ml-platform",
#     "branch": "main",
#     "account": "111111111111",  # the tooling account the pipeline runs in
#     "region": "eu-west-1",
#     "tags": {"owner": "ml-platform-team", "cost_center": "cc-1234"},
# }
PIPELINE: Mapping[str, Any] | None = None


def load_environments(
    declared: Sequence[Mapping[str, Any]] = ENVIRONMENTS,
    *,
    package_versions: Mapping[tuple[str, str], int] | None = None,
) -> tuple[EnvironmentConfig, ...]:
    """Validate every declared environment; report every problem of every environment at once.

    ``package_versions``: ``{(environment, group): version}`` pins (the ``model_package_versions`` context, parsed by
    ``parse_package_versions``) that replace the version of every variant deploying that group in that environment;
    a pin of an undeclared environment or group is a problem.
    """
    problems: list[str] = []
    result: list[EnvironmentConfig] = []
    pins = package_versions or {}
    for index, data in enumerate(pin_package_versions(declared, pins)):
        label = data.get("name", f"#{index}") if isinstance(data, Mapping) else f"#{index}"
        try:
            result.append(build(EnvironmentConfig, data, context=f"environment {label!r}"))
        except ConfigError as error:
            problems.extend(error.problems)
    names = [env.name for env in result]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"environment {name!r}: field 'name': declared more than once; names must be unique")
    problems.extend(catalog_encryption_owner_problems(result))
    accounts = {env.name: env.account for env in result}
    for env in result:
        problems.extend(sharing_problems(env.name, env.inference.registry, accounts))
    if pins and not problems:
        groups = {env.name: [group.name for group in env.inference.registry.groups] for env in result}
        problems.extend(unknown_pins(pins, groups))
    if problems:
        raise ConfigError(problems)
    if not result:
        raise ConfigError(["no environment is declared; add one to ml_platform/environments.py"])
    return tuple(result)


def select_environments(
    requested: str | None,
    declared: Sequence[Mapping[str, Any]] = ENVIRONMENTS,
    *,
    package_versions: Mapping[tuple[str, str], int] | None = None,
) -> tuple[EnvironmentConfig, ...]:
    """The environments to synthesize: all of them, or the one named by ``-c env=NAME`` (with ``package_versions``
    pinned, see :func:`load_environments`)."""
    environments = load_environments(declared, package_versions=package_versions)
    if requested is None or requested == "":
        return environments
    by_name = {env.name: env for env in environments}
    if requested not in by_name:
        raise ConfigError(
            [f"context 'env': value {requested!r}: unknown environment; declared environments are {', '.join(by_name)}"]
        )
    return (by_name[requested],)
