"""`make flows`: every runtime flow of the synthesized app, as AWS would authorize it.

    python -m scripts.flows [cdk.out] [--only-unexpected] [--environment NAME]

Prints one row per flow (flow, principal, action, resource, expected, actual, deciding statement) and a
summary; exits 1 when any flow's result differs from its expectation.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from ml_platform.environments import load_environments
from scripts.flows.catalogue import build
from scripts.flows.engine import evaluate
from scripts.flows.model import FlowResult


def _short(arn: str, width: int) -> str:
    text = arn.replace("arn:aws:", "")
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def render(results: Sequence[FlowResult]) -> str:
    rows = [("flow", "principal", "action", "resource", "expected", "actual", "deciding statement")]
    for result in results:
        flow = result.flow
        actual = result.actual if result.as_expected else f"{result.actual} ✗"
        rows.append(
            (
                flow.flow_id,
                _short(flow.principal_label or flow.principal, 44),
                flow.action,
                _short(flow.resource, 60),
                flow.expected,
                actual,
                result.deciding or result.errors,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row[:6], widths, strict=True)) + "  " + row[6])
        if index == 0:
            lines.append("  ".join("-" * width for width in widths) + "  " + "-" * 20)
    return "\n".join(lines)


def summary(results: Sequence[FlowResult]) -> str:
    counts = Counter((r.flow.expected, r.as_expected) for r in results)
    unexpected = sum(1 for r in results if not r.as_expected)
    return (
        f"flows: {len(results)}; expected allow: {counts[('allow', True)] + counts[('allow', False)]} "
        f"({counts[('allow', True)]} allowed); expected deny: {counts[('deny', True)] + counts[('deny', False)]} "
        f"({counts[('deny', True)]} denied); unexpected: {unexpected}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", nargs="?", default="cdk.out", type=Path)
    parser.add_argument("--only-unexpected", action="store_true", help="print only flows that differ")
    parser.add_argument("--environment", help="only this environment's flows")
    args = parser.parse_args(argv)
    flows = build(args.outdir, load_environments())
    if args.environment:
        flows = [f for f in flows if f.environment == args.environment]
    results = evaluate(flows)
    shown = [r for r in results if not r.as_expected] if args.only_unexpected else results
    if shown:
        print(render(shown))
        print()
    print(summary(results))
    return 0 if all(r.as_expected for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
