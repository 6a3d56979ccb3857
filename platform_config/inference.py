"""Configuration of the SageMaker endpoints with deployment guardrails."""

from __future__ import annotations

from platform_config.base import FrozenModel


class InferenceConfig(FrozenModel):
    """SageMaker endpoints with deployment guardrails (inference issue)."""
