"""The app assembly: one stage per environment, the optional delivery pipeline, the compliance gates.

``app.py`` at the repository root (the CDK entry point of cdk.json) calls :func:`main`. This is the only module that
sees both the environments' stages and the pipeline (which deploys them), so neither imports the other's assembler.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import aws_cdk as cdk

from ml_platform.core.errors import ConfigError
from ml_platform.delivery.config import PipelineConfig, select_pipeline
from ml_platform.delivery.stack import PipelineStack
from ml_platform.environment import EnvironmentConfig
from ml_platform.environments import select_environments
from ml_platform.shared.compliance import register_compliance_packs
from ml_platform.stage import PlatformStage


def build_platform(
    app: cdk.App,
    environments: Sequence[EnvironmentConfig],
    *,
    pipeline: PipelineConfig | None = None,
    pipeline_environments: Sequence[EnvironmentConfig] | None = None,
    control_tower: bool = True,
) -> list[PlatformStage]:
    """Add one stage per environment to ``app`` and make every compliance pack gate the synth.

    With ``pipeline``, also the delivery pipeline stack (id ``Pipeline``), which deploys
    ``pipeline_environments`` (default: ``environments``) in order; see ml_platform/delivery/stack.py.
    ``control_tower=False`` leaves the Control Tower plugin out of the synth (see register_compliance_packs).
    """
    stages = [PlatformStage(app, config) for config in environments]
    if pipeline is not None:
        PipelineStack(app, "Pipeline", config=pipeline, environments=pipeline_environments or environments)
    register_compliance_packs(app, control_tower=control_tower)
    return stages


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
