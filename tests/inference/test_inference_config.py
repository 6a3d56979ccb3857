"""Inference configuration: the documented SageMaker rules, each refused with one clear line."""

from __future__ import annotations

from typing import Any

import pytest

from ml_platform.core.errors import ConfigError
from ml_platform.core.images import MODEL_MONITOR_REGISTRY_ACCOUNTS, model_monitor_image_uri
from ml_platform.core.instances import InstanceType
from ml_platform.environments import load_environments
from ml_platform.inference.config import InferenceConfig
from ml_platform.inference.config.models import image_part
from tests.conftest import declared_environment

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml-platform/churn-model:1.4.0"


def _endpoint(**overrides: Any) -> dict[str, Any]:
    endpoint: dict[str, Any] = {
        "name": "churn",
        "image_uri": IMAGE,
        "model_data_key": "churn/1.4.0/model.tar.gz",
        "instance_type": "ml.m5.xlarge",
        "initial_instance_count": 4,
        "deployment": {
            "type": "canary",
            "canary_size": {"instances": 1},
            "wait_interval_seconds": 600,
            "termination_wait_seconds": 300,
            "maximum_execution_timeout_seconds": 3600,
        },
    }
    for key, value in overrides.items():
        if value is _DROP:
            endpoint.pop(key, None)
        else:
            endpoint[key] = value
    return endpoint


_DROP = object()
# Autoscaling registered for the default instance type of _endpoint().
SCALED = {"registered_instance_type": "ml.m5.xlarge"}


def _env(*endpoints: dict[str, Any], stage: str = "prod", **overrides: Any) -> dict[str, Any]:
    """The declared environment of ``stage`` without its account (so any image account is accepted) and with
    ``endpoints``."""
    overrides = {"inference": {"endpoints": list(endpoints)}, **overrides}
    return declared_environment("prod" if stage == "prod" else "dev", without=("account",), **overrides)


def _load(*endpoints: dict[str, Any], **kwargs: Any):
    (env,) = load_environments([_env(*endpoints, **kwargs)])
    return env


def _policy(**fields: Any) -> dict[str, Any]:
    return {"wait_interval_seconds": 300, "termination_wait_seconds": 300, "maximum_execution_timeout_seconds": 3600,
            **fields}  # fmt: skip


# -------------------------------------------------------------------------------------------- valid configs
def test_declared_environments_have_the_endpoints_the_issue_asks_for():
    by_name = {env.name: env for env in load_environments()}
    assert len(by_name["dev"].inference.endpoints) == 1
    prod = by_name["prod"].inference.endpoints
    assert len(prod) == 2
    assert len({endpoint.deployment.type for endpoint in prod}) == 2  # two different policies
    assert all(endpoint.initial_instance_count >= 2 for endpoint in prod)
    assert "inference" in by_name["prod"].enabled_components and "inference" in by_name["dev"].enabled_components


def test_no_endpoints_means_no_inference_component():
    env = _load(stage="dev")
    assert env.inference.endpoints == () and "inference" not in env.enabled_components


def test_a_valid_endpoint_and_its_derived_behaviour():
    endpoint = _load(
        _endpoint(
            deployment=_policy(type="linear", linear_step_size={"percent": 25}),
            autoscaling={
                "registered_instance_type": "ml.m5.xlarge",
                "min_instances": 4,
                "max_instances": 8,
                "target_invocations_per_instance": 500,
            },
        )
    ).inference.endpoints[0]
    assert (endpoint.fleet_min, endpoint.fleet_max) == (4, 8)
    assert endpoint.implied_bake_seconds == 4 * 300 + 300  # four 25 % steps, each baked, then the termination wait
    (image,) = endpoint.image_uris
    assert tuple(image_part(image, part) for part in ("account", "region", "repository")) == (
        "123456789012", "eu-west-1", "ml-platform/churn-model",
    )  # fmt: skip
    # The single-variant shorthand is the control variant
    (control,) = endpoint.variants
    assert (control.kind, control.name, control.model.type, control.initial_variant_weight) == (
        "control", "AllTraffic", "container", 1.0,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("policy", "bake"),
    [
        (_policy(type="all_at_once"), 600),
        (_policy(type="canary", canary_size={"percent": 50}), 600),
        (_policy(type="linear", linear_step_size={"instances": 1}), 4 * 300 + 300),
        ({"type": "rolling", "maximum_batch_size": {"instances": 2}, "wait_interval_seconds": 400}, 2 * 400),
    ],
)
def test_implied_bake_per_policy(policy, bake):
    assert _load(_endpoint(deployment=policy)).inference.endpoints[0].implied_bake_seconds == bake


