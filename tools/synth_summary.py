"""One-screen summary after `make synth`: stacks, resources per stack, compliance result."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.assembly import read_assembly

# Names of platform_constructs.compliance.COMPLIANCE_PACKS, kept here so the summary does not start the
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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "cdk.out"))
