"""Physical names and ARNs: what ``Ref`` and ``Fn::GetAtt`` of a resource return once CloudFormation has created it
in a placement (scripts/flows/templates.py resolves every other value). A name the template leaves to CloudFormation
(a role without ``RoleName``, a key id) gets a deterministic stand-in derived from the stack and logical id."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scripts.flows.templates import StackView

PARTITION = "aws"
URL_SUFFIX = "amazonaws.com"


class ResolutionError(ValueError):
    """A template value the resolver cannot turn into a concrete string."""


def stand_in_id(*parts: str) -> str:
    """A deterministic UUID-shaped id (for KMS key ids and similar generated identifiers)."""
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def stand_in_name(stack_name: str, logical_id: str, limit: int = 64) -> str:
    """The shape CloudFormation gives a generated name: ``<stack>-<logical id>-<suffix>``, cut to ``limit``."""
    suffix = hashlib.sha256(f"{stack_name}/{logical_id}".encode()).hexdigest()[:12].upper()
    return f"{stack_name}-{logical_id}"[: limit - 13] + "-" + suffix


def _name(view: StackView, logical_id: str, properties: Mapping[str, Any], key: str, limit: int = 64) -> str:
    if key in properties:
        return str(view.resolve(properties[key]))
    return stand_in_name(view.stack.stack_name, logical_id, limit)


def physical(view: StackView, logical_id: str, resource: Mapping[str, Any], attribute: str) -> Any:
    """The value of ``Ref`` (``attribute`` "Ref") or ``Fn::GetAtt`` of a resource of ``view``'s stack, as AWS would
    return it where ``view`` is placed."""
    kind = resource["Type"]
    props = resource.get("Properties", {})
    account, region = view.placement.account, view.placement.region
    arn = f"arn:{PARTITION}"
    if kind == "AWS::S3::Bucket":
        name = _name(view, logical_id, props, "BucketName", 63).lower()
        return {"Ref": name, "Arn": f"{arn}:s3:::{name}", "DomainName": f"{name}.s3.{URL_SUFFIX}"}[attribute]
    if kind == "AWS::KMS::Key":
        key_id = stand_in_id(view.stack.stack_name, logical_id, account, region)
        return {"Ref": key_id, "KeyId": key_id, "Arn": f"{arn}:kms:{region}:{account}:key/{key_id}"}[attribute]
    if kind == "AWS::IAM::Role":
        name = _name(view, logical_id, props, "RoleName")
        path = props.get("Path", "/")
        return {
            "Ref": name,
            "RoleId": f"AROA{stand_in_id(name)[:16].upper()}",
            "Arn": f"{arn}:iam::{account}:role{path}{name}",
        }[attribute]
    if kind == "AWS::IAM::ManagedPolicy" and attribute in ("Ref", "PolicyArn"):
        name = _name(view, logical_id, props, "ManagedPolicyName", 128)
        return f"{arn}:iam::{account}:policy{props.get('Path', '/')}{name}"
    if kind == "AWS::SNS::Topic":
        name = _name(view, logical_id, props, "TopicName", 256)
        topic_arn = f"{arn}:sns:{region}:{account}:{name}"
        return {"Ref": topic_arn, "TopicArn": topic_arn, "TopicName": name}[attribute]
    if kind == "AWS::SQS::Queue":
        name = _name(view, logical_id, props, "QueueName", 80)
        return {
            "Ref": f"https://sqs.{region}.{URL_SUFFIX}/{account}/{name}",
            "Arn": f"{arn}:sqs:{region}:{account}:{name}",
            "QueueName": name,
        }[attribute]
    if kind == "AWS::Logs::LogGroup":
        name = _name(view, logical_id, props, "LogGroupName", 512)
        return {"Ref": name, "Arn": f"{arn}:logs:{region}:{account}:log-group:{name}:*"}[attribute]
    if kind == "AWS::Logs::LogStream":
        return _name(view, logical_id, props, "LogStreamName", 512)
    if kind == "AWS::Lambda::Function":
        name = _name(view, logical_id, props, "FunctionName")
        return {"Ref": name, "Arn": f"{arn}:lambda:{region}:{account}:function:{name}"}[attribute]
    if kind == "AWS::Kinesis::Stream":
        name = _name(view, logical_id, props, "Name", 128)
        return {"Ref": name, "Arn": f"{arn}:kinesis:{region}:{account}:stream/{name}"}[attribute]
    if kind == "AWS::KinesisFirehose::DeliveryStream":
        name = _name(view, logical_id, props, "DeliveryStreamName")
        return {"Ref": name, "Arn": f"{arn}:firehose:{region}:{account}:deliverystream/{name}"}[attribute]
    if kind == "AWS::CloudWatch::Alarm":
        name = _name(view, logical_id, props, "AlarmName", 255)
        return {"Ref": name, "Arn": f"{arn}:cloudwatch:{region}:{account}:alarm:{name}"}[attribute]
    if kind == "AWS::CloudWatch::CompositeAlarm":
        name = _name(view, logical_id, props, "AlarmName", 255)
        return {"Ref": name, "Arn": f"{arn}:cloudwatch:{region}:{account}:alarm:{name}"}[attribute]
    if kind == "AWS::Events::Rule":
        name = _name(view, logical_id, props, "Name")
        rule_arn = f"{arn}:events:{region}:{account}:rule/{name}"
        return {"Ref": name, "Arn": rule_arn}[attribute]
    if kind == "AWS::SageMaker::Endpoint":
        name = _name(view, logical_id, props, "EndpointName", 63)
        endpoint_arn = f"{arn}:sagemaker:{region}:{account}:endpoint/{name.lower()}"
        return {"Ref": endpoint_arn, "EndpointName": name}[attribute]
    if kind == "AWS::SageMaker::EndpointConfig":
        name = _name(view, logical_id, props, "EndpointConfigName", 63)
        config_arn = f"{arn}:sagemaker:{region}:{account}:endpoint-config/{name.lower()}"
        return {"Ref": config_arn, "EndpointConfigName": name}[attribute]
    if kind == "AWS::SageMaker::Model":
        name = _name(view, logical_id, props, "ModelName", 63)
        return {"Ref": f"{arn}:sagemaker:{region}:{account}:model/{name.lower()}", "ModelName": name}[attribute]
    if kind == "AWS::SageMaker::ModelPackageGroup":
        name = _name(view, logical_id, props, "ModelPackageGroupName", 63)
        group_arn = f"{arn}:sagemaker:{region}:{account}:model-package-group/{name}"
        return {"Ref": group_arn, "ModelPackageGroupArn": group_arn}[attribute]
    if kind == "AWS::CodePipeline::Pipeline" and attribute == "Ref":
        return _name(view, logical_id, props, "Name", 100)
    if (
        kind
        in (
            "AWS::Glue::Database",
            "AWS::Glue::Crawler",
            "AWS::Glue::SecurityConfiguration",
            "AWS::Athena::WorkGroup",
        )
        and attribute == "Ref"
    ):
        key = {"AWS::Glue::Database": None}.get(kind, "Name")
        if key is None:
            return view.resolve(props["DatabaseInput"]["Name"])
        return _name(view, logical_id, props, key)
    if kind == "AWS::Glue::Table" and attribute == "Ref":
        return view.resolve(props["TableInput"]["Name"])
    if kind == "AWS::EC2::VPCEndpoint" and attribute == "Ref":
        return "vpce-" + stand_in_id(view.stack.stack_name, logical_id).replace("-", "")[:17]
    if kind == "AWS::EC2::VPC" and attribute == "Ref":
        return "vpc-" + stand_in_id(view.stack.stack_name, logical_id).replace("-", "")[:17]
    if kind == "AWS::EC2::SecurityGroup" and attribute == "GroupId":
        return "sg-" + stand_in_id(view.stack.stack_name, logical_id).replace("-", "")[:17]
    if kind == "AWS::EC2::VPC" and attribute == "DefaultSecurityGroup":
        return "sg-" + stand_in_id(view.stack.stack_name, logical_id, "default").replace("-", "")[:17]
    if kind == "AWS::EC2::Subnet" and attribute == "Ref":
        return "subnet-" + stand_in_id(view.stack.stack_name, logical_id).replace("-", "")[:17]
    raise ResolutionError(f"{view.stack.stack_name}: {kind}.{attribute} ({logical_id}) is not modelled")