def test_zero_invocation_alarm_defaults_to_prod_only():
    endpoint = _load(_endpoint()).inference.endpoints[0]
    assert endpoint.zero_invocations_alarm("prod") is True
    assert endpoint.zero_invocations_alarm("dev") is False


def test_serverless_and_async_variants_are_accepted_when_consistent():
    serverless = _endpoint(
        name="light", instance_type=_DROP, initial_instance_count=_DROP, data_capture={"enabled": False},
        serverless={"memory_mib": 2048, "max_concurrency": 10, "accept_no_vpc_isolation": True},
        deployment=_policy(type="all_at_once"),
    )  # fmt: skip
    asynchronous = _endpoint(
        name="batchy", async_inference={"notify_success": True},
        autoscaling={**SCALED, "min_instances": 0, "max_instances": 4, "target_backlog_per_instance": 5},
        initial_instance_count=2, deployment=_policy(type="canary", canary_size={"instances": 1}),
    )  # fmt: skip
    env = _load(serverless, asynchronous, stage="dev")
    assert [e.name for e in env.inference.endpoints] == ["light", "batchy"]


# -------------------------------------------------------------------------------------------- invalid configs
SERVERLESS = {"memory_mib": 1024, "max_concurrency": 5, "accept_no_vpc_isolation": True}
NO_CAPTURE = {"enabled": False}
BAD_ENDPOINTS: list[tuple[str, dict[str, Any], str]] = [
    # (case id, endpoint, expected fragment of the one-line message)
    ("canary above half the fleet", _endpoint(deployment=_policy(type="canary", canary_size={"instances": 3})),
     "canary must be at most 50 % of the fleet"),
    ("canary percent above 50", _endpoint(deployment=_policy(type="canary", canary_size={"percent": 60})),
     "canary must be at most 50 %"),
    ("canary below one instance", _endpoint(deployment=_policy(type="canary", canary_size={"percent": 10})),
     "less than one instance"),
    ("linear step below 10 %", _endpoint(initial_instance_count=20,
                                         deployment=_policy(type="linear", linear_step_size={"instances": 1})),
     "each linear step must be 10-50 %"),
    ("linear step above 50 %", _endpoint(deployment=_policy(type="linear", linear_step_size={"percent": 75})),
     "each linear step must be 10-50 %"),
    ("step with both units", _endpoint(deployment=_policy(type="canary", canary_size={"instances": 1, "percent": 25})),
     "exactly one of 'instances' or 'percent'"),
    ("wait interval above 3600", _endpoint(deployment=_policy(type="all_at_once", wait_interval_seconds=3601)),
     "less than or equal to 3600"),
    ("negative wait interval", _endpoint(deployment=_policy(type="all_at_once", wait_interval_seconds=-1)),
     "greater than or equal to 0"),
    ("termination wait above 3600", _endpoint(deployment=_policy(type="all_at_once", termination_wait_seconds=4000)),
     "less than or equal to 3600"),
    ("timeout below 600", _endpoint(deployment=_policy(type="all_at_once", maximum_execution_timeout_seconds=300)),
     "greater than or equal to 600"),
    ("timeout above 28800", _endpoint(deployment=_policy(type="all_at_once", maximum_execution_timeout_seconds=30000)),
     "less than or equal to 28800"),
    ("timeout not above the bakes", _endpoint(initial_instance_count=10, deployment=_policy(
        type="linear", linear_step_size={"percent": 10}, wait_interval_seconds=600,
        maximum_execution_timeout_seconds=6000)),
     "must be larger than the 6300 s of bake intervals"),
    ("rolling batch above 50 %", _endpoint(deployment={"type": "rolling", "maximum_batch_size": {"instances": 3}}),
     "each rolling batch must be 5-50 %"),
    ("rolling on serverless", _endpoint(instance_type=_DROP, initial_instance_count=_DROP, data_capture=NO_CAPTURE,
                                        serverless=SERVERLESS,
                                        deployment={"type": "rolling", "maximum_batch_size": {"percent": 50}}),
     "serverless variants support only all_at_once"),
    ("bake without rollback alarm", _endpoint(rollback_alarms={"error_5xx_rate_percent": None,
                                                               "p99_model_latency_ms": None}),
     "no rollback alarm is configured"),
    ("autoscaling min above initial", _endpoint(autoscaling={**SCALED, "min_instances": 5, "max_instances": 8,
                                                             "target_invocations_per_instance": 100}),
     "min 5 <= initial_instance_count 4 <= max 8 does not hold"),
    ("autoscaling initial above max", _endpoint(autoscaling={**SCALED, "min_instances": 2, "max_instances": 3,
                                                             "target_invocations_per_instance": 100}),
     "min 2 <= initial_instance_count 4 <= max 3 does not hold"),
    ("real-time scaling without an invocation target",
     _endpoint(autoscaling={**SCALED, "min_instances": 4, "max_instances": 8}),
     "target_invocations_per_instance: required"),
    ("real-time scaling to zero", _endpoint(autoscaling={**SCALED, "min_instances": 0, "max_instances": 8,
                                                         "target_invocations_per_instance": 100}),
     "only asynchronous endpoints can scale to zero"),
    ("serverless memory not a 1024 step", _endpoint(instance_type=_DROP, initial_instance_count=_DROP,
                                                    serverless={"memory_mib": 1500, "max_concurrency": 5}),
     "multiple of 1024 MB"),
    ("serverless memory above 6144", _endpoint(instance_type=_DROP, initial_instance_count=_DROP,
                                               serverless={"memory_mib": 7168, "max_concurrency": 5}),
     "less than or equal to 6144"),
    ("serverless concurrency above 200", _endpoint(instance_type=_DROP, initial_instance_count=_DROP,
                                                   serverless={"memory_mib": 1024, "max_concurrency": 201}),
     "less than or equal to 200"),
    ("serverless without accepting no VPC", _endpoint(instance_type=_DROP, initial_instance_count=_DROP,
                                                      serverless={"memory_mib": 1024, "max_concurrency": 5}),
     "cannot use VPC configuration or network isolation"),
    ("serverless with data capture", _endpoint(instance_type=_DROP, initial_instance_count=_DROP,
                                               deployment=_policy(type="all_at_once"),
                                               serverless={"memory_mib": 1024, "max_concurrency": 5,
                                                           "accept_no_vpc_isolation": True}),
     "data capture is not supported on serverless"),
    ("serverless with instances", _endpoint(serverless={"memory_mib": 1024, "max_concurrency": 5,
                                                        "accept_no_vpc_isolation": True}),
     "a serverless variant has no instances"),
    ("async on serverless", _endpoint(instance_type=_DROP, initial_instance_count=_DROP, data_capture=NO_CAPTURE,
                                      deployment=_policy(type="all_at_once"), async_inference={},
                                      serverless=SERVERLESS),
     "asynchronous inference needs an instance-based variant"),
    ("async scaling without a backlog target", _endpoint(async_inference={}, autoscaling={
        "registered_instance_type": "ml.m5.xlarge", "min_instances": 1, "max_instances": 8,
        "target_invocations_per_instance": 100}),
     "target_backlog_per_instance: required"),
    ("not an ml instance type", _endpoint(instance_type="m5.xlarge"), "is not a SageMaker ML instance type"),
    ("instances missing", _endpoint(initial_instance_count=_DROP), "required unless the variant is serverless"),
    ("Inf1 with a canary", _endpoint(instance_type="ml.inf1.xlarge"),
     "SageMaker ignores deployment guardrails on Inf1"),
    ("Inf1 with a bake", _endpoint(instance_type="ml.inf1.xlarge", deployment=_policy(type="all_at_once")),
     "falls back to all-at-once with no baking period"),
    ("public registry image", _endpoint(image_uri="docker.io/library/python:3.12"), "not a private ECR image URI"),
    ("mutable latest tag", _endpoint(image_uri=IMAGE.replace(":1.4.0", ":latest")), "mutable tag 'latest' is refused"),
    ("untagged image", _endpoint(image_uri=IMAGE.removesuffix(":1.4.0")), "pinned by tag or digest"),
    ("model data outside the bucket without the escape hatch", _endpoint(model_data_key="s3://other/m.tar.gz"),
     "must be a key in the models bucket"),
    ("model data not a tar.gz", _endpoint(model_data_key="churn/1.4.0/model.pkl"), "ending in .tar.gz"),
    ("both model data sources", _endpoint(external_model_data_url="s3://partner/m.tar.gz"), "give exactly one"),
    ("no model data", _endpoint(model_data_key=_DROP), "give exactly one"),
    ("bad external url", _endpoint(model_data_key=_DROP, external_model_data_url="https://x/m.tar.gz"),
     "must be an s3://<bucket>/<key>.tar.gz URL"),
    ("bad environment variable name", _endpoint(environment={"1BAD": "x"}), "must match [a-zA-Z_][a-zA-Z0-9_]*"),
    ("monitor without request capture", _endpoint(data_capture={"capture_request": False},
                                                  model_monitor={"baseline_statistics_key": "s.json",
                                                                 "baseline_constraints_key": "c.json"}),
     "enable data_capture with capture_request"),
    ("monitor runtime above an hour", _endpoint(model_monitor={"baseline_statistics_key": "s.json",
                                                               "baseline_constraints_key": "c.json",
                                                               "max_runtime_seconds": 7200}),
     "less than or equal to 3600"),
    ("capture sampling zero", _endpoint(data_capture={"sampling_percent": 0}), "greater than or equal to 1"),
    # Regression: without CaptureContentTypeHeader SageMaker base64-encodes captures, which the analyzer cannot read
    ("monitor on base64 captures", _endpoint(model_monitor={"baseline_statistics_key": "s.json",
                                                            "baseline_constraints_key": "c.json"}),
     "declare csv_content_types or json_content_types"),
    ("content type as CSV and JSON", _endpoint(data_capture={"csv_content_types": ["text/csv"],
                                                             "json_content_types": ["text/csv"]}),
     "declared both as CSV and as JSON"),
    ("malformed content type", _endpoint(data_capture={"csv_content_types": ["csv"]}), "should match pattern"),
    ("model key without a version", _endpoint(model_data_key="churn/model.tar.gz"),
     "must be <model>/<version>/<file>.tar.gz"),
    # Regression: SageMaker refuses an instance-type change of an autoscaled variant; the synth explains the way
    ("instance type changed under autoscaling", _endpoint(instance_type="ml.m5.2xlarge", autoscaling={
        "registered_instance_type": "ml.m5.xlarge", "min_instances": 4, "max_instances": 8,
        "target_invocations_per_instance": 100}),
     "differs from autoscaling.registered_instance_type ml.m5.xlarge; SageMaker refuses to change the instance type "
     "of a variant registered for autoscaling, so deploy three times"),
    ("capture of nothing", _endpoint(data_capture={"capture_request": False, "capture_response": False}),
     "captures neither requests nor responses"),
    ("bad variant name", _endpoint(variant_name="all traffic"), "field 'inference.endpoints.churn.variant_name'"),
    ("unknown policy type", _endpoint(deployment={"type": "shadow"}), "does not match any of the expected tags"),
    ("unknown field", _endpoint(instance_count=2), "Extra inputs are not permitted"),
]  # fmt: skip


