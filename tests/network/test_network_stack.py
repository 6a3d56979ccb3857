"""Network stack: isolated VPC, flow logs, gateway and interface endpoints, security groups.

One file (~450 lines): the stack is one unit (the endpoints, their policies and security groups refer to each other).
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Match, Template

from ml_platform.environments import load_environments
from ml_platform.network.config import INTERFACE_ENDPOINT_CATALOGUE
from ml_platform.network.endpoints import INTERFACE_ENDPOINT_SERVICES, PLATFORM_BUCKET_ACTIONS
from ml_platform.network.stack import NetworkStack
from ml_platform.security.stack import SecurityStack
from ml_platform.shared.compliance import findings
from tests.conftest import imports_security_key, new_app, one_resource
from tests.network.conftest import network_environment

ENVS = ["dev", "prod"]


def _expected_subnets(config) -> list[str]:
    """The subnet CIDRs of an environment: its CIDR cut into az_count equal parts, allocated from the start."""
    vpc = ipaddress.IPv4Network(config.network.vpc_cidr)
    subnets = vpc.subnets(new_prefix=config.network.subnet_prefix_length(config.stage))
    return [str(s) for s in list(subnets)[: config.network.resolved_az_count(config.stage)]]


def test_declared_environments_keep_the_stage_default_layout(platform):
    # Given the declared dev and prod (default CIDR, default AZ count), Then the layout is the documented one
    assert _expected_subnets(platform.environments["dev"]) == ["10.20.0.0/17", "10.20.128.0/17"]
    assert _expected_subnets(platform.environments["prod"]) == ["10.20.0.0/18", "10.20.64.0/18", "10.20.128.0/18"]


def _only(resources: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    return one_resource(resources)


def _props(resource: dict[str, Any]) -> dict[str, Any]:
    return resource.get("Properties", {})


def _logical_id(platform, env: str, prefix: str) -> str:
    return one_resource(platform.stack(env, "Network").resources, prefix=prefix)[0]


# ------------------------------------------------------------------------------------------------- VPC


@pytest.mark.parametrize("env", ENVS)
def test_no_internet_gateway_nat_or_public_route(platform, env):
    # Given the network stack, Then nothing in it leads to or from the internet
    template = platform.template(env, "Network")
    for resource_type in (
        "AWS::EC2::InternetGateway",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::NatGateway",
        "AWS::EC2::EIP",
        "AWS::EC2::EgressOnlyInternetGateway",
        "AWS::EC2::Route",
    ):
        template.resource_count_is(resource_type, 0)
    template.all_resources_properties("AWS::EC2::Subnet", {"MapPublicIpOnLaunch": False})


@pytest.mark.parametrize("env", ENVS)
def test_one_isolated_subnet_per_az_without_az_lookups(platform, env):
    # Given the stage's AZ count, Then there is one isolated subnet per AZ, each in the n-th AZ of Fn::GetAZs
    by_id = platform.resources(env, "Network", "AWS::EC2::Subnet")
    subnets = [by_id[k] for k in sorted(by_id)]  # IsolatedSubnet1, 2, 3: the AZ order
    config = platform.environments[env]
    azs = config.network.resolved_az_count(config.stage)
    assert [_props(s)["CidrBlock"] for s in subnets] == _expected_subnets(config)
    assert [_props(s)["AvailabilityZone"] for s in subnets] == [
        {"Fn::Select": [index, {"Fn::GetAZs": ""}]} for index in range(azs)
    ]
    for subnet in subnets:
        tags = {t["Key"]: t["Value"] for t in _props(subnet)["Tags"]}
        assert tags["aws-cdk:subnet-type"] == "Isolated"
    # And every subnet has its own route table with no route at all (only the VPC-local one and endpoint routes)
    platform.template(env, "Network").resource_count_is("AWS::EC2::RouteTable", azs)


@pytest.mark.parametrize("env", ENVS)
def test_vpc_cidr_and_dns_for_private_endpoint_names(platform, env):
    _, vpc = _only(platform.resources(env, "Network", "AWS::EC2::VPC"))
    assert _props(vpc)["CidrBlock"] == platform.environments[env].network.vpc_cidr
    assert _props(vpc)["EnableDnsHostnames"] is True and _props(vpc)["EnableDnsSupport"] is True


@pytest.mark.parametrize("env", ENVS)
def test_default_security_group_is_stripped_by_the_cdk_custom_resource(platform, env):
    # Given the VPC, Then the CDK's custom resource empties its default security group
    _, restrict = _only(platform.resources(env, "Network", "Custom::VpcRestrictDefaultSG"))
    vpc_id = _only(platform.resources(env, "Network", "AWS::EC2::VPC"))[0]
    assert _props(restrict)["DefaultSecurityGroupId"] == {"Fn::GetAtt": [vpc_id, "DefaultSecurityGroup"]}
    # And its provider function logs to a KMS-encrypted log group with the stage's retention, created first
    log_group_id = _logical_id(platform, env, "CustomVpcRestrictDefaultSGCustomResourceProviderLogGroup")
    assert restrict["DependsOn"] == [log_group_id]
    log_group = platform.stack(env, "Network").resources[log_group_id]
    handler_id = _logical_id(platform, env, "CustomVpcRestrictDefaultSGCustomResourceProviderHandler")
    assert _props(log_group)["LogGroupName"] == {"Fn::Join": ["", ["/aws/lambda/", {"Ref": handler_id}]]}
    assert _is_logs_key(_props(log_group)["KmsKeyId"], env)
    assert _props(log_group)["RetentionInDays"] == platform.environments[env].resolved_log_retention_days


# ----------------------------------------------------------------------------------------------- flow logs


def _is_logs_key(value: Any, env: str) -> bool:
    """A reference to the Security stack's logs key ARN (weak cross-stack reference)."""
    return imports_security_key(value, "LogsKey", env)


