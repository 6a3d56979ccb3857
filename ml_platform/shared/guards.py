"""Synth-time guards that apply to a whole stage."""

from __future__ import annotations

import jsii
from aws_cdk import Annotations, CfnDeletionPolicy, CfnResource, IAspect
from constructs import IConstruct

# Resource types whose deletion or replacement loses data, keys or audit history.
STATEFUL_RESOURCE_TYPES: frozenset[str] = frozenset(
    {
        "AWS::S3::Bucket",
        "AWS::KMS::Key",
        "AWS::Kinesis::Stream",
        "AWS::Logs::LogGroup",
        "AWS::Glue::Database",
        "AWS::Glue::Table",
        "AWS::DynamoDB::Table",
        # A model package group holds every registered version and its approval history.
        "AWS::SageMaker::ModelPackageGroup",
    }
)


@jsii.implements(IAspect)
class StatefulResourceGuard:
    """Fails synth (an error annotation, which `cdk synth` reports and exits non-zero on) when a stateful
    resource would be deleted on stack deletion or deleted when CloudFormation replaces it.

    Apply it to production-like stages only: dev environments may opt in to destruction.
    """

    def visit(self, node: IConstruct) -> None:
        if not isinstance(node, CfnResource) or node.cfn_resource_type not in STATEFUL_RESOURCE_TYPES:
            return
        deletion = node.cfn_options.deletion_policy
        replace = node.cfn_options.update_replace_policy
        problems = []
        if deletion != CfnDeletionPolicy.RETAIN:
            problems.append(f"DeletionPolicy is {_name(deletion)}")
        if replace != CfnDeletionPolicy.RETAIN:
            problems.append(f"UpdateReplacePolicy is {_name(replace)}")
        if problems:
            Annotations.of(node).add_error(
                f"StatefulResourceGuard: {node.cfn_resource_type} would lose data ({'; '.join(problems)}); "
                "production-like stages must RETAIN stateful resources on delete and on replacement"
            )


def _name(policy: CfnDeletionPolicy | None) -> str:
    return "Delete (the default)" if policy is None else policy.name.title()
