"""The rules that tie an endpoint's deployment policy, features and model shapes to its variants.

Each is a documented SageMaker rule (cited beside it) or a platform rule (said so); InferenceEndpoint runs them after
its own field rules, and each raises ``ValueError`` with one line naming the variant, the field and the rule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_platform.inference.config.models import MultiModel, PipelineModel
from ml_platform.inference.config.policies import CanaryPolicy, CapacitySize, LinearPolicy, RollingPolicy

if TYPE_CHECKING:
    from ml_platform.inference.config.endpoint import InferenceEndpoint

# AutoRollbackConfig.Alarms: 1-10 alarms (SageMaker API reference, AutoRollbackConfig).
MAX_ROLLBACK_ALARMS = 10


def policy_rules(endpoint: InferenceEndpoint) -> None:
    """The deployment policy against the variants' instances and fleets (Deployment guardrails rules)."""
    policy = endpoint.deployment
    where = f"deployment ({policy.type})"
    for variant in endpoint.production_variants:
        instance = variant.parsed_instance_type
        # Deployment guardrails exclusions: with Inf1 instances (or Marketplace containers, which this
        # platform never deploys: images must be the account's own ECR images) "you cannot use deployment
        # guardrails ... and your endpoint will fall back to using a blue/green deployment with all at
        # once traffic shifting and no final baking period".
        if instance is not None and instance.is_inf1 and (policy.type != "all_at_once" or endpoint.has_bake_period):
            raise ValueError(
                f"{where}: {variant.instance_type} is an Inf1 instance; SageMaker ignores deployment guardrails "
                "on Inf1 and falls back to all-at-once with no baking period, so nothing would be baked or "
                "rolled back; use type all_at_once with wait_interval_seconds 0 and termination_wait_seconds 0, "
                "or an Inf2/GPU/CPU instance type"
            )
    if endpoint.serverless is not None and policy.type != "all_at_once":
        # Exclusions: rolling deployments do not support serverless endpoints; canary and linear sizes
        # are shares of "the variant's total instance count", which a serverless variant does not have.
        raise ValueError(
            f"{where}: serverless variants support only all_at_once (rolling deployments exclude "
            "serverless endpoints; canary/linear steps are shares of an instance fleet)"
        )
    if isinstance(policy, RollingPolicy) and endpoint.challengers:
        # "If you're doing a rolling deployment, there are additional feature-based exclusions: ... Multi-variant
        # inference endpoints" (SageMaker developer guide, Deployment guardrails exclusions).
        raise ValueError(
            f"{where}: rolling deployments exclude multi-variant endpoints; use all_at_once, canary or linear "
            "(Deployment guardrails exclusions)"
        )
    if isinstance(policy, CanaryPolicy):
        rule = "the canary must be at most 50 % of the fleet (TrafficRoutingConfig.CanarySize)"
        _step_rule(endpoint, policy.canary_size, "canary_size", low=0.0, high=0.5, rule=rule)
    elif isinstance(policy, LinearPolicy):
        rule = "each linear step must be 10-50 % of the fleet (TrafficRoutingConfig.LinearStepSize)"
        _step_rule(endpoint, policy.linear_step_size, "linear_step_size", low=0.1, high=0.5, rule=rule)
    elif isinstance(policy, RollingPolicy):
        rule = "each rolling batch must be 5-50 % of the fleet (RollingUpdatePolicy.MaximumBatchSize)"
        _step_rule(endpoint, policy.maximum_batch_size, "maximum_batch_size", low=0.05, high=0.5, rule=rule)
        rollback = policy.rollback_maximum_batch_size
        if rollback is not None and rollback.instances is not None and rollback.instances > endpoint.fleet_max:
            raise ValueError(
                f"{where}.rollback_maximum_batch_size {rollback.describe()}: larger than the fleet of "
                f"{endpoint.fleet_max}"
            )
    total = endpoint.implied_bake_seconds
    if policy.maximum_execution_timeout_seconds <= total:
        raise ValueError(
            f"{where}.maximum_execution_timeout_seconds {policy.maximum_execution_timeout_seconds}: must be "
            f"larger than the {total} s of bake intervals and termination wait the policy implies "
            "(MaximumExecutionTimeoutInSeconds rule)"
        )
    if total > 0 and endpoint.rollback_alarms.count == 0:
        raise ValueError(
            f"rollback_alarms: the {policy.type} policy bakes for {total} s but no rollback alarm is "
            "configured; CloudWatch alarms are a prerequisite for baking periods and auto-rollback"
        )
    alarms = endpoint.rollback_alarms.count * len(endpoint.production_variants)
    if alarms > MAX_ROLLBACK_ALARMS:
        raise ValueError(
            f"rollback_alarms: {endpoint.rollback_alarms.count} per production variant x "
            f"{len(endpoint.production_variants)} variants = {alarms}; a deployment takes at most "
            f"{MAX_ROLLBACK_ALARMS} rollback alarms (AutoRollbackConfig); drop an alarm type or a challenger"
        )


