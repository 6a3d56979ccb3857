"""The alarm catalogue: every CloudWatch alarm of every environment, read from the synthesized templates.

    .venv/bin/python -m scripts.alarm_catalogue [cdk.out] [--environment dev] [--write [docs/operations.md]]

Each alarm's metric, statistic, threshold, periods, missing-data treatment and actions come from the
template, so the catalogue cannot drift from what deploys. Actions are resolved across stacks
(``Fn::ImportValue`` → the exporting stack's resource) so a test can prove every alarm notifies the alarm topic.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.assembly import StackTemplate, read_assembly
from scripts.readme_blocks import replace_block

BLOCK = "alarms"
DOCUMENT = "docs/operations.md"  # the page whose alarms block `--write` replaces by default

OPERATORS = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
    "LessThanLowerOrGreaterThanUpperThreshold": "outside band",
}


@dataclass(frozen=True)
class AlarmEntry:
    environment: str
    stack_id: str
    logical_id: str
    kind: str  # "metric" or "composite"
    metric: str
    statistic: str
    condition: str
    periods: str
    treat_missing_data: str
    actions: tuple[str, ...]
    ok_actions: tuple[str, ...]
    description: str
    dimensions: tuple[tuple[str, str], ...] = ()
    rule: str = ""

    @property
    def row(self) -> list[str]:
        return [
            self.environment,
            self.stack_id,
            self.logical_id,
            self.metric,
            self.statistic,
            self.condition,
            self.periods,
            self.treat_missing_data,
            ", ".join(a.split(":", 1)[-1] for a in self.actions) or "NONE",
        ]


def _exports(stacks: list[StackTemplate]) -> dict[tuple[str, str], tuple[str, str]]:
    """(environment, export name) → (stack id, logical id) for exports that are a plain Ref."""
    result = {}
    for stack in stacks:
        for output in stack.template.get("Outputs", {}).values():
            name = output.get("Export", {}).get("Name")
            value = output.get("Value")
            if isinstance(name, str) and isinstance(value, dict) and "Ref" in value:
                result[(stack.environment, name)] = (stack.stack_id, value["Ref"])
    return result


def _output_target(stacks: list[StackTemplate], reference: dict[str, Any]) -> tuple[StackTemplate, str] | None:
    """The (stack, logical id) behind a weak reference ``{"StackName": ..., "OutputName": ...}``."""
    for stack in stacks:
        if stack.stack_name == reference.get("StackName"):
            value = stack.template.get("Outputs", {}).get(reference.get("OutputName"), {}).get("Value")
            if isinstance(value, dict) and "Ref" in value:
                return stack, value["Ref"]
            if isinstance(value, dict) and "Fn::GetAtt" in value:
                return stack, value["Fn::GetAtt"][0]
    return None


def resolve_action(
    stack: StackTemplate, action: Any, stacks: list[StackTemplate], exports: dict[tuple[str, str], tuple[str, str]]
) -> str:
    """``sns:<stack>/<logical id>`` for a topic in any stack of the environment, else the raw value."""
    if isinstance(action, dict) and isinstance(action.get("Fn::GetStackOutput"), dict):
        target = _output_target(stacks, action["Fn::GetStackOutput"])
        if target and target[0].resources.get(target[1], {}).get("Type") == "AWS::SNS::Topic":
            return f"sns:{target[0].stack_id}/{target[1]}"
    if isinstance(action, dict) and "Ref" in action:
        resource = stack.resources.get(action["Ref"], {})
        if resource.get("Type") == "AWS::SNS::Topic":
            return f"sns:{stack.stack_id}/{action['Ref']}"
    if isinstance(action, dict) and "Fn::ImportValue" in action and isinstance(action["Fn::ImportValue"], str):
        target = exports.get((stack.environment, action["Fn::ImportValue"]))
        if target:
            owner = next(s for s in stacks if s.environment == stack.environment and s.stack_id == target[0])
            if owner.resources.get(target[1], {}).get("Type") == "AWS::SNS::Topic":
                return f"sns:{target[0]}/{target[1]}"
    return f"other:{action}"


def catalogue(stacks: list[StackTemplate]) -> list[AlarmEntry]:
    exports = _exports(stacks)
    entries = []
    for stack in stacks:
        for logical_id, resource in stack.resources.items():
            props = resource.get("Properties", {})
            if resource["Type"] not in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
                continue
            actions = tuple(resolve_action(stack, a, stacks, exports) for a in props.get("AlarmActions", []))
            ok_actions = tuple(resolve_action(stack, a, stacks, exports) for a in props.get("OKActions", []))
            description = props.get("AlarmDescription", "")
            description = description if isinstance(description, str) else str(description)
            if resource["Type"] == "AWS::CloudWatch::CompositeAlarm":
                entries.append(
                    AlarmEntry(
                        stack.environment,
                        stack.stack_id,
                        logical_id,
                        "composite",
                        "composite rule",
                        "-",
                        "rule",
                        "-",
                        "-",
                        actions,
                        ok_actions,
                        description,
                        rule=str(props.get("AlarmRule")),
                    )
                )
                continue
            if "Metrics" in props:
                metric = "math: " + ", ".join(
                    str(m.get("Expression") or m.get("MetricStat", {}).get("Metric", {}).get("MetricName"))
                    for m in props["Metrics"]
                    if m.get("ReturnData", True) is not False or m.get("Expression")
                )
                statistic = "expression"
                period = next(
                    (m.get("MetricStat", {}).get("Period") for m in props["Metrics"] if "MetricStat" in m), None
                )
                dims: tuple[tuple[str, str], ...] = ()
            else:
                metric = f"{props.get('Namespace')}/{props.get('MetricName')}"
                statistic = props.get("Statistic") or props.get("ExtendedStatistic") or "?"
                period = props.get("Period")
                dims = tuple(sorted((d["Name"], str(d["Value"])) for d in props.get("Dimensions", [])))
            threshold = props.get("Threshold")
            condition = f"{OPERATORS.get(props.get('ComparisonOperator'), props.get('ComparisonOperator'))} {threshold}"
            datapoints = props.get("DatapointsToAlarm", props.get("EvaluationPeriods"))
            periods = f"{datapoints}/{props.get('EvaluationPeriods')} × {period}s"
            entries.append(
                AlarmEntry(
                    stack.environment,
                    stack.stack_id,
                    logical_id,
                    "metric",
                    metric,
                    statistic,
                    condition,
                    periods,
                    props.get("TreatMissingData", "UNSET"),
                    actions,
                    ok_actions,
                    description,
                    dims,
                )
            )
    return entries


HEADER = ["environment", "stack", "alarm", "metric", "statistic", "condition", "periods", "missing data", "action"]


def markdown(entries: list[AlarmEntry]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for entry in entries:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in entry.row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", nargs="?", default="cdk.out")
    parser.add_argument("--environment")
    parser.add_argument("--write", nargs="?", const=DOCUMENT, help=f"file whose alarms block is replaced ({DOCUMENT})")
    args = parser.parse_args(argv)
    stacks = read_assembly(args.outdir)
    entries = [e for e in catalogue(stacks) if not args.environment or e.environment == args.environment]
    if args.write:
        path = Path(args.write)
        path.write_text(replace_block(path.read_text(), BLOCK, markdown(entries)))
        print(f"updated the alarms block of {path}")
    else:
        print(markdown(entries))
    missing = [e for e in entries if not e.actions or not e.description]
    print(f"\n{len(entries)} alarms; {len(missing)} without an action or description")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
