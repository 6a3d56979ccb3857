"""The idle cost report: per environment and resource kind, against hand-computed figures."""

from __future__ import annotations

import pytest

from scripts.assembly import StackTemplate
from scripts.costs import idle_cost_lines, load_prices, report, totals_by_environment
from tests.workbench.conftest import stack_template

TABLE = {
    "source": "test",
    "region": "eu-west-1",
    "date": "2026-01-01",
    "currency": "USD",
    "prices": {
        "hours_per_month": 730,
        "interface_endpoint_az_hour": 0.01,
        "sagemaker_instance_hour.ml.m5.large": 0.1,
        "kinesis_shard_hour": 0.02,
        "kinesis_on_demand_stream_hour": 0.04,
        "kms_key_month": 1.0,
        "cloudwatch_alarm_metric_month": 0.1,
        "cloudwatch_composite_alarm_month": 0.5,
        "cloudwatch_dashboard_month": 3.0,
        "cloudwatch_vended_log_gb_ingested": 0.5,
        "cloudwatch_log_gb_month_stored": 0.03,
    },
    "assumptions": {"flow_log_gb_per_month": 4, "log_gb_per_month_per_log_group": 2},
}


def _stack(environment: str, resources: dict) -> StackTemplate:
    return stack_template(resources, environment, "S")


def _endpoint(subnets: int) -> dict:
    return {
        "Type": "AWS::EC2::VPCEndpoint",
        "Properties": {"VpcEndpointType": "Interface", "SubnetIds": [f"s{i}" for i in range(subnets)]},
    }


RESOURCES = {
    "E1": _endpoint(2), "E2": _endpoint(2), "E3": _endpoint(2),
    "Gw": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"VpcEndpointType": "Gateway"}},
    "Cfg": {"Type": "AWS::SageMaker::EndpointConfig", "Properties": {"ProductionVariants": [
        {"InstanceType": "ml.m5.large", "InitialInstanceCount": 3},
        {"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}},
    ]}},
    "Stream": {"Type": "AWS::Kinesis::Stream", "Properties": {"ShardCount": 4}},
    "K1": {"Type": "AWS::KMS::Key"}, "K2": {"Type": "AWS::KMS::Key"},
    "A1": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"MetricName": "x"}},
    "A2": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Metrics": [
        {"Id": "e", "Expression": "a/b"}, {"Id": "a", "MetricStat": {}}, {"Id": "b", "MetricStat": {}}]}},
    "C": {"Type": "AWS::CloudWatch::CompositeAlarm"},
    "D": {"Type": "AWS::CloudWatch::Dashboard"},
    "F": {"Type": "AWS::EC2::FlowLog"},
    "L1": {"Type": "AWS::Logs::LogGroup"}, "L2": {"Type": "AWS::Logs::LogGroup"},
}  # fmt: skip


def test_idle_cost_matches_hand_computed_figures():
    # Given 3 interface endpoints × 2 AZs, 3 ml.m5.large (+1 serverless variant, no idle cost), 4 shards,
    # 2 keys, 1 plain alarm + 1 math alarm over 2 metrics, 1 composite, 1 dashboard, 1 flow log, 2 log groups
    lines = {line.kind: line.monthly for line in idle_cost_lines([_stack("qa", RESOURCES)], TABLE)}
    # Then each line is quantity × unit price, computed by hand
    assert lines == {
        "interface endpoints × AZs": 43.80,  # 6 × 730 h × 0.01
        "SageMaker ml.m5.large instances": 219.00,  # 3 × 730 × 0.1
        "Kinesis provisioned shards": 58.40,  # 4 × 730 × 0.02
        "KMS customer managed keys": 2.00,
        "CloudWatch alarm metrics": 0.30,  # 1 + 2 metrics × 0.1
        "CloudWatch composite alarms": 0.50,
        "CloudWatch dashboards": 3.00,
        "VPC flow logs (assumed GB)": 2.00,  # 1 × 4 GB × 0.5
        "log storage (assumed GB)": 0.12,  # 2 × 2 GB × 0.03
    }
    assert totals_by_environment(idle_cost_lines([_stack("qa", RESOURCES)], TABLE)) == {"qa": 329.12}


def test_on_demand_stream_is_billed_per_stream_hour():
    stream = {"S": {"Type": "AWS::Kinesis::Stream", "Properties": {"StreamModeDetails": {"StreamMode": "ON_DEMAND"}}}}
    (line,) = idle_cost_lines([_stack("qa", stream)], TABLE)
    assert (line.kind, line.monthly) == ("Kinesis on-demand streams", 29.20)  # 730 × 0.04


def test_an_instance_type_without_a_price_is_a_clear_error():
    config = {
        "C": {
            "Type": "AWS::SageMaker::EndpointConfig",
            "Properties": {"ProductionVariants": [{"InstanceType": "ml.p5.48xlarge", "InitialInstanceCount": 1}]},
        }
    }
    with pytest.raises(ValueError, match=r"no price for SageMaker instance type 'ml.p5.48xlarge'"):
        idle_cost_lines([_stack("qa", config)], TABLE)


def test_report_of_the_real_app_prices_every_environment(platform):
    table = load_prices()
    lines = idle_cost_lines(platform.stacks, table)
    totals = totals_by_environment(lines)
    assert set(totals) == set(platform.environments)
    # prod runs more instances and AZs than dev
    assert totals["prod"] > totals["dev"] > 0
    text = report(platform.stacks, table)
    assert "Usage-priced (not in the totals)" in text and "Athena queries: USD 5 per TB scanned" in text
    for environment, total in totals.items():
        assert f"| {environment} | **total** | | | | **{total:,.2f}** |" in text


def test_a_scheduled_glue_job_costs_its_runs():
    # Given an hourly trigger of a job with 2 G.2X workers (4 DPUs), runs assumed 6 minutes long
    table = {**TABLE, "prices": {**TABLE["prices"], "glue_dpu_hour": 0.5},
             "assumptions": {"glue_job_minutes_per_run": 6}}  # fmt: skip
    actions = [{"JobName": {"Ref": "Job"}}]
    resources = {
        "Job": {"Type": "AWS::Glue::Job", "Properties": {"WorkerType": "G.2X", "NumberOfWorkers": 2}},
        "Hourly": {"Type": "AWS::Glue::Trigger",
                   "Properties": {"Type": "SCHEDULED", "Schedule": "cron(15 * * * ? *)", "Actions": actions}},
        "OnDemand": {"Type": "AWS::Glue::Trigger", "Properties": {"Type": "ON_DEMAND", "Actions": actions}},
    }  # fmt: skip
    (line,) = idle_cost_lines([_stack("qa", resources)], table)
    # Then 24 runs × 730/24 days × 4 DPUs × 0.1 h = 292 DPU-hours × 0.5 = 146
    assert (line.kind, line.quantity, line.monthly) == ("Glue scheduled job runs (assumed 6 min each)", 292.0, 146.0)
    assert line.basis == "assumption"
