"""Deployment policies of an endpoint update: blue/green (all at once, canary, linear) or rolling."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ml_platform.core.config import FrozenModel


class CapacitySize(FrozenModel):
    """A step of a deployment: a number of instances or a percentage of the variant's fleet."""

    instances: int | None = Field(default=None, ge=1, description="Step size in instances.")
    percent: int | None = Field(default=None, ge=1, le=100, description="Step size in % of the fleet.")

    @model_validator(mode="after")
    def _exactly_one(self) -> CapacitySize:
        if (self.instances is None) == (self.percent is None):
            raise ValueError("give exactly one of 'instances' or 'percent'")
        return self

    def fraction_of(self, fleet: int) -> float:
        """The share of a fleet of ``fleet`` instances this step represents (0-1)."""
        return (self.percent / 100) if self.percent is not None else (self.instances or 0) / fleet

    def instances_of(self, fleet: int) -> float:
        """How many instances this step moves on a fleet of ``fleet`` instances."""
        return (self.percent / 100 * fleet) if self.percent is not None else float(self.instances or 0)

    def steps_for(self, fleet: int) -> int:
        """How many steps of this size it takes to move the whole fleet."""
        return math.ceil(1 / self.fraction_of(fleet) - 1e-9)

    def describe(self) -> str:
        return f"{self.instances} instance(s)" if self.instances is not None else f"{self.percent} %"


class _BlueGreenPolicy(FrozenModel):
    # TrafficRoutingConfig.WaitIntervalInSeconds: 0-3600; BlueGreenUpdatePolicy.TerminationWaitInSeconds:
    # 0-3600; MaximumExecutionTimeoutInSeconds: 600-28800 "larger than the total waiting time specified in
    # TerminationWaitInSeconds and WaitIntervalInSeconds" (SageMaker API reference / CloudFormation
    # AWS::SageMaker::Endpoint BlueGreenUpdatePolicy, TrafficRoutingConfig).
    wait_interval_seconds: int = Field(
        default=600, ge=0, le=3600, description="Bake time after each traffic shift; alarms are watched."
    )
    termination_wait_seconds: int = Field(
        default=300, ge=0, le=3600, description="Extra bake on the full green fleet before the blue fleet ends."
    )
    maximum_execution_timeout_seconds: int = Field(
        default=3600, ge=600, le=28800, description="The whole deployment's time limit."
    )


class AllAtOncePolicy(_BlueGreenPolicy):
    """Blue/green: all traffic to the new fleet in one step, bake, then terminate the old fleet."""

    type: Literal["all_at_once"]


class CanaryPolicy(_BlueGreenPolicy):
    """Blue/green: a canary share first, bake, then the rest."""

    type: Literal["canary"]
    canary_size: CapacitySize


class LinearPolicy(_BlueGreenPolicy):
    """Blue/green: equal steps, each followed by a bake."""

    type: Literal["linear"]
    linear_step_size: CapacitySize


class RollingPolicy(FrozenModel):
    """Rolling: replace the fleet in batches in place (fewer spare instances than blue/green)."""

    type: Literal["rolling"]
    maximum_batch_size: CapacitySize
    rollback_maximum_batch_size: CapacitySize | None = Field(
        default=None, description="Default: the whole old fleet comes back at once on rollback."
    )
    # RollingUpdatePolicy: WaitIntervalInSeconds 0-3600; MaximumExecutionTimeoutInSeconds 600-28800.
    wait_interval_seconds: int = Field(default=600, ge=0, le=3600)
    maximum_execution_timeout_seconds: int = Field(default=3600, ge=600, le=28800)


DeploymentPolicy = Annotated[AllAtOncePolicy | CanaryPolicy | LinearPolicy | RollingPolicy, Field(discriminator="type")]
