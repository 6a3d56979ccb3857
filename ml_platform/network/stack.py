"""Network: the isolated VPC with flow logs, its VPC endpoints and the security groups other stacks use."""

from __future__ import annotations

from typing import Any

from aws_cdk import Fn
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from ml_platform.core.images import MODEL_MONITOR_REGISTRY_ACCOUNTS
from ml_platform.network.endpoints import VpcEndpoints
from ml_platform.network.vpc import IsolatedVpc
from ml_platform.shared.stack import PlatformStack


class NetworkStack(PlatformStack):
    """Stateful only through the flow log group; everything else can be recreated.

    Exposes for other stacks: ``vpc``, ``isolated_subnets`` (where Lambda functions and SageMaker models go),
    ``endpoint_security_group`` (the interface endpoints') and ``workload_security_group`` (give it to every
    workload in the VPC: HTTPS out to the endpoints and S3 only).
    """

    def __init__(self, scope: Construct, construct_id: str, *, logs_key: kms.IKey, **kwargs: Any) -> None:
        """
        :param logs_key: the environment's CloudWatch Logs key (``SecurityStack.logs_key``).
        """
        super().__init__(scope, construct_id, description="Isolated VPC, flow logs and VPC endpoints", **kwargs)
        config = self.config
        network = config.network
        isolated = IsolatedVpc(
            self,
            "Network",
            cidr=network.vpc_cidr,
            availability_zones=self.availability_zones,
            subnet_prefix_length=network.subnet_prefix_length(config.stage),
            flow_log_key=logs_key,
            flow_log_retention_days=config.resolved_log_retention_days,
            flow_log_group_name=f"/{config.tags.project}/{config.name}/vpc-flow-logs",
            removal_policy=self.stateful_removal_policy,
        )
        s3_prefix_list = network.resolved_prefix_list_id("s3", config.region)
        if s3_prefix_list is None:  # the config rule guarantees it; kept so the type is a str below
            raise ValueError(f"environment {config.name!r}: no S3 prefix list for {config.region}")
        endpoints = VpcEndpoints(
            self,
            "Endpoints",
            vpc=isolated.vpc,
            vpc_cidr=network.vpc_cidr,
            subnets=isolated.isolated_subnets,
            interface_endpoints=network.resolved_interface_endpoints(config.stage, config.enabled_components),
            s3_bucket_patterns=network.platform_bucket_patterns(config.tags.project, config.name),
            s3_prefix_list_id=s3_prefix_list,
            dynamodb_gateway=network.dynamodb_gateway_endpoint,
            dynamodb_prefix_list_id=network.resolved_prefix_list_id("dynamodb", config.region),
            aws_image_accounts=(
                [MODEL_MONITOR_REGISTRY_ACCOUNTS[config.region]]
                if any(endpoint.model_monitor for endpoint in config.inference.endpoints)
                else []
            ),
        )
        self.vpc: ec2.IVpc = isolated.vpc
        self.isolated_subnets: ec2.SubnetSelection = isolated.isolated_subnets
        self.endpoint_security_group: ec2.ISecurityGroup = endpoints.endpoint_security_group
        self.workload_security_group: ec2.ISecurityGroup = endpoints.workload_security_group
        self.flow_log_group: logs.ILogGroup = isolated.flow_log_group
        self.interface_endpoint_names: tuple[str, ...] = tuple(endpoints.interface_endpoints)

    @property
    def availability_zones(self) -> list[str]:
        """The first ``network.az_count`` AZs of the region as ``Fn::Select``/``Fn::GetAZs`` (resolved by
        CloudFormation in the target account), never a context lookup.

        ``cdk.Stack`` looks the AZs up in the account when the stack has a concrete account (a network call
        at synth, and a "missing context" entry in the manifest); this override removes that. ``Fn::GetAZs``
        also follows each account's own AZ names (not every account has ``<region>a``, e.g. in us-west-1),
        and cfn-lint and the CDK's template validation reject hard-coded AZ names (W3010).
        """
        count = self.config.network.resolved_az_count(self.config.stage)
        return [Fn.select(index, Fn.get_azs()) for index in range(count)]