@pytest.mark.parametrize(("env", "retention", "policy"), [("dev", 365, "Delete"), ("prod", 365, "Retain")])
def test_flow_log_of_all_traffic_to_an_encrypted_log_group(platform, env, retention, policy):
    # Given the network stack
    resources = platform.stack(env, "Network").resources
    _, flow_log = _only(platform.resources(env, "Network", "AWS::EC2::FlowLog"))
    log_group_id = _logical_id(platform, env, "NetworkFlowLogGroup")
    log_group = resources[log_group_id]
    # Then the VPC's flow log captures ALL traffic into the flow log group
    assert _props(flow_log)["ResourceType"] == "VPC"
    assert _props(flow_log)["ResourceId"] == {"Ref": _only(platform.resources(env, "Network", "AWS::EC2::VPC"))[0]}
    assert _props(flow_log)["TrafficType"] == "ALL"
    assert _props(flow_log)["LogDestinationType"] == "cloud-watch-logs"
    assert _props(flow_log)["LogGroupName"] == {"Ref": log_group_id}
    # And the group is encrypted with the logs key, keeps the stage's retention and follows the stage's removal
    assert _props(log_group)["LogGroupName"] == f"/ml-platform/{env}/vpc-flow-logs"
    assert _is_logs_key(_props(log_group)["KmsKeyId"], env)
    assert _props(log_group)["RetentionInDays"] == retention
    assert log_group["DeletionPolicy"] == policy and log_group["UpdateReplacePolicy"] == policy


def test_flow_log_role_is_least_privilege(platform):
    # Given the flow log's role
    resources = platform.stack("dev", "Network").resources
    _, flow_log = _only(platform.resources("dev", "Network", "AWS::EC2::FlowLog"))
    role_id = _props(flow_log)["DeliverLogsPermissionArn"]["Fn::GetAtt"][0]
    role = resources[role_id]
    # Then only VPC Flow Logs of this account may assume it
    (trust,) = _props(role)["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source_arn = trust["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Join"][1]
    assert source_arn[-1] == ":vpc-flow-log/*" and {"Ref": "AWS::AccountId"} in source_arn
    # And its only permissions are writing streams of the flow log group, through a managed policy
    assert "Policies" not in _props(role) and "ManagedPolicyArns" not in _props(role)
    policies = [r for r in platform.resources("dev", "Network", "AWS::IAM::ManagedPolicy").values()
                if {"Ref": role_id} in _props(r)["Roles"]]  # fmt: skip
    assert [p["Properties"]["PolicyDocument"]["Statement"] for p in policies] == [
        [
            {
                "Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                "Effect": "Allow",
                "Resource": {"Fn::GetAtt": [_logical_id(platform, "dev", "NetworkFlowLogGroup"), "Arn"]},
            }
        ]
    ]
    platform.template("dev", "Network").resource_count_is("AWS::IAM::Policy", 0)


# ---------------------------------------------------------------------------------------- gateway endpoints


def _s3_gateway(platform, env: str) -> dict[str, Any]:
    (gateway,) = [
        r for r in platform.resources(env, "Network", "AWS::EC2::VPCEndpoint").values()
        if _props(r)["ServiceName"] == {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".s3"]]}
    ]  # fmt: skip
    return gateway


