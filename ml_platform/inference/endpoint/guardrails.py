"""SageMaker deployment guardrails: the endpoint's DeploymentConfig and the rollback alarms it watches.

SageMaker only rolls a deployment back when an alarm named in ``AutoRollbackConfiguration`` goes to
ALARM during a bake period ("CloudWatch alarms are a prerequisite for using baking periods in
deployment guardrails", SageMaker developer guide, Auto-Rollback Configuration and Monitoring). This
construct therefore creates the alarms itself and references them by ``Ref`` so the names always
resolve to alarms in the same template. The policy and thresholds are the validated configuration types
(ml_platform/inference/config/), which check the service's ranges and rules.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_platform.inference.config.features import RollbackAlarms
from ml_platform.inference.config.policies import (
    CanaryPolicy,
    CapacitySize,
    DeploymentPolicy,
    LinearPolicy,
    RollingPolicy,
)
from ml_platform.inference.endpoint.metrics import VariantMetrics
from ml_platform.inference.endpoint.variants import camel_id
from ml_platform.shared.alarms import notifying_alarm


class DeploymentGuardrails(Construct):
    """Rollback alarms on the new fleet of one endpoint variant and the endpoint's ``DeploymentConfig`` that
    names them.

    The alarms watch the endpoint configuration being deployed (the ``EndpointConfigName`` dimension), not the
    endpoint as a whole: on both fleets, the old fleet dilutes a bad new model during a canary or linear step and
    an error rate the old fleet already has aborts every deployment ("Invocation errors coming from both the old
    fleet and new fleet contribute to the average error rate"; "CloudWatch publishes the metrics with the
    dimension EndpointConfigName:{New-Ep-Config} after the new fleet starts receiving traffic, and these metrics
    last even after the deployment is complete", SageMaker developer guide, Auto-Rollback Configuration and
    Monitoring). The guide's new-fleet example uses ModelLatency; that the invocation and error counts carry the
    dimension too is unverified (the metrics page lists EndpointName and VariantName only). Until the new fleet
    takes traffic there is no data, which the alarms treat as not breaching.

    The alarms also notify ``alarm_topic`` (a rollback is never silent).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        variant_names: Sequence[str],
        endpoint_config_name: str,
        policy: DeploymentPolicy,
        thresholds: RollbackAlarms,
        alarm_topic: sns.ITopic,
    ) -> None:
        """
        :param endpoint_name: the endpoint's (stable) name; alarm names are ``<endpoint_name>-rollback-*``.
        :param variant_names: the production variants the alarms watch, the control first: each gets the alarm set
            (the control's ids and names are those the guardrail always had; a challenger's carry its name).
        :param endpoint_config_name: the endpoint configuration being deployed (the new fleet), usually
            ``CfnEndpointConfig.attr_endpoint_config_name``.
        :param policy: blue/green (all at once, canary, linear) or rolling.
        :param thresholds: which rollback alarms exist and when they fire (``None`` thresholds: no such alarm).
        :param alarm_topic: notified when a rollback alarm changes to ALARM and back to OK.
        """
        super().__init__(scope, construct_id)
        self.policy = policy
        period = Duration.seconds(thresholds.period_seconds)
        what_to_do = (
            "SageMaker rolls back a running deployment when this alarm fires. If no deployment is running, the "
            "live configuration misbehaves: check the endpoint's CloudWatch logs and the last model change; see "
            "docs/inference.md#when-a-rollback-alarm-fires."
        )
        self.alarms: list[cloudwatch.Alarm] = []
        self._alarm_names: list[str] = []
        for index, variant_name in enumerate(variant_names):
            new_fleet = VariantMetrics(
                endpoint_name=endpoint_name, variant_name=variant_name, endpoint_config_name=endpoint_config_name
            )
            where = f"{endpoint_name}/{variant_name}"
            t = thresholds
            # (construct id, name suffix, threshold or None, metric, what it means); the order is the template's.
            candidates: list[tuple[str, str, float | None, cloudwatch.IMetric, str]] = [
                ("Error5xxRate", "5xx-rate", t.error_5xx_rate_percent,
                 new_fleet.error_rate("Invocation5XXErrors", period=period),
                 f"5XX errors above {t.error_5xx_rate_percent} % of the new fleet's invocations on {where}."),
                ("ModelLatencyP99", "p99-latency", t.p99_model_latency_ms and t.p99_model_latency_ms * 1000,  # µs
                 new_fleet.invocation_metric("ModelLatency", "p99", period=period),
                 f"p99 ModelLatency of the new fleet above {t.p99_model_latency_ms} ms on {where}."),
                ("Error4xxRate", "4xx-rate", t.error_4xx_rate_percent,
                 new_fleet.error_rate("Invocation4XXErrors", period=period),
                 f"4XX errors above {t.error_4xx_rate_percent} % of the new fleet's invocations on {where} (the new "
                 "model rejects requests the old one accepted)."),
            ]  # fmt: skip
            # The control's alarms keep the ids and names they had before challengers existed.
            id_suffix = "" if index == 0 else camel_id(variant_name)
            name_prefix = endpoint_name if index == 0 else f"{endpoint_name}-{variant_name}"
            for alarm_id, suffix, threshold, metric, meaning in candidates:
                if threshold is None:
                    continue
                self._alarm_names.append(f"{name_prefix}-rollback-{suffix}")
                self.alarms.append(
                    notifying_alarm(
                        self,
                        alarm_id + id_suffix,
                        alarm_name=self._alarm_names[-1],
                        runbook=f"Rollback guard: {meaning} {what_to_do}",
                        metric=metric,
                        threshold=threshold,
                        evaluation_periods=t.evaluation_periods,
                        comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                        # No traffic during a bake period is not evidence of a bad model.
                        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                        topic=alarm_topic,
                    )
                )

    @property
    def deployment_config(self) -> sagemaker.CfnEndpoint.DeploymentConfigProperty:
        """The endpoint's ``DeploymentConfig``: the update policy plus the rollback alarms (by Ref)."""
        rollback = (
            sagemaker.CfnEndpoint.AutoRollbackConfigProperty(
                alarms=[sagemaker.CfnEndpoint.AlarmProperty(alarm_name=alarm.alarm_name) for alarm in self.alarms]
            )
            if self.alarms
            else None
        )
        if isinstance(self.policy, RollingPolicy):
            return sagemaker.CfnEndpoint.DeploymentConfigProperty(
                rolling_update_policy=_rolling(self.policy), auto_rollback_configuration=rollback
            )
        return sagemaker.CfnEndpoint.DeploymentConfigProperty(
            blue_green_update_policy=_blue_green(self.policy), auto_rollback_configuration=rollback
        )

    @property
    def alarm_names(self) -> list[str]:
        """The rollback alarms' physical names (fixed, so a policy can name them without a reference)."""
        return list(self._alarm_names)


