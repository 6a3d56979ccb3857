"""Flow logs, the default-security-group cleaner, and what the VPC endpoints let through.

VPC endpoint policies are evaluated for requests that leave the VPC through the endpoint; the request then
carries ``aws:SourceVpce`` (IAM User Guide, global condition keys). The S3 gateway endpoint carries S3 traffic
of workloads in the isolated subnets (SageMaker model downloads, Model Monitor jobs); interface endpoints carry
calls of workloads in the VPC to the other services.
"""

from __future__ import annotations

from ml_platform.core.images import MODEL_MONITOR_REGISTRY_ACCOUNTS, MODEL_MONITOR_REPOSITORY
from scripts.flows.catalogue.base import OTHER_ACCOUNT, Environment
from scripts.flows.catalogue.context import s3_bucket, s3_object
from scripts.flows.templates import PARTITION

# Per interface endpoint: (action, resource ARN template) of a typical call by a workload in the VPC.
# {account} is replaced by the resource's account, {region} by the environment's region.
_INTERFACE_CALLS: dict[str, tuple[str, str]] = {
    "sagemaker.runtime": ("sagemaker:InvokeEndpoint", "arn:aws:sagemaker:{region}:{account}:endpoint/some-endpoint"),
    "sagemaker.api": ("sagemaker:DescribeEndpoint", "arn:aws:sagemaker:{region}:{account}:endpoint/some-endpoint"),
    "sts": ("sts:AssumeRole", "arn:aws:iam::{account}:role/some-role"),
    "logs": ("logs:PutLogEvents", "arn:aws:logs:{region}:{account}:log-group:some-group:log-stream:some-stream"),
    "monitoring": ("cloudwatch:PutMetricData", "*"),
    "kms": ("kms:Decrypt", "arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
    "ecr.api": ("ecr:DescribeImages", "arn:aws:ecr:{region}:{account}:repository/some-repository"),
    "ecr.dkr": ("ecr:BatchGetImage", "arn:aws:ecr:{region}:{account}:repository/some-repository"),
    "kinesis-streams": ("kinesis:PutRecord", "arn:aws:kinesis:{region}:{account}:stream/some-stream"),
    "kinesis-firehose": ("firehose:PutRecord", "arn:aws:firehose:{region}:{account}:deliverystream/some-stream"),
    "glue": ("glue:GetTable", "arn:aws:glue:{region}:{account}:table/some_database/some_table"),
    "athena": ("athena:StartQueryExecution", "arn:aws:athena:{region}:{account}:workgroup/some-workgroup"),
    "ssm": ("ssm:GetParameter", "arn:aws:ssm:{region}:{account}:parameter/some-parameter"),
    "secretsmanager": ("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:{region}:{account}:secret:some-AbCdEf"),
}


def add(env: Environment) -> None:
    component = "network"
    flow_group = env.view("Network").resolve({"Ref": env.logical_id("Network", "AWS::Logs::LogGroup", "NetworkFlow")})
    flow_role = env.role("Network", "NetworkFlowLogRole")
    flow_log_arn = f"arn:{PARTITION}:ec2:{env.region}:{env.account}:vpc-flow-log/fl-0123456789abcdef0"
    env.assumed_by(
        component, "vpc-flow-logs.amazonaws.com", flow_role, name="flow-logs-assume-role",
        description="VPC Flow Logs of this account assumes the flow log role",
        source_arn=flow_log_arn, source_account=env.account,
    )  # fmt: skip
    env.service_request(
        component,
        "flow-logs-of-another-account-assume-role",
        "vpc-flow-logs.amazonaws.com",
        "sts:AssumeRole",
        flow_role.arn,
        expected="deny",
        description="VPC Flow Logs acting for another account cannot assume it",
        source_arn=f"arn:{PARTITION}:ec2:{env.region}:{OTHER_ACCOUNT}:vpc-flow-log/fl-0123456789abcdef0",
        source_account=OTHER_ACCOUNT,
    )
    stream = f"{env.log_group_arn(flow_group)}:log-stream:eni-0123456789abcdef0-all"
    env.role_allows(
        component,
        flow_role,
        [(a, stream) for a in ("logs:CreateLogStream", "logs:PutLogEvents")],
        description="the flow log role writes the VPC's flow logs",
        name_prefix="flow-logs-",
    )
    env.role_request(
        component,
        "flow-logs-write-elsewhere",
        flow_role,
        "logs:PutLogEvents",
        f"{env.log_group_arn('/aws/lambda/other')}:log-stream:x",
        expected="deny",
        description="the flow log role cannot write other log groups",
    )

    # The CDK's default-security-group cleaner (Custom::VpcRestrictDefaultSG).
    cleaner = env.role("Network", "CustomVpcRestrictDefaultSG")
    env.assumed_by(
        component, "lambda.amazonaws.com", cleaner, name="sg-cleaner-assume-role",
        description="Lambda assumes the default-security-group cleaner's role",
    )  # fmt: skip
    vpc_id = env.logical_id("Network", "AWS::EC2::VPC", "NetworkVpc")
    default_sg = env.view("Network").resolve({"Fn::GetAtt": [vpc_id, "DefaultSecurityGroup"]})
    group = f"arn:{PARTITION}:ec2:{env.region}:{env.account}:security-group/{default_sg}"
    env.role_allows(
        component,
        cleaner,
        [(a, group) for a in ("ec2:RevokeSecurityGroupIngress", "ec2:RevokeSecurityGroupEgress")],
        description="the cleaner removes the default security group's rules",
        name_prefix="sg-cleaner-",
    )

    # ------------------------------------------------------------------ S3 gateway endpoint
    raw = env.bucket("raw")
    env.workload_request(
        component,
        "s3-endpoint-own-bucket",
        "s3:GetObject",
        s3_object(raw, "events/x.parquet"),
        expected="allow",
        description="a workload of the account reads a platform bucket through the S3 gateway endpoint",
        endpoint="s3",
    )
    lookalike = raw.replace(env.account, OTHER_ACCOUNT)
    env.workload_request(
        component,
        "s3-endpoint-lookalike-bucket",
        "s3:GetObject",
        s3_object(lookalike, "x"),
        expected="deny",
        description="a bucket with the platform's name pattern in another account: refused at the endpoint",
        endpoint="s3",
        resource_account=OTHER_ACCOUNT,
    )
    env.workload_request(
        component,
        "s3-endpoint-other-bucket",
        "s3:PutObject",
        s3_object("exfiltration-bucket", "x"),
        expected="deny",
        description="writing to any bucket outside the platform is refused at the endpoint",
        endpoint="s3",
        resource_account=OTHER_ACCOUNT,
    )
    env.workload_request(
        component,
        "s3-endpoint-foreign-credentials",
        "s3:GetObject",
        s3_object(raw, "events/x.parquet"),
        expected="deny",
        description="credentials of another account used inside the VPC: refused at the endpoint",
        endpoint="s3",
        principal_account=OTHER_ACCOUNT,
    )
    layers = f"prod-{env.region}-starport-layer-bucket"
    env.workload_request(
        component,
        "s3-endpoint-ecr-layers",
        "s3:GetObject",
        s3_object(layers, "layer"),
        expected="allow",
        description="image layers of ECR pulls (AWS's layer bucket) pass the S3 gateway endpoint",
        endpoint="s3",
        resource_account="000000000000",
    )
    env.workload_request(
        component,
        "s3-endpoint-write-ecr-layers",
        "s3:PutObject",
        s3_object(layers, "x"),
        expected="deny",
        description="AWS's layer bucket is read-only through the endpoint",
        endpoint="s3",
        resource_account="000000000000",
    )
    env.workload_request(
        component,
        "s3-endpoint-bucket-configuration",
        "s3:PutBucketPolicy",
        s3_bucket(raw),
        expected="deny",
        description="bucket configuration is changed by CloudFormation, never from inside the VPC",
        endpoint="s3",
    )

    # ------------------------------------------------------------------ interface endpoints
    for service in _interface_services(env):
        action, template = _INTERFACE_CALLS[service]
        own = template.format(region=env.region, account=env.account)
        foreign = template.format(region=env.region, account=OTHER_ACCOUNT)
        env.workload_request(
            component,
            f"endpoint-{service}-own",
            action,
            own,
            expected="allow",
            endpoint=service,
            description=f"a workload of the account calls {action} on its own resource through the endpoint",
        )
        env.workload_request(
            component,
            f"endpoint-{service}-foreign-credentials",
            action,
            own,
            expected="deny",
            endpoint=service,
            principal_account=OTHER_ACCOUNT,
            description=f"{action} with another account's credentials from inside the VPC is refused",
        )
        if "{account}" in template:
            env.workload_request(
                component,
                f"endpoint-{service}-foreign-resource",
                action,
                foreign,
                expected="deny",
                endpoint=service,
                resource_account=OTHER_ACCOUNT,
                description=f"{action} on another account's resource through the endpoint is refused",
            )
        if service.startswith("ecr.") and any(e.model_monitor for e in env.config.inference.endpoints):
            registry = MODEL_MONITOR_REGISTRY_ACCOUNTS[env.region]
            env.workload_request(
                component,
                f"endpoint-{service}-aws-sagemaker-image",
                "ecr:BatchGetImage",
                f"arn:{PARTITION}:ecr:{env.region}:{registry}:repository/{MODEL_MONITOR_REPOSITORY}",
                expected="allow",
                endpoint=service,
                resource_account=registry,
                description="SageMaker's Model Monitor image (an AWS-owned registry) is pulled through the endpoint",
            )


def _interface_services(env: Environment) -> list[str]:
    prefix = f"com.amazonaws.{env.region}."
    services = []
    view = env.view("Network")
    for resource in view.of_type("AWS::EC2::VPCEndpoint").values():
        if resource["Properties"].get("VpcEndpointType") == "Interface":
            services.append(str(view.resolve(resource["Properties"]["ServiceName"])).removeprefix(prefix))
    return services
