#!/usr/bin/env python3
"""The synth floor of the benchmark: an empty CDK app with one stack (no plugins).

The stack holds one ``AWS::CloudFormation::WaitConditionHandle``, a resource with no properties that creates
nothing: CloudFormation rejects a template without resources, and so does the CDK's built-in template
validation (``Resources section must exist and be non-empty``), so a stack with no resource at all would not synth.

Run by benchmarks/run.py exactly like app.py (through ``npx cdk synth --app`` with the repository's cdk.json
context, or directly with ``CDK_OUTDIR`` and ``CDK_CONTEXT_JSON`` set), so the difference between the two is
what the platform itself costs: its imports, construct tree, templates and compliance packs.
"""

from __future__ import annotations

import aws_cdk as cdk


def main() -> None:
    app = cdk.App()
    stack = cdk.Stack(app, "Floor")
    cdk.CfnWaitConditionHandle(stack, "Placeholder")
    app.synth()


if __name__ == "__main__":
    main()
