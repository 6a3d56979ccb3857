#!/usr/bin/env python3
"""CDK entry point: `npx cdk synth` (every environment) or `npx cdk synth -c env=prod` (one).

The delivery pipeline stack (`Pipeline`) exists only when `PIPELINE` is configured in
platform_config/environments.py, and only in a full synth (it deploys every environment).
"""

from __future__ import annotations

import sys

import aws_cdk as cdk

from platform_config import ConfigError, select_environments
from platform_config.pipeline import select_pipeline
from stacks.stage import build_platform


def main() -> int:
    app = cdk.App()
    try:
        requested = app.node.try_get_context("env")
        environments = select_environments(requested)
        pipeline = select_pipeline(requested)
    except ConfigError as error:
        # A user error: one line per problem, no traceback.
        for line in str(error).splitlines():
            print(f"config error: {line}", file=sys.stderr)
        return 2
    # With a pipeline the synth is a full one, so `environments` is every environment in promotion order.
    build_platform(app, environments, pipeline=pipeline)
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
