"""The policies AWS evaluates at run time, as scripts/flows/templates.py indexes them: a role with its trust and
identity policies (:class:`Principal`), the resource policies of buckets, keys, topics, queues, model package groups
and event buses (:class:`ResourcePolicy`), and the AWS managed policies the templates may attach
(:data:`AWS_MANAGED_POLICIES`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scripts.flows.physical import PARTITION

if TYPE_CHECKING:
    from scripts.flows.templates import StackView

# AWS managed policies the CDK's own custom-resource providers attach (their documents as AWS publishes them in
# the AWS Managed Policy Reference Guide). A template naming any other AWS managed policy is an error here, so a
# new one cannot slip past the flows unevaluated.
AWS_MANAGED_POLICIES: Mapping[str, dict[str, Any]] = {
    "service-role/AWSLambdaBasicExecutionRole": {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "*",
            }
        ],
    },
}


@dataclass(frozen=True)
class NamedPolicy:
    name: str
    document: dict[str, Any]


@dataclass(frozen=True)
class Principal:
    """A role of the templates, resolved: where it is, its ARN and every policy of it AWS evaluates."""

    environment: str
    stack_id: str
    logical_id: str
    arn: str
    account: str
    trust_policy: dict[str, Any]
    identity_policies: tuple[NamedPolicy, ...]


@dataclass(frozen=True)
class ResourcePolicy:
    """A resource-based policy of the templates (bucket, key, topic, queue) with what it protects."""

    kind: str
    resource_arn: str
    name: str
    document: dict[str, Any]
    environment: str


# What an endpoint without a PolicyDocument allows (Amazon VPC: "the default endpoint policy ... full access").
FULL_ACCESS = {
    "Version": "2008-10-17",
    "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}],
}


def policy_target(arn: str) -> str:
    """The ARN whose resource policy decides: objects → their bucket, model package versions → their group."""
    if arn.startswith(f"arn:{PARTITION}:s3:::"):
        return arn.split("/", 1)[0]
    prefix, _, name = arn.partition(":model-package/")
    if prefix.startswith(f"arn:{PARTITION}:sagemaker:") and name:
        return f"{prefix}:model-package-group/{name.split('/', 1)[0]}"
    return arn


def resource_policies_of(view: StackView) -> Iterable[ResourcePolicy]:
    env = view.environment
    for logical_id, resource in view.resources.items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::S3::BucketPolicy":
            name = view.resolve(props["Bucket"])
            yield ResourcePolicy(
                "bucket",
                f"arn:{PARTITION}:s3:::{name}",
                f"bucket policy {logical_id}",
                view.resolve(props["PolicyDocument"]),
                env,
            )
        elif kind == "AWS::KMS::Key":
            yield ResourcePolicy(
                "key",
                view.resolve({"Fn::GetAtt": [logical_id, "Arn"]}),
                f"key policy {logical_id}",
                view.resolve(props["KeyPolicy"]),
                env,
            )
        elif kind == "AWS::SNS::TopicPolicy":
            for topic in props["Topics"]:
                yield ResourcePolicy(
                    "topic",
                    view.resolve(topic),
                    f"topic policy {logical_id}",
                    view.resolve(props["PolicyDocument"]),
                    env,
                )
        elif kind == "AWS::SageMaker::ModelPackageGroup" and props.get("ModelPackageGroupPolicy"):
            # The group's policy decides for the group and its versions (model-package/<group>/<version>).
            yield ResourcePolicy(
                "model-package-group",
                view.resolve({"Ref": logical_id}),
                f"group policy {logical_id}",
                view.resolve(props["ModelPackageGroupPolicy"]),
                env,
            )
        elif kind == "AWS::Events::EventBusPolicy":
            statement = dict(view.resolve(props["Statement"]))
            statement.setdefault("Sid", view.resolve(props["StatementId"]))
            bus = view.resolve(props.get("EventBusName", "default"))
            region, account = view.placement.region, view.placement.account
            yield ResourcePolicy(
                "event-bus",
                f"arn:{PARTITION}:events:{region}:{account}:event-bus/{bus}",
                f"event bus policy {logical_id}",
                {"Version": "2012-10-17", "Statement": [statement]},
                env,
            )
        elif kind == "AWS::SQS::QueuePolicy":
            for queue_url in props["Queues"]:
                url = view.resolve(queue_url)
                _, _, host, account, name = url.split("/")
                region = host.split(".")[1]
                yield ResourcePolicy(
                    "queue",
                    f"arn:{PARTITION}:sqs:{region}:{account}:{name}",
                    f"queue policy {logical_id}",
                    view.resolve(props["PolicyDocument"]),
                    env,
                )
