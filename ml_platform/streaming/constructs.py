"""Streaming ingestion constructs: the encrypted Kinesis stream and the transform Lambda (the Firehose delivery
into the raw zone is delivery.py)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ml_platform.shared.compliance import acknowledge, acknowledge_finding, acknowledge_resource_wildcards
from ml_platform.shared.log_retention import retention
from ml_platform.streaming.powertools_layer import PowertoolsLayer
from ml_platform.streaming.runtime import FIREHOSE_TRANSFORM

TRANSFORM_RUNTIME = lambda_.Runtime.PYTHON_3_14
TRANSFORM_ARCHITECTURE = lambda_.Architecture.X86_64


class EncryptedStream(Construct):
    """A Kinesis data stream encrypted with a customer-managed key."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stream_name: str,
        encryption_key: kms.IKey,
        shard_count: int | None,
        retention_hours: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        """
        :param shard_count: provisioned shards; ``None`` selects on-demand capacity mode.
        :param retention_hours: how long records stay readable (24-8,760).
        :param removal_policy: RETAIN keeps the stream (and its unread records) when the stack is deleted.
        """
        super().__init__(scope, construct_id)
        self.stream = kinesis.Stream(
            self,
            "Stream",
            stream_name=stream_name,
            stream_mode=kinesis.StreamMode.ON_DEMAND if shard_count is None else kinesis.StreamMode.PROVISIONED,
            shard_count=shard_count,
            retention_period=Duration.hours(retention_hours),
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=encryption_key,
            removal_policy=removal_policy,
        )
        acknowledge(
            self.stream,
            "AwsSolutions-KDS3",
            "KDS3 recommends the AWS-managed aws/kinesis key for cost; the platform requires a customer-managed key "
            "so that the key policy, rotation and CloudTrail key-use audit are under the platform's control and "
            "the Firehose role's kms:Decrypt can be scoped to this one key.",
        )


class TransformFunction(Construct):
    """The Firehose data-transformation Lambda (code in ``runtime/firehose_transform``), in the VPC's isolated
    subnets, with a KMS-encrypted log group and reserved concurrency."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function_name: str,
        schema_rules_json: str,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_groups: Sequence[ec2.ISecurityGroup],
        logs_key: kms.IKey,
        log_retention_days: int,
        memory_mib: int,
        timeout_seconds: int,
        reserved_concurrency: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        """
        :param schema_rules_json: the event schema's validation rules (``EventSchema.validation_rules_json()``),
            handed to the function in the ``EVENT_SCHEMA`` environment variable.
        :param reserved_concurrency: reserved and therefore maximum concurrency.
        """
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{function_name}",
            encryption_key=logs_key,
            retention=retention(log_retention_days),
            removal_policy=removal_policy,
        )
        # Powertools exactly as tested (built from the pinned, installed distributions; no public layer ARN).
        powertools = PowertoolsLayer(
            self, "Powertools", runtime=TRANSFORM_RUNTIME, architecture=TRANSFORM_ARCHITECTURE
        ).layer
        # An explicit role with one customer-managed policy: no AWS-managed policies (AwsSolutions-IAM4) and
        # no inline policy (IAMNoInlinePolicy). CDK's own additions (X-Ray, VPC) are blocked by
        # without_policy_updates() and granted here instead.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{function_name}: write its logs and traces, attach to the VPC",
        )
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="WriteOwnLogs",
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[
                        Stack.of(self).format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name=f"{self.log_group.log_group_name}:log-stream:*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
                ),
                iam.PolicyStatement(
                    sid="AttachToVpc",
                    actions=[
                        "ec2:CreateNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeSubnets",
                        "ec2:DeleteNetworkInterface",
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses",
                    ],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="WriteTraces",
                    actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                    resources=["*"],
                ),
            ],
        )
        acknowledge_resource_wildcards(
            self.policy,
            matches=lambda resource: resource == "*",
            reason="The EC2 network-interface actions Lambda needs to attach to a VPC and the X-Ray PutTraceSegments/"
            "PutTelemetryRecords actions support no resource-level permissions; AWS documents Resource '*' for them.",
        )
        acknowledge_resource_wildcards(
            self.policy,
            matches=lambda resource: resource.endswith(":log-stream:*"),
            reason="Lambda names its log streams per execution environment at run time (date/[version]id); the "
            "wildcard covers only the streams of this function's own log group.",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            role=self.role.without_policy_updates(),
            function_name=function_name,
            description="Validates, normalizes and partitions ingest events for Firehose",
            runtime=TRANSFORM_RUNTIME,
            architecture=TRANSFORM_ARCHITECTURE,
            handler="handler.lambda_handler",
            code=lambda_.Code.from_asset(str(FIREHOSE_TRANSFORM), exclude=["__pycache__", "*.pyc"]),
            memory_size=memory_mib,
            timeout=Duration.seconds(timeout_seconds),
            reserved_concurrent_executions=reserved_concurrency,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=list(security_groups),
            log_group=self.log_group,
            layers=[powertools],
            tracing=lambda_.Tracing.ACTIVE,
            environment={
                "EVENT_SCHEMA": schema_rules_json,
                "POWERTOOLS_SERVICE_NAME": "firehose-transform",
                "POWERTOOLS_METRICS_NAMESPACE": "MlPlatform/Ingest",
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
        )
        # Lambda checks the ENI permissions when it creates a VPC function: the policy must be attached first.
        # DependsOn is set whole: CDK's own DependsOn on the role is redundant with the Role reference (cfn-lint W3005).
        cfn_function = self.function.node.default_child
        cfn_policy = self.policy.node.default_child
        cfn_function.add_override("DependsOn", [Stack.of(self).get_logical_id(cfn_policy)])  # type: ignore[union-attr,arg-type]
        acknowledge_finding(
            self.function,
            "LambdaDLQ",
            reason="Firehose invokes the transform synchronously; a dead-letter queue only receives failed "
            "asynchronous invocations. Records the function rejects or fails on go to the lake's error prefix instead.",
        )
