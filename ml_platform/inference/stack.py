"""Inference: the environment's SageMaker endpoints, each updated only through its deployment guardrail."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ml_platform.core.images import model_monitor_image_uri
from ml_platform.core.instances import InstanceType
from ml_platform.inference.config import (
    DEFAULT_STACK_GROUP,
    AllAtOncePolicy,
    CanaryPolicy,
    CapacitySize,
    InferenceEndpoint,
    LinearPolicy,
    RollingPolicy,
)
from ml_platform.inference.endpoint.construct import (
    ENDPOINT_INSTANCE_NAMESPACE,
    SAGEMAKER_NAMESPACE,
    AsyncInferenceOptions,
    AutoscalingOptions,
    DataCaptureOptions,
    DataQualityMonitorOptions,
    OperationalAlarmThresholds,
    SageMakerEndpoint,
    ServerlessOptions,
)
from ml_platform.inference.endpoint.guardrails import (
    BlueGreenDeployment,
    DeploymentPolicy,
    RollbackAlarmThresholds,
    RollingDeployment,
    StepSize,
)
from ml_platform.monitoring.constructs import DashboardSection, graph
from ml_platform.shared.alarms import notifying_alarm
from ml_platform.shared.compliance import acknowledge
from ml_platform.shared.dead_letter_queue import DEAD_LETTER_QUEUE_REDRIVE
from ml_platform.shared.stack import PlatformStack


class InferenceStack(PlatformStack):
    """Stateless apart from the endpoints' log groups: one :class:`SageMakerEndpoint` per configured endpoint of
    one stack group (``stack_group`` in the endpoint config; see ``MAX_ENDPOINTS_PER_STACK_GROUP``).

    Exposes ``endpoints`` (endpoint config name → construct) and ``stack_group``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        models_bucket: s3.IBucket,
        capture_bucket: s3.IBucket,
        lake_key: kms.IKey,
        ml_key: kms.IKey,
        logs_key: kms.IKey,
        alarm_topic: sns.ITopic,
        alarms_key: kms.IKey,
        stack_group: str = DEFAULT_STACK_GROUP,
        **kwargs: Any,
    ) -> None:
        """
        :param vpc: the environment's VPC (NetworkStack.vpc).
        :param subnets: where models run (NetworkStack.isolated_subnets).
        :param security_group: the models' security group (NetworkStack.workload_security_group).
        :param models_bucket: model artifacts and monitoring baselines (DataLakeStack.models_bucket).
        :param capture_bucket: data capture, asynchronous results, monitoring reports (DataLakeStack.capture_bucket).
        :param lake_key: the key both lake buckets encrypt with (DataLakeStack.lake_key).
        :param ml_key: ML storage volumes (SecurityStack.ml_key).
        :param logs_key: the endpoints' log groups (SecurityStack.logs_key).
        :param alarm_topic: alarms and endpoint events (SecurityStack.alarm_topic).
        :param alarms_key: the alarm topic's key; also encrypts the events dead-letter queue, since its policy
            already lets EventBridge use data keys (SecurityStack.alarms_key).
        :param stack_group: the endpoints of which stack group this stack holds. Default: the default group
            (the ``Inference`` stack); names of other groups appear in the stack description and in the name of
            the stack's dead-letter-queue alarm.
        """
        description = "SageMaker endpoints with blue/green deployment guardrails"
        if stack_group != DEFAULT_STACK_GROUP:
            description += f" (stack group {stack_group})"
        super().__init__(scope, construct_id, description=description, **kwargs)
        config = self.config
        self.stack_group = stack_group
        self.group_endpoints = config.inference.endpoints_in(stack_group)
        if not self.group_endpoints:
            raise ValueError(f"stack group {stack_group!r}: no endpoint of this environment is in it")
        self.event_dead_letter_queue = self._dead_letter_queue(alarms_key, alarm_topic)
        self.endpoints: dict[str, SageMakerEndpoint] = {}
        for endpoint in self.group_endpoints:
            construct_id_ = _construct_id(endpoint.name)
            name = f"{self.name_prefix}-{endpoint.name}"
            self.endpoints[endpoint.name] = SageMakerEndpoint(
                self,
                construct_id_,
                endpoint_name=name,
                variant_name=endpoint.variant_name,
                image_uri=endpoint.image_uri,
                models_bucket=models_bucket,
                models_bucket_key=lake_key,
                capture_bucket_key=lake_key,
                model_data_key=endpoint.model_data_key,
                external_model_data_url=endpoint.external_model_data_url,
                instance_type=endpoint.instance_type,
                initial_instance_count=endpoint.initial_instance_count,
                environment=endpoint.environment,
                deployment=_policy(endpoint),
                rollback_alarms=_rollback_thresholds(endpoint),
                vpc=vpc,
                subnets=subnets,
                security_group=security_group,
                capture_bucket=capture_bucket,
                capture_key=ml_key,
                ml_key=ml_key,
                logs_key=logs_key,
                alarm_topic=alarm_topic,
                log_retention_days=config.resolved_log_retention_days,
                log_removal_policy=self.stateful_removal_policy,
                serverless=_serverless(endpoint),
                async_inference=self._async(endpoint, name, ml_key, alarm_topic, alarms_key),
                autoscaling=_autoscaling(endpoint),
                data_capture=_data_capture(endpoint),
                operational_alarms=_operational(endpoint, config.stage),
                data_quality_monitor=_monitor(endpoint, config.region),
                event_dead_letter_queue=self.event_dead_letter_queue,
            )
            CfnOutput(
                self,
                f"{construct_id_}EndpointName",
                value=self.endpoints[endpoint.name].endpoint.attr_endpoint_name,
                description=f"Endpoint {endpoint.name}: its stable name",
            )
            CfnOutput(
                self,
                f"{construct_id_}EndpointConfigName",
                value=self.endpoints[endpoint.name].endpoint_config.attr_endpoint_config_name,
                description=(
                    f"Endpoint {endpoint.name}: the configuration this stack deployed; compare with "
                    "DescribeEndpoint's EndpointConfigName to confirm it is live"
                ),
            )

    def _dead_letter_queue(self, key: kms.IKey, topic: sns.ITopic) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            "UndeliveredEndpointEvents",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            redrive_allow_policy=DEAD_LETTER_QUEUE_REDRIVE,
        )
        for rule in ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"):
            acknowledge(
                queue,
                rule,
                "This queue is itself the dead-letter queue of the endpoint event rules (their targets' "
                "DeadLetterConfig points here); cdk-nag only recognises SQS-to-SQS redrive, and a DLQ of a DLQ "
                "has nowhere further to send messages.",
            )
        notifying_alarm(
            self,
            "UndeliveredEndpointEventsAlarm",
            metric=queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(5), statistic="Maximum"),
            threshold=0,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            # An empty queue publishes zeros; no data means the queue metrics are not flowing yet: not a problem.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            runbook=(
                "SageMaker endpoint events (deployments, rollbacks, failures) could not be delivered to the alarm "
                "topic and wait in this queue for 14 days. Read them (they may report a rollback nobody saw), "
                "then check the alarm topic's policy and key."
            ),
            topic=topic,
            alarm_name=f"{self.name_prefix}{self._group_suffix}-undelivered-endpoint-events",
        )
        return queue

    def _async(
        self, endpoint: InferenceEndpoint, name: str, ml_key: kms.IKey, alarm_topic: sns.ITopic, alarms_key: kms.IKey
    ) -> AsyncInferenceOptions | None:
        options = endpoint.async_inference
        if options is None:
            return None
        success_topic = None
        keys: list[kms.IKey] = []
        if options.notify_success:
            success_topic = sns.Topic(
                self,
                f"{_construct_id(endpoint.name)}AsyncSuccess",
                topic_name=f"{name}-async-success",
                display_name=f"{name}: asynchronous inference results",
                master_key=ml_key,
                enforce_ssl=True,
            )
            keys.append(ml_key)
        if options.notify_errors:
            keys.append(alarms_key)
        return AsyncInferenceOptions(
            input_prefix=options.input_prefix,
            output_prefix=options.output_prefix,
            failure_prefix=options.failure_prefix,
            max_concurrent_invocations_per_instance=options.max_concurrent_invocations_per_instance,
            success_topic=success_topic,
            error_topic=alarm_topic if options.notify_errors else None,
            topic_keys=keys,
        )

    @property
    def _group_suffix(self) -> str:
        """``""`` for the default group (names as before stack groups existed), ``-<group>`` otherwise."""
        return "" if self.stack_group == DEFAULT_STACK_GROUP else f"-{self.stack_group}"

    # ------------------------------------------------------------------ monitoring contributions
    @property
    def critical_alarms(self) -> list[cloudwatch.IAlarm]:
        """Each endpoint's 5XX-rate and p99 model-latency alarms: they feed the platform health alarm."""
        return [
            alarm
            for endpoint in self.endpoints.values()
            for alarm in endpoint.operational_alarms
            if alarm.node.id in CRITICAL_ENDPOINT_ALARMS
        ]

    def dashboard_section(self) -> DashboardSection:
        """Per endpoint and variant: invocations, 4XX/5XX, model and overhead latency p50/p99, utilization."""
        period = Duration.minutes(5)
        rows = []
        for config in self.group_endpoints:
            endpoint = self.endpoints[config.name]
            dimensions = {"EndpointName": endpoint.endpoint_name, "VariantName": endpoint.variant_name}

            def metric(
                name: str,
                statistic: str,
                namespace: str = SAGEMAKER_NAMESPACE,
                label: str | None = None,
                dims: dict[str, str] = dimensions,
            ) -> cloudwatch.Metric:
                return cloudwatch.Metric(
                    namespace=namespace,
                    metric_name=name,
                    statistic=statistic,
                    period=period,
                    dimensions_map=dims,
                    label=label or f"{name} {statistic}",
                )

            utilization = [
                metric(m, "Maximum", ENDPOINT_INSTANCE_NAMESPACE) for m in ("CPUUtilization", "MemoryUtilization")
            ]
            if config.instance_type and InstanceType.parse(config.instance_type).has_gpus:
                utilization.append(metric("GPUUtilization", "Maximum", ENDPOINT_INSTANCE_NAMESPACE))
            title = f"{endpoint.endpoint_name} / {endpoint.variant_name}"
            rows.append(
                [
                    graph(
                        f"{title}: invocations and errors",
                        [metric("Invocations", "Sum")],
                        right=[metric("Invocation4XXErrors", "Sum"), metric("Invocation5XXErrors", "Sum")],
                        width=6,
                    ),
                    graph(
                        f"{title}: latency (µs)",
                        [
                            metric("ModelLatency", "p50"),
                            metric("ModelLatency", "p99"),
                            metric("OverheadLatency", "p50"),
                            metric("OverheadLatency", "p99"),
                        ],
                        width=6,
                    ),
                    graph(f"{title}: utilization (%)", utilization, width=6),
                    cloudwatch.SingleValueWidget(
                        title=f"{title}: instances in service",
                        metrics=[
                            metric(
                                "CPUUtilization",
                                "SampleCount",
                                ENDPOINT_INSTANCE_NAMESPACE,
                                label="instances reporting (per minute)",
                            )
                        ],
                        width=6,
                        height=6,
                    ),
                ]
            )
        title = "Inference" if self.stack_group == DEFAULT_STACK_GROUP else f"Inference ({self.stack_group})"
        return DashboardSection(title=title, rows=rows)


