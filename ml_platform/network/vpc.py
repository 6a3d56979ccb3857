"""An isolated VPC: private subnets without any route to the internet, the default security group closed, and
flow logs of all traffic in a KMS-encrypted log group."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, CfnResource, Fn, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from ml_platform.shared.compliance import acknowledge_control

ISOLATED_SUBNET_GROUP = "Isolated"


class IsolatedVpc(Construct):
    """A VPC with one isolated subnet per Availability Zone and nothing else: no internet gateway, no NAT
    gateway, no public subnet. Workloads reach AWS services only through VPC endpoints.

    * The default security group is stripped of its rules by the CDK's ``Custom::VpcRestrictDefaultSG``
      custom resource (the only way to change it: CloudFormation cannot manage that group's rules); the
      provider function's log group is created here with the same key and retention as the flow logs.
    * Flow logs of ALL traffic (accepted and rejected) go to a log group encrypted with ``flow_log_key``,
      written by a role that only the VPC Flow Logs service of this account may assume (confused-deputy
      conditions from the VPC Flow Logs IAM documentation) and that may only write to that log group.

    The stack must give the VPC's Availability Zones without a context lookup (see
    ``ml_platform.network.stack.NetworkStack.availability_zones``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cidr: str,
        availability_zones: Sequence[str],
        subnet_prefix_length: int,
        flow_log_key: kms.IKey,
        flow_log_retention_days: int,
        flow_log_group_name: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        """
        :param cidr: the VPC's IPv4 CIDR block (validated by the caller).
        :param availability_zones: one isolated subnet is created in each, in this order.
        :param subnet_prefix_length: prefix length of each subnet; the subnets are allocated from the start of
            ``cidr`` in AZ order, so ``len(availability_zones)`` of them must fit.
        :param flow_log_key: CMK that encrypts the flow log group and the provider function's log group (its
            key policy must let CloudWatch Logs of this account and region use it).
        :param flow_log_retention_days: retention of both log groups (a CloudWatch Logs retention value).
        :param flow_log_group_name: physical name of the flow log group (stable: changing it replaces the group).
        :param removal_policy: what happens to both log groups when the stack deletes or replaces them.
        """
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            availability_zones=list(availability_zones),
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name=ISOLATED_SUBNET_GROUP,
                    subnet_type=ec2.SubnetType.PRIVATE_ISOLATED,
                    cidr_mask=subnet_prefix_length,
                )
            ],
            nat_gateways=0,
            create_internet_gateway=False,
            # Private DNS names of interface endpoints need both (Amazon VPC: "DNS attributes for your VPC").
            enable_dns_hostnames=True,
            enable_dns_support=True,
            restrict_default_security_group=True,
        )
        self.isolated_subnets = ec2.SubnetSelection(subnet_group_name=ISOLATED_SUBNET_GROUP)

        self.flow_log_group = logs.LogGroup(
            self,
            "FlowLogGroup",
            log_group_name=flow_log_group_name,
            encryption_key=flow_log_key,
            removal_policy=removal_policy,
        )
        # The L2 takes retention as an enum; the config gives days (already validated against the allowed set).
        cfn_log_group = self.flow_log_group.node.default_child
        assert isinstance(cfn_log_group, logs.CfnLogGroup)
        cfn_log_group.retention_in_days = flow_log_retention_days

        self.flow_log_role = iam.Role(
            self,
            "FlowLogRole",
            description="Lets VPC Flow Logs of this account write the VPC's flow log group",
            assumed_by=iam.ServicePrincipal(
                "vpc-flow-logs.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{Aws.PARTITION}:ec2:{Aws.REGION}:{Aws.ACCOUNT_ID}:vpc-flow-log/*"
                    },
                },
            ),
        )
        # Exactly what the Flow Logs service does with the group (VPC User Guide, "IAM role for publishing flow
        # logs to CloudWatch Logs"), on this group only (its ARN ends in ":*", which covers its streams). The
        # group exists, so no logs:CreateLogGroup. A managed policy, not an inline one (IAMNoInlinePolicy).
        self.flow_log_policy = iam.ManagedPolicy(
            self,
            "FlowLogPolicy",
            description="Write VPC flow logs to the VPC's flow log group",
            statements=[
                iam.PolicyStatement(
                    actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    resources=[self.flow_log_group.log_group_arn],
                )
            ],
            roles=[self.flow_log_role],
        )
        self.flow_log = ec2.FlowLog(
            self,
            "FlowLog",
            resource_type=ec2.FlowLogResourceType.from_vpc(self.vpc),
            # without_policy_updates: the destination would otherwise add the same grant as an inline policy.
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                self.flow_log_group, self.flow_log_role.without_policy_updates()
            ),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        # Deliver from the first minute: create the flow log once its role may write.
        self.flow_log.node.add_dependency(self.flow_log_policy)
        self.default_security_group_cleaner_log_group = _tidy_default_security_group_provider(
            self.vpc, log_key=flow_log_key, retention_days=flow_log_retention_days, removal_policy=removal_policy
        )


