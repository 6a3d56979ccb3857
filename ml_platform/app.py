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
from ml_platform.environments import load_environments, select_environments
from ml_platform.inference.config.packages import PACKAGE_VERSIONS_CONTEXT, parse_package_versions
from ml_platform.shared.compliance import register_compliance_packs
from ml_platform.stage import PlatformStage


def build_platform(
    app: cdk.App,
    environments: Sequence[EnvironmentConfig],
    *,
    pipeline: PipelineConfig | None = None,
    pipeline_environments: Sequence[EnvironmentConfig] | None = None,
    control_tower: bool = True,
    peers: Sequence[EnvironmentConfig] | None = None,
    approval_bus_arn: str | None = None,
) -> list[PlatformStage]:
    """Add one stage per environment to ``app`` and make every compliance pack gate the synth.

    With ``pipeline``, also the delivery pipeline stack (id ``Pipeline``), which deploys
    ``pipeline_environments`` (default: ``environments``) in order; see ml_platform/delivery/stack.py.
    ``control_tower=False`` leaves the Control Tower plugin out of the synth (see register_compliance_packs).
    ``peers``: every declared environment, to resolve registry sharing (default: ``environments``).
    ``approval_bus_arn``: where the environments' registries forward approvals (default: ``pipeline``'s event bus,
    else none); a synth limited to one environment passes the declared pipeline's, so that its templates are the
    ones the pipeline deploys.
    """
    bus = approval_bus_arn or (pipeline.event_bus_arn if pipeline is not None else None)
    stages = [PlatformStage(app, c, peers=peers or environments, approval_bus_arn=bus) for c in environments]
    if pipeline is not None:
        PipelineStack(app, "Pipeline", config=pipeline, environments=pipeline_environments or environments)
    register_compliance_packs(app, control_tower=control_tower)
    return stages


def main() -> int:
    app = cdk.App()
    try:
        requested = app.node.try_get_context("env")
        # Model package versions the delivery pipeline resolved (docs/releases.md); they override the config's pins.
        pins = parse_package_versions(app.node.try_get_context(PACKAGE_VERSIONS_CONTEXT))
        declared = load_environments(package_versions=pins)
        environments = select_environments(requested, package_versions=pins)
        declared_pipeline = select_pipeline(None, environments=declared)
    except ConfigError as error:
        # A user error: one line per problem, no traceback.
        for line in str(error).splitlines():
            print(f"config error: {line}", file=sys.stderr)
        return 2
    # With a pipeline the synth is a full one, so `environments` is every environment in promotion order. A synth of
    # one environment leaves the pipeline stack out but keeps its event bus as the approvals' destination.
    build_platform(
        app,
        environments,
        pipeline=None if requested else declared_pipeline,
        peers=declared,
        approval_bus_arn=declared_pipeline.event_bus_arn if declared_pipeline is not None else None,
    )
    try:
        app.synth()
    except RuntimeError as error:
        if not str(error).startswith("ValidationFailed"):
            raise
        # The compliance report with every finding was printed above.
        print(f"compliance: {error}", file=sys.stderr)
        return 1
    return 0
