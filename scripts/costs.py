"""Monthly idle cost of what the platform provisions, from the price table ``scripts/prices.json``.

Pure functions without the CDK: they take counts (for planning, the table of docs/network.md) or the synthesized
templates (for ``make synth``'s summary), so the figure printed is the figure of what would deploy.

A scheduled Glue job is billed for every run, data or not: runs per month × DPUs × the assumed minutes per run
(``assumptions.glue_job_minutes_per_run``) × the DPU-hour price.

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

from ml_platform.lake.config.curation import DPUS_PER_WORKER
from ml_platform.lake.config.schedule import runs_per_day
from scripts.assembly import StackTemplate

PRICES_FILE = Path(__file__).resolve().parent / "prices.json"
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


# ----------------------------------------------------------------------------------------------- full report
@dataclass(frozen=True)
class CostLine:
    """One resource kind of one environment: quantity × unit price = monthly cost (USD)."""

    environment: str
    kind: str
    quantity: float
    unit: str
    unit_price: float
    monthly: float
    basis: str = "idle"  # "idle" (billed whether used or not) or "assumption" (usage-priced, assumed volume)


def _alarm_metric_count(properties: Mapping[str, Any]) -> int:
    """Alarms are billed per metric they evaluate: a metric-math alarm pays for each MetricStat."""
    metrics = properties.get("Metrics")
    if isinstance(metrics, list):
        return max(1, sum(1 for m in metrics if "MetricStat" in m))
    return 1


def idle_cost_lines(stacks: Iterable[StackTemplate], table: Mapping[str, Any]) -> list[CostLine]:
    """The monthly idle cost of every environment in ``stacks``, per resource kind.

    Idle means billed while nothing happens: endpoint-AZ-hours, instance-hours, shard- or stream-hours,
    keys, alarms, dashboards; plus the stated assumptions for flow logs and log storage.
    """
    prices = table["prices"]
    assumptions = table.get("assumptions", {})
    hours = prices["hours_per_month"]
    grouped: dict[str, list[StackTemplate]] = {}
    for stack in stacks:
        grouped.setdefault(stack.environment, []).append(stack)
    lines: list[CostLine] = []
    for environment, group in grouped.items():

        def add(
            kind: str, quantity: float, unit: str, unit_price: float, basis: str = "idle", env: str = environment
        ) -> None:
            if quantity:
                lines.append(CostLine(env, kind, quantity, unit, unit_price, round(quantity * unit_price, 2), basis))

        usage = interface_endpoint_usage(group)
        add(
            "interface endpoints × AZs",
            usage.endpoint_azs,
            "endpoint-AZ-month",
            prices["interface_endpoint_az_hour"] * hours,
        )
        instances: dict[str, int] = {}
        shards = 0
        on_demand_streams = 0
        keys = alarm_metrics = composites = dashboards = flow_logs = log_groups = 0
        scheduled_dpu_hours = 0.0
        for stack in group:
            scheduled_dpu_hours += _scheduled_glue_dpu_hours(stack, assumptions, hours)
            for resource in stack.resources.values():
                rtype, props = resource["Type"], resource.get("Properties", {})
                if rtype == "AWS::SageMaker::EndpointConfig":
                    variants = [*props.get("ProductionVariants", []), *props.get("ShadowProductionVariants", [])]
                    for variant in variants:
                        if "InstanceType" in variant:  # serverless variants have no idle cost
                            instance = variant["InstanceType"]
                            instances[instance] = instances.get(instance, 0) + int(variant["InitialInstanceCount"])
                elif rtype == "AWS::Kinesis::Stream":
                    if props.get("StreamModeDetails", {}).get("StreamMode") == "ON_DEMAND":
                        on_demand_streams += 1
                    else:
                        shards += int(props.get("ShardCount", 1))
                elif rtype == "AWS::KMS::Key":
                    keys += 1
                elif rtype == "AWS::CloudWatch::Alarm":
                    alarm_metrics += _alarm_metric_count(props)
                elif rtype == "AWS::CloudWatch::CompositeAlarm":
                    composites += 1
                elif rtype == "AWS::CloudWatch::Dashboard":
                    dashboards += 1
                elif rtype == "AWS::EC2::FlowLog":
                    flow_logs += 1
                elif rtype == "AWS::Logs::LogGroup":
                    log_groups += 1
        for instance, count in sorted(instances.items()):
            price = prices.get(f"sagemaker_instance_hour.{instance}")
            if price is None:
                raise ValueError(
                    f"no price for SageMaker instance type {instance!r}: add 'sagemaker_instance_hour.{instance}' "
                    f"to {PRICES_FILE.name}"
                )
            add(f"SageMaker {instance} instances", count, "instance-month", price * hours)
        add("Kinesis provisioned shards", shards, "shard-month", prices["kinesis_shard_hour"] * hours)
        add(
            "Kinesis on-demand streams",
            on_demand_streams,
            "stream-month",
            prices["kinesis_on_demand_stream_hour"] * hours,
        )
        add("KMS customer managed keys", keys, "key-month", prices["kms_key_month"])
        add("CloudWatch alarm metrics", alarm_metrics, "metric-month", prices["cloudwatch_alarm_metric_month"])
        add("CloudWatch composite alarms", composites, "alarm-month", prices["cloudwatch_composite_alarm_month"])
        add("CloudWatch dashboards", dashboards, "dashboard-month", prices["cloudwatch_dashboard_month"])
        if scheduled_dpu_hours:
            add(
                f"Glue scheduled job runs (assumed {assumptions.get('glue_job_minutes_per_run', 0):g} min each)",
                round(scheduled_dpu_hours, 2),
                "DPU-hour",
                prices["glue_dpu_hour"],
                "assumption",
            )
        add(
            "VPC flow logs (assumed GB)",
            flow_logs * assumptions.get("flow_log_gb_per_month", 0),
            "GB ingested",
            prices["cloudwatch_vended_log_gb_ingested"],
            "assumption",
        )
        add(
            "log storage (assumed GB)",
            log_groups * assumptions.get("log_gb_per_month_per_log_group", 0),
            "GB-month stored",
            prices["cloudwatch_log_gb_month_stored"],
            "assumption",
        )
    return lines


# Glue bills Spark jobs of version 2.0 and later per second with a 1-minute minimum (AWS Glue pricing page).
GLUE_MINIMUM_BILLED_MINUTES = 1


def _scheduled_glue_dpu_hours(stack: StackTemplate, assumptions: Mapping[str, Any], hours_per_month: float) -> float:
    """DPU-hours per month of the Glue jobs that a SCHEDULED trigger of ``stack`` starts: runs per month (from the
    cron, every day) × DPUs (workers × DPUs per worker) × the assumed minutes per run."""
    jobs = {logical_id: r["Properties"] for logical_id, r in stack.of_type("AWS::Glue::Job").items()}
    minutes = max(GLUE_MINIMUM_BILLED_MINUTES, float(assumptions.get("glue_job_minutes_per_run", 0)))
    total = 0.0
    for trigger in stack.of_type("AWS::Glue::Trigger").values():
        props = trigger["Properties"]
        if props.get("Type") != "SCHEDULED":
            continue
        runs_per_month = runs_per_day(props["Schedule"]) * hours_per_month / 24
        for action in props.get("Actions", []):
            reference = action.get("JobName")
            job = jobs.get(reference.get("Ref", "")) if isinstance(reference, dict) else None
            if job is None:
                raise ValueError(f"{stack.stack_name}: a scheduled trigger starts a job that is not in the stack")
            dpus = int(job["NumberOfWorkers"]) * DPUS_PER_WORKER[job["WorkerType"]]
            total += runs_per_month * dpus * minutes / 60
    return total


USAGE_PRICED: tuple[tuple[str, str, str], ...] = (
    ("Firehose ingestion", "firehose_gb_ingested", "per GB"),
    ("Firehose JSON → Parquet conversion", "firehose_format_conversion_gb", "per GB"),
    ("Firehose dynamic partitioning", "firehose_dynamic_partitioning_gb", "per GB"),
    ("Interface endpoint data processed", "interface_endpoint_gb_processed", "per GB"),
    ("Athena queries", "athena_tb_scanned", "per TB scanned"),
    ("S3 Standard storage", "s3_standard_gb_month", "per GB-month"),
    ("CloudWatch Logs ingestion", "cloudwatch_log_gb_ingested", "per GB"),
)


def totals_by_environment(lines: Iterable[CostLine]) -> dict[str, float]:
    result: dict[str, float] = {}
    for line in lines:
        result[line.environment] = round(result.get(line.environment, 0.0) + line.monthly, 2)
    return result


def report(stacks: list[StackTemplate], table: Mapping[str, Any]) -> str:
    lines = idle_cost_lines(stacks, table)
    currency = table["currency"]
    out = [
        f"Monthly idle cost ({currency}, {table['region']} list prices as of {table['date']}; source: price table "
        f"{PRICES_FILE.name})",
        "",
        "| environment | resource kind | quantity | unit | unit price | per month |",
        "|---|---|---:|---|---:|---:|",
    ]
    for line in lines:
        mark = " (assumption)" if line.basis == "assumption" else ""
        out.append(
            f"| {line.environment} | {line.kind}{mark} | {line.quantity:g} | {line.unit} | "
            f"{line.unit_price:,.4f} | {line.monthly:,.2f} |"
        )
    for environment, total in totals_by_environment(lines).items():
        out.append(f"| {environment} | **total** | | | | **{total:,.2f}** |")
    out += ["", "Usage-priced (not in the totals):", ""]
    out += [f"- {name}: {currency} {table['prices'][key]:g} {unit}" for name, key, unit in USAGE_PRICED]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from scripts.assembly import read_assembly

    parser = argparse.ArgumentParser(description="Monthly idle cost per environment from the synthesized templates")
    parser.add_argument("outdir", nargs="?", default="cdk.out")
    args = parser.parse_args(argv)
    print(report(read_assembly(args.outdir), load_prices()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
