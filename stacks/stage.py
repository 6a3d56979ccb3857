"""One cdk.Stage per environment, and the app assembly."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from constructs import Construct

from platform_config import EnvironmentConfig
from platform_constructs.compliance import register_compliance_packs
from platform_constructs.guards import StatefulResourceGuard
from stacks.security_stack import SecurityStack
from stacks.stream_stack import StreamStack


def stack_ids(config: EnvironmentConfig) -> list[str]:
    """The stack ids an environment gets, in deployment order (known without synthesizing)."""
    return ["Security", "Stream"]


class PlatformStage(cdk.Stage):
    """Every stack of one environment. Stack ids are a stable contract (``<env>/<StackId>``)."""

    def __init__(self, scope: Construct, config: EnvironmentConfig) -> None:
        super().__init__(scope, config.name, env=cdk.Environment(account=config.account, region=config.region))
        self.config = config
        common = {"config": config}
        self.security = SecurityStack(self, "Security", **common)
        self.stream = StreamStack(self, "Stream", security=self.security, **common)

        for key, value in config.resource_tags.items():
            cdk.Tags.of(self).add(key, value)
        if config.is_production_like:
            cdk.Aspects.of(self).add(StatefulResourceGuard())

    @property
    def stacks(self) -> list[cdk.Stack]:
        return [child for child in self.node.children if isinstance(child, cdk.Stack)]


def build_platform(app: cdk.App, environments: Sequence[EnvironmentConfig]) -> list[PlatformStage]:
    """Add one stage per environment to ``app`` and make every compliance pack gate the synth."""
    stages = [PlatformStage(app, config) for config in environments]
    register_compliance_packs(app)
    return stages
