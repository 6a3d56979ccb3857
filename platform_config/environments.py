"""The environments this platform deploys, declared in code.

Each entry is plain data validated into an :class:`EnvironmentConfig`; a mistake fails synth with one
line naming the environment, the field, the bad value and the rule. Order matters: it is the promotion
order (dev → staging → prod) used by the delivery pipeline.

To add an environment, append a mapping here (see the README's "Adding an environment").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from platform_config.environment import EnvironmentConfig
from platform_config.errors import ConfigError, build

ENVIRONMENTS: tuple[Mapping[str, Any], ...] = (
    {
        "name": "dev",
        "stage": "dev",
        "region": "eu-west-1",
        "tags": {"owner": "ml-platform-team", "cost_center": "cc-1234"},
        "allow_destroy": True,
    },
    {
        "name": "prod",
        "stage": "prod",
        "region": "eu-west-1",
        "tags": {"owner": "ml-platform-team", "cost_center": "cc-1234"},
        "security": {"alarm_emails": ["ml-platform-oncall@example.com"]},
    },
)


def load_environments(declared: Sequence[Mapping[str, Any]] = ENVIRONMENTS) -> tuple[EnvironmentConfig, ...]:
    """Validate every declared environment; report every problem of every environment at once."""
    problems: list[str] = []
    result: list[EnvironmentConfig] = []
    for index, data in enumerate(declared):
        label = data.get("name", f"#{index}") if isinstance(data, Mapping) else f"#{index}"
        try:
            result.append(build(EnvironmentConfig, data, context=f"environment {label!r}"))
        except ConfigError as error:
            problems.extend(error.problems)
    names = [env.name for env in result]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"environment {name!r}: field 'name': declared more than once; names must be unique")
    if problems:
        raise ConfigError(problems)
    if not result:
        raise ConfigError(["no environment is declared; add one to platform_config/environments.py"])
    return tuple(result)


def select_environments(
    requested: str | None, declared: Sequence[Mapping[str, Any]] = ENVIRONMENTS
) -> tuple[EnvironmentConfig, ...]:
    """The environments to synthesize: all of them, or the one named by ``-c env=NAME``."""
    environments = load_environments(declared)
    if requested is None or requested == "":
        return environments
    by_name = {env.name: env for env in environments}
    if requested not in by_name:
        raise ConfigError(
            [f"context 'env': value {requested!r}: unknown environment; declared environments are {', '.join(by_name)}"]
        )
    return (by_name[requested],)