@pytest.mark.parametrize(("endpoint", "fragment"), [c[1:] for c in BAD_ENDPOINTS], ids=[c[0] for c in BAD_ENDPOINTS])
def test_bad_endpoint_is_refused_with_one_clear_line(endpoint, fragment):
    # Given a prod environment with one badly configured endpoint
    # When the environments are loaded
    with pytest.raises(ConfigError) as caught:
        load_environments([_env(endpoint)])
    # Then the error is one line per problem, naming environment, endpoint and field, and stating the rule
    lines = str(caught.value).splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("environment 'prod': field 'inference"), lines[0]
    assert "churn" in lines[0], lines[0]
    assert fragment in lines[0], lines[0]


def test_there_are_at_least_twenty_invalid_configurations():
    assert len(BAD_ENDPOINTS) >= 20


BAD_ENVIRONMENTS: list[tuple[str, dict[str, Any], str]] = [
    ("one instance in prod", _env(_endpoint(initial_instance_count=1, deployment=_policy(type="all_at_once"),
                                            rollback_alarms={})),
     "field 'initial_instance_count': value 1: stage 'prod' needs at least 2 instances"),
    ("prod autoscaling down to one", _env(_endpoint(initial_instance_count=2, deployment=_policy(type="all_at_once"),
                                                    autoscaling={**SCALED, "min_instances": 1, "max_instances": 4,
                                                                 "target_invocations_per_instance": 100})),
     "field 'autoscaling.min_instances': value 1: stage 'prod' needs at least 2 instances"),
    ("image in another region", _env(_endpoint(image_uri=IMAGE.replace("eu-west-1", "us-east-1"))),
     "churn-model:1.4.0 is in region 'us-east-1' but the environment deploys to 'eu-west-1'"),
    ("monitor in an unmapped region", _env(_endpoint(image_uri=IMAGE.replace("eu-west-1", "eu-south-2"),
                                                     data_capture={"csv_content_types": ["text/csv"]},
                                                     model_monitor={"baseline_statistics_key": "s.json",
                                                                    "baseline_constraints_key": "c.json"}),
                                           region="eu-south-2"),
     "no Model Monitor image registry is known for region 'eu-south-2'"),
    ("duplicate endpoint names", _env(_endpoint(), _endpoint()), "declared more than once: churn"),
    ("image in another account", _env(_endpoint(), account="222222222222"),
     "churn-model:1.4.0 is in account 123456789012 but the environment deploys to account 222222222222"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "fragment"), [c[1:] for c in BAD_ENVIRONMENTS], ids=[c[0] for c in BAD_ENVIRONMENTS])
