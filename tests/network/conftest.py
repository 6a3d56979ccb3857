"""Network test helpers: a minimal environment, so other components' config cannot interfere."""

from __future__ import annotations

import copy
from typing import Any

# A minimal environment: only what the network rules need.
MINIMAL_ENVIRONMENT: dict[str, Any] = {
    "name": "dev",
    "stage": "dev",
    "region": "eu-west-1",
    "tags": {"owner": "ml-platform-team", "cost_center": "cc-1234"},
}


def network_environment(network: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """A copy of :data:`MINIMAL_ENVIRONMENT` with ``network`` (when given), updated with ``overrides``."""
    data = copy.deepcopy(MINIMAL_ENVIRONMENT)
    if network is not None:
        data["network"] = network
    data.update(overrides)
    return data
