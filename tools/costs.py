"""Monthly idle cost of what the platform provisions, from the price table ``platform_config/prices.json``.

Pure functions without the CDK: they take counts (for planning, the README's table) or the synthesized
templates (for ``make synth``'s summary), so the figure printed is the figure of what would deploy.

Interface endpoints (AWS PrivateLink) are billed per endpoint, per Availability Zone it has a network
interface in, per hour, whether or not traffic flows: ``endpoints × AZs × hours per month × price per
endpoint-AZ-hour``. Data processed ($/GB) comes on top and is not part of the idle cost. Gateway endpoints
(S3, DynamoDB) are free.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.assembly import StackTemplate

PRICES_FILE = Path(__file__).resolve().parent.parent / "platform_config" / "prices.json"
REQUIRED_PRICE_TABLE_FIELDS = ("source", "region", "date", "currency", "prices")


def load_prices(path: str | Path = PRICES_FILE) -> dict[str, Any]:
    """The price table: ``source``, ``region``, ``date``, ``currency`` and the flat ``prices`` dict."""
    table = json.loads(Path(path).read_text())
    missing = [name for name in REQUIRED_PRICE_TABLE_FIELDS if name not in table]
    if missing:
        raise ValueError(f"{path}: price table lacks {', '.join(missing)}")
    return table


def interface_endpoint_monthly_cost(endpoints: int, azs: int, prices: Mapping[str, float]) -> float:
    """Idle monthly cost of ``endpoints`` interface endpoints, each in ``azs`` Availability Zones.

    ``prices`` is the table's ``prices`` dict (``interface_endpoint_az_hour``, ``hours_per_month``).
    """
    if endpoints < 0 or azs < 0:
        raise ValueError("endpoints and azs cannot be negative")
    return endpoint_az_monthly_cost(endpoints * azs, prices)


def endpoint_az_monthly_cost(endpoint_azs: int, prices: Mapping[str, float]) -> float:
    """Idle monthly cost of ``endpoint_azs`` billed endpoint-AZs (the sum over endpoints of their AZs)."""
    return endpoint_azs * prices["hours_per_month"] * prices["interface_endpoint_az_hour"]


@dataclass(frozen=True)
class InterfaceEndpointUsage:
    """The interface endpoints of one or more synthesized stacks."""

    endpoints: int
    endpoint_azs: int
    """Sum over the endpoints of the subnets (one per AZ) each is placed in: the billed unit."""
    azs_per_endpoint: tuple[int, ...]
    """Distinct AZ counts, normally exactly one (every endpoint in every isolated subnet)."""

    def monthly_cost(self, prices: Mapping[str, float]) -> float:
        return endpoint_az_monthly_cost(self.endpoint_azs, prices)

    def describe(self, prices: Mapping[str, float]) -> str:
        """``interface endpoints: 8 × 3 AZs ≈ $192.72/month``."""
        if len(self.azs_per_endpoint) == 1:
            shape = f"{self.endpoints} × {self.azs_per_endpoint[0]} AZs"
        elif self.endpoints == 0:
            shape = "0"
        else:
            shape = f"{self.endpoints} in {self.endpoint_azs} endpoint-AZs"
        return f"interface endpoints: {shape} ≈ ${self.monthly_cost(prices):,.2f}/month"


def interface_endpoint_usage(stacks: Iterable[StackTemplate]) -> InterfaceEndpointUsage:
    """Count the ``AWS::EC2::VPCEndpoint`` resources of type ``Interface`` and the subnets each is in."""
    per_endpoint: list[int] = []
    for stack in stacks:
        for resource in stack.of_type("AWS::EC2::VPCEndpoint").values():
            properties = resource.get("Properties", {})
            if properties.get("VpcEndpointType") != "Interface":
                continue
            subnets = properties.get("SubnetIds", [])
            if not isinstance(subnets, list):
                raise ValueError(f"{stack.stack_name}: SubnetIds is not a list; cannot count AZs")
            per_endpoint.append(len(subnets))
    return InterfaceEndpointUsage(
        endpoints=len(per_endpoint), endpoint_azs=sum(per_endpoint), azs_per_endpoint=tuple(sorted(set(per_endpoint)))
    )


def interface_endpoint_costs_by_environment(stacks: Iterable[StackTemplate]) -> dict[str, InterfaceEndpointUsage]:
    """:func:`interface_endpoint_usage` per environment (stage), in the order the environments appear."""
    grouped: dict[str, list[StackTemplate]] = {}
    for stack in stacks:
        grouped.setdefault(stack.environment, []).append(stack)
    return {environment: interface_endpoint_usage(group) for environment, group in grouped.items()}
