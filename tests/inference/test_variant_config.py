"""Variants (A/B challengers, a shadow) and model shapes (pipeline, multi-model, registry package): what the
configuration accepts, how it normalizes them, and the one-line refusal of every rule SageMaker documents."""

from __future__ import annotations

from typing import Any

import pytest

from ml_platform.core.errors import ConfigError
from ml_platform.environments import load_environments
from ml_platform.inference.config.models import ENVIRONMENT_MAX_BYTES
from tests.inference.test_inference_config import _DROP, IMAGE, SCALED, _endpoint, _env, _load, _policy

CHALLENGER_IMAGE = IMAGE.replace(":1.4.0", ":1.5.0")
CONTAINER = {"type": "container", "image_uri": CHALLENGER_IMAGE, "model_data_key": "churn/1.5.0/model.tar.gz"}
REGISTRY = {"groups": [{"name": "churn", "image_repositories": ["ml-platform/churn-model"],
                        "model_data_prefix": "churn/"}]}  # fmt: skip


def _challenger(name: str = "b", **fields: Any) -> dict[str, Any]:
    return {"name": name, "model": CONTAINER, "instance_type": "ml.m5.xlarge", "initial_instance_count": 4, **fields}


def _shadow(**fields: Any) -> dict[str, Any]:
    return {**_challenger("shadow"), **fields}


def _pipeline(count: int, **container: Any) -> dict[str, Any]:
    return {
        "type": "pipeline",
        "containers": [
            {"image_uri": IMAGE, "model_data_key": f"step{i}/1.0.0/model.tar.gz", **container} for i in range(count)
        ],
    }


def _multi_model(**fields: Any) -> dict[str, Any]:
    return {"type": "multi_model", "image_uri": IMAGE, "model_data_prefix": "by-region/v3/", **fields}


