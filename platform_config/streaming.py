"""Configuration of the Kinesis stream, Firehose delivery and the transform Lambda."""

from __future__ import annotations

from platform_config.base import FrozenModel


class StreamingConfig(FrozenModel):
    """Kinesis stream, Firehose delivery and the transform Lambda (streaming issue)."""
