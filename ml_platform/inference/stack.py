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

from ml_platform.core.instances import InstanceType
from ml_platform.inference.config import DEFAULT_STACK_GROUP, InferenceEndpoint
from ml_platform.inference.config.endpoint import ServingVariant
from ml_platform.inference.endpoint import AsyncNotifications, SageMakerEndpoint
from ml_platform.shared.alarms import notifying_alarm
from ml_platform.shared.compliance import acknowledge_finding
from ml_platform.shared.dashboard import DashboardSection, graph
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
                config=endpoint,
                endpoint_name=name,
                models_bucket=models_bucket,
                models_bucket_key=lake_key,
                capture_bucket=capture_bucket,
                capture_bucket_key=lake_key,
                vpc=vpc,
                subnets=subnets,
                security_group=security_group,
                ml_key=ml_key,
                logs_key=logs_key,
                alarm_topic=alarm_topic,
                log_retention_days=config.resolved_log_retention_days,
                log_removal_policy=self.stateful_removal_policy,
                region=config.region,
                zero_invocations_alarm=endpoint.zero_invocations_alarm(config.stage),
                async_notifications=self._async_notifications(endpoint, name, ml_key, alarm_topic, alarms_key),
                event_dead_letter_queue=self.event_dead_letter_queue,
                registry=config.inference.registry,
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
        acknowledge_finding(
            queue,
            "SQSQueueDLQ",
            "SQSRedrivePolicy",
            reason="This queue is itself the dead-letter queue of the endpoint event rules (their targets' "
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

    def _async_notifications(
        self, endpoint: InferenceEndpoint, name: str, ml_key: kms.IKey, alarm_topic: sns.ITopic, alarms_key: kms.IKey
    ) -> AsyncNotifications | None:
        """The topics of an asynchronous endpoint: a per-endpoint success topic (encrypted with the ML key) when
        ``notify_success``, the alarm topic for failures when ``notify_errors``."""
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
        return AsyncNotifications(
            success_topic=success_topic, error_topic=alarm_topic if options.notify_errors else None, topic_keys=keys
        )

    @property
    def _group_suffix(self) -> str:
        """``""`` for the default group (names as before stack groups existed), ``-<group>`` otherwise."""
        return "" if self.stack_group == DEFAULT_STACK_GROUP else f"-{self.stack_group}"

    # ------------------------------------------------------------------ monitoring contributions
    @property
    def critical_alarms(self) -> list[cloudwatch.IAlarm]:
        """Each endpoint's critical alarms (5XX rate, p99 model latency): they feed the platform health alarm."""
        return [alarm for endpoint in self.endpoints.values() for alarm in endpoint.critical_alarms]

    def dashboard_section(self) -> DashboardSection:
        """Per endpoint and variant: invocations, 4XX/5XX, model and overhead latency p50/p99, utilization; for an
        endpoint with challengers or a shadow, a comparison row (traffic, 5XX rate and p99 latency per variant)."""
        rows: list[list[cloudwatch.IWidget]] = []
        for config in self.group_endpoints:
            endpoint = self.endpoints[config.name]
            for variant in config.variants:
                rows.append(_variant_row(endpoint, variant))
            if len(config.variants) > 1:
                rows.append(_comparison_row(endpoint, config))
        title = "Inference" if self.stack_group == DEFAULT_STACK_GROUP else f"Inference ({self.stack_group})"
        return DashboardSection(title=title, rows=rows)


def _variant_row(endpoint: SageMakerEndpoint, variant: ServingVariant) -> list[cloudwatch.IWidget]:
    def invocations(name: str, statistic: str) -> cloudwatch.Metric:
        return endpoint.metric(name, statistic, variant=variant.name, label=f"{name} {statistic}")

    def instance(name: str, statistic: str = "Maximum", label: str | None = None) -> cloudwatch.Metric:
        return endpoint.metric_instance(name, statistic, variant=variant.name, label=label or f"{name} {statistic}")

    utilization = [instance("CPUUtilization"), instance("MemoryUtilization")]
    if variant.instance_type and InstanceType.parse(variant.instance_type).has_gpus:
        utilization.append(instance("GPUUtilization"))
    title = f"{endpoint.endpoint_name} / {variant.name}" + (" (shadow)" if variant.kind == "shadow" else "")
    return [
        graph(
            f"{title}: invocations and errors",
            [endpoint.metric_invocations(variant=variant.name)],
            right=[invocations("Invocation4XXErrors", "Sum"), invocations("Invocation5XXErrors", "Sum")],
            width=6,
        ),
        graph(
            f"{title}: latency (µs)",
            [
                invocations("ModelLatency", "p50"),
                invocations("ModelLatency", "p99"),
                invocations("OverheadLatency", "p50"),
                invocations("OverheadLatency", "p99"),
            ],
            width=6,
        ),
        graph(f"{title}: utilization (%)", utilization, width=6),
        cloudwatch.SingleValueWidget(
            title=f"{title}: instances in service",
            metrics=[instance("CPUUtilization", "SampleCount", label="instances reporting (per minute)")],
            width=6,
            height=6,
        ),
    ]


def _comparison_row(endpoint: SageMakerEndpoint, config: InferenceEndpoint) -> list[cloudwatch.IWidget]:
    """The variants side by side: what an A/B or shadow test is read from."""
    names = [variant.name for variant in config.variants]
    title = f"{endpoint.endpoint_name}: variants compared"
    return [
        graph(
            f"{title}, invocations",
            [endpoint.metric("Invocations", "Sum", variant=name, label=name) for name in names],
        ),
        graph(
            f"{title}, 5XX rate (%)",
            [
                endpoint.metric_error_rate("Invocation5XXErrors", variant=name, id_suffix=str(index), label=name)
                for index, name in enumerate(names)
            ],
        ),
        graph(
            f"{title}, p99 model latency (µs)",
            [endpoint.metric("ModelLatency", "p99", variant=name, label=name) for name in names],
        ),
    ]


def _construct_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))
