"""The catalogue of runtime flows, derived from the configuration and the synthesized templates.

Two scenarios place the environments:

* ``separate``: each environment in its own account (its declared account, else a test account of its own);
  every flow of the platform runs here, plus the isolation flows between environments.
* ``shared``: every environment in one account (the same templates with every declared account replaced by
  one); only the isolation flows run here, to prove that environments sharing an account still cannot use each
  other's data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ml_platform.environment import EnvironmentConfig
from scripts.flows.catalogue import inference, ingestion, lake, network, notifications, registry
from scripts.flows.catalogue.base import SHARED_ACCOUNT, TEST_ACCOUNTS, Environment
from scripts.flows.model import Flow
from scripts.flows.templates import Deployment, Placement


def placements(environments: Sequence[EnvironmentConfig], *, shared: bool) -> dict[str, Placement]:
    """Each environment in its declared account (else a test account of its own), or all in one account."""
    result = {}
    for index, config in enumerate(environments):
        own = config.account or TEST_ACCOUNTS[index % len(TEST_ACCOUNTS)]
        result[config.name] = Placement(account=SHARED_ACCOUNT if shared else own, region=config.region)
    return result


def build(outdir: str | Path, environments: Sequence[EnvironmentConfig]) -> list[Flow]:
    """Every flow of every declared environment that the cloud assembly in ``outdir`` contains (``environments`` may
    name more: registry groups shared with them resolve to their accounts)."""
    present = {config.name for config in environments}
    separate = Deployment.from_assembly(outdir, placements(environments, shared=False))
    present &= set(separate.environments)
    configs = [config for config in environments if config.name in present]
    flows: list[Flow] = []
    envs = {c.name: Environment(config=c, deployment=separate, scenario="separate") for c in configs}
    for env in envs.values():
        notifications.add(env)
        notifications.add_log_groups(env)
        network.add(env)
        lake.add(env)
        ingestion.add(env)
        inference.add(env)
        registry.add(env, {config.name: config.account for config in environments})
    _isolation(envs)
    if len(configs) > 1:
        shared = separate.with_placements(placements(configs, shared=True))
        shared_envs = {c.name: Environment(config=c, deployment=shared, scenario="shared") for c in configs}
        _isolation(shared_envs)
        envs.update({f"shared/{name}": env for name, env in shared_envs.items()})
    for env in envs.values():
        flows.extend(env.flows)
    return flows


def _isolation(envs: dict[str, Environment]) -> None:
    for consumer in envs.values():
        for owner in envs.values():
            if consumer is not owner:
                inference.add_cross_environment(consumer, owner)
                registry.add_cross_environment(consumer, owner)