@pytest.mark.parametrize("env", ENVS)
def test_s3_gateway_endpoint_policy_allows_only_platform_and_documented_aws_buckets(platform, env):
    # Given the S3 gateway endpoint
    gateway = _s3_gateway(platform, env)
    # Then it routes from every isolated subnet's route table
    route_tables = sorted(platform.resources(env, "Network", "AWS::EC2::RouteTable"))
    assert sorted(ref["Ref"] for ref in _props(gateway)["RouteTableIds"]) == route_tables
    # And its policy is exactly: the platform's buckets of this account, ECR layers, JumpStart artifacts
    account = {"Ref": "AWS::AccountId"}
    assert _props(gateway)["PolicyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PlatformBuckets",
                "Effect": "Allow",
                "Principal": "*",
                "Action": sorted(PLATFORM_BUCKET_ACTIONS),
                "Resource": [f"arn:aws:s3:::ml-platform-{env}-*", f"arn:aws:s3:::ml-platform-{env}-*/*"],
                "Condition": {"StringEquals": {"aws:ResourceAccount": account, "aws:PrincipalAccount": account}},
            },
            {
                "Sid": "EcrImageLayers",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::prod-eu-west-1-starport-layer-bucket/*",
            },
            {
                "Sid": "SageMakerJumpStartArtifacts",
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::jumpstart-cache-prod-eu-west-1/*",
            },
        ],
    }


def test_s3_policy_denies_everything_else_by_allowing_nothing_else(platform):
    # Given the policy, Then no statement is a wildcard resource, a Deny, or a write to an AWS-owned bucket
    statements = _props(_s3_gateway(platform, "prod"))["PolicyDocument"]["Statement"]
    resources = [r for s in statements for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])]
    assert "*" not in resources and "arn:aws:s3:::*" not in resources
    assert all(s["Effect"] == "Allow" for s in statements)
    assert not [r for r in resources if "amazonlinux" in r or "packages." in r or "repo." in r]
    for statement in statements:
        if statement["Sid"] != "PlatformBuckets":
            assert statement["Action"] == "s3:GetObject"


@pytest.mark.parametrize("env", ENVS)
def test_no_dynamodb_gateway_by_default(platform, env):
    endpoints = platform.resources(env, "Network", "AWS::EC2::VPCEndpoint").values()
    assert not [r for r in endpoints if "dynamodb" in json.dumps(_props(r)["ServiceName"])]


# -------------------------------------------------------------------------------------- interface endpoints


def _interface_endpoints(platform, env: str) -> dict[str, dict[str, Any]]:
    return {
        k: r for k, r in platform.resources(env, "Network", "AWS::EC2::VPCEndpoint").items()
        if _props(r).get("VpcEndpointType") == "Interface"
    }  # fmt: skip


@pytest.mark.parametrize("env", ENVS)
def test_each_selected_interface_endpoint_has_private_dns_the_shared_group_and_every_subnet(platform, env):
    # Given the environment's selection (the stage default for its enabled components)
    config = platform.environments[env]
    selected = config.network.resolved_interface_endpoints(config.stage, config.enabled_components)
    endpoints = _interface_endpoints(platform, env)
    # Then there is one endpoint per selected service, no more
    assert sorted(_props(r)["ServiceName"] for r in endpoints.values()) == sorted(
        f"com.amazonaws.eu-west-1.{INTERFACE_ENDPOINT_CATALOGUE[name].service}" for name in selected
    )
    # And each has private DNS, the one endpoint security group, and a network interface in every isolated subnet
    group_id = _logical_id(platform, env, "EndpointsEndpointSecurityGroup")
    subnets = sorted(platform.resources(env, "Network", "AWS::EC2::Subnet"))
    for resource in endpoints.values():
        assert _props(resource)["PrivateDnsEnabled"] is True
        assert _props(resource)["SecurityGroupIds"] == [{"Fn::GetAtt": [group_id, "GroupId"]}]
        assert sorted(s["Ref"] for s in _props(resource)["SubnetIds"]) == subnets


@pytest.mark.parametrize("env", ENVS)
def test_every_interface_endpoint_has_a_data_perimeter_policy(platform, env):
    # Regression: the endpoints had the default full-access policy, so credentials of any account could reach any
    # account's resources through them. Each now allows principals of this account on resources of this account,
    # plus only the documented, account-less exceptions (ECR tokens and AWS's SageMaker images, PutMetricData).
    account = {"Ref": "AWS::AccountId"}
    for logical_id, resource in _interface_endpoints(platform, env).items():
        document = _props(resource).get("PolicyDocument")
        assert document is not None, f"{logical_id} has the default full-access policy"
        base, *exceptions = document["Statement"]
        assert base["Sid"] == "PrincipalsAndResourcesOfThisAccount" and base["Principal"] == "*"
        assert base["Condition"] == {"StringEquals": {"aws:PrincipalAccount": account, "aws:ResourceAccount": account}}
        for statement in exceptions:
            assert statement["Condition"] == {"StringEquals": {"aws:PrincipalAccount": account}}, logical_id
            assert statement["Action"] != "*" and statement["Effect"] == "Allow", logical_id
        service = str(_props(resource)["ServiceName"]).rsplit(".", 2)
        sids = {statement["Sid"] for statement in exceptions}
        if service[-2] == "ecr":
            assert "AuthenticateToEcr" in sids
            monitored = any(e.model_monitor for e in platform.environments[env].inference.endpoints)
            assert ("PullAwsOwnedSageMakerImages" in sids) is monitored
        elif service[-1] == "monitoring":
            assert sids == {"PublishMetricsOfThisAccount"}


@pytest.mark.parametrize("env", ENVS)
def test_endpoint_security_group_allows_https_from_the_vpc_cidr_only_and_no_egress(platform, env):
    # Given the endpoint security group
    group_id = _logical_id(platform, env, "EndpointsEndpointSecurityGroup")
    group = platform.stack(env, "Network").resources[group_id]
    # Then its one ingress rule is TCP 443 from the VPC CIDR
    cidr = platform.environments[env].network.vpc_cidr
    assert _props(group)["SecurityGroupIngress"] == [
        {"CidrIp": cidr, "Description": "HTTPS from the VPC", "FromPort": 443, "IpProtocol": "tcp", "ToPort": 443}
    ]
    # And no separate ingress rule targets it
    ingress = platform.resources(env, "Network", "AWS::EC2::SecurityGroupIngress").values()
    assert not [r for r in ingress if _props(r)["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}]
    # And its only egress rule is CDK's "match no traffic" placeholder (it removes the default allow-all)
    assert _props(group)["SecurityGroupEgress"] == [
        {
            "CidrIp": "255.255.255.255/32",
            "Description": "Disallow all traffic",
            "FromPort": 252,
            "IpProtocol": "icmp",
            "ToPort": 86,
        }
    ]
    egress = platform.resources(env, "Network", "AWS::EC2::SecurityGroupEgress").values()
    assert not [r for r in egress if _props(r)["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}]


@pytest.mark.parametrize("env", ENVS)
def test_workload_security_group_may_only_reach_endpoints_and_s3_over_https(platform, env):
    # Given the workload security group
    workload_id = _logical_id(platform, env, "EndpointsWorkloadSecurityGroup9")
    workload = platform.stack(env, "Network").resources[workload_id]
    endpoint_group_id = _logical_id(platform, env, "EndpointsEndpointSecurityGroup")
    # Then it has no inline rules and no ingress
    assert "SecurityGroupIngress" not in _props(workload) and "SecurityGroupEgress" not in _props(workload)
    ingress = platform.resources(env, "Network", "AWS::EC2::SecurityGroupIngress").values()
    assert not [r for r in ingress if _props(r)["GroupId"] == {"Fn::GetAtt": [workload_id, "GroupId"]}]
    # And exactly two egress rules (their presence also drops the default allow-all rule): 443 to the endpoint
    # group and 443 to S3's prefix list
    egress = [
        {k: v for k, v in _props(r).items() if k not in ("GroupId", "Description")}
        for r in platform.resources(env, "Network", "AWS::EC2::SecurityGroupEgress").values()
        if _props(r)["GroupId"] == {"Fn::GetAtt": [workload_id, "GroupId"]}
    ]
    https = {"FromPort": 443, "ToPort": 443, "IpProtocol": "tcp"}
    assert sorted(egress, key=str) == sorted(
        [
            {**https, "DestinationSecurityGroupId": {"Fn::GetAtt": [endpoint_group_id, "GroupId"]}},
            {
                **https,
                "DestinationPrefixListId": platform.environments[env].network.resolved_prefix_list_id(
                    "s3", "eu-west-1"
                ),
            },
        ],
        key=str,
    )


def test_stack_exposes_network_objects_for_other_stacks(platform):
    # Given the dev stage, Then its network stack hands out the VPC, subnet selection and security groups
    network = platform.stages["dev"].network
    assert isinstance(network, NetworkStack)
    assert isinstance(network.vpc, ec2.Vpc) and len(network.vpc.isolated_subnets) == 2
    assert network.isolated_subnets.subnet_group_name == "Isolated"
    selected = network.vpc.select_subnets(subnet_group_name=network.isolated_subnets.subnet_group_name)
    assert selected.subnet_ids == [s.subnet_id for s in network.vpc.isolated_subnets]
    assert isinstance(network.endpoint_security_group, ec2.SecurityGroup)
    assert isinstance(network.workload_security_group, ec2.SecurityGroup)
    assert network.workload_security_group.allow_all_outbound is False


def test_catalogue_names_match_the_cdk_services():
    assert list(INTERFACE_ENDPOINT_SERVICES) == list(INTERFACE_ENDPOINT_CATALOGUE)


# ---------------------------------------------------------------------------- isolated apps (construct level)


def _isolated_network_app(tmp_path, **overrides: Any) -> tuple[cdk.App, NetworkStack]:
    """Security + Network of a minimal dev environment (no inference) with ``overrides``."""
    (config,) = load_environments([network_environment(**overrides)])
    app = new_app(tmp_path)
    stage = cdk.Stage(app, config.name, env=cdk.Environment(account=config.account, region=config.region))
    security = SecurityStack(stage, "Security", config=config)
    network_stack = NetworkStack(stage, "Network", logs_key=security.logs_key, config=config)
    return app, network_stack


def test_synth_with_a_concrete_account_needs_no_az_lookup(tmp_path):
    # Given an environment with an account (the case where cdk.Stack would look AZs up in the account)
    app, stack = _isolated_network_app(tmp_path, account="123456789012", network={"az_count": 4})
    # When it synthesizes
    app.synth()
    # Then no manifest asks the CLI for missing context, and the VPC still spans the configured AZ count
    manifests = list(tmp_path.glob("**/manifest.json"))
    assert manifests and all("missing" not in json.loads(m.read_text()) for m in manifests)
    Template.from_stack(stack).resource_count_is("AWS::EC2::Subnet", 4)


def test_full_catalogue_and_dynamodb_gateway_synthesize_compliant(tmp_path):
    # Given every catalogued interface endpoint and the DynamoDB gateway
    app, stack = _isolated_network_app(
        tmp_path,
        stage="prod",
        name="prod",
        allow_destroy=False,
        network={"interface_endpoints": list(INTERFACE_ENDPOINT_CATALOGUE), "dynamodb_gateway_endpoint": True},
    )
    template = Template.from_stack(stack)
    # Then each service gets its endpoint with the service name of the catalogue
    names = sorted(
        _props(r)["ServiceName"]
        for r in template.find_resources(
            "AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}}
        ).values()
    )
    assert names == sorted(f"com.amazonaws.eu-west-1.{spec.service}" for spec in INTERFACE_ENDPOINT_CATALOGUE.values())
    # And the DynamoDB gateway only lets principals of this account use tables of this account
    account = {"Ref": "AWS::AccountId"}
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "ServiceName": {"Fn::Join": ["", ["com.amazonaws.", {"Ref": "AWS::Region"}, ".dynamodb"]]},
            "PolicyDocument": {
                "Statement": [
                    {
                        "Sid": "TablesOfThisAccount",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "dynamodb:*",
                        "Resource": "*",
                        "Condition": {
                            "StringEquals": {"aws:ResourceAccount": account, "aws:PrincipalAccount": account}
                        },
                    }
                ],
                "Version": "2012-10-17",
            },
        },
    )
    # And workloads may reach DynamoDB's prefix list over HTTPS
    template.has_resource_properties(
        "AWS::EC2::SecurityGroupEgress", {"DestinationPrefixListId": "pl-6fa54006", "FromPort": 443, "ToPort": 443}
    )
    # And every compliance pack is still at zero findings
    app.synth()
    assert findings(app) == []


def test_custom_cidr_and_az_count_flow_into_the_subnets_and_the_endpoint_rule(tmp_path):
    _, stack = _isolated_network_app(tmp_path, network={"vpc_cidr": "172.31.128.0/20", "az_count": 3})
    template = Template.from_stack(stack)
    cidrs = sorted(_props(r)["CidrBlock"] for r in template.find_resources("AWS::EC2::Subnet").values())
    assert cidrs == ["172.31.128.0/22", "172.31.132.0/22", "172.31.136.0/22"]
    template.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {"SecurityGroupIngress": [Match.object_like({"CidrIp": "172.31.128.0/20", "FromPort": 443})]},
    )
