"""What every platform stack shares: naming, description, termination protection, stage policies."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from ml_platform.environment import EnvironmentConfig


class PlatformStack(cdk.Stack):
    """A stack of one environment. Its construct id is part of the deployment contract: renaming it
    creates a new CloudFormation stack."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: EnvironmentConfig, description: str, **kwargs: Any
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=f"ML platform ({config.name}): {description}",
            termination_protection=config.resolved_termination_protection,
            **kwargs,
        )
        self.config = config

    @property
    def stateful_removal_policy(self) -> cdk.RemovalPolicy:
        """RETAIN unless this is a dev environment that opted in with ``allow_destroy``."""
        return cdk.RemovalPolicy.DESTROY if self.config.destroy_on_delete else cdk.RemovalPolicy.RETAIN

    @property
    def name_prefix(self) -> str:
        """Prefix of physical names: ``<project>-<environment>``; stable, no user or branch names."""
        return f"{self.config.tags.project}-{self.config.name}"
