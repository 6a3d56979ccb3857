"""Regenerate the README's architecture diagram (Mermaid) from the synthesized app.

    .venv/bin/python -m scripts.architecture [cdk.out] [--environment prod] [--write [README.md]]

Stacks become subgraphs, their main resources nodes, and references between main resources (``Ref``,
``Fn::GetAtt``, ``Fn::ImportValue`` across stacks) the data-flow edges, so the picture cannot drift
from the code. A test fails when the README's block differs from what this prints.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from scripts.assembly import StackTemplate, read_assembly
from scripts.readme_blocks import replace_block

# Resource types drawn, with the label prefix used in the picture (edges between them are data flow).
MAIN_TYPES: dict[str, str] = {
    "AWS::EC2::VPC": "VPC",
    "AWS::Kinesis::Stream": "Kinesis stream",
    "AWS::KinesisFirehose::DeliveryStream": "Firehose",
    "AWS::Lambda::Function": "Lambda",
    "AWS::S3::Bucket": "S3",
    "AWS::Glue::Table": "Glue table",
    "AWS::Glue::Crawler": "Glue crawler",
    "AWS::Athena::WorkGroup": "Athena",
    "AWS::SageMaker::Endpoint": "SageMaker endpoint",
    "AWS::SageMaker::EndpointConfig": "Endpoint config",
    "AWS::SageMaker::Model": "Model",
    "AWS::SageMaker::ModelPackageGroup": "Model package group",
    "AWS::SNS::Topic": "SNS",
    "AWS::CloudWatch::Dashboard": "Dashboard",
    "AWS::CloudWatch::CompositeAlarm": "Composite alarm",
    "AWS::CodePipeline::Pipeline": "Pipeline",
}
# Count-only summaries per stack for the many small resources.
COUNTED_TYPES: dict[str, str] = {
    "AWS::KMS::Key": "KMS keys",
    "AWS::EC2::VPCEndpoint": "VPC endpoints",
    "AWS::CloudWatch::Alarm": "alarms",
}
# A reference to a bucket or topic means data flows INTO it (Firehose → bucket, alarm → topic), except for
# these readers, which take data OUT of the bucket they reference (a table's location, a model's artifacts).
BUCKET_READERS = frozenset({"AWS::Glue::Table", "AWS::Glue::Crawler", "AWS::SageMaker::Model"})
SINK_TYPES = frozenset({"AWS::S3::Bucket", "AWS::SNS::Topic"})
# Drawn as nodes, but their references are display wiring, not data flow.
NO_EDGES = frozenset({"AWS::CloudWatch::Dashboard"})
BLOCK = "architecture"
DOCUMENT = "README.md"  # the file whose architecture block `--write` replaces by default


def _refs(value: Any) -> Iterator[tuple[str, str]]:
    """('local', logical id) or ('import', export name) for every reference inside ``value``."""
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            yield ("local", value["Ref"])
        if "Fn::GetAtt" in value and isinstance(value["Fn::GetAtt"], list):
            yield ("local", value["Fn::GetAtt"][0])
        if "Fn::ImportValue" in value and isinstance(value["Fn::ImportValue"], str):
            yield ("import", value["Fn::ImportValue"])
        if "Fn::GetStackOutput" in value and isinstance(value["Fn::GetStackOutput"], dict):
            output = value["Fn::GetStackOutput"]
            yield ("import", f"{output.get('StackName')}/{output.get('OutputName')}")
            return
        for item in value.values():
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _node_id(stack: StackTemplate, logical_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", f"{stack.stack_id}_{logical_id}")


def _label(resource_type: str, logical_id: str, props: dict[str, Any]) -> str:
    for key in (
        "BucketName",
        "ModelPackageGroupName",
        "Name",
        "DeliveryStreamName",
        "EndpointName",
        "FunctionName",
        "TopicName",
        "DashboardName",
        "TableInput",
    ):
        value = props.get(key)
        if isinstance(value, dict) and key == "TableInput":
            value = value.get("Name")
        if isinstance(value, str):
            return f"{MAIN_TYPES[resource_type]}: {value}"
    # Strip CDK's 8-hex-digit hash suffix for readability.
    return f"{MAIN_TYPES[resource_type]}: {re.sub(r'[0-9A-F]{8}$', '', logical_id)}"


def diagram(stacks: list[StackTemplate], environment: str) -> str:
    stacks = [s for s in stacks if s.environment == environment]
    exports: dict[str, tuple[StackTemplate, str]] = {}
    for stack in stacks:
        for output_name, output in stack.template.get("Outputs", {}).items():
            name = output.get("Export", {}).get("Name")
            for kind, target in _refs(output.get("Value")):
                if kind == "local":
                    exports[f"{stack.stack_name}/{output_name}"] = (stack, target)
                    if isinstance(name, str):
                        exports[name] = (stack, target)
    lines = ["```mermaid", "flowchart LR"]
    edges: set[tuple[str, str]] = set()
    for stack in stacks:
        lines.append(f'  subgraph {stack.stack_id}["{stack.stack_id} stack"]')
        counts = {label: 0 for label in COUNTED_TYPES.values()}
        for logical_id, resource in stack.resources.items():
            rtype = resource["Type"]
            if rtype in COUNTED_TYPES:
                counts[COUNTED_TYPES[rtype]] += 1
            if rtype not in MAIN_TYPES or "CustomResourceProvider" in logical_id:
                continue
            label = _label(rtype, logical_id, resource.get("Properties", {}))
            lines.append(f'    {_node_id(stack, logical_id)}["{label}"]')
            for kind, target in _refs(resource.get("Properties", {})):
                if kind == "local":
                    source_stack, source_id = stack, target
                elif target in exports:
                    source_stack, source_id = exports[target]
                else:
                    continue
                source = source_stack.resources.get(source_id, {})
                source_type = source.get("Type")
                if (
                    source_type not in MAIN_TYPES
                    or rtype in NO_EDGES
                    or (source_stack, source_id) == (stack, logical_id)
                    or "CustomResourceProvider" in source_id
                ):
                    continue
                edge = (_node_id(source_stack, source_id), _node_id(stack, logical_id))
                if source_type in SINK_TYPES and rtype not in BUCKET_READERS:
                    edge = (edge[1], edge[0])  # the referencing resource writes into the bucket or topic
                edges.add(edge)
        edges |= _package_edges(stacks, stack)
        summary = ", ".join(f"{n} {label}" for label, n in counts.items() if n)
        if summary:
            lines.append(f'    {stack.stack_id}_summary(["{summary}"])')
        lines.append("  end")
    lines += [f"  {a} --> {b}" for a, b in sorted(edges)]
    lines.append("```")
    return "\n".join(lines)


def _package_edges(stacks: list[StackTemplate], stack: StackTemplate) -> set[tuple[str, str]]:
    """group → model for a model that deploys a version of a model package group of the environment: it names the
    version by ARN (``.../model-package/<group>/<version>``), not by a reference, and its image and artifact come
    from there."""
    groups = {
        resource["Properties"]["ModelPackageGroupName"]: (other, logical_id)
        for other in stacks
        for logical_id, resource in other.of_type("AWS::SageMaker::ModelPackageGroup").items()
    }
    edges = set()
    for logical_id, resource in stack.of_type("AWS::SageMaker::Model").items():
        props = resource.get("Properties", {})
        for container in [props.get("PrimaryContainer") or {}, *props.get("Containers", [])]:
            package = container.get("ModelPackageName")
            name = package.split(":model-package/", 1)[-1].split("/", 1)[0] if isinstance(package, str) else None
            if name in groups:
                source_stack, source_id = groups[name]
                edges.add((_node_id(source_stack, source_id), _node_id(stack, logical_id)))
    return edges


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", nargs="?", default="cdk.out")
    parser.add_argument("--environment", default="prod")
    parser.add_argument(
        "--write", nargs="?", const=DOCUMENT, help=f"file whose architecture block is replaced ({DOCUMENT})"
    )
    args = parser.parse_args(argv)
    block = diagram(read_assembly(args.outdir), args.environment)
    if args.write:
        path = Path(args.write)
        path.write_text(replace_block(path.read_text(), BLOCK, block))
        print(f"updated the architecture block of {path}")
    else:
        print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
