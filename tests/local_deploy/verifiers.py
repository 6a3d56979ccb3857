"""One read-back per resource type (tests/local_deploy/harness.py): describe the resource in moto with boto3 and
compare what the template states concretely (:data:`VERIFIERS`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.local_deploy.readback import Checks, Context


def _name_from_arn(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _principal_services(document: Any) -> list[str]:
    if isinstance(document, str):
        document = json.loads(document)
    services: set[str] = set()
    for statement in document.get("Statement", []):
        service = statement.get("Principal", {}).get("Service", [])
        services.update([service] if isinstance(service, str) else service)
    return sorted(services)


# One function per resource type: read the resource back from moto and compare with the template.
Verifier = Callable[[Context, dict[str, Any], str, Checks], None]


def _kms_key(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    kms = ctx.client("kms")
    metadata = kms.describe_key(KeyId=physical)["KeyMetadata"]
    checks.fact("key enabled", metadata["Enabled"])
    checks.expect(
        "key rotation",
        props.get("EnableKeyRotation", False),
        kms.get_key_rotation_status(KeyId=physical)["KeyRotationEnabled"],
    )


def _kms_alias(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    kms = ctx.client("kms")
    aliases = {a["AliasName"]: a for a in kms.list_aliases()["Aliases"]}
    checks.expect("alias name", props["AliasName"], props["AliasName"] if props["AliasName"] in aliases else None)
    target = aliases.get(props["AliasName"], {}).get("TargetKeyId")
    checks.fact("alias target key enabled", bool(target) and kms.describe_key(KeyId=target)["KeyMetadata"]["Enabled"])


def _s3_bucket(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    s3 = ctx.client("s3")
    (rule,) = s3.get_bucket_encryption(Bucket=physical)["ServerSideEncryptionConfiguration"]["Rules"][:1]
    actual = rule["ApplyServerSideEncryptionByDefault"]
    for expected in props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])[:1]:
        default = expected.get("ServerSideEncryptionByDefault", {})
        checks.expect("encryption", default.get("SSEAlgorithm"), actual.get("SSEAlgorithm"))
        checks.expect("encryption key", default.get("KMSMasterKeyID"), actual.get("KMSMasterKeyID"))
    if "VersioningConfiguration" in props:
        checks.expect(
            "versioning",
            props["VersioningConfiguration"].get("Status"),
            s3.get_bucket_versioning(Bucket=physical).get("Status"),
        )
    if "PublicAccessBlockConfiguration" in props:
        block = s3.get_public_access_block(Bucket=physical)["PublicAccessBlockConfiguration"]
        checks.expect("public access block", props["PublicAccessBlockConfiguration"], block)
    # Not compared: lifecycle rules, access logging, bucket key (moto's CloudFormation ignores them).


def _kinesis_stream(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    summary = ctx.client("kinesis").describe_stream_summary(StreamName=physical)["StreamDescriptionSummary"]
    checks.fact("stream ACTIVE", summary["StreamStatus"], "ACTIVE")
    encryption = props.get("StreamEncryption", {})
    checks.expect("stream encryption", encryption.get("EncryptionType"), summary.get("EncryptionType"))
    checks.expect("stream key", encryption.get("KeyId"), summary.get("KeyId"))
    checks.expect("retention hours", props.get("RetentionPeriodHours"), summary.get("RetentionPeriodHours"))
    checks.expect("shards", props.get("ShardCount"), summary.get("OpenShardCount"))


def _vpc(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    (vpc,) = ctx.client("ec2").describe_vpcs(VpcIds=[physical])["Vpcs"]
    checks.expect("CIDR", props.get("CidrBlock"), vpc["CidrBlock"])


def _subnet(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    (subnet,) = ctx.client("ec2").describe_subnets(SubnetIds=[physical])["Subnets"]
    checks.expect("CIDR", props.get("CidrBlock"), subnet["CidrBlock"])
    checks.expect("VPC", props.get("VpcId"), subnet["VpcId"])
    checks.expect("availability zone", props.get("AvailabilityZone"), subnet["AvailabilityZone"])
    checks.expect("public IPs on launch", props.get("MapPublicIpOnLaunch"), subnet["MapPublicIpOnLaunch"])


def _route_table(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    (table,) = ctx.client("ec2").describe_route_tables(RouteTableIds=[physical])["RouteTables"]
    checks.expect("VPC", props.get("VpcId"), table["VpcId"])


def _vpc_endpoint(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    (endpoint,) = ctx.client("ec2").describe_vpc_endpoints(VpcEndpointIds=[physical])["VpcEndpoints"]
    checks.expect("service", props.get("ServiceName"), endpoint["ServiceName"])
    checks.expect("type", props.get("VpcEndpointType", "Gateway"), endpoint["VpcEndpointType"])
    checks.expect("VPC", props.get("VpcId"), endpoint["VpcId"])
    checks.expect("private DNS", props.get("PrivateDnsEnabled"), endpoint.get("PrivateDnsEnabled"))
    checks.expect("subnets", props.get("SubnetIds"), endpoint.get("SubnetIds"))
    if "PolicyDocument" in props:
        checks.fact("endpoint policy set", bool(endpoint.get("PolicyDocument")))


def _security_group(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    (group,) = ctx.client("ec2").describe_security_groups(GroupIds=[physical])["SecurityGroups"]
    checks.expect("VPC", props.get("VpcId"), group["VpcId"])
    checks.expect("description", props.get("GroupDescription"), group["Description"])


def _flow_log(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    (log,) = ctx.client("ec2").describe_flow_logs(FlowLogIds=[physical])["FlowLogs"]
    checks.expect("traffic type", props.get("TrafficType"), log["TrafficType"])
    checks.expect("resource", props.get("ResourceId"), log["ResourceId"])
    checks.expect("destination", props.get("LogGroupName"), log.get("LogGroupName"))


def _iam_role(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    iam = ctx.client("iam")
    role = iam.get_role(RoleName=physical)["Role"]
    checks.expect(
        "trusted services",
        _principal_services(props.get("AssumeRolePolicyDocument", {})) or None,
        _principal_services(role["AssumeRolePolicyDocument"]),
    )
    # Not compared: ManagedPolicyArns (moto's CloudFormation does not attach them; docs/operations.md, "not proven").


def _iam_managed_policy(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    iam = ctx.client("iam")
    policy = iam.get_policy(PolicyArn=physical)["Policy"]
    version = iam.get_policy_version(PolicyArn=physical, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    document = version["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    checks.expect(
        "statement ids",
        sorted(s.get("Sid", "") for s in props["PolicyDocument"]["Statement"]),
        sorted(s.get("Sid", "") for s in document["Statement"]),
    )
    roles = [r["RoleName"] for r in iam.list_entities_for_policy(PolicyArn=physical)["PolicyRoles"]]
    checks.expect("attached roles", props.get("Roles"), roles)


def _log_group(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    groups = ctx.client("logs").describe_log_groups(logGroupNamePrefix=physical)["logGroups"]
    (group,) = [g for g in groups if g["logGroupName"] == physical]
    checks.expect("retention days", props.get("RetentionInDays"), group.get("retentionInDays"))
    checks.expect("encryption key", props.get("KmsKeyId"), group.get("kmsKeyId"))


def _sns_topic(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    attributes = ctx.client("sns").get_topic_attributes(TopicArn=physical)["Attributes"]
    checks.expect("encryption key", props.get("KmsMasterKeyId"), attributes.get("KmsMasterKeyId"))
    checks.expect("name", props.get("TopicName"), _name_from_arn(physical.replace(":", "/")))


def _sqs_queue(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    attributes = ctx.client("sqs").get_queue_attributes(QueueUrl=physical, AttributeNames=["All"])["Attributes"]
    checks.expect("encryption key", props.get("KmsMasterKeyId"), attributes.get("KmsMasterKeyId"))
    checks.expect("retention seconds", props.get("MessageRetentionPeriod"), attributes.get("MessageRetentionPeriod"))


def _lambda_function(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    configuration = ctx.client("lambda").get_function(FunctionName=physical)["Configuration"]
    for key in ("Runtime", "Handler", "MemorySize", "Timeout"):
        checks.expect(key.lower(), props.get(key), configuration.get(key))
    checks.expect("code uploaded (bytes > 0)", True, configuration.get("CodeSize", 0) > 0)


def _sagemaker_model(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    model = ctx.client("sagemaker").describe_model(ModelName=_name_from_arn(physical))
    container = props.get("PrimaryContainer", {})
    checks.expect("image", container.get("Image"), model.get("PrimaryContainer", {}).get("Image"))
    checks.expect("model data", container.get("ModelDataUrl"), model.get("PrimaryContainer", {}).get("ModelDataUrl"))


def _sagemaker_endpoint_config(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    config = ctx.client("sagemaker").describe_endpoint_config(EndpointConfigName=_name_from_arn(physical))
    expected = {v["VariantName"]: v for v in props.get("ProductionVariants", [])}
    actual = {v["VariantName"]: v for v in config.get("ProductionVariants", [])}
    checks.expect("variants", sorted(expected), sorted(actual))
    for name, variant in expected.items():
        for key in ("InstanceType", "InitialInstanceCount"):
            checks.expect(f"{name} {key}", variant.get(key), actual.get(name, {}).get(key))


def _sagemaker_endpoint(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    endpoint = ctx.client("sagemaker").describe_endpoint(EndpointName=props.get("EndpointName") or physical)
    checks.fact("endpoint status", endpoint["EndpointStatus"], "InService")
    checks.expect("endpoint name", props.get("EndpointName"), endpoint["EndpointName"])


def _events_rule(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    rule = ctx.client("events").describe_rule(Name=physical)
    checks.expect("state", props.get("State"), rule.get("State"))
    pattern = props.get("EventPattern")
    checks.expect("event pattern", pattern, json.loads(rule["EventPattern"]) if rule.get("EventPattern") else None)


VERIFIERS: dict[str, Verifier] = {
    "AWS::KMS::Key": _kms_key,
    "AWS::KMS::Alias": _kms_alias,
    "AWS::S3::Bucket": _s3_bucket,
    "AWS::Kinesis::Stream": _kinesis_stream,
    "AWS::EC2::VPC": _vpc,
    "AWS::EC2::Subnet": _subnet,
    "AWS::EC2::RouteTable": _route_table,
    "AWS::EC2::VPCEndpoint": _vpc_endpoint,
    "AWS::EC2::SecurityGroup": _security_group,
    "AWS::EC2::FlowLog": _flow_log,
    "AWS::IAM::Role": _iam_role,
    "AWS::IAM::ManagedPolicy": _iam_managed_policy,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::SNS::Topic": _sns_topic,
    "AWS::SQS::Queue": _sqs_queue,
    "AWS::Lambda::Function": _lambda_function,
    "AWS::SageMaker::Model": _sagemaker_model,
    "AWS::SageMaker::EndpointConfig": _sagemaker_endpoint_config,
    "AWS::SageMaker::Endpoint": _sagemaker_endpoint,
    "AWS::Events::Rule": _events_rule,
}