def _construct_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def _step(size: CapacitySize) -> StepSize:
    return StepSize(instances=size.instances, percent=size.percent)


def _policy(endpoint: InferenceEndpoint) -> DeploymentPolicy:
    policy = endpoint.deployment
    if isinstance(policy, RollingPolicy):
        return RollingDeployment(
            maximum_batch_size=_step(policy.maximum_batch_size),
            rollback_maximum_batch_size=(
                _step(policy.rollback_maximum_batch_size) if policy.rollback_maximum_batch_size else None
            ),
            wait_interval_seconds=policy.wait_interval_seconds,
            maximum_execution_timeout_seconds=policy.maximum_execution_timeout_seconds,
        )
    step: StepSize | None = None
    routing: Any = "ALL_AT_ONCE"
    if isinstance(policy, CanaryPolicy):
        routing, step = "CANARY", _step(policy.canary_size)
    elif isinstance(policy, LinearPolicy):
        routing, step = "LINEAR", _step(policy.linear_step_size)
    assert isinstance(policy, (AllAtOncePolicy, CanaryPolicy, LinearPolicy))
    return BlueGreenDeployment(
        traffic_routing=routing,
        step_size=step,
        wait_interval_seconds=policy.wait_interval_seconds,
        termination_wait_seconds=policy.termination_wait_seconds,
        maximum_execution_timeout_seconds=policy.maximum_execution_timeout_seconds,
    )