def test_environment_level_rules(data, fragment):
    with pytest.raises(ConfigError) as caught:
        load_environments([data])
    (line,) = str(caught.value).splitlines()
    assert line.startswith(f"environment {data['name']!r}: field 'inference"), line
    assert fragment in line, line


def test_endpoint_name_with_its_prefix_must_fit_63_characters():
    # The data lake's bucket-name rule usually stops such long prefixes first; the endpoint rule still holds.
    config = InferenceConfig.model_validate({"endpoints": [_endpoint(name="a-very-long-endpoint-name-here")]})
    with pytest.raises(ValueError, match=r"'x{40}-a-very-long-endpoint-name-here' is longer than 63 characters"):
        config.check_environment(stage="dev", region="eu-west-1", name_prefix="x" * 40)


def test_dev_may_run_a_single_instance():
    env = _load(_endpoint(initial_instance_count=1, deployment=_policy(type="all_at_once")), stage="dev")
    assert env.inference.endpoints[0].initial_instance_count == 1


# -------------------------------------------------------------------------------------------- instance knowledge
@pytest.mark.parametrize(
    ("instance_type", "nvme", "gpus", "vcpus"),
    [
        ("ml.m5.xlarge", False, 0, 4),
        ("ml.c5.large", False, 0, 2),
        ("ml.m5d.2xlarge", True, 0, 8),
        ("ml.c5d.xlarge", True, 0, 4),
        ("ml.r5d.large", True, 0, 2),
        ("ml.c6gd.large", True, 0, 2),
        ("ml.g4dn.xlarge", True, 1, 4),
        ("ml.g4dn.12xlarge", True, 4, 48),
        ("ml.g5.48xlarge", True, 8, 192),
        ("ml.g6.2xlarge", True, 1, 8),
        ("ml.p3.8xlarge", False, 4, 32),
        ("ml.p3dn.24xlarge", True, 8, 96),
        ("ml.p4d.24xlarge", True, 8, 96),
        ("ml.p5.48xlarge", True, 8, 192),
        ("ml.inf1.xlarge", False, 0, 4),
        ("ml.inf2.xlarge", False, 0, 4),
        ("ml.trn1.32xlarge", True, 0, 128),
        ("ml.t2.medium", False, 0, 2),
    ],
)
def test_instance_families(instance_type, nvme, gpus, vcpus):
    parsed = InstanceType.parse(instance_type)
    assert (parsed.has_local_nvme_storage, parsed.gpus, parsed.vcpus) == (nvme, gpus, vcpus)


def test_model_monitor_images_cover_the_required_regions():
    for region in ("eu-west-1", "us-east-1", "us-west-2", "eu-central-1"):
        assert region in MODEL_MONITOR_REGISTRY_ACCOUNTS
    assert model_monitor_image_uri("us-east-1") == (
        "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    )
    with pytest.raises(KeyError):
        model_monitor_image_uri("eu-south-2")


# -------------------------------------------------------------------------------------------- instance-type pins
def test_declared_autoscaled_endpoints_are_registered_for_their_instance_type():
    # The synth itself refuses an instance-type change of an autoscaled variant (test above); the declared ones match
    scaled = [e for env in load_environments() for e in env.inference.endpoints if e.autoscaling is not None]
    assert scaled and all(e.autoscaling.registered_instance_type == e.instance_type for e in scaled)


def test_the_instance_type_runbook_the_error_points_to_exists():
    from tests.conftest import ROOT

    runbook = (ROOT / "docs" / "inference.md").read_text()
    assert "## Change the instance type of an autoscaled endpoint" in runbook
