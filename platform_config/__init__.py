"""Typed, validated configuration of every environment. Pure data: no CDK, no AWS calls, no env vars."""

from platform_config.environment import EnvironmentConfig, SecurityConfig, Stage, TagsConfig
from platform_config.environments import ENVIRONMENTS, load_environments, select_environments
from platform_config.errors import ConfigError

__all__ = [
    "ENVIRONMENTS",
    "ConfigError",
    "EnvironmentConfig",
    "SecurityConfig",
    "Stage",
    "TagsConfig",
    "load_environments",
    "select_environments",
]
