"""Target tracking on a variant's instance count (Application Auto Scaling).

Built into the endpoint construct's scope (ids ``ScalableTarget``, ``TargetTracking``): a construct level of its
own would change the logical ids of deployed scaling resources. The endpoint keeps its scaled fleet across updates
(``RetainAllVariantProperties``, set by the endpoint construct).
"""

from __future__ import annotations

from aws_cdk import aws_applicationautoscaling as appscaling
from constructs import Construct

from ml_platform.inference.config.features import Autoscaling
from ml_platform.inference.endpoint.metrics import SAGEMAKER_NAMESPACE

# Application Auto Scaling's dimension for a variant's instance count.
VARIANT_SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


class VariantAutoscaling:
    """Real-time variants track SageMakerVariantInvocationsPerInstance (per minute); asynchronous variants track
    ApproximateBacklogSizePerInstance, which also lets them scale to zero. Exposes ``scalable_target`` and
    ``scaling_policy``."""

    def __init__(
        self,
        scope: Construct,
        *,
        config: Autoscaling,
        endpoint_name: str,
        endpoint_name_attribute: str,
        variant_name: str,
        asynchronous: bool,
        id_suffix: str = "",
    ) -> None:
        """
        :param scope: the endpoint construct.
        :param endpoint_name: the endpoint's name (the backlog metric's dimension and the policy name).
        :param endpoint_name_attribute: the endpoint resource's name attribute, so the target depends on the
            endpoint (``CfnEndpoint.attr_endpoint_name``).
        :param asynchronous: scale on the backlog of an asynchronous endpoint instead of invocations.
        :param id_suffix: appended to the construct ids and the policy name (``-<variant>``). Default: none (the
            control variant's ids and name, ``<endpoint>-target-tracking``).
        """
        self.scalable_target = appscaling.CfnScalableTarget(
            scope,
            f"ScalableTarget{id_suffix}",
            service_namespace="sagemaker",
            scalable_dimension=VARIANT_SCALABLE_DIMENSION,
            resource_id=f"endpoint/{endpoint_name_attribute}/variant/{variant_name}",
            min_capacity=config.min_instances,
            max_capacity=config.max_instances,
            # No RoleARN: Application Auto Scaling uses its service-linked role for SageMaker.
        )
        if asynchronous:
            tracking = appscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=config.target_backlog_per_instance or 0,
                customized_metric_specification=appscaling.CfnScalingPolicy.CustomizedMetricSpecificationProperty(
                    metric_name="ApproximateBacklogSizePerInstance",
                    namespace=SAGEMAKER_NAMESPACE,
                    dimensions=[
                        appscaling.CfnScalingPolicy.MetricDimensionProperty(name="EndpointName", value=endpoint_name)
                    ],
                    statistic="Average",
                ),
                scale_in_cooldown=config.scale_in_cooldown_seconds,
                scale_out_cooldown=config.scale_out_cooldown_seconds,
            )
        else:
            tracking = appscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=config.target_invocations_per_instance or 0,
                predefined_metric_specification=appscaling.CfnScalingPolicy.PredefinedMetricSpecificationProperty(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                ),
                scale_in_cooldown=config.scale_in_cooldown_seconds,
                scale_out_cooldown=config.scale_out_cooldown_seconds,
            )
        self.scaling_policy = appscaling.CfnScalingPolicy(
            scope,
            f"TargetTracking{id_suffix}",
            policy_name=f"{endpoint_name}{'-' + variant_name if id_suffix else ''}-target-tracking",
            policy_type="TargetTrackingScaling",
            scaling_target_id=self.scalable_target.ref,
            target_tracking_scaling_policy_configuration=tracking,
        )
