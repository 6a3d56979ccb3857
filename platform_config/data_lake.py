"""Configuration of the S3 zones, Glue catalog and Athena."""

from __future__ import annotations

from platform_config.base import FrozenModel


class DataLakeConfig(FrozenModel):
    """S3 zones, Glue catalog and Athena (data lake issue)."""
