"""A SageMaker endpoint that updates only through deployment guardrails.

Model → endpoint configuration → endpoint, plus everything that makes an update safe and visible:
generated model and endpoint-configuration names (any change creates a new configuration, so
CloudFormation updates the endpoint through the guardrail), rollback alarms the construct creates
itself, autoscaling that an update does not reset, operational alarms and deployment events to the
alarm topic, data capture and an optional data-quality monitor.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ml_platform.core.instances import InstanceType
from ml_platform.inference.endpoint.guardrails import (
    SAGEMAKER_NAMESPACE,
    DeploymentGuardrails,
    DeploymentPolicy,
    RollbackAlarmThresholds,
    error_rate,
)
from ml_platform.shared.alarm_topic import AlarmTopicTarget
from ml_platform.shared.alarms import notifying_alarm
from ml_platform.shared.compliance import acknowledge, acknowledge_resource_wildcards
from ml_platform.shared.lake_access import kms_statement, object_read_statements, object_write_statements
from ml_platform.shared.log_retention import retention

# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>[:tag|@digest]
_ECR_IMAGE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(?P<repository>[^:@]+)"
    r"(?:[:@].+)?$"
)
# Endpoint instance metrics (CPU, memory, disk, GPU) are published in this namespace.
# What a SageMaker model or processing job in a private VPC needs (SageMaker developer guide, CreateModel API:
# Execution Role Permissions); none of these actions supports resource-level permissions.
VPC_NETWORK_INTERFACE_ACTIONS: tuple[str, ...] = (
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeVpcs",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
)
ENDPOINT_INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"
# Application Auto Scaling's dimension for a variant's instance count.
VARIANT_SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
# Model Monitor: hourly, on the hour (a cron expression is the documented schedule format).
HOURLY = "cron(0 * ? * * *)"
# EventBridge detail types SageMaker sends for endpoints ("Events that Amazon SageMaker AI sends to
# Amazon EventBridge": "SageMaker Endpoint State Change", "SageMaker Endpoint Deployment State Change").
ENDPOINT_STATE_CHANGE = "SageMaker Endpoint State Change"
ENDPOINT_DEPLOYMENT_STATE_CHANGE = "SageMaker Endpoint Deployment State Change"
# Endpoint statuses that need a human. The documented event example spells statuses in upper snake case
# ("IN_SERVICE") while DescribeEndpoint uses Pascal case ("InService"), so both spellings are matched.
FAILURE_STATUSES: tuple[str, ...] = (
    "FAILED",
    "ROLLING_BACK",
    "UPDATE_ROLLBACK_FAILED",
    "Failed",
    "RollingBack",
    "UpdateRollbackFailed",
)


@dataclass(frozen=True, kw_only=True)
class ServerlessOptions:
    """A serverless variant (no instances, no VPC: the service rejects VPC settings for serverless)."""

    memory_mib: int
    max_concurrency: int
    provisioned_concurrency: int | None = None


@dataclass(frozen=True, kw_only=True)
class AsyncInferenceOptions:
    """Asynchronous inference. Clients upload request payloads under ``<capture prefix>/<input_prefix>``, results
    go under ``<capture prefix>/<output_prefix>`` (failures ``<failure_prefix>``) in the capture bucket.

    ``success_topic`` / ``error_topic``: notified per request; ``topic_keys``: KMS keys of those topics
    (the execution role publishes, so it needs their data keys). Default: no notifications.
    """

    input_prefix: str = "async/input"
    output_prefix: str = "async/output"
    failure_prefix: str = "async/failure"
    max_concurrent_invocations_per_instance: int | None = None
    success_topic: sns.ITopic | None = None
    error_topic: sns.ITopic | None = None
    topic_keys: Sequence[kms.IKey] = ()


@dataclass(frozen=True, kw_only=True)
class AutoscalingOptions:
    """Target tracking on the variant's instance count, between ``min_instances`` and ``max_instances``.

    Real-time endpoints track ``target_invocations_per_instance`` (SageMakerVariantInvocationsPerInstance,
    per minute); asynchronous endpoints track ``target_backlog_per_instance`` (ApproximateBacklogSizePerInstance).
    """

    min_instances: int
    max_instances: int
    target_invocations_per_instance: int | None = None
    target_backlog_per_instance: float | None = None
    scale_in_cooldown_seconds: int = 300
    scale_out_cooldown_seconds: int = 60


@dataclass(frozen=True, kw_only=True)
class DataCaptureOptions:
    """Capture to ``s3://<capture bucket>/<endpoint name>/data-capture``, encrypted with ``capture_key``.

    ``csv_content_types`` / ``json_content_types``: request content types captured as CSV or JSON text
    (CaptureContentTypeHeader). Default: none, and SageMaker base64-encodes every payload, which Model Monitor's
    built-in analyzer (CSV and flat JSON only) cannot read.
    """

    sampling_percent: int = 100
    capture_request: bool = True
    capture_response: bool = True
    csv_content_types: Sequence[str] = ()
    json_content_types: Sequence[str] = ()

    @property
    def readable_by_model_monitor(self) -> bool:
        """Captured requests are CSV or JSON text (not base64), the formats the built-in analyzer reads."""
        return self.capture_request and bool(self.csv_content_types or self.json_content_types)


@dataclass(frozen=True, kw_only=True)
class OperationalAlarmThresholds:
    """Alarms to the alarm topic outside deployments. Utilization thresholds are percentages of the whole
    instance (all vCPUs / all GPUs together)."""

    error_5xx_rate_percent: float = 1.0
    error_4xx_rate_percent: float = 5.0
    p99_model_latency_ms: int = 1000
    p99_overhead_latency_ms: int = 100
    cpu_utilization_percent: float = 85
    memory_utilization_percent: float = 85
    disk_utilization_percent: float = 80
    gpu_utilization_percent: float = 90
    zero_invocations_minutes: int | None = None
    """Alarm when the endpoint gets no invocations for this long. Default: none (no such alarm)."""


@dataclass(frozen=True, kw_only=True)
class DataQualityMonitorOptions:
    """Hourly data-quality monitoring of captured requests against a baseline in the models bucket."""

    baseline_statistics_key: str
    baseline_constraints_key: str
    image_uri: str
    instance_type: str = "ml.m5.xlarge"
    volume_size_gb: int = 20
    max_runtime_seconds: int = 1800


class SageMakerEndpoint(Construct):
    """One endpoint with one production variant, updated only through its deployment guardrail.

    Behaviour worth knowing:

    * The model runs in ``subnets`` with ``security_group`` and network isolation on (serverless
      variants excepted: the service rejects VPC settings and network isolation for them).
    * Model and endpoint-configuration names are generated by CloudFormation, so any change (image,
      model data, instance type, capture settings, ...) creates a new configuration and the endpoint
      update runs through ``deployment``; the endpoint name itself is stable.
    * The endpoint configuration names ``ml_key`` as volume key unless the instance type has local NVMe
      storage (SageMaker rejects a KMS key there; the hardware encrypts those volumes) or is serverless.
    * With autoscaling, ``RetainAllVariantProperties`` is on, so an update keeps the scaled fleet.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        image_uri: str,
        models_bucket: s3.IBucket,
        model_data_key: str | None = None,
        external_model_data_url: str | None = None,
        deployment: DeploymentPolicy,
        rollback_alarms: RollbackAlarmThresholds,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        capture_bucket: s3.IBucket,
        capture_key: kms.IKey,
        ml_key: kms.IKey,
        logs_key: kms.IKey,
        alarm_topic: sns.ITopic,
        log_retention_days: int,
        log_removal_policy: RemovalPolicy,
        models_bucket_key: kms.IKey | None = None,
        capture_bucket_key: kms.IKey | None = None,
        variant_name: str = "AllTraffic",
        instance_type: str | None = None,
        initial_instance_count: int | None = None,
        environment: Mapping[str, str] | None = None,
        serverless: ServerlessOptions | None = None,
        async_inference: AsyncInferenceOptions | None = None,
        autoscaling: AutoscalingOptions | None = None,
        data_capture: DataCaptureOptions | None = None,
        operational_alarms: OperationalAlarmThresholds | None = None,
        data_quality_monitor: DataQualityMonitorOptions | None = None,
        event_dead_letter_queue: sqs.IQueue | None = None,
    ) -> None:
        """
        :param endpoint_name: stable endpoint name (also names alarms, log group, capture prefix).
        :param image_uri: private ECR image of the account (``<acct>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>``);
            the role may pull only that repository.
        :param models_bucket: the bucket the model artifact is read from.
        :param model_data_key: the artifact's key in ``models_bucket``, ``<model>/<version>/...``; the role may read
            every version under ``<model>/`` (a rollback launches the previous version).
        :param external_model_data_url: instead of ``model_data_key``, an ``s3://`` URL outside the bucket.
        :param deployment: blue/green or rolling policy of every update.
        :param rollback_alarms: the alarms SageMaker watches while it bakes.
        :param vpc: the VPC of ``subnets``.
        :param subnets: where the model's network interfaces go (isolated subnets in two or more AZs).
        :param security_group: the model's security group.
        :param capture_bucket: receives data capture, asynchronous results and monitoring reports under
            ``<endpoint_name>/``.
        :param capture_key: the key data capture, asynchronous results and monitoring reports are written with
            (the ML key); the capture bucket's policy must accept SSE-KMS puts naming it.
        :param ml_key: the endpoint's and the monitoring jobs' ML storage volume key (unless NVMe).
        :param logs_key: encrypts the endpoint's log group ``/aws/sagemaker/Endpoints/<endpoint_name>``.
        :param alarm_topic: receives every alarm and the endpoint's deployment/failure events.
        :param log_retention_days: retention of the endpoint's log group.
        :param log_removal_policy: what happens to the log group when the endpoint is removed.
        :param models_bucket_key: the key ``models_bucket`` encrypts with; the role may decrypt with it.
            Default: none (no decrypt permission).
        :param capture_bucket_key: the capture bucket's default key (asynchronous inputs uploaded without an
            encryption header use it); the role may decrypt inputs with it. Default: none (only ``capture_key``).
        :param variant_name: the production variant's name; keep it stable (guardrails need the same name).
        :param instance_type: ``ml.*`` instance type; required unless ``serverless``.
        :param initial_instance_count: instances at creation; required unless ``serverless``.
        :param environment: container environment variables. Default: none.
        :param serverless: a serverless variant instead of instances. Default: instances.
        :param async_inference: make the endpoint asynchronous. Default: real-time.
        :param autoscaling: target tracking on the instance count. Default: a fixed fleet.
        :param data_capture: capture requests/responses. Default: no capture.
        :param operational_alarms: CPU/memory/disk/GPU, error-rate, latency and traffic alarms. Default: none.
        :param data_quality_monitor: hourly data-quality monitoring (needs ``data_capture``). Default: none.
        :param event_dead_letter_queue: where EventBridge puts endpoint events it could not deliver to
            ``alarm_topic`` (its key must let EventBridge use data keys). Default: none (events are dropped
            after EventBridge's retries).
        """
        super().__init__(scope, construct_id)
        if (model_data_key is None) == (external_model_data_url is None):
            raise ValueError(f"{endpoint_name}: give exactly one of model_data_key or external_model_data_url")
        if (serverless is None) == (instance_type is None or initial_instance_count is None):
            raise ValueError(f"{endpoint_name}: give instance_type and initial_instance_count, or serverless")
        if data_quality_monitor is not None and (data_capture is None or not data_capture.readable_by_model_monitor):
            raise ValueError(
                f"{endpoint_name}: the data-quality monitor analyses captured requests as CSV or JSON; enable "
                "data_capture of requests with csv_content_types or json_content_types (else they are base64)"
            )
        image = _ECR_IMAGE.match(image_uri)
        if not image:
            raise ValueError(f"{endpoint_name}: {image_uri!r} is not a private ECR image URI with a tag or digest")

        stack = Stack.of(self)
        self.endpoint_name = endpoint_name
        self.variant_name = variant_name
        self.capture_prefix = endpoint_name
        parsed_type = InstanceType.parse(instance_type) if instance_type else None
        in_vpc = serverless is None
        model_data_url = external_model_data_url or f"s3://{models_bucket.bucket_name}/{model_data_key}"
        model_object_arn = (
            models_bucket.arn_for_objects(model_data_key)
            if model_data_key is not None
            else _s3_object_arn(stack, external_model_data_url or "")
        )

        # ---------------------------------------------------------------- logs
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            log_group_name=f"/aws/sagemaker/Endpoints/{endpoint_name}",
            encryption_key=logs_key,
            retention=retention(log_retention_days),
            removal_policy=log_removal_policy,
        )

        # ---------------------------------------------------------------- execution role
        self.role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"SageMaker execution role of endpoint {endpoint_name}",
        )
        writes_to_capture = data_capture is not None or async_inference is not None
        repository_arn = stack.format_arn(
            service="ecr",
            account=image["account"],
            region=image["region"],
            resource="repository",
            resource_name=image["repository"],
        )
        statements = [
            iam.PolicyStatement(
                sid="PullTheModelImage",
                actions=["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                resources=[repository_arn],
            ),
            iam.PolicyStatement(
                sid="WriteTheEndpointLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[self.log_group.log_group_arn],
            ),
        ]
        if model_data_key is not None:
            # Every version of the model under its prefix (<model>/<version>/...): SageMaker downloads the artifact
            # with this role whenever it launches an instance, and a rollback, or an old-fleet instance replaced
            # while a new version bakes, launches instances of the *previous* model version (unverified that
            # replacement instances download again: the SageMaker guide only says the role is used "to access model
            # artifacts ... for deployment on ML compute instances"; reading the prefix is safe either way).
            self.model_prefix = f"{model_data_key.split('/', 1)[0]}/"
            statements += object_read_statements(
                sid="ModelVersions",
                bucket=models_bucket,
                keys=[models_bucket_key] if models_bucket_key is not None else [],
                prefixes=[self.model_prefix],
                list_objects=False,
            )
        else:
            self.model_prefix = None
            statements.append(
                iam.PolicyStatement(sid="ReadTheModelArtifact", actions=["s3:GetObject"], resources=[model_object_arn])
            )
        if writes_to_capture:
            # Data capture and asynchronous results, written with the ML key (S3 decrypts the data key to complete
            # multipart uploads, so the write helper grants Decrypt too).
            statements += object_write_statements(
                sid="EndpointCapture", bucket=capture_bucket, keys=[capture_key], prefixes=[f"{self.capture_prefix}/"]
            )
        if async_inference is not None:
            # SageMaker reads each request's payload from its InputLocation with this role ("Asynchronous Inference
            # needs access to your Amazon S3 bucket URI", SageMaker guide, async inference prerequisites). Clients
            # upload under <endpoint>/<input prefix>/ with the bucket's default key or the ML key (the capture
            # bucket accepts both).
            input_keys = [capture_key, *([capture_bucket_key] if capture_bucket_key is not None else [])]
            statements += object_read_statements(
                sid="AsyncInput",
                bucket=capture_bucket,
                keys=input_keys,
                prefixes=[f"{self.capture_prefix}/{async_inference.input_prefix}/"],
                list_objects=False,
            )
            topics = [t for t in (async_inference.success_topic, async_inference.error_topic) if t is not None]
            if topics:
                statements.append(
                    iam.PolicyStatement(
                        sid="NotifyAsyncResults",
                        actions=["sns:Publish"],
                        resources=sorted({t.topic_arn for t in topics}, key=str),
                    )
                )
            if async_inference.topic_keys:
                statements.append(
                    iam.PolicyStatement(
                        sid="EncryptAsyncNotifications",
                        actions=["kms:GenerateDataKey", "kms:Decrypt"],
                        resources=[key.key_arn for key in async_inference.topic_keys],
                        conditions={"StringEquals": {"kms:ViaService": f"sns.{stack.region}.amazonaws.com"}},
                    )
                )
        scoped = iam.ManagedPolicy(
            self,
            "ScopedPermissions",
            description=f"What endpoint {endpoint_name} reads and writes, resource by resource",
            statements=statements,
            roles=[self.role],
        )
        service_wide = iam.ManagedPolicy(
            self,
            "ServiceWidePermissions",
            description=f"Actions of endpoint {endpoint_name} that IAM cannot scope to a resource",
            statements=[
                iam.PolicyStatement(
                    sid="PublishEndpointInstanceMetrics",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringEquals": {"cloudwatch:namespace": ENDPOINT_INSTANCE_NAMESPACE}},
                ),
                iam.PolicyStatement(
                    sid="AuthenticateToEcr",
                    actions=["ecr:GetAuthorizationToken"],
                    resources=["*"],
                ),
            ],
            roles=[self.role],
        )
        acknowledge(
            service_wide,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData and ecr:GetAuthorizationToken support no resource-level permissions "
            "(IAM service authorization reference); PutMetricData is limited by the cloudwatch:namespace "
            "condition to the endpoint instance metrics namespace.",
        )
        policies = [scoped, service_wide]
        if in_vpc:
            network = iam.ManagedPolicy(
                self,
                "VpcNetworkInterfaces",
                description=f"Network interfaces endpoint {endpoint_name} needs in the VPC",
                statements=[
                    # "If you specify a private VPC for your model, add the following permissions"
                    # (SageMaker developer guide, CreateModel API: Execution Role Permissions).
                    iam.PolicyStatement(
                        sid="ManageModelNetworkInterfaces",
                        actions=list(VPC_NETWORK_INTERFACE_ACTIONS),
                        resources=["*"],
                    )
                ],
                roles=[self.role],
            )
            acknowledge(
                network,
                "AwsSolutions-IAM5[Resource::*]",
                "SageMaker documents these EC2 network-interface actions with Resource * for models in a "
                "private VPC (CreateModel API: Execution Role Permissions); the ec2:Describe* actions support "
                "no resource-level permissions and the interface IDs do not exist before SageMaker creates them.",
            )
            policies.append(network)
        self.policies = policies
        wildcard_suffixes = [f"/{self.capture_prefix}/*"] if writes_to_capture else []
        if self.model_prefix is not None:
            wildcard_suffixes.append(f"/{self.model_prefix}*")
        if async_inference is not None:
            wildcard_suffixes.append(f"/{self.capture_prefix}/{async_inference.input_prefix}/*")
        if wildcard_suffixes:
            acknowledge_resource_wildcards(
                scoped,
                suffixes=wildcard_suffixes,
                reason="SageMaker names every captured or asynchronous-result object itself (date path and UUID), "
                "clients name asynchronous inputs, and each version of the model lives under the model's own "
                "prefix (a rollback reads the previous one): each grant is limited to the endpoint's prefix of the "
                "capture bucket or the model's prefix of the models bucket.",
            )

        # ---------------------------------------------------------------- model
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=image_uri,
                model_data_url=model_data_url,
                environment=dict(sorted((environment or {}).items())) or None,
            ),
            vpc_config=(
                sagemaker.CfnModel.VpcConfigProperty(
                    security_group_ids=[security_group.security_group_id],
                    subnets=vpc.select_subnets(**_selection_kwargs(subnets)).subnet_ids,
                )
                if in_vpc
                else None
            ),
            # Containers are internet-enabled unless network isolation is on; with it they make no inbound
            # or outbound network calls (SageMaker fetches the model data and image on their behalf).
            enable_network_isolation=True if in_vpc else None,
        )
        for policy in policies:
            self.model.node.add_dependency(policy)

        # ---------------------------------------------------------------- endpoint configuration
        volume_key_allowed = parsed_type is not None and not parsed_type.has_local_nvme_storage
        self.volume_encrypted_with_ml_key = volume_key_allowed
        variant = sagemaker.CfnEndpointConfig.ProductionVariantProperty(
            variant_name=variant_name,
            model_name=self.model.attr_model_name,
            initial_variant_weight=1,
            instance_type=instance_type,
            initial_instance_count=initial_instance_count,
            serverless_config=(
                sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                    memory_size_in_mb=serverless.memory_mib,
                    max_concurrency=serverless.max_concurrency,
                    provisioned_concurrency=serverless.provisioned_concurrency,
                )
                if serverless
                else None
            ),
        )
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            # No EndpointConfigName: CloudFormation generates one, so every change creates a new
            # configuration (all its properties require replacement) instead of failing on a fixed name.
            production_variants=[variant],
            kms_key_id=ml_key.key_arn if volume_key_allowed else None,
            data_capture_config=self._capture_config(data_capture, capture_bucket, capture_key)
            if data_capture
            else None,
            async_inference_config=(
                self._async_config(async_inference, capture_bucket, capture_key) if async_inference else None
            ),
        )
        if not volume_key_allowed:
            reason = (
                f"{instance_type} has local NVMe instance storage, which its hardware module encrypts; "
                "CreateEndpointConfig fails when a KmsKeyId is given for such instance types (SageMaker API "
                "reference, CreateEndpointConfig KmsKeyId)."
                if parsed_type is not None
                else "Serverless variants have no ML storage volume to encrypt and the service does not accept "
                "a KMS volume key for them (Serverless Inference feature exclusions)."
            )
            for rule in (
                "HIPAA.Security-SageMakerEndpointConfigurationKMSKeyConfigured",
                "NIST.800.53.R5-SageMakerEndpointConfigurationKMSKeyConfigured",
                "PCI.DSS.321-SageMakerEndpointConfigurationKMSKeyConfigured",
            ):
                acknowledge(self.endpoint_config, rule, reason)

        # ---------------------------------------------------------------- guardrail and its rollback alarms
        # The rollback alarms watch the new fleet only: the configuration this stack deploys.
        self.guardrails = DeploymentGuardrails(
            self,
            "Guardrails",
            endpoint_name=endpoint_name,
            variant_name=variant_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            policy=deployment,
            thresholds=rollback_alarms,
            alarm_topic=alarm_topic,
        )
        if self.guardrails.alarms:
            # "ensure that your execution role has permission to perform the cloudwatch:DescribeAlarms action on
            # your auto-rollback alarms" (SageMaker developer guide, CreateModel API: Execution Role Permissions).
            # By name, not by reference: the alarms depend on the configuration, which depends on this policy.
            scoped.add_statements(
                iam.PolicyStatement(
                    sid="ReadTheRollbackAlarms",
                    actions=["cloudwatch:DescribeAlarms"],
                    resources=[
                        stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name=name,
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                        for name in self.guardrails.alarm_names
                    ],
                )
            )

        # ---------------------------------------------------------------- endpoint
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
            deployment_config=self.guardrails.deployment_config,
            # An update would otherwise reset the scaled fleet to InitialInstanceCount (the default is false).
            retain_all_variant_properties=True if autoscaling else None,
        )
        for policy in policies:
            self.endpoint.node.add_dependency(policy)

        # ---------------------------------------------------------------- autoscaling
        self.scalable_target: appscaling.CfnScalableTarget | None = None
        if autoscaling is not None:
            self._autoscaling(autoscaling, asynchronous=async_inference is not None)

        # ---------------------------------------------------------------- alarms and events
        self.operational_alarms: list[cloudwatch.Alarm] = []
        if operational_alarms is not None:
            self._operational_alarms(operational_alarms, parsed_type, alarm_topic)
        self._events(alarm_topic, event_dead_letter_queue)

        # ---------------------------------------------------------------- data-quality monitor
        self.monitoring_schedule: sagemaker.CfnMonitoringSchedule | None = None
        if data_quality_monitor is not None:
            self._data_quality_monitor(
                data_quality_monitor,
                models_bucket=models_bucket,
                models_bucket_key=models_bucket_key,
                capture_bucket=capture_bucket,
                capture_key=capture_key,
                ml_key=ml_key,
                vpc=vpc,
                subnets=subnets,
                security_group=security_group,
            )

    # ==================================================================== helpers
    @property
    def endpoint_arn(self) -> str:
        return self.endpoint.ref

    def _capture_uri(self, bucket: s3.IBucket, suffix: str) -> str:
        return f"s3://{bucket.bucket_name}/{self.capture_prefix}/{suffix}"

    def _capture_config(
        self, options: DataCaptureOptions, bucket: s3.IBucket, key: kms.IKey
    ) -> sagemaker.CfnEndpointConfig.DataCaptureConfigProperty:
        headers = None
        if options.csv_content_types or options.json_content_types:
            # Payloads with these content types are captured as text (CSV or JSON); any other content type is
            # base64-encoded ("If no headers are specified SageMaker will by default base64 encode when capturing
            # the data", SageMaker API reference, CaptureContentTypeHeader).
            headers = sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                csv_content_types=list(options.csv_content_types) or None,
                json_content_types=list(options.json_content_types) or None,
            )
        return sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
            enable_capture=True,
            initial_sampling_percentage=options.sampling_percent,
            destination_s3_uri=self._capture_uri(bucket, "data-capture"),
            kms_key_id=key.key_arn,
            capture_options=[
                sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode=mode)
                for mode, wanted in (("Input", options.capture_request), ("Output", options.capture_response))
                if wanted
            ],
            capture_content_type_header=headers,
        )

    def _async_config(
        self, options: AsyncInferenceOptions, bucket: s3.IBucket, key: kms.IKey
    ) -> sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty:
        notification = None
        if options.success_topic or options.error_topic:
            notification = sagemaker.CfnEndpointConfig.AsyncInferenceNotificationConfigProperty(
                success_topic=options.success_topic.topic_arn if options.success_topic else None,
                error_topic=options.error_topic.topic_arn if options.error_topic else None,
            )
        return sagemaker.CfnEndpointConfig.AsyncInferenceConfigProperty(
            output_config=sagemaker.CfnEndpointConfig.AsyncInferenceOutputConfigProperty(
                s3_output_path=self._capture_uri(bucket, options.output_prefix),
                s3_failure_path=self._capture_uri(bucket, options.failure_prefix),
                kms_key_id=key.key_arn,
                notification_config=notification,
            ),
            client_config=(
                sagemaker.CfnEndpointConfig.AsyncInferenceClientConfigProperty(
                    max_concurrent_invocations_per_instance=options.max_concurrent_invocations_per_instance
                )
                if options.max_concurrent_invocations_per_instance
                else None
            ),
        )

    def _autoscaling(self, options: AutoscalingOptions, *, asynchronous: bool) -> None:
        self.scalable_target = appscaling.CfnScalableTarget(
            self,
            "ScalableTarget",
            service_namespace="sagemaker",
            scalable_dimension=VARIANT_SCALABLE_DIMENSION,
            resource_id=f"endpoint/{self.endpoint.attr_endpoint_name}/variant/{self.variant_name}",
            min_capacity=options.min_instances,
            max_capacity=options.max_instances,
            # No RoleARN: Application Auto Scaling uses its service-linked role for SageMaker.
        )
        if asynchronous:
            metric = appscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=options.target_backlog_per_instance or 0,
                customized_metric_specification=appscaling.CfnScalingPolicy.CustomizedMetricSpecificationProperty(
                    metric_name="ApproximateBacklogSizePerInstance",
                    namespace=SAGEMAKER_NAMESPACE,
                    dimensions=[
                        appscaling.CfnScalingPolicy.MetricDimensionProperty(
                            name="EndpointName", value=self.endpoint_name
                        )
                    ],
                    statistic="Average",
                ),
                scale_in_cooldown=options.scale_in_cooldown_seconds,
                scale_out_cooldown=options.scale_out_cooldown_seconds,
            )
        else:
            metric = appscaling.CfnScalingPolicy.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=options.target_invocations_per_instance or 0,
                predefined_metric_specification=appscaling.CfnScalingPolicy.PredefinedMetricSpecificationProperty(
                    predefined_metric_type="SageMakerVariantInvocationsPerInstance"
                ),
                scale_in_cooldown=options.scale_in_cooldown_seconds,
                scale_out_cooldown=options.scale_out_cooldown_seconds,
            )
        self.scaling_policy = appscaling.CfnScalingPolicy(
            self,
            "TargetTracking",
            policy_name=f"{self.endpoint_name}-target-tracking",
            policy_type="TargetTrackingScaling",
            scaling_target_id=self.scalable_target.ref,
            target_tracking_scaling_policy_configuration=metric,
        )

    def _operational_alarms(
        self, t: OperationalAlarmThresholds, instance: InstanceType | None, topic: sns.ITopic
    ) -> None:
        name = self.endpoint_name
        variant = {"EndpointName": name, "VariantName": self.variant_name}
        five = Duration.minutes(5)

        def add(
            construct_id: str,
            suffix: str,
            metric: cloudwatch.IMetric,
            threshold: float,
            description: str,
            *,
            missing: cloudwatch.TreatMissingData,
            comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            periods: int = 3,
        ) -> None:
            alarm = notifying_alarm(
                self,
                construct_id,
                alarm_name=f"{name}-{suffix}",
                runbook=description,
                metric=metric,
                threshold=threshold,
                evaluation_periods=periods,
                comparison=comparison,
                treat_missing_data=missing,
                topic=topic,
            )
            self.operational_alarms.append(alarm)

        def sm(metric_name: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=SAGEMAKER_NAMESPACE,
                metric_name=metric_name,
                dimensions_map=variant,
                statistic=statistic,
                period=five,
            )

        def instance_metric(metric_name: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=ENDPOINT_INSTANCE_NAMESPACE,
                metric_name=metric_name,
                dimensions_map=variant,
                statistic="Maximum",
                period=five,
            )

        no_traffic_is_fine = cloudwatch.TreatMissingData.NOT_BREACHING
        add(
            "Error5xxRateAlarm",
            "5xx-rate",
            error_rate(variant, "Invocation5XXErrors", five),
            t.error_5xx_rate_percent,
            f"{name}: more than {t.error_5xx_rate_percent} % of invocations failed with 5XX for 15 minutes. "
            "Check the endpoint log group for container errors and recent deployments; roll back the model "
            "version in config if the last change caused it.",
            missing=no_traffic_is_fine,
        )
        add(
            "Error4xxRateAlarm",
            "4xx-rate",
            error_rate(variant, "Invocation4XXErrors", five),
            t.error_4xx_rate_percent,
            f"{name}: more than {t.error_4xx_rate_percent} % of invocations rejected with 4XX for 15 minutes. "
            "Check which client sends malformed payloads (request schema change?) and the model's input contract.",
            missing=no_traffic_is_fine,
        )
        add(
            "ModelLatencyP99Alarm",
            "p99-model-latency",
            sm("ModelLatency", "p99"),
            t.p99_model_latency_ms * 1000,  # ModelLatency is in microseconds
            f"{name}: p99 ModelLatency above {t.p99_model_latency_ms} ms for 15 minutes. Check instance "
            "utilization alarms, scale out (autoscaling max) or profile the model container.",
            missing=no_traffic_is_fine,
        )
        add(
            "OverheadLatencyP99Alarm",
            "p99-overhead-latency",
            sm("OverheadLatency", "p99"),
            t.p99_overhead_latency_ms * 1000,  # microseconds
            f"{name}: p99 OverheadLatency (SageMaker's own share) above {t.p99_overhead_latency_ms} ms for 15 "
            "minutes. Large payloads or throttling are the usual causes; check the AWS Health Dashboard and "
            "open a support case if payloads are unchanged.",
            missing=no_traffic_is_fine,
        )
        if instance is not None:
            # Instance metrics stop when instances stop; missing data is covered by the invocation and
            # endpoint-state alarms, so it does not breach here.
            add(
                "CpuUtilizationAlarm",
                "cpu-utilization",
                instance_metric("CPUUtilization"),
                t.cpu_utilization_percent * instance.vcpus,  # the sum over all vCPUs (0-100 % each)
                f"{name}: CPU above {t.cpu_utilization_percent} % of all {instance.vcpus} vCPUs of an instance for "
                "15 minutes. Raise autoscaling max or choose a larger instance type (see "
                "docs/inference.md#change-the-instance-type-of-an-autoscaled-endpoint).",
                missing=no_traffic_is_fine,
            )
            add(
                "MemoryUtilizationAlarm",
                "memory-utilization",
                instance_metric("MemoryUtilization"),
                t.memory_utilization_percent,
                f"{name}: memory above {t.memory_utilization_percent} % on an instance for 15 minutes. Check the "
                "model's memory footprint and worker count; choose an instance type with more memory.",
                missing=no_traffic_is_fine,
            )
            add(
                "DiskUtilizationAlarm",
                "disk-utilization",
                instance_metric("DiskUtilization"),
                t.disk_utilization_percent,
                f"{name}: disk above {t.disk_utilization_percent} % on an instance for 15 minutes. Check what "
                "the container writes under /tmp or /opt/ml and the size of the model artifact.",
                missing=no_traffic_is_fine,
            )
            if instance.gpus:
                add(
                    "GpuUtilizationAlarm",
                    "gpu-utilization",
                    instance_metric("GPUUtilization"),
                    t.gpu_utilization_percent * instance.gpus,  # the sum over all GPUs (0-100 % each)
                    f"{name}: GPU above {t.gpu_utilization_percent} % of all {instance.gpus} GPU(s) of an instance "
                    "for 15 minutes. Raise autoscaling max or use a larger GPU instance.",
                    missing=no_traffic_is_fine,
                )
                add(
                    "GpuMemoryUtilizationAlarm",
                    "gpu-memory-utilization",
                    instance_metric("GPUMemoryUtilization"),
                    t.gpu_utilization_percent * instance.gpus,
                    f"{name}: GPU memory above {t.gpu_utilization_percent} % of all {instance.gpus} GPU(s) for "
                    "15 minutes. Reduce batch size or model precision, or use a GPU with more memory.",
                    missing=no_traffic_is_fine,
                )
        if t.zero_invocations_minutes is not None:
            periods = max(1, t.zero_invocations_minutes // 5)
            add(
                "NoInvocationsAlarm",
                "no-invocations",
                sm("Invocations", "Sum"),
                1,
                f"{name}: no invocations for {periods * 5} minutes. SageMaker publishes no Invocations datapoint "
                "without traffic, so missing data counts as breaching. Check the callers, their network path "
                "and IAM permissions, and the endpoint status.",
                missing=cloudwatch.TreatMissingData.BREACHING,
                comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                periods=periods,
            )

    def _events(self, topic: sns.ITopic, dead_letter_queue: sqs.IQueue | None) -> None:
        """Deployment progress (new configuration rolling out, baking, rolling back) and failure states of
        this endpoint go to the alarm topic. The topic's policy and key already allow EventBridge."""
        target = AlarmTopicTarget(topic, dead_letter_queue=dead_letter_queue)
        self.deployment_events = events.Rule(
            self,
            "DeploymentEvents",
            description=f"{self.endpoint_name}: guarded deployments of a new endpoint configuration",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[ENDPOINT_DEPLOYMENT_STATE_CHANGE],
                detail={
                    "EndpointName": [self.endpoint_name],
                    # Only deployments of a new configuration carry a PendingDeploymentSummary; capacity
                    # changes by autoscaling do not, so they are not forwarded.
                    "PendingDeploymentSummary": {"EndpointConfigName": [{"exists": True}]},
                },
            ),
            targets=[target],
        )
        self.failure_events = events.Rule(
            self,
            "FailureEvents",
            description=f"{self.endpoint_name}: endpoint failed or rolling back",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker"],
                detail_type=[ENDPOINT_STATE_CHANGE, ENDPOINT_DEPLOYMENT_STATE_CHANGE],
                detail={"EndpointName": [self.endpoint_name], "EndpointStatus": list(FAILURE_STATUSES)},
            ),
            targets=[target],
        )

    def _data_quality_monitor(
        self,
        options: DataQualityMonitorOptions,
        *,
        models_bucket: s3.IBucket,
        models_bucket_key: kms.IKey | None,
        capture_bucket: s3.IBucket,
        capture_key: kms.IKey,
        ml_key: kms.IKey,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
    ) -> None:
        stack = Stack.of(self)
        image = _ECR_IMAGE.match(options.image_uri)
        if not image:
            raise ValueError(f"{self.endpoint_name}: {options.image_uri!r} is not an ECR image URI")
        role = iam.Role(
            self,
            "MonitorRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Data-quality monitoring jobs of endpoint {self.endpoint_name}",
        )
        reports = f"{self.capture_prefix}/monitoring/data-quality"
        statements = [
            # The hour's captured requests (listed, then read), decrypted via S3.
            *object_read_statements(
                sid="CapturedData",
                bucket=capture_bucket,
                keys=[capture_key],
                prefixes=[f"{self.capture_prefix}/data-capture/"],
            ),
            iam.PolicyStatement(
                sid="ReadTheBaseline",
                actions=["s3:GetObject"],
                resources=[
                    models_bucket.arn_for_objects(options.baseline_statistics_key),
                    models_bucket.arn_for_objects(options.baseline_constraints_key),
                ],
            ),
            *object_write_statements(
                sid="Reports", bucket=capture_bucket, keys=[capture_key], prefixes=[f"{reports}/"]
            ),
            # A volume key of a processing cluster needs kms:CreateGrant (SageMaker execution role
            # permissions, "If you specify a volume KMS key").
            iam.PolicyStatement(
                sid="EncryptTheJobVolume",
                actions=["kms:CreateGrant", "kms:DescribeKey"],
                resources=[ml_key.key_arn],
            ),
            iam.PolicyStatement(
                sid="PullTheMonitorImage",
                actions=["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
                resources=[
                    stack.format_arn(
                        service="ecr",
                        account=image["account"],
                        region=image["region"],
                        resource="repository",
                        resource_name=image["repository"],
                    )
                ],
            ),
            iam.PolicyStatement(
                sid="WriteProcessingJobLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[
                    stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="/aws/sagemaker/ProcessingJobs:*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            ),
        ]
        if models_bucket_key is not None:
            statements.append(kms_statement(sid="DecryptTheBaseline", keys=[models_bucket_key], bucket=models_bucket))
        scoped = iam.ManagedPolicy(
            self,
            "MonitorScopedPermissions",
            description=f"What the data-quality monitor of {self.endpoint_name} reads and writes",
            statements=statements,
            roles=[role],
        )
        acknowledge_resource_wildcards(
            scoped,
            suffixes=[
                f"/{self.capture_prefix}/data-capture/*",
                f"/{reports}/*",
                ":log-group:/aws/sagemaker/ProcessingJobs:*",
            ],
            reason="Monitoring jobs read capture objects SageMaker named per request, write reports under "
            "names they generate, and log to per-job streams of the shared /aws/sagemaker/ProcessingJobs "
            "group; each grant is limited to the endpoint's own prefix or that log group.",
        )
        service_wide = iam.ManagedPolicy(
            self,
            "MonitorServiceWidePermissions",
            description=f"Monitor actions of {self.endpoint_name} that IAM cannot scope to a resource",
            statements=[
                iam.PolicyStatement(
                    sid="PublishDataQualityMetrics",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringLike": {"cloudwatch:namespace": "aws/sagemaker/Endpoints/*"}},
                ),
                iam.PolicyStatement(sid="AuthenticateToEcr", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
                iam.PolicyStatement(
                    sid="ManageJobNetworkInterfaces",
                    actions=list(VPC_NETWORK_INTERFACE_ACTIONS),
                    resources=["*"],
                ),
            ],
            roles=[role],
        )
        acknowledge(
            service_wide,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData, ecr:GetAuthorizationToken and the EC2 network-interface actions a "
            "processing job in a private VPC needs support no resource-level permissions or act on interfaces "
            "that do not exist yet (SageMaker CreateProcessingJob execution role permissions).",
        )
        self.monitor_role = role
        content = json.dumps(
            {"options": asdict(options), "endpoint": self.endpoint_name, "v": 1}, sort_keys=True
        ).encode()
        digest = hashlib.sha256(content).hexdigest()[:8]
        job_definition = sagemaker.CfnDataQualityJobDefinition(
            self,
            "DataQualityJobDefinition",
            # Every property requires replacement, so the name carries a hash of the content: a change
            # creates a new job definition instead of colliding with the old name.
            job_definition_name=f"{self.endpoint_name[:50]}-dq-{digest}",
            endpoint_name=self.endpoint_name,
            role_arn=role.role_arn,
            data_quality_app_specification=sagemaker.CfnDataQualityJobDefinition.DataQualityAppSpecificationProperty(
                image_uri=options.image_uri,
            ),
            data_quality_baseline_config=sagemaker.CfnDataQualityJobDefinition.DataQualityBaselineConfigProperty(
                constraints_resource=sagemaker.CfnDataQualityJobDefinition.ConstraintsResourceProperty(
                    s3_uri=f"s3://{models_bucket.bucket_name}/{options.baseline_constraints_key}"
                ),
                statistics_resource=sagemaker.CfnDataQualityJobDefinition.StatisticsResourceProperty(
                    s3_uri=f"s3://{models_bucket.bucket_name}/{options.baseline_statistics_key}"
                ),
            ),
            data_quality_job_input=sagemaker.CfnDataQualityJobDefinition.DataQualityJobInputProperty(
                endpoint_input=sagemaker.CfnDataQualityJobDefinition.EndpointInputProperty(
                    endpoint_name=self.endpoint_name,
                    local_path="/opt/ml/processing/input/endpoint",
                    s3_data_distribution_type="FullyReplicated",
                    s3_input_mode="File",
                )
            ),
            data_quality_job_output_config=sagemaker.CfnDataQualityJobDefinition.MonitoringOutputConfigProperty(
                kms_key_id=capture_key.key_arn,
                monitoring_outputs=[
                    sagemaker.CfnDataQualityJobDefinition.MonitoringOutputProperty(
                        s3_output=sagemaker.CfnDataQualityJobDefinition.S3OutputProperty(
                            local_path="/opt/ml/processing/output",
                            s3_uri=f"s3://{capture_bucket.bucket_name}/{reports}",
                            s3_upload_mode="EndOfJob",
                        )
                    )
                ],
            ),
            job_resources=sagemaker.CfnDataQualityJobDefinition.MonitoringResourcesProperty(
                cluster_config=sagemaker.CfnDataQualityJobDefinition.ClusterConfigProperty(
                    instance_count=1,
                    instance_type=options.instance_type,
                    volume_size_in_gb=options.volume_size_gb,
                    volume_kms_key_id=(
                        None if InstanceType.parse(options.instance_type).has_local_nvme_storage else ml_key.key_arn
                    ),
                )
            ),
            network_config=sagemaker.CfnDataQualityJobDefinition.NetworkConfigProperty(
                enable_inter_container_traffic_encryption=True,
                vpc_config=sagemaker.CfnDataQualityJobDefinition.VpcConfigProperty(
                    security_group_ids=[security_group.security_group_id],
                    subnets=vpc.select_subnets(**_selection_kwargs(subnets)).subnet_ids,
                ),
            ),
            stopping_condition=sagemaker.CfnDataQualityJobDefinition.StoppingConditionProperty(
                max_runtime_in_seconds=options.max_runtime_seconds
            ),
        )
        job_definition.node.add_dependency(self.endpoint, scoped, service_wide)
        self.monitoring_schedule = sagemaker.CfnMonitoringSchedule(
            self,
            "DataQualitySchedule",
            monitoring_schedule_name=f"{self.endpoint_name[:50]}-data-quality",
            endpoint_name=self.endpoint_name,
            monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
                monitoring_job_definition_name=job_definition.job_definition_name,
                monitoring_type="DataQuality",
                schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(schedule_expression=HOURLY),
            ),
        )
        self.monitoring_schedule.node.add_dependency(job_definition)


def _s3_object_arn(stack: Stack, url: str) -> str:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return f"arn:{stack.partition}:s3:::{bucket}/{key}"


def _selection_kwargs(selection: ec2.SubnetSelection) -> dict[str, object]:
    """``SubnetSelection`` as keyword arguments of ``IVpc.select_subnets`` (Python takes no struct there)."""
    fields = ("availability_zones", "one_per_az", "subnet_filters", "subnet_group_name", "subnets", "subnet_type")
    return {name: getattr(selection, name) for name in fields if getattr(selection, name) is not None}