def _capacity(size: CapacitySize) -> sagemaker.CfnEndpoint.CapacitySizeProperty:
    if size.instances is not None:
        return sagemaker.CfnEndpoint.CapacitySizeProperty(type="INSTANCE_COUNT", value=size.instances)
    return sagemaker.CfnEndpoint.CapacitySizeProperty(type="CAPACITY_PERCENT", value=size.percent or 0)


def _blue_green(policy: DeploymentPolicy) -> sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty:
    """All at once, canary or linear traffic shifting to a new (green) fleet."""
    assert not isinstance(policy, RollingPolicy)
    routing = {"all_at_once": "ALL_AT_ONCE", "canary": "CANARY", "linear": "LINEAR"}[policy.type]
    return sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
        traffic_routing_configuration=sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
            type=routing,
            wait_interval_in_seconds=policy.wait_interval_seconds,
            canary_size=_capacity(policy.canary_size) if isinstance(policy, CanaryPolicy) else None,
            linear_step_size=_capacity(policy.linear_step_size) if isinstance(policy, LinearPolicy) else None,
        ),
        termination_wait_in_seconds=policy.termination_wait_seconds,
        maximum_execution_timeout_in_seconds=policy.maximum_execution_timeout_seconds,
    )


def _rolling(policy: RollingPolicy) -> sagemaker.CfnEndpoint.RollingUpdatePolicyProperty:
    """The fleet replaced in place, batch by batch, each baked before the next."""
    return sagemaker.CfnEndpoint.RollingUpdatePolicyProperty(
        maximum_batch_size=_capacity(policy.maximum_batch_size),
        wait_interval_in_seconds=policy.wait_interval_seconds,
        maximum_execution_timeout_in_seconds=policy.maximum_execution_timeout_seconds,
        rollback_maximum_batch_size=(
            _capacity(policy.rollback_maximum_batch_size) if policy.rollback_maximum_batch_size else None
        ),
    )
