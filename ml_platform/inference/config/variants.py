"""The variants of an endpoint besides its control variant: A/B challengers and a shadow.

The control variant is the endpoint's own top-level settings (``variant_name``, the model, ``instance_type``, ...),
so an endpoint without challengers or a shadow is exactly the single-variant endpoint it always was. Challengers
share the live traffic by weight ("The traffic to a production variant is determined by the ratio of the
VariantWeight to the sum of all VariantWeight values across all ProductionVariants", API reference,
ProductionVariant); a shadow receives a copy of live traffic and returns nothing to callers (SageMaker developer
guide, "Shadow variants").
"""

from __future__ import annotations

from pydantic import Field, field_validator

from ml_platform.core.config import FrozenModel
from ml_platform.core.instances import InstanceType
from ml_platform.inference.config.features import Autoscaling
from ml_platform.inference.config.models import ModelSpec

# ProductionVariant VariantName pattern (SageMaker API reference).
VARIANT_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
# "ProductionVariants: Array Members: Minimum number of 1 item. Maximum number of 10 items" (CreateEndpointConfig).
MAX_PRODUCTION_VARIANTS = 10


class Variant(FrozenModel):
    """One more production variant (A/B): its own model, instances, weight and autoscaling; the endpoint's alarm
    thresholds apply to it too, with alarms of its own."""

    name: str = Field(pattern=VARIANT_NAME, description="Variant name; keep it stable (it names its resources).")
    model: ModelSpec
    instance_type: str = Field(description="ml.* instance type.")
    initial_instance_count: int = Field(ge=1)
    initial_variant_weight: float = Field(
        default=1.0, ge=0, description="Relative share of the live traffic (weights need not add up to 1)."
    )
    autoscaling: Autoscaling | None = Field(default=None, description="Default: a fixed fleet.")

    @field_validator("instance_type")
    @classmethod
    def _instance(cls, value: str) -> str:
        InstanceType.parse(value)
        return value

    @property
    def parsed_instance_type(self) -> InstanceType:
        return InstanceType.parse(self.instance_type)

    @property
    def fleet_min(self) -> int:
        return (
            min(self.initial_instance_count, self.autoscaling.min_instances)
            if self.autoscaling
            else (self.initial_instance_count)
        )

    @property
    def fleet_max(self) -> int:
        return (
            max(self.initial_instance_count, self.autoscaling.max_instances)
            if self.autoscaling
            else (self.initial_instance_count)
        )


class ShadowAlarms(FrozenModel):
    """Alarms that compare the shadow with the control variant over the same period (the shadow is worse by more
    than this). They notify the alarm topic; they never roll a deployment back."""

    error_rate_delta_percent: float = Field(
        default=1.0, gt=0, le=100, description="Shadow 5XX rate minus control 5XX rate, in percentage points."
    )
    p99_latency_delta_ms: int = Field(
        default=200, gt=0, description="Shadow p99 ModelLatency minus control p99 ModelLatency, in ms."
    )
    evaluation_periods: int = Field(default=3, ge=1, le=10, description="Breaching 5-minute periods before ALARM.")


class ShadowVariant(Variant):
    """A shadow variant (``ShadowProductionVariants``): a sampled copy of live traffic, no responses to callers.

    ``initial_variant_weight`` is the shadow's weight relative to the production variant. The documented example
    gives both weight 1 (SageMaker developer guide, "Shadow variants"); that the weight sets the share of requests
    copied to the shadow is unverified (only InferenceExperiment documents a SamplingPercentage), so verify the
    copied share in the dashboard before relying on it.
    """

    alarms: ShadowAlarms = ShadowAlarms()
