"""The benchmark's pure computations (benchmarks/run.py): CloudFormation's limits and the goals, medians, ratios,
least-squares slopes, template headroom and per-endpoint template cost, run order, and number formats."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# CloudFormation quotas ("Understand CloudFormation quotas",
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html): "Resources: Maximum
# number of resources that you can declare in your CloudFormation template: 500 resources"; "Template body size in
# an Amazon S3 object: 1 MB" (the CDK CLI uploads templates above 50 KB to the bootstrap bucket). 1 MB is taken as
# 1,000,000 bytes, the stricter reading.
RESOURCE_LIMIT = 500
TEMPLATE_BYTES_LIMIT = 1_000_000
HEADROOM_GOAL = 0.5
SYNTH_RATIO_GOAL = 3.0
SLOPE_GOAL_SECONDS = 0.3


def median(values: Sequence[float]) -> float:
    """The median of at least one value."""
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; the denominator (a floor) must be positive."""
    if denominator <= 0:
        raise ValueError(f"ratio to a floor of {denominator}: the floor must be positive")
    return numerator / denominator


def least_squares(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Slope and intercept of the least-squares line through ``(xs[i], ys[i])``."""
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} x values but {len(ys)} y values")
    if len(set(xs)) < 2:
        raise ValueError("a slope needs at least two distinct x values")
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    return slope, mean_y - slope * mean_x


@dataclass(frozen=True)
class Headroom:
    """A template's share of CloudFormation's per-template limits."""

    resources: int
    template_bytes: int

    @property
    def resource_share(self) -> float:
        return self.resources / RESOURCE_LIMIT

    @property
    def bytes_share(self) -> float:
        return self.template_bytes / TEMPLATE_BYTES_LIMIT

    @property
    def worst_share(self) -> float:
        return max(self.resource_share, self.bytes_share)

    def within(self, goal: float = HEADROOM_GOAL) -> bool:
        return self.worst_share <= goal

    def describe(self) -> str:
        return (
            f"{self.resources} resource{'' if self.resources == 1 else 's'} ({percent(self.resource_share)}), "
            f"{kilobytes(self.template_bytes)} ({percent(self.bytes_share)})"
        )


def largest_stack(stacks: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The stack closest to a CloudFormation limit (the larger of its two shares), then the most resources."""
    if not stacks:
        raise ValueError("no stacks")
    return max(
        stacks,
        key=lambda s: (Headroom(s["resources"], s["bytes"]).worst_share, s["resources"], s["bytes"]),
    )


@dataclass(frozen=True)
class TemplateCost:
    resources: int
    template_bytes: int


def per_endpoint_costs(sizes: Mapping[str, Sequence[int]]) -> dict[str, TemplateCost]:
    """Template cost of a typical endpoint, of the heaviest endpoint and of a stack itself, from the (resources,
    bytes) of the Inference stacks of benchmarks/scale.py's per-endpoint environment, keyed by what they hold:
    ``typical_1`` / ``typical_2`` (one / two typical endpoints), ``heavy_1`` / ``heavy_2`` (one / two heaviest)."""

    def size(kind: str) -> tuple[int, int]:
        if kind not in sizes:
            raise ValueError(f"{kind} is missing from the per-endpoint measurement")
        resources, template_bytes = sizes[kind]
        return resources, template_bytes

    (t1r, t1b), (t2r, t2b), (h1r, h1b), (h2r, h2b) = (size(k) for k in ("typical_1", "typical_2", "heavy_1", "heavy_2"))
    typical = TemplateCost(t2r - t1r, t2b - t1b)
    return {
        "typical": typical,
        "heaviest": TemplateCost(h2r - h1r, h2b - h1b),
        "per_stack": TemplateCost(t1r - typical.resources, t1b - typical.template_bytes),
    }


def max_endpoints_per_group(per_stack: TemplateCost, per_endpoint: TemplateCost, goal: float = HEADROOM_GOAL) -> int:
    """The most endpoints of cost ``per_endpoint`` one stack holds within ``goal`` of both CloudFormation limits."""
    if per_endpoint.resources <= 0 or per_endpoint.template_bytes <= 0:
        raise ValueError("an endpoint costs at least one resource and one byte")
    by_resources = (RESOURCE_LIMIT * goal - per_stack.resources) / per_endpoint.resources
    by_bytes = (TEMPLATE_BYTES_LIMIT * goal - per_stack.template_bytes) / per_endpoint.template_bytes
    return max(0, math.floor(min(by_resources, by_bytes)))


def alternation(variants: Sequence[str], runs: int) -> list[str]:
    """Run order: ``runs`` rounds of every variant, each round starting one variant later than the previous one, so
    no variant always runs first (right after a quiet moment) or right after the same neighbour."""
    if runs < 1 or not variants:
        raise ValueError("at least one run of at least one variant")
    order = []
    for round_ in range(runs):
        shift = round_ % len(variants)
        order.extend(list(variants[shift:]) + list(variants[:shift]))
    return order


def percent(share: float) -> str:
    return f"{share * 100:.1f} %"


def kilobytes(size: int) -> str:
    return f"{size / 1000:,.1f} KB"


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def verdict(ok: bool) -> str:
    return "ok" if ok else "**over**"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)
