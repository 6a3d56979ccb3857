"""Shared building blocks of the configuration models: the frozen base model and common value rules."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# CloudWatch Logs accepts only these retention periods (days); see the PutRetentionPolicy API reference.
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip

# The shortest retention the platform accepts: the AWS Control Tower control CT.CLOUDWATCH.PR.2 requires every
# log group to keep its events at least one year (or never to expire).
MIN_LOG_RETENTION_DAYS = 365


def check_log_retention(value: int) -> int:
    """``value`` if it is a CloudWatch Logs retention period of at least :data:`MIN_LOG_RETENTION_DAYS`."""
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(f"{value} is not a CloudWatch Logs retention period; allowed: {LOG_RETENTION_DAYS}")
    if value < MIN_LOG_RETENTION_DAYS:
        raise ValueError(
            f"{value} days is below {MIN_LOG_RETENTION_DAYS}: the Control Tower control CT.CLOUDWATCH.PR.2 requires "
            "log groups to keep events at least one year"
        )
    return value


class FrozenModel(BaseModel):
    """Immutable config model that rejects unknown fields (a typo is an error, not a silent default)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)