# The CDK's singleton provider behind Custom::VpcRestrictDefaultSG (one Lambda function per stack).
_RESTRICT_DEFAULT_SG_PROVIDER = "Custom::VpcRestrictDefaultSGCustomResourceProvider"


def _tidy_default_security_group_provider(
    vpc: ec2.Vpc, *, log_key: kms.IKey, retention_days: int, removal_policy: RemovalPolicy
) -> logs.ILogGroup:
    """Bring the CDK's default-security-group provider function up to the platform's rules.

    * Its log group (``/aws/lambda/<function>``) is created here, encrypted with ``log_key`` and with a
      retention, before the custom resource first runs the function; otherwise Lambda would create it
      unencrypted and kept forever.
    * Its handler's ``DependsOn`` on its role is dropped: the ``Fn::GetAtt`` of the role's ARN already orders
      them, and cfn-lint reports the redundant dependency (W3005).

    * The Control Tower control CT.LAMBDA.PR.3 (function in a VPC) is acknowledged on its handler (see the
      reason there).

    cdk-nag raises no finding on this provider (its function and role are plain ``CfnResource``s, which the
    Lambda and IAM rules do not inspect), and the packs' ``VPCDefaultSecurityGroupClosed`` rule requires exactly
    this custom resource, so it is the compliant way to close the default security group.
    """
    provider = Stack.of(vpc).node.find_child(_RESTRICT_DEFAULT_SG_PROVIDER)
    existing = provider.node.try_find_child("LogGroup")
    if isinstance(existing, logs.LogGroup):
        return existing
    handler = provider.node.find_child("Handler")
    role = provider.node.find_child("Role")
    assert isinstance(handler, CfnResource) and isinstance(role, CfnResource)
    handler.remove_resource_dependency(role)
    acknowledge_control(
        handler,
        "CT.LAMBDA.PR.3",
        "CDK's default-security-group provider function (a plain CfnResource without VPC settings) calls the EC2 "
        "API to revoke the default group's rules and answers CloudFormation at a pre-signed URL of an AWS-owned "
        "S3 bucket; the isolated subnets have no EC2 endpoint and the S3 gateway endpoint's allow-list admits "
        "only the platform's buckets, so inside the VPC it could do neither, and opening the endpoint to that "
        "bucket would give every workload a way to write data out. It runs only during deployments.",
    )
    log_group = logs.LogGroup(
        provider,
        "LogGroup",
        log_group_name=Fn.join("", ["/aws/lambda/", handler.ref]),
        encryption_key=log_key,
        removal_policy=removal_policy,
    )
    cfn_log_group = log_group.node.default_child
    assert isinstance(cfn_log_group, logs.CfnLogGroup)
    cfn_log_group.retention_in_days = retention_days
    vpc.node.find_child("RestrictDefaultSecurityGroupCustomResource").node.add_dependency(log_group)
    return log_group
