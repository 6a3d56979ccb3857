"""Configuration of the VPC, subnets, flow logs and VPC endpoints."""

from __future__ import annotations

from platform_config.base import FrozenModel


class NetworkConfig(FrozenModel):
    """VPC, subnets, flow logs and VPC endpoints (network issue)."""
