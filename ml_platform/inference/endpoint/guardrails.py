"""SageMaker deployment guardrails: the endpoint's DeploymentConfig and the rollback alarms it watches.

SageMaker only rolls a deployment back when an alarm named in ``AutoRollbackConfiguration`` goes to
ALARM during a bake period ("CloudWatch alarms are a prerequisite for using baking periods in
deployment guardrails", SageMaker developer guide, Auto-Rollback Configuration and Monitoring). This
construct therefore creates the alarms itself and references them by ``Ref`` so the names always
resolve to alarms in the same template.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_platform.shared.alarms import notifying_alarm

# SageMaker publishes invocation metrics in this namespace with EndpointName and VariantName dimensions.
SAGEMAKER_NAMESPACE = "AWS/SageMaker"
# AutoRollbackConfig.Alarms: 1-10 alarms (CloudFormation AWS::SageMaker::Endpoint AutoRollbackConfig).
MAX_ROLLBACK_ALARMS = 10


@dataclass(frozen=True, kw_only=True)
class StepSize:
    """A traffic or batch step: exactly one of ``instances`` or ``percent`` (CapacitySize)."""

    instances: int | None = None
    percent: int | None = None

    def __post_init__(self) -> None:
        if (self.instances is None) == (self.percent is None):
            raise ValueError("StepSize: give exactly one of instances or percent")

    def to_cfn(self) -> sagemaker.CfnEndpoint.CapacitySizeProperty:
        if self.instances is not None:
            return sagemaker.CfnEndpoint.CapacitySizeProperty(type="INSTANCE_COUNT", value=self.instances)
        return sagemaker.CfnEndpoint.CapacitySizeProperty(type="CAPACITY_PERCENT", value=self.percent or 0)


@dataclass(frozen=True, kw_only=True)
class BlueGreenDeployment:
    """Blue/green update: a new (green) fleet, traffic shifted ALL_AT_ONCE, by CANARY or LINEAR steps.

    ``step_size`` is the canary (CANARY) or each step (LINEAR); none for ALL_AT_ONCE. The service's
    ranges (wait 0-3600 s, termination wait 0-3600 s, timeout 600-28800 s) are checked by the platform
    configuration before this construct sees them.
    """

    traffic_routing: Literal["ALL_AT_ONCE", "CANARY", "LINEAR"]
    wait_interval_seconds: int
    termination_wait_seconds: int
    maximum_execution_timeout_seconds: int
    step_size: StepSize | None = None

    def __post_init__(self) -> None:
        if (self.traffic_routing == "ALL_AT_ONCE") != (self.step_size is None):
            raise ValueError("BlueGreenDeployment: step_size is required for CANARY and LINEAR and not allowed else")

    @property
    def bakes(self) -> bool:
        return self.wait_interval_seconds > 0 or self.termination_wait_seconds > 0

    def to_cfn(self) -> sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty:
        return sagemaker.CfnEndpoint.BlueGreenUpdatePolicyProperty(
            traffic_routing_configuration=sagemaker.CfnEndpoint.TrafficRoutingConfigProperty(
                type=self.traffic_routing,
                wait_interval_in_seconds=self.wait_interval_seconds,
                canary_size=self.step_size.to_cfn() if self.traffic_routing == "CANARY" and self.step_size else None,
                linear_step_size=(
                    self.step_size.to_cfn() if self.traffic_routing == "LINEAR" and self.step_size else None
                ),
            ),
            termination_wait_in_seconds=self.termination_wait_seconds,
            maximum_execution_timeout_in_seconds=self.maximum_execution_timeout_seconds,
        )


@dataclass(frozen=True, kw_only=True)
class RollingDeployment:
    """Rolling update: the fleet is replaced in batches, each baked before the next.

    ``rollback_maximum_batch_size``: default none, which brings the whole old fleet back at once.
    """

    maximum_batch_size: StepSize
    wait_interval_seconds: int
    maximum_execution_timeout_seconds: int
    rollback_maximum_batch_size: StepSize | None = None

    @property
    def bakes(self) -> bool:
        return self.wait_interval_seconds > 0

    def to_cfn(self) -> sagemaker.CfnEndpoint.RollingUpdatePolicyProperty:
        return sagemaker.CfnEndpoint.RollingUpdatePolicyProperty(
            maximum_batch_size=self.maximum_batch_size.to_cfn(),
            wait_interval_in_seconds=self.wait_interval_seconds,
            maximum_execution_timeout_in_seconds=self.maximum_execution_timeout_seconds,
            rollback_maximum_batch_size=(
                self.rollback_maximum_batch_size.to_cfn() if self.rollback_maximum_batch_size else None
            ),
        )


DeploymentPolicy = BlueGreenDeployment | RollingDeployment


@dataclass(frozen=True, kw_only=True)
class RollbackAlarmThresholds:
    """When a deployment rolls back. ``None`` leaves that alarm out.

    ``error_5xx_rate_percent``: server errors per invocation; ``p99_model_latency_ms``: the container's
    p99 response time; ``error_4xx_rate_percent``: client errors (a new model rejecting old requests).
    Each alarm goes to ALARM after ``evaluation_periods`` breaching periods of ``period_seconds``.
    """

    error_5xx_rate_percent: float | None = 1.0
    p99_model_latency_ms: int | None = 1000
    error_4xx_rate_percent: float | None = None
    period_seconds: int = 60
    evaluation_periods: int = 3


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
        variant_name: str,
        endpoint_config_name: str,
        policy: DeploymentPolicy,
        thresholds: RollbackAlarmThresholds,
        alarm_topic: sns.ITopic,
    ) -> None:
        """
        :param endpoint_name: the endpoint's (stable) name; alarm names are ``<endpoint_name>-rollback-*``.
        :param variant_name: the production variant the alarms watch.
        :param endpoint_config_name: the endpoint configuration being deployed (the new fleet), usually
            ``CfnEndpointConfig.attr_endpoint_config_name``.
        :param policy: blue/green or rolling.
        :param thresholds: which rollback alarms exist and when they fire.
        :param alarm_topic: notified when a rollback alarm changes to ALARM and back to OK.
        """
        super().__init__(scope, construct_id)
        self.policy = policy
        dimensions = {
            "EndpointName": endpoint_name,
            "VariantName": variant_name,
            "EndpointConfigName": endpoint_config_name,
        }
        period = Duration.seconds(thresholds.period_seconds)
        self.alarms: list[cloudwatch.Alarm] = []
        self._alarm_names: list[str] = []
        what_to_do = (
            "SageMaker rolls back a running deployment when this alarm fires. If no deployment is running, the "
            "live configuration misbehaves: check the endpoint's CloudWatch logs and the last model change; see "
            "docs/inference.md#when-a-rollback-alarm-fires."
        )
        if thresholds.error_5xx_rate_percent is not None:
            self._add(
                "Error5xxRate",
                alarm_name=f"{endpoint_name}-rollback-5xx-rate",
                metric=error_rate(dimensions, "Invocation5XXErrors", period),
                threshold=thresholds.error_5xx_rate_percent,
                description=(
                    f"Rollback guard: 5XX errors above {thresholds.error_5xx_rate_percent} % of the new fleet's "
                    f"invocations on {endpoint_name}/{variant_name}. {what_to_do}"
                ),
                thresholds=thresholds,
                topic=alarm_topic,
            )
        if thresholds.p99_model_latency_ms is not None:
            self._add(
                "ModelLatencyP99",
                alarm_name=f"{endpoint_name}-rollback-p99-latency",
                metric=cloudwatch.Metric(
                    namespace=SAGEMAKER_NAMESPACE,
                    metric_name="ModelLatency",  # microseconds
                    dimensions_map=dimensions,
                    statistic="p99",
                    period=period,
                ),
                threshold=thresholds.p99_model_latency_ms * 1000,
                description=(
                    f"Rollback guard: p99 ModelLatency of the new fleet above {thresholds.p99_model_latency_ms} ms "
                    f"on {endpoint_name}/{variant_name}. {what_to_do}"
                ),
                thresholds=thresholds,
                topic=alarm_topic,
            )
        if thresholds.error_4xx_rate_percent is not None:
            self._add(
                "Error4xxRate",
                alarm_name=f"{endpoint_name}-rollback-4xx-rate",
                metric=error_rate(dimensions, "Invocation4XXErrors", period),
                threshold=thresholds.error_4xx_rate_percent,
                description=(
                    f"Rollback guard: 4XX errors above {thresholds.error_4xx_rate_percent} % of the new fleet's "
                    f"invocations on {endpoint_name}/{variant_name} (the new model rejects requests the old one "
                    "accepted). "
                    f"{what_to_do}"
                ),
                thresholds=thresholds,
                topic=alarm_topic,
            )
        if policy.bakes and not self.alarms:
            raise ValueError(
                f"{endpoint_name}: the deployment policy bakes but no rollback alarm is configured; "
                "auto-rollback needs at least one CloudWatch alarm"
            )
        if len(self.alarms) > MAX_ROLLBACK_ALARMS:
            raise ValueError(f"{endpoint_name}: at most {MAX_ROLLBACK_ALARMS} rollback alarms are allowed")

    def _add(
        self,
        construct_id: str,
        *,
        alarm_name: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        thresholds: RollbackAlarmThresholds,
        topic: sns.ITopic,
    ) -> None:
        self._alarm_names.append(alarm_name)
        alarm = notifying_alarm(
            self,
            construct_id,
            alarm_name=alarm_name,
            runbook=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=thresholds.evaluation_periods,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            # No traffic during a bake period is not evidence of a bad model.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            topic=topic,
        )
        self.alarms.append(alarm)

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
        if isinstance(self.policy, RollingDeployment):
            return sagemaker.CfnEndpoint.DeploymentConfigProperty(
                rolling_update_policy=self.policy.to_cfn(), auto_rollback_configuration=rollback
            )
        return sagemaker.CfnEndpoint.DeploymentConfigProperty(
            blue_green_update_policy=self.policy.to_cfn(), auto_rollback_configuration=rollback
        )

    @property
    def alarm_names(self) -> list[str]:
        """The rollback alarms' physical names (fixed, so a policy can name them without a reference)."""
        return list(self._alarm_names)


def error_rate(dimensions: dict[str, str], error_metric: str, period: Duration) -> cloudwatch.MathExpression:
    """Errors as a percentage of invocations; 0 when there were no invocations."""
    return cloudwatch.MathExpression(
        expression="IF(invocations > 0, 100 * errors / invocations, 0)",
        using_metrics={
            "errors": cloudwatch.Metric(
                namespace=SAGEMAKER_NAMESPACE,
                metric_name=error_metric,
                dimensions_map=dimensions,
                statistic="Sum",
                period=period,
            ),
            "invocations": cloudwatch.Metric(
                namespace=SAGEMAKER_NAMESPACE,
                metric_name="Invocations",
                dimensions_map=dimensions,
                statistic="Sum",
                period=period,
            ),
        },
        label=f"{error_metric} rate (%)",
        period=period,
    )
