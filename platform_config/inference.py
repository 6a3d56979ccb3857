"""Configuration of the SageMaker endpoints with deployment guardrails."""

from __future__ import annotations

from typing import Any

from platform_config.base import FrozenModel


class InferenceConfig(FrozenModel):
    """SageMaker endpoints with deployment guardrails (inference issue)."""

    endpoints: tuple[Any, ...] = ()
    """Placeholder until the inference issue types it: the SageMaker endpoints of the environment."""
