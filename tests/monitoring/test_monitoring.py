"""Observability: alarm catalogue completeness, the platform-health composite, dashboard sections, Glue events."""

from __future__ import annotations

import json

import pytest

from scripts.alarm_catalogue import _output_target, catalogue, markdown, resolve_action

# The seed documents' signals, each of which must have at least one alarm: (namespace/metric, needs inference).
SEED_SIGNALS = [
    ("AWS/SageMaker/Invocations", True),  # endpoint invocations
    ("AWS/SageMaker/ModelLatency", True),  # endpoint latency
    ("AWS/SageMaker/OverheadLatency", True),
    ("AWS/SageMaker/Invocation5XXErrors", True),
    ("/aws/sagemaker/Endpoints/CPUUtilization", True),  # instance health
    ("/aws/sagemaker/Endpoints/MemoryUtilization", True),
    ("AWS/Kinesis/GetRecords.IteratorAgeMilliseconds", False),  # stream iterator age
    ("AWS/Kinesis/WriteProvisionedThroughputExceeded", False),  # throttling
    ("AWS/Kinesis/ReadProvisionedThroughputExceeded", False),
    ("AWS/Firehose/DeliveryToS3.DataFreshness", False),  # Firehose delivery
    ("AWS/Firehose/DeliveryToS3.Success", False),
]


def _math_inputs(platform, env: str) -> set[str]:
    names = set()
    for stack in platform.stacks:
        if stack.environment != env:
            continue
        for alarm in stack.of_type("AWS::CloudWatch::Alarm").values():
            for query in alarm["Properties"].get("Metrics", []):
                metric = query.get("MetricStat", {}).get("Metric")
                if metric:
                    names.add(f"{metric['Namespace']}/{metric['MetricName']}")
    return names


@pytest.fixture(scope="module")
def alarms(platform):
    return catalogue(platform.stacks)


def test_every_alarm_notifies_the_alarm_topic_and_says_what_to_do(alarms, platform):
    # Given every alarm and composite alarm of every environment
    assert len(alarms) > 20
    for entry in alarms:
        # Then its alarm action resolves to the Security stack's alarm topic, and it has a runbook description
        assert entry.actions and all(a.startswith("sns:Security/AlarmTopic") for a in entry.actions), entry
        assert len(entry.description) > 30, entry
        if entry.kind == "metric":
            assert entry.treat_missing_data in {"notBreaching", "breaching", "ignore", "missing"}, entry


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_seed_signal_has_an_alarm(alarms, platform, env):
    present = {e.metric for e in alarms if e.environment == env} | _math_inputs(platform, env)
    has_inference = bool(platform.environments[env].inference.endpoints)
    missing = [
        metric
        for metric, needs_inference in SEED_SIGNALS
        if (has_inference or not needs_inference) and metric not in present
    ]
    assert missing == []


def test_catalogue_markdown_has_a_row_per_alarm(alarms):
    table = markdown(alarms)
    assert len(table.splitlines()) == len(alarms) + 2
    assert "| missing data |" in table.splitlines()[0]


def _composite(platform, env):
    (composite,) = platform.resources(env, "Monitoring", "AWS::CloudWatch::CompositeAlarm").values()
    return composite["Properties"]


def _rule_alarm_ids(platform, env) -> set[str]:
    """Logical ids of the alarms the composite rule names (weak references resolved to their stacks)."""
    rule = _composite(platform, env)["AlarmRule"]
    parts = rule["Fn::Join"][1] if isinstance(rule, dict) else [rule]
    ids = set()
    for part in parts:
        if isinstance(part, dict) and "Fn::GetStackOutput" in part:
            stack, logical_id = _output_target(platform.stacks, part["Fn::GetStackOutput"])
            ids.add(f"{stack.stack_id}/{logical_id}")
        elif isinstance(part, dict) and "Fn::GetAtt" in part:
            ids.add(f"Monitoring/{part['Fn::GetAtt'][0]}")
    return ids


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_platform_health_covers_every_critical_alarm(platform, env):
    stage = platform.stages[env]
    expected = set()
    for component in [stage.ingestion] + ([stage.inference] if stage.inference else []):
        for alarm in component.critical_alarms:
            stack = alarm.stack
            expected.add(f"{stack.node.id}/{stack.get_logical_id(alarm.node.default_child)}")
    variants = sum(len(e.production_variants) for e in platform.environments[env].inference.endpoints)
    assert len(expected) == 3 + 2 * variants  # 5XX rate and p99 latency of every production variant
    assert _rule_alarm_ids(platform, env) == expected
    rule = json.dumps(_composite(platform, env)["AlarmRule"])
    assert rule.count("ALARM(") == len(expected) and " OR " in rule


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_dashboard_has_a_section_per_component_present(platform, env):
    (dashboard,) = platform.resources(env, "Monitoring", "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    config = platform.environments[env]
    assert "## Ingestion" in body and "DeliveryToS3.DataFreshness" in body and "IteratorAgeMilliseconds" in body
    assert ("## Inference" in body) is bool(config.inference.endpoints)
    for endpoint in config.inference.endpoints:
        assert f"ml-platform-{env}-{endpoint.name}" in body
    # The lake's section: the curation job's metrics, and the crawler's log query where the crawler is on
    assert "## Data lake" in body and 'MlPlatform/Curation\\",\\"RowsQuarantined' in body
    assert ("Curated crawler runs and failures" in body) is config.data_lake.curated_crawler.enabled


def test_glue_failures_reach_the_topic_with_a_dead_letter_queue(platform):
    rules = platform.resources("prod", "Monitoring", "AWS::Events::Rule")
    patterns = {json.dumps(r["Properties"]["EventPattern"]["detail-type"]) for r in rules.values()}
    assert patterns == {'["Glue Crawler State Change"]', '["Glue Job State Change"]'}
    for rule in rules.values():
        (target,) = rule["Properties"]["Targets"]
        assert "AlarmTopic" in json.dumps(target["Arn"])
        assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumEventAgeInSeconds"] == 86400
    dev_rules = platform.resources("dev", "Monitoring", "AWS::Events::Rule")
    assert len(dev_rules) == 1 + int(platform.environments["dev"].data_lake.curated_crawler.enabled)


def test_resolve_action_reports_a_foreign_action_as_other(platform):
    stack = platform.stack("dev", "Monitoring")
    assert resolve_action(stack, "arn:aws:sns:eu-west-1:111111111111:elsewhere", platform.stacks, {}).startswith(
        "other:"
    )
