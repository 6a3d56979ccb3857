"""The CloudWatch metrics of one production variant, for alarms, rollback alarms and dashboards.

SageMaker publishes invocation metrics (``AWS/SageMaker``) and instance metrics (``/aws/sagemaker/Endpoints``)
with the ``EndpointName`` and ``VariantName`` dimensions; during and after a guarded deployment the metrics of the
new fleet also carry ``EndpointConfigName`` (SageMaker developer guide, "Auto-Rollback Configuration and
Monitoring"). :class:`VariantMetrics` with ``endpoint_config_name`` set selects that fleet only.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

# Invocation metrics: Invocations, Invocation4XXErrors, Invocation5XXErrors, ModelLatency, OverheadLatency (µs).
SAGEMAKER_NAMESPACE = "AWS/SageMaker"
# Endpoint instance metrics: CPU, memory, disk, GPU utilization (percent per core/GPU, summed over the instance).
ENDPOINT_INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"
FIVE_MINUTES = Duration.minutes(5)


@dataclass(frozen=True, kw_only=True)
class VariantMetrics:
    """Metrics of ``variant_name`` of ``endpoint_name``; with ``endpoint_config_name``, of that configuration's
    fleet only (the new fleet of a deployment). Default: the variant as a whole, both fleets."""

    endpoint_name: str
    variant_name: str
    endpoint_config_name: str | None = None

    @property
    def dimensions(self) -> dict[str, str]:
        dimensions = {"EndpointName": self.endpoint_name, "VariantName": self.variant_name}
        if self.endpoint_config_name is not None:
            dimensions["EndpointConfigName"] = self.endpoint_config_name
        return dimensions

    def invocation_metric(
        self, metric_name: str, statistic: str, *, period: Duration = FIVE_MINUTES, label: str | None = None
    ) -> cloudwatch.Metric:
        """An ``AWS/SageMaker`` metric (latencies are in microseconds)."""
        return self._metric(SAGEMAKER_NAMESPACE, metric_name, statistic, period, label)

    def instance_metric(
        self,
        metric_name: str,
        statistic: str = "Maximum",
        *,
        period: Duration = FIVE_MINUTES,
        label: str | None = None,
    ) -> cloudwatch.Metric:
        """An instance metric (``/aws/sagemaker/Endpoints``). Default statistic: the busiest instance."""
        return self._metric(ENDPOINT_INSTANCE_NAMESPACE, metric_name, statistic, period, label)

    def error_rate(
        self,
        error_metric: str,
        *,
        period: Duration = FIVE_MINUTES,
        id_suffix: str = "",
        label: str | None = None,
    ) -> cloudwatch.MathExpression:
        """``error_metric`` (Invocation4XXErrors or Invocation5XXErrors) as a percentage of invocations; 0 when
        there were no invocations.

        :param id_suffix: appended to the expression's metric ids (``errors``, ``invocations``), which must be
            unique within one alarm or graph that shows several rates. Default: none.
        :param label: Default: ``<error_metric> rate (%)``.
        """
        errors, invocations = f"errors{id_suffix}", f"invocations{id_suffix}"
        return cloudwatch.MathExpression(
            expression=f"IF({invocations} > 0, 100 * {errors} / {invocations}, 0)",
            using_metrics={
                errors: self.invocation_metric(error_metric, "Sum", period=period),
                invocations: self.invocation_metric("Invocations", "Sum", period=period),
            },
            label=label or f"{error_metric} rate (%)",
            period=period,
        )

    def _metric(
        self, namespace: str, metric_name: str, statistic: str, period: Duration, label: str | None
    ) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=namespace,
            metric_name=metric_name,
            dimensions_map=self.dimensions,
            statistic=statistic,
            period=period,
            label=label,
        )
