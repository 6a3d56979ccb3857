"""One-screen summary after `make synth`: stacks, resources per stack, compliance result."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from scripts.assembly import read_assembly
from scripts.costs import idle_cost_lines, interface_endpoint_costs_by_environment, load_prices, totals_by_environment

# Names of ml_platform.shared.compliance.COMPLIANCE_PACKS, kept here so the summary does not start the
# CDK runtime (a test pins the two lists together).
COMPLIANCE_PACK_NAMES = (
    "AwsSolutionsChecks",
    "HIPAASecurityChecks",
    "NIST80053R5Checks",
    "PCIDSS321Checks",
    "ServerlessChecks",
)

CFN_RESOURCE_LIMIT = 500
CFN_TEMPLATE_BYTES_LIMIT = 1_000_000


def main(outdir: str) -> int:
    stacks = read_assembly(outdir)
    if not stacks:
        print(f"no stacks found in {outdir}", file=sys.stderr)
        return 1
    print()
    print(f"{'environment':<12} {'stack':<12} {'resources':>9} {'of 500':>7} {'template':>10}  main resource types")
    for stack in stacks:
        counts = Counter(r["Type"].removeprefix("AWS::") for r in stack.resources.values())
        main_types = ", ".join(f"{n}×{t}" for t, n in counts.most_common(3))
        print(
            f"{stack.environment:<12} {stack.stack_id:<12} {len(stack.resources):>9} "
            f"{len(stack.resources) / CFN_RESOURCE_LIMIT:>6.0%} {stack.size_bytes / 1000:>8.1f}kB  {main_types}"
        )
    environments = sorted({s.environment for s in stacks})
    packs = ", ".join(COMPLIANCE_PACK_NAMES)
    print()
    print(
        f"environments: {', '.join(environments)}; stacks: {len(stacks)}; "
        f"resources: {sum(len(s.resources) for s in stacks)}"
    )
    print(f"compliance packs ({packs}): 0 unacknowledged findings (synth fails on any)")
    print(control_tower_line(Path(outdir)))
    print_endpoint_costs(stacks)
    return 0


def control_tower_line(outdir: Path) -> str:
    """The Control Tower plugin's result from the synth's validation report (cdk.out/validation-report.json)."""
    report_path = outdir / "validation-report.json"
    if not report_path.exists():
        return "Control Tower proactive controls: no validation report in the assembly"
    reports = json.loads(report_path.read_text()).get("pluginReports", [])
    for plugin in reports:
        if plugin.get("pluginName") == "cdk-validator-cfnguard":
            acknowledged = len(plugin.get("suppressedViolations", []))
            return (
                f"Control Tower proactive controls (cdk-validator-cfnguard): {len(plugin.get('violations', []))} "
                f"unacknowledged, {acknowledged} acknowledged ({plugin.get('conclusion')}; "
                "each reason in docs/compliance.md)"
            )
    return "Control Tower proactive controls: not in the validation report"


def print_endpoint_costs(stacks: list) -> None:
    """Per environment: stream capacity, the interface endpoints' idle cost and the whole idle cost
    (scripts/costs.py, prices.json)."""
    table = load_prices()
    regions = {s.environment: s.region for s in stacks}
    totals = totals_by_environment(idle_cost_lines(stacks, table))
    print()
    for environment, usage in interface_endpoint_costs_by_environment(stacks).items():
        note = "" if regions.get(environment) == table["region"] else f" ({table['region']} prices)"
        print(
            f"{environment}: {stream_capacity(stacks, environment)}; {usage.describe(table['prices'])}; "
            f"idle total ≈ ${totals.get(environment, 0):,.2f}/month{note}"
        )
    print("(`make cost` prints the breakdown; `make alarms` the alarm catalogue)")
    print(f"(prices: {table['region']}, {table['currency']}, as of {table['date']}; scripts/prices.json)")


def stream_capacity(stacks: list, environment: str) -> str:
    """``stream: 3 shards (computed)`` or ``stream: on-demand`` from the environment's Kinesis stream."""
    for stack in stacks:
        if stack.environment != environment:
            continue
        for resource in stack.of_type("AWS::Kinesis::Stream").values():
            props = resource.get("Properties", {})
            if props.get("StreamModeDetails", {}).get("StreamMode") == "ON_DEMAND":
                return "stream: on-demand"
            return f"stream: {props.get('ShardCount')} shard(s), computed from the expected load"
    return "stream: none"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "cdk.out"))