def _with_model(model: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The test endpoint with ``model`` instead of its image and artifact."""
    return _endpoint(image_uri=_DROP, model_data_key=_DROP, model=model, **overrides)


ALL_AT_ONCE = _policy(type="all_at_once")


# -------------------------------------------------------------------------------------------- accepted shapes
def test_an_ab_endpoint_normalizes_to_control_and_challengers():
    env = _load(_endpoint(initial_variant_weight=0.9, challengers=[_challenger(initial_variant_weight=0.1)]))
    (endpoint,) = env.inference.endpoints
    assert [(v.name, v.kind, v.initial_variant_weight) for v in endpoint.production_variants] == [
        ("AllTraffic", "control", 0.9), ("b", "challenger", 0.1)]  # fmt: skip
    assert endpoint.shadow_variant is None
    assert endpoint.image_uris == (IMAGE, CHALLENGER_IMAGE)


def test_a_shadow_endpoint_has_one_production_variant_and_the_shadow():
    (endpoint,) = _load(_endpoint(shadow=_shadow())).inference.endpoints
    assert [v.kind for v in endpoint.variants] == ["control", "shadow"]
    assert endpoint.shadow_variant.shadow_alarms.error_rate_delta_percent == 1.0


@pytest.mark.parametrize(
    "model",
    [_pipeline(2), _pipeline(15), _pipeline(3, hostname=None), _multi_model(), {"type": "package", "group": "churn",
                                                                                   "version": 3}],
    ids=["pipeline-2", "pipeline-15", "pipeline-unnamed", "multi-model", "package"],
)  # fmt: skip
def test_every_model_shape_is_accepted(model):
    (endpoint,) = _load_with_registry(_with_model(model, deployment=ALL_AT_ONCE)).inference.endpoints
    assert endpoint.control.model.type == model["type"]


def _load_with_registry(*endpoints: dict[str, Any]):
    data = _env(*endpoints)
    data["inference"] = {**data["inference"], "registry": REGISTRY}
    (env,) = load_environments([data])
    return env


# -------------------------------------------------------------------------------------------- refusals
TOO_MANY = [_challenger(f"v{i}", initial_instance_count=2) for i in range(10)]
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("every weight zero", _endpoint(initial_variant_weight=0, challengers=[_challenger(initial_variant_weight=0)]),
     "every production variant has weight 0"),
    ("negative weight", _endpoint(challengers=[_challenger(initial_variant_weight=-1)]), "greater than or equal to 0"),
    ("eleven production variants", _endpoint(deployment=ALL_AT_ONCE, rollback_alarms={"p99_model_latency_ms": None},
                                             challengers=TOO_MANY),
     "11 production variants; an endpoint configuration holds at most 10"),
    ("duplicate variant names", _endpoint(challengers=[_challenger("AllTraffic")]),
     "variant 'AllTraffic': variant names must be unique"),
    ("shadow beside challengers", _endpoint(challengers=[_challenger()], shadow=_shadow()),
     "variant 'shadow': a shadow variant allows exactly one production variant"),
    ("rolling with challengers", _endpoint(challengers=[_challenger()], deployment={
        "type": "rolling", "maximum_batch_size": {"instances": 1}, "wait_interval_seconds": 300}),
     "rolling deployments exclude multi-variant endpoints"),
    ("too many rollback alarms", _endpoint(rollback_alarms={"error_4xx_rate_percent": 5.0},
                                           challengers=[_challenger(f"v{i}") for i in range(3)]),
     "3 per production variant x 4 variants = 12; a deployment takes at most 10"),
    ("canary too large for a challenger's fleet", _endpoint(challengers=[_challenger(initial_instance_count=1)]),
     "canary_size 1 instance(s): is 100% of a fleet of 1 of variant 'b'"),
    ("challenger scaled on another type", _endpoint(challengers=[_challenger(autoscaling={
        **SCALED, "registered_instance_type": "ml.m5.large", "min_instances": 4, "max_instances": 8,
        "target_invocations_per_instance": 100})]),
     "variant 'b': instance_type ml.m5.xlarge: differs from autoscaling.registered_instance_type ml.m5.large"),
    ("shadow on an asynchronous endpoint", _endpoint(async_inference={}, shadow=_shadow()),
     "asynchronous endpoints support one production variant and no shadow variant"),
    ("pipeline of one container", _with_model(_pipeline(1)), "at least 2 items"),
    ("pipeline of sixteen containers", _with_model(_pipeline(16)), "at most 15 items"),
    ("pipeline hostnames on some containers", _with_model({"type": "pipeline", "containers": [
        {"image_uri": IMAGE, "model_data_key": "a/1/m.tar.gz", "hostname": "pre"},
        {"image_uri": IMAGE, "model_data_key": "b/1/m.tar.gz"}]}),
     "set a hostname on every container of the pipeline or on none"),
    ("pipeline environments above 32 KB", _with_model({"type": "pipeline", "containers": [
        {"image_uri": IMAGE, "model_data_key": f"s{i}/1/m.tar.gz",
         "environment": {f"V{j}": "x" * 1000 for j in range(12)}} for i in range(3)]}),
     f"all containers of one model share {ENVIRONMENT_MAX_BYTES // 1024} KB"),
    ("pipeline with a shadow", _with_model(_pipeline(2), shadow=_shadow()),
     "an endpoint with a shadow variant serves single-container models only"),
    ("multi-model on a multi-GPU instance", _with_model(_multi_model(), instance_type="ml.g5.12xlarge",
                                                        deployment=ALL_AT_ONCE),
     "multi-model endpoints run on CPU or single-GPU instance types"),
    ("multi-model with a canary", _with_model(_multi_model()),
     "multi-model endpoints support no canary, linear or rolling guardrails"),
    ("multi-model monitored", _with_model(_multi_model(), deployment=ALL_AT_ONCE,
                                          data_capture={"csv_content_types": ["text/csv"]},
                                          model_monitor={"baseline_statistics_key": "s.json",
                                                         "baseline_constraints_key": "c.json"}),
     "Model Monitor does not support multi-model endpoints"),
    ("multi-model prefix without a slash", _with_model(_multi_model(model_data_prefix="by-region")),
     "must be a prefix in the models bucket ending in '/'"),
    ("package of an undeclared group", _with_model({"type": "package", "group": "fraud", "version": 1}),
     "variant 'AllTraffic': model package group 'fraud' is not in inference.registry.groups"),
    ("package version zero", _with_model({"type": "package", "group": "churn", "version": 0}),
     "a model package version is a whole number from 1"),
    ("package group name malformed", _with_model({"type": "package", "group": "churn_model", "version": 1}),
     "not a model package group name"),
    ("model and image both", _endpoint(model=CONTAINER), "give the control variant's model once"),
]  # fmt: skip


@pytest.mark.parametrize(("endpoint", "fragment"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_variant_or_shape_is_refused_with_one_line(endpoint, fragment):
    # Given a prod endpoint that breaks one rule of its variants or model shape
    # When the environments are loaded
    with pytest.raises(ConfigError) as caught:
        _load_with_registry(endpoint)
    # Then one line names the environment, the endpoint and the rule
    (line,) = str(caught.value).splitlines()
    assert line.startswith("environment 'prod': field 'inference"), line
    assert "churn" in line and fragment in line, line


def test_a_challenger_in_prod_needs_two_instances():
    data = _env(_endpoint(challengers=[_challenger(initial_instance_count=1, instance_type="ml.m5.large")],
                          deployment=ALL_AT_ONCE))  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        load_environments([data])
    (line,) = str(caught.value).splitlines()
    assert "variant 'b': field 'initial_instance_count': value 1: stage 'prod' needs at least 2 instances" in line