def _rollback_thresholds(endpoint: InferenceEndpoint) -> RollbackAlarmThresholds:
    alarms = endpoint.rollback_alarms
    return RollbackAlarmThresholds(
        error_5xx_rate_percent=alarms.error_5xx_rate_percent,
        p99_model_latency_ms=alarms.p99_model_latency_ms,
        error_4xx_rate_percent=alarms.error_4xx_rate_percent,
        period_seconds=alarms.period_seconds,
        evaluation_periods=alarms.evaluation_periods,
    )


def _serverless(endpoint: InferenceEndpoint) -> ServerlessOptions | None:
    if endpoint.serverless is None:
        return None
    return ServerlessOptions(
        memory_mib=endpoint.serverless.memory_mib,
        max_concurrency=endpoint.serverless.max_concurrency,
        provisioned_concurrency=endpoint.serverless.provisioned_concurrency,
    )


def _autoscaling(endpoint: InferenceEndpoint) -> AutoscalingOptions | None:
    scaling = endpoint.autoscaling
    if scaling is None:
        return None
    return AutoscalingOptions(
        min_instances=scaling.min_instances,
        max_instances=scaling.max_instances,
        target_invocations_per_instance=scaling.target_invocations_per_instance,
        target_backlog_per_instance=scaling.target_backlog_per_instance,
        scale_in_cooldown_seconds=scaling.scale_in_cooldown_seconds,
        scale_out_cooldown_seconds=scaling.scale_out_cooldown_seconds,
    )


