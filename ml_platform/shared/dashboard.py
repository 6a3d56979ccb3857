"""What a component contributes to the environment's dashboard: titled sections of widget rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aws_cdk import aws_cloudwatch as cloudwatch


@dataclass(frozen=True)
class DashboardSection:
    """A titled group of widget rows that one component contributes to the dashboard."""

    title: str
    rows: Sequence[Sequence[cloudwatch.IWidget]] = field(default_factory=list)


def graph(
    title: str, metrics: Sequence[cloudwatch.IMetric], *, width: int = 8, right: Sequence[cloudwatch.IMetric] = ()
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), right=list(right), width=width, height=6)