def _step_rule(
    endpoint: InferenceEndpoint, size: CapacitySize, field: str, *, low: float, high: float, rule: str
) -> None:
    where = f"deployment ({endpoint.deployment.type}).{field} {size.describe()}"
    for variant in endpoint.production_variants:
        of = "" if variant.kind == "control" else f" of variant {variant.name!r}"
        for fleet in sorted({variant.fleet_min, variant.fleet_max}):
            if fleet <= 0:
                continue
            fraction = size.fraction_of(fleet)
            if not low <= fraction <= high:
                raise ValueError(f"{where}: is {fraction:.0%} of a fleet of {fleet}{of}; {rule}")
            if size.instances_of(fleet) < 1:
                raise ValueError(
                    f"{where}: is less than one instance of a fleet of {fleet}{of}; {rule}, and a step needs at "
                    "least one whole instance"
                )


def feature_rules(endpoint: InferenceEndpoint) -> None:
    """What serverless and asynchronous endpoints and Model Monitor exclude."""
    if endpoint.serverless is not None:
        # Serverless Inference feature exclusions: "... VPC configuration, network isolation, data
        # capture, multiple production variants, Model Monitor ..."; it scales itself.
        if endpoint.data_capture.enabled:
            raise ValueError("data_capture.enabled: data capture is not supported on serverless variants")
        if endpoint.model_monitor is not None:
            raise ValueError("model_monitor: Model Monitor is not supported on serverless variants")
        if endpoint.autoscaling is not None:
            raise ValueError("autoscaling: serverless variants scale themselves (max_concurrency)")
        if endpoint.async_inference is not None:
            raise ValueError("async_inference: asynchronous inference needs an instance-based variant")
        if endpoint.challengers or endpoint.shadow is not None:
            raise ValueError(
                "challengers / shadow: serverless endpoints support one production variant and no shadow "
                "(Serverless Inference feature exclusions)"
            )
    if endpoint.async_inference is not None and (endpoint.challengers or endpoint.shadow is not None):
        # SageMaker's feature matrix lists one production variant and no shadow testing for asynchronous
        # endpoints (developer guide, "Supported features", 2023 edition; unverified on the current page).
        raise ValueError(
            "challengers / shadow: asynchronous endpoints support one production variant and no shadow variant"
        )
    if endpoint.model_monitor is not None and not endpoint.data_capture.readable_by_model_monitor:
        raise ValueError(
            "model_monitor: Model Monitor's analyzer reads captured requests as CSV or flat JSON only; enable "
            "data_capture with capture_request and declare csv_content_types or json_content_types (without "
            "them SageMaker captures payloads base64-encoded)"
        )


def shape_rules(endpoint: InferenceEndpoint) -> None:
    """Rules of the model shapes (pipelines, multi-model containers), per variant."""
    for variant in endpoint.variants:
        where = f"variant {variant.name!r}: model ({variant.model.type})"
        model = variant.model
        if isinstance(model, (PipelineModel, MultiModel)):
            if variant.serverless is not None or endpoint.async_inference is not None:
                # Serverless excludes inference pipelines and multi-model endpoints; the feature matrix lists
                # neither for asynchronous inference (developer guide, Supported features, 2023 edition).
                raise ValueError(f"{where}: needs a real-time endpoint on instances (not serverless or async)")
            if endpoint.shadow is not None:
                # Shadow testing: real-time single-model endpoints only (Supported features, 2023 edition).
                raise ValueError(f"{where}: an endpoint with a shadow variant serves single-container models only")
        if isinstance(model, MultiModel):
            instance = variant.parsed_instance_type
            if instance is not None and instance.gpus > 1:
                # "Multi-model endpoints are currently supported for all CPU instances types and on single-GPU
                # instance types" (developer guide, Multi-model endpoints).
                raise ValueError(
                    f"{where}: {variant.instance_type} has {instance.gpus} GPUs; multi-model endpoints run on CPU "
                    "or single-GPU instance types"
                )
            if endpoint.model_monitor is not None:
                # "Model Monitor does not support monitoring multi-model endpoints" (developer guide).
                raise ValueError(f"{where}: Model Monitor does not support multi-model endpoints; remove it")
            if endpoint.deployment.type != "all_at_once":
                # The feature matrix lists no deployment guardrails for multi-model endpoints (Supported
                # features, 2023 edition; unverified on the current page): refuse traffic shifting in steps.
                raise ValueError(
                    f"{where}: multi-model endpoints support no canary, linear or rolling guardrails; use "
                    "deployment type all_at_once"
                )
