"""Shared building blocks of the configuration models: the frozen base model and common value rules."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# CloudWatch Logs accepts only these retention periods (days); see the PutRetentionPolicy API reference.
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip


class FrozenModel(BaseModel):
    """Immutable config model that rejects unknown fields (a typo is an error, not a silent default)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
