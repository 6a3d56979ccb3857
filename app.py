#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth` (every environment) or `npx cdk synth -c env=prod` (one)."""

from __future__ import annotations

import sys

import aws_cdk as cdk

from platform_config import ConfigError, select_environments
from stacks.stage import build_platform


def main() -> int:
    app = cdk.App()
    try:
        environments = select_environments(app.node.try_get_context("env"))
    except ConfigError as error:
        # A user error: one line per problem, no traceback.
        for line in str(error).splitlines():
            print(f"config error: {line}", file=sys.stderr)
        return 2
    build_platform(app, environments)
    try:
        app.synth()
    except RuntimeError as error:
        if not str(error).startswith("ValidationFailed"):
            raise
        # The compliance report with every finding was printed above.
        print(f"compliance: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