def _data_capture(endpoint: InferenceEndpoint) -> DataCaptureOptions | None:
    capture = endpoint.data_capture
    if not capture.enabled:
        return None
    return DataCaptureOptions(
        sampling_percent=capture.sampling_percent,
        capture_request=capture.capture_request,
        capture_response=capture.capture_response,
        csv_content_types=capture.csv_content_types,
        json_content_types=capture.json_content_types,
    )


def _operational(endpoint: InferenceEndpoint, stage: str) -> OperationalAlarmThresholds:
    alarms = endpoint.operational_alarms
    return OperationalAlarmThresholds(
        error_5xx_rate_percent=alarms.error_5xx_rate_percent,
        error_4xx_rate_percent=alarms.error_4xx_rate_percent,
        p99_model_latency_ms=alarms.p99_model_latency_ms,
        p99_overhead_latency_ms=alarms.p99_overhead_latency_ms,
        cpu_utilization_percent=alarms.cpu_utilization_percent,
        memory_utilization_percent=alarms.memory_utilization_percent,
        disk_utilization_percent=alarms.disk_utilization_percent,
        gpu_utilization_percent=alarms.gpu_utilization_percent,
        zero_invocations_minutes=alarms.zero_invocations_minutes if endpoint.zero_invocations_alarm(stage) else None,
    )


def _monitor(endpoint: InferenceEndpoint, region: str) -> DataQualityMonitorOptions | None:
    monitor = endpoint.model_monitor
    if monitor is None:
        return None
    return DataQualityMonitorOptions(
        baseline_statistics_key=monitor.baseline_statistics_key,
        baseline_constraints_key=monitor.baseline_constraints_key,
        image_uri=model_monitor_image_uri(region),
        instance_type=monitor.instance_type,
        volume_size_gb=monitor.volume_size_gb,
        max_runtime_seconds=monitor.max_runtime_seconds,
    )


# The endpoint alarms whose ALARM state means the platform is unhealthy (construct ids in SageMakerEndpoint).
CRITICAL_ENDPOINT_ALARMS = frozenset({"Error5xxRateAlarm", "ModelLatencyP99Alarm"})
