"""Operational alarms of one endpoint variant, outside deployments (the rollback alarms are the guardrail's).

Built into the endpoint construct's scope (ids ``Error5xxRateAlarm``, ``ModelLatencyP99Alarm``, ...): a construct
level of its own would change the logical ids of deployed alarms. Utilization thresholds are percentages of the
whole instance (all vCPUs / all GPUs together); SageMaker reports the sum over cores.
"""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_platform.core.instances import InstanceType
from ml_platform.inference.config.features import OperationalAlarms
from ml_platform.inference.config.variants import ShadowAlarms
from ml_platform.inference.endpoint.metrics import FIVE_MINUTES, VariantMetrics
from ml_platform.shared.alarms import notifying_alarm

_NO_TRAFFIC_IS_FINE = cloudwatch.TreatMissingData.NOT_BREACHING


class EndpointAlarms:
    """Error rates, latencies, instance utilization and (optionally) a no-traffic alarm, each to the alarm topic.

    Exposes ``all`` (every alarm, in creation order) and ``critical`` (the 5XX-rate and p99 model-latency
    alarms: their ALARM state means the platform is unhealthy, so they feed the platform health alarm).
    """

    def __init__(
        self,
        scope: Construct,
        *,
        thresholds: OperationalAlarms,
        metrics: VariantMetrics,
        name_prefix: str,
        instance_type: InstanceType | None,
        zero_invocations_alarm: bool,
        topic: sns.ITopic,
        id_suffix: str = "",
    ) -> None:
        """
        :param scope: the endpoint construct.
        :param metrics: the variant's metrics (both fleets: the endpoint as its callers see it).
        :param name_prefix: alarm names are ``<name_prefix>-5xx-rate``, ...: the endpoint name for the control
            variant (the names it always had), ``<endpoint>-<variant>`` for a challenger.
        :param id_suffix: appended to every construct id. Default: none (the control variant's ids).
        :param instance_type: the variant's instances; None (serverless) leaves the utilization alarms out.
        :param zero_invocations_alarm: alarm when the endpoint gets no invocations for
            ``thresholds.zero_invocations_minutes``.
        """
        self._scope = scope
        self._topic = topic
        self._id_suffix = id_suffix
        self.all: list[cloudwatch.Alarm] = []
        name = name_prefix
        t = thresholds
        error_5xx = self._add(
            "Error5xxRateAlarm",
            f"{name}-5xx-rate",
            metrics.error_rate("Invocation5XXErrors"),
            t.error_5xx_rate_percent,
            f"{name}: more than {t.error_5xx_rate_percent} % of invocations failed with 5XX for 15 minutes. "
            "Check the endpoint log group for container errors and recent deployments; roll back the model "
            "version in config if the last change caused it.",
        )
        self._add(
            "Error4xxRateAlarm",
            f"{name}-4xx-rate",
            metrics.error_rate("Invocation4XXErrors"),
            t.error_4xx_rate_percent,
            f"{name}: more than {t.error_4xx_rate_percent} % of invocations rejected with 4XX for 15 minutes. "
            "Check which client sends malformed payloads (request schema change?) and the model's input contract.",
        )
        latency = self._add(
            "ModelLatencyP99Alarm",
            f"{name}-p99-model-latency",
            metrics.invocation_metric("ModelLatency", "p99"),
            t.p99_model_latency_ms * 1000,  # ModelLatency is in microseconds
            f"{name}: p99 ModelLatency above {t.p99_model_latency_ms} ms for 15 minutes. Check instance "
            "utilization alarms, scale out (autoscaling max) or profile the model container.",
        )
        self.critical: tuple[cloudwatch.Alarm, ...] = (error_5xx, latency)
        self._add(
            "OverheadLatencyP99Alarm",
            f"{name}-p99-overhead-latency",
            metrics.invocation_metric("OverheadLatency", "p99"),
            t.p99_overhead_latency_ms * 1000,  # microseconds
            f"{name}: p99 OverheadLatency (SageMaker's own share) above {t.p99_overhead_latency_ms} ms for 15 "
            "minutes. Large payloads or throttling are the usual causes; check the AWS Health Dashboard and "
            "open a support case if payloads are unchanged.",
        )
        if instance_type is not None:
            # Instance metrics stop when instances stop; missing data is covered by the invocation and
            # endpoint-state alarms, so it does not breach here.
            self._utilization(t, metrics, instance_type, name)
        if zero_invocations_alarm:
            periods = max(1, t.zero_invocations_minutes // 5)
            self._add(
                "NoInvocationsAlarm",
                f"{name}-no-invocations",
                metrics.invocation_metric("Invocations", "Sum"),
                1,
                f"{name}: no invocations for {periods * 5} minutes. SageMaker publishes no Invocations datapoint "
                "without traffic, so missing data counts as breaching. Check the callers, their network path "
                "and IAM permissions, and the endpoint status.",
                missing=cloudwatch.TreatMissingData.BREACHING,
                comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                periods=periods,
            )

    def _utilization(self, t: OperationalAlarms, metrics: VariantMetrics, instance: InstanceType, name: str) -> None:
        self._add(
            "CpuUtilizationAlarm",
            f"{name}-cpu-utilization",
            metrics.instance_metric("CPUUtilization"),
            t.cpu_utilization_percent * instance.vcpus,  # the sum over all vCPUs (0-100 % each)
            f"{name}: CPU above {t.cpu_utilization_percent} % of all {instance.vcpus} vCPUs of an instance for "
            "15 minutes. Raise autoscaling max or choose a larger instance type (see "
            "docs/inference.md#change-the-instance-type-of-an-autoscaled-endpoint).",
        )
        self._add(
            "MemoryUtilizationAlarm",
            f"{name}-memory-utilization",
            metrics.instance_metric("MemoryUtilization"),
            t.memory_utilization_percent,
            f"{name}: memory above {t.memory_utilization_percent} % on an instance for 15 minutes. Check the "
            "model's memory footprint and worker count; choose an instance type with more memory.",
        )
        self._add(
            "DiskUtilizationAlarm",
            f"{name}-disk-utilization",
            metrics.instance_metric("DiskUtilization"),
            t.disk_utilization_percent,
            f"{name}: disk above {t.disk_utilization_percent} % on an instance for 15 minutes. Check what "
            "the container writes under /tmp or /opt/ml and the size of the model artifact.",
        )
        if instance.gpus:
            self._add(
                "GpuUtilizationAlarm",
                f"{name}-gpu-utilization",
                metrics.instance_metric("GPUUtilization"),
                t.gpu_utilization_percent * instance.gpus,  # the sum over all GPUs (0-100 % each)
                f"{name}: GPU above {t.gpu_utilization_percent} % of all {instance.gpus} GPU(s) of an instance "
                "for 15 minutes. Raise autoscaling max or use a larger GPU instance.",
            )
            self._add(
                "GpuMemoryUtilizationAlarm",
                f"{name}-gpu-memory-utilization",
                metrics.instance_metric("GPUMemoryUtilization"),
                t.gpu_utilization_percent * instance.gpus,
                f"{name}: GPU memory above {t.gpu_utilization_percent} % of all {instance.gpus} GPU(s) for "
                "15 minutes. Reduce batch size or model precision, or use a GPU with more memory.",
            )

    def _add(
        self,
        construct_id: str,
        alarm_name: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        runbook: str,
        *,
        missing: cloudwatch.TreatMissingData = _NO_TRAFFIC_IS_FINE,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        periods: int = 3,
    ) -> cloudwatch.Alarm:
        alarm = notifying_alarm(
            self._scope,
            construct_id + self._id_suffix,
            alarm_name=alarm_name,
            runbook=runbook,
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            comparison=comparison,
            treat_missing_data=missing,
            topic=self._topic,
        )
        self.all.append(alarm)
        return alarm


def shadow_comparison_alarms(
    scope: Construct,
    *,
    thresholds: ShadowAlarms,
    control: VariantMetrics,
    shadow: VariantMetrics,
    topic: sns.ITopic,
) -> list[cloudwatch.Alarm]:
    """Two alarms that compare the shadow with the control variant over the same 5-minute periods: its 5XX rate is
    higher by more than ``error_rate_delta_percent`` points, or its p99 model latency by more than
    ``p99_latency_delta_ms``. Both see the same requests (the shadow gets copies of the control's), so a difference
    is the model's. They notify; they never roll anything back (the shadow serves no caller)."""
    name = control.endpoint_name
    five = FIVE_MINUTES
    error_delta = cloudwatch.MathExpression(
        expression="shadow - control",
        using_metrics={
            "shadow": shadow.error_rate("Invocation5XXErrors", period=five, id_suffix="_shadow"),
            "control": control.error_rate("Invocation5XXErrors", period=five, id_suffix="_control"),
        },
        label=f"5XX rate of {shadow.variant_name} minus {control.variant_name} (points)",
        period=five,
    )
    latency_delta = cloudwatch.MathExpression(
        expression="(shadow - control) / 1000",  # ModelLatency is in microseconds
        using_metrics={
            "shadow": shadow.invocation_metric("ModelLatency", "p99", period=five),
            "control": control.invocation_metric("ModelLatency", "p99", period=five),
        },
        label=f"p99 ModelLatency of {shadow.variant_name} minus {control.variant_name} (ms)",
        period=five,
    )
    promote = (
        "Do not promote the shadow yet: compare both variants on the dashboard's shadow row and the captured "
        "requests of both (docs/inference.md#run-a-shadow-test)."
    )
    return [
        notifying_alarm(
            scope,
            "ShadowErrorRateDeltaAlarm",
            alarm_name=f"{name}-shadow-5xx-rate-delta",
            runbook=f"{name}: the shadow variant {shadow.variant_name} fails more than "
            f"{thresholds.error_rate_delta_percent} points more often than {control.variant_name}. {promote}",
            metric=error_delta,
            threshold=thresholds.error_rate_delta_percent,
            evaluation_periods=thresholds.evaluation_periods,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=_NO_TRAFFIC_IS_FINE,
            topic=topic,
        ),
        notifying_alarm(
            scope,
            "ShadowLatencyDeltaAlarm",
            alarm_name=f"{name}-shadow-p99-latency-delta",
            runbook=f"{name}: the shadow variant {shadow.variant_name}'s p99 model latency exceeds "
            f"{control.variant_name}'s by more than {thresholds.p99_latency_delta_ms} ms. {promote}",
            metric=latency_delta,
            threshold=thresholds.p99_latency_delta_ms,
            evaluation_periods=thresholds.evaluation_periods,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=_NO_TRAFFIC_IS_FINE,
            topic=topic,
        ),
    ]
