"""The endpoint's execution role: what SageMaker may do on the endpoint's behalf, resource by resource.

Built into the endpoint construct's own scope (construct ids ``ExecutionRole``, ``ScopedPermissions``,
``ServiceWidePermissions``, ``VpcNetworkInterfaces``), not as a construct level of its own: a new level would
change the resources' logical ids and replace them in every deployed environment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_platform.inference.config import InferenceEndpoint
from ml_platform.inference.config.registry import RegistryConfig, model_sources
from ml_platform.inference.endpoint.metrics import ENDPOINT_INSTANCE_NAMESPACE
from ml_platform.shared.compliance import acknowledge, acknowledge_resource_wildcards
from ml_platform.shared.lake_access import object_read_statements, object_write_statements

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
ECR_PULL_ACTIONS: tuple[str, ...] = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:GetDownloadUrlForLayer",
    "ecr:BatchGetImage",
)


@dataclass(frozen=True, kw_only=True)
class AsyncNotifications:
    """Where an asynchronous endpoint reports each request. Default: nowhere.

    ``topic_keys``: the KMS keys of those topics (the execution role publishes, so it needs their data keys).
    """

    success_topic: sns.ITopic | None = None
    error_topic: sns.ITopic | None = None
    topic_keys: Sequence[kms.IKey] = ()

    @property
    def topics(self) -> list[sns.ITopic]:
        return [topic for topic in (self.success_topic, self.error_topic) if topic is not None]


def repository_arn(scope: Construct, *, account: str, region: str, repository: str) -> str:
    """The ARN of an ECR repository (the image's registry account and region; "" for the stack's own)."""
    return Stack.of(scope).format_arn(
        service="ecr", account=account or None, region=region or None, resource="repository", resource_name=repository
    )


class ExecutionRole:
    """The role SageMaker assumes to run the model, with one scoped and one service-wide managed policy (and one
    for network interfaces in the VPC).

    Exposes ``role``, ``policies`` (the model and endpoint depend on them), ``model_prefix`` (the models-bucket
    prefix every version of the model lives under, or ``None`` for an external artifact).
    """

    def __init__(
        self,
        scope: Construct,
        *,
        config: InferenceEndpoint,
        endpoint_name: str,
        capture_prefix: str,
        log_group: logs.ILogGroup,
        models_bucket: s3.IBucket,
        models_bucket_key: kms.IKey | None,
        capture_bucket: s3.IBucket,
        capture_bucket_key: kms.IKey | None,
        ml_key: kms.IKey,
        async_notifications: AsyncNotifications,
        registry: RegistryConfig | None = None,
    ) -> None:
        """
        :param scope: the endpoint construct; the role and its policies are created in it.
        :param capture_prefix: the endpoint's prefix of the capture bucket (capture, async input and results).
        :param models_bucket_key: the models bucket's key; the role may decrypt the artifact with it. None: no
            decrypt permission.
        :param capture_bucket_key: the capture bucket's default key (asynchronous inputs uploaded without an
            encryption header use it). None: inputs are decrypted with ``ml_key`` only.
        :param ml_key: capture and asynchronous results are written with this key.
        :param registry: the environment's model registry, where a package variant's group declares the
            repositories and the models-bucket prefix of its versions. Default: none (no package variants).
        """
        self._scope = scope
        self.role = iam.Role(
            scope,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"SageMaker execution role of endpoint {endpoint_name}",
        )
        asynchronous = config.async_inference
        writes_to_capture = config.data_capture.enabled or asynchronous is not None
        sources = model_sources(config, registry or RegistryConfig())
        statements = [
            iam.PolicyStatement(
                sid="PullTheModelImage",
                actions=list(ECR_PULL_ACTIONS),
                resources=[
                    repository_arn(scope, account=account, region=region, repository=repository)
                    for account, region, repository in sources.repositories
                ],
            ),
            iam.PolicyStatement(
                sid="WriteTheEndpointLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[log_group.log_group_arn],
            ),
        ]
        # Every version of each model under its prefix (<model>/<version>/...): SageMaker downloads the artifact
        # with this role whenever it launches an instance, and a rollback, or an old-fleet instance replaced while a
        # new version bakes, launches instances of the *previous* model version (unverified that replacement
        # instances download again: the SageMaker guide only says the role is used "to access model artifacts ...
        # for deployment on ML compute instances"; reading the prefix is safe either way). A multi-model container
        # reads the models under its prefix, a registry package the prefix its group declares.
        self.model_prefixes: tuple[str, ...] = sources.prefixes
        self.model_prefix: str | None = sources.prefixes[0] if sources.prefixes else None
        if sources.prefixes:
            statements += object_read_statements(
                sid="ModelVersions",
                bucket=models_bucket,
                keys=[models_bucket_key] if models_bucket_key is not None else [],
                prefixes=list(sources.prefixes),
                list_objects=False,
            )
        if sources.external_objects:
            partition = Stack.of(scope).partition
            statements.append(
                iam.PolicyStatement(
                    sid="ReadTheModelArtifact",
                    actions=["s3:GetObject"],
                    resources=[f"arn:{partition}:s3:::{location}" for location in sources.external_objects],
                )
            )
        if writes_to_capture:
            # Data capture and asynchronous results, written with the ML key (S3 decrypts the data key to complete
            # multipart uploads, so the write helper grants Decrypt too).
            statements += object_write_statements(
                sid="EndpointCapture", bucket=capture_bucket, keys=[ml_key], prefixes=[f"{capture_prefix}/"]
            )
        if asynchronous is not None:
            # SageMaker reads each request's payload from its InputLocation with this role ("Asynchronous Inference
            # needs access to your Amazon S3 bucket URI", SageMaker guide, async inference prerequisites). Clients
            # upload under <endpoint>/<input prefix>/ with the bucket's default key or the ML key (the capture
            # bucket accepts both).
            input_keys = [ml_key, *([capture_bucket_key] if capture_bucket_key is not None else [])]
            statements += object_read_statements(
                sid="AsyncInput",
                bucket=capture_bucket,
                keys=input_keys,
                prefixes=[f"{capture_prefix}/{asynchronous.input_prefix}/"],
                list_objects=False,
            )
            if async_notifications.topics:
                statements.append(
                    iam.PolicyStatement(
                        sid="NotifyAsyncResults",
                        actions=["sns:Publish"],
                        resources=sorted({t.topic_arn for t in async_notifications.topics}, key=str),
                    )
                )
            if async_notifications.topic_keys:
                statements.append(
                    iam.PolicyStatement(
                        sid="EncryptAsyncNotifications",
                        actions=["kms:GenerateDataKey", "kms:Decrypt"],
                        resources=[key.key_arn for key in async_notifications.topic_keys],
                        conditions={"StringEquals": {"kms:ViaService": f"sns.{Stack.of(scope).region}.amazonaws.com"}},
                    )
                )
        self.scoped = iam.ManagedPolicy(
            scope,
            "ScopedPermissions",
            description=f"What endpoint {endpoint_name} reads and writes, resource by resource",
            statements=statements,
            roles=[self.role],
        )
        service_wide = iam.ManagedPolicy(
            scope,
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
        self.policies = [self.scoped, service_wide]
        if config.serverless is None:
            network = iam.ManagedPolicy(
                scope,
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
            self.policies.append(network)
        wildcard_suffixes = [f"/{capture_prefix}/*"] if writes_to_capture else []
        wildcard_suffixes += [f"/{prefix}*" for prefix in self.model_prefixes]
        if asynchronous is not None:
            wildcard_suffixes.append(f"/{capture_prefix}/{asynchronous.input_prefix}/*")
        if wildcard_suffixes:
            acknowledge_resource_wildcards(
                self.scoped,
                suffixes=wildcard_suffixes,
                reason="SageMaker names every captured or asynchronous-result object itself (date path and UUID), "
                "clients name asynchronous inputs, and each version of the model lives under the model's own "
                "prefix (a rollback reads the previous one): each grant is limited to the endpoint's prefix of the "
                "capture bucket or the model's prefix of the models bucket.",
            )

    def allow_describe_alarms(self, alarm_names: Sequence[str]) -> None:
        """Let SageMaker read the rollback alarms: "ensure that your execution role has permission to perform the
        cloudwatch:DescribeAlarms action on your auto-rollback alarms" (SageMaker developer guide, CreateModel API:
        Execution Role Permissions). By name, not by reference: the alarms depend on the endpoint configuration,
        which depends on this role's policies."""
        stack = Stack.of(self._scope)
        self.scoped.add_statements(
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
                    for name in alarm_names
                ],
            )
        )
