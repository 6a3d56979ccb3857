"""Endpoint stack groups: one Inference stack per group, the default group's stack unchanged, and a per-group
maximum that keeps every stack within 50 % of CloudFormation's 500-resource and 1 MB template limits."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from benchmarks.analysis import HEADROOM_GOAL, Headroom, max_endpoints_per_group, per_endpoint_costs
from benchmarks.scale import PER_ENDPOINT_GROUPS, per_endpoint_environment
from ml_platform.app import build_platform
from ml_platform.core.errors import ConfigError
from ml_platform.environments import load_environments
from ml_platform.inference.config import DEFAULT_STACK_GROUP, MAX_ENDPOINTS_PER_STACK_GROUP, inference_stack_id
from ml_platform.stage import stack_ids
from scripts.assembly import StackTemplate, read_assembly
from tests.conftest import SynthesizedPlatform, declared_environment, masked, new_app


def _dev(endpoints: list[dict[str, Any]]) -> dict[str, Any]:
    return declared_environment("dev", inference={"endpoints": endpoints})


def _copies(count: int, group: str | None = None, prefix: str = "churn") -> list[dict[str, Any]]:
    base = declared_environment("dev")["inference"]["endpoints"][0]
    extra = {} if group is None else {"stack_group": group}
    return [{**copy.deepcopy(base), "name": f"{prefix}-{i:02d}", **extra} for i in range(1, count + 1)]


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load_environments([data])
    return error.value.problems


# ---------------------------------------------------------------------------------------------- config rule
def test_a_group_over_the_maximum_is_refused_with_one_line_naming_stack_group():
    # Given one more endpoint than a group may hold, all in the default group
    problems = _problems(_dev(_copies(MAX_ENDPOINTS_PER_STACK_GROUP + 1)))
    # Then one line names the group, the count, the maximum, the limits and the field to set
    assert len(problems) == 1 and "\n" not in problems[0]
    (line,) = problems
    assert line.startswith("environment 'dev': field 'inference': ")
    assert f"stack group 'default' has {MAX_ENDPOINTS_PER_STACK_GROUP + 1} endpoints" in line
    assert f"at most {MAX_ENDPOINTS_PER_STACK_GROUP}" in line and "500-resource and 1 MB" in line
    assert "set `stack_group`" in line


def test_a_named_group_over_the_maximum_is_refused_too():
    problems = _problems(_dev(_copies(1) + _copies(MAX_ENDPOINTS_PER_STACK_GROUP + 1, "vision", "vision")))
    assert len(problems) == 1 and "stack group 'vision' has" in problems[0]


def test_full_groups_are_accepted():
    # Given exactly the maximum in the default group and in a second group
    (config,) = load_environments(
        [_dev(_copies(MAX_ENDPOINTS_PER_STACK_GROUP) + _copies(MAX_ENDPOINTS_PER_STACK_GROUP, "b", "b"))]
    )
    # Then both groups exist, default first
    assert config.inference.stack_groups == (DEFAULT_STACK_GROUP, "b")
    assert [len(config.inference.endpoints_in(g)) for g in ("default", "b")] == [MAX_ENDPOINTS_PER_STACK_GROUP] * 2


@pytest.mark.parametrize("group", ["Vision", "vision_models", "-vision", "vision-", "v" * 21, ""])
def test_a_bad_group_name_is_refused_naming_the_endpoint_and_field(group):
    problems = _problems(_dev(_copies(1, group)))
    assert len(problems) == 1
    assert "field 'inference.endpoints.churn-01.stack_group'" in problems[0]


def test_the_default_group_comes_first_whatever_the_declaration_order():
    (config,) = load_environments([_dev(_copies(1, "late", "late") + _copies(1) + _copies(1, "later", "later"))])
    assert config.inference.stack_groups == ("default", "late", "later")
    assert stack_ids(config) == [
        "Security", "Network", "DataLake", "Stream", "Ingestion",
        "Inference", "Inference-late", "Inference-later", "Monitoring",
    ]  # fmt: skip


def test_declared_environments_keep_every_endpoint_in_the_default_inference_stack():
    for config in load_environments():
        assert {e.stack_group for e in config.inference.endpoints} == {DEFAULT_STACK_GROUP}
        assert [i for i in stack_ids(config) if i.startswith("Inference")] == ["Inference"]


def test_stack_ids_of_groups():
    assert inference_stack_id(DEFAULT_STACK_GROUP) == "Inference"
    assert inference_stack_id("vision") == "Inference-vision"


# ---------------------------------------------------------------------------------------------- a multi-group app
@pytest.fixture(scope="module")
def grouped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StackTemplate]:
    """The dev environment plus groups `typical` (2 copies of its endpoint), `heavy` (1 heaviest endpoint) and
    `heavy-pair` (2), synthesized in an isolated app with every cdk-nag pack (synth fails on a finding). The
    Control Tower plugin is left out (about 20 s on these templates): the groups' stacks hold the same resource
    types as the Inference stack it checks in tests/gates/test_control_tower.py."""
    outdir = tmp_path_factory.mktemp("grouped")
    (config,) = load_environments([per_endpoint_environment()])
    app = new_app(outdir)
    build_platform(app, [config], control_tower=False)
    app.synth()
    return {stack.stack_id: stack for stack in read_assembly(outdir)}


def _group_stack(grouped: dict[str, StackTemplate], kind: str) -> StackTemplate:
    return grouped[inference_stack_id(PER_ENDPOINT_GROUPS[kind])]


def test_each_group_gets_its_own_stack_and_cloudformation_stack_name(grouped):
    # Given four groups, Then four Inference stacks, named <env>-Inference[-<group>]
    inference = {sid: s.stack_name for sid, s in grouped.items() if sid.startswith("Inference")}
    assert inference == {
        "Inference": "dev-Inference",
        "Inference-typical": "dev-Inference-typical",
        "Inference-heavy": "dev-Inference-heavy",
        "Inference-heavy-pair": "dev-Inference-heavy-pair",
    }
    assert "(stack group typical)" in grouped["Inference-typical"].template["Description"]


def test_each_endpoint_lands_in_its_groups_stack_only(grouped):
    def endpoint_names(stack: StackTemplate) -> set[str]:
        return {r["Properties"]["EndpointName"] for r in stack.of_type("AWS::SageMaker::Endpoint").values()}

    assert endpoint_names(grouped["Inference"]) == {"ml-platform-dev-churn"}
    assert endpoint_names(grouped["Inference-typical"]) == {"ml-platform-dev-churn-02", "ml-platform-dev-churn-03"}
    assert endpoint_names(grouped["Inference-heavy"]) == {"ml-platform-dev-heavy"}
    assert endpoint_names(grouped["Inference-heavy-pair"]) == {"ml-platform-dev-heavy-02", "ml-platform-dev-heavy-03"}


def test_the_default_group_stack_is_identical_to_the_declared_dev_inference_stack(grouped, platform):
    # Given the same dev endpoint in the default group, plus other groups beside it
    # Then its stack keeps the id `Inference` and the same template: same logical IDs, names and properties
    declared = platform.stack("dev", "Inference").template
    assert set(grouped["Inference"].resources) == set(declared["Resources"])
    assert masked(grouped["Inference"].template) == masked(declared)


def test_group_stacks_hold_only_resource_types_the_control_tower_gate_checks_in_the_app(grouped, platform):
    # The grouped synth leaves the Control Tower plugin out: its stacks must not bring a resource type that the
    # declared app (checked in tests/gates/test_control_tower.py) does not have
    checked = {r["Type"] for stack in platform.stacks for r in stack.resources.values()}
    grouped_types = {r["Type"] for stack in grouped.values() for r in stack.resources.values()}
    assert grouped_types <= checked, grouped_types - checked


def test_dead_letter_queue_alarm_names_are_unique_across_group_stacks(grouped):
    names = [
        r["Properties"]["AlarmName"]
        for sid, stack in grouped.items()
        if sid.startswith("Inference")
        for r in stack.of_type("AWS::CloudWatch::Alarm").values()
        if "undelivered-endpoint-events" in json.dumps(r["Properties"].get("AlarmName", ""))
    ]
    assert sorted(names) == [
        "ml-platform-dev-heavy-pair-undelivered-endpoint-events",
        "ml-platform-dev-heavy-undelivered-endpoint-events",
        "ml-platform-dev-typical-undelivered-endpoint-events",
        "ml-platform-dev-undelivered-endpoint-events",
    ]


def test_monitoring_covers_every_group(grouped):
    monitoring = grouped["Monitoring"]
    (dashboard,) = monitoring.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for title in ("## Inference", "## Inference (typical)", "## Inference (heavy)", "## Inference (heavy-pair)"):
        assert title in body
    (composite,) = monitoring.of_type("AWS::CloudWatch::CompositeAlarm").values()
    rule = json.dumps(composite["Properties"]["AlarmRule"])
    # 3 ingestion alarms + 2 critical alarms (5XX rate, p99 latency) per production variant, from every group's stack
    (config,) = load_environments([per_endpoint_environment()])
    variants = sum(len(endpoint.production_variants) for endpoint in config.inference.endpoints)
    assert len(config.inference.endpoints) == 6 and variants > 6  # the dev copies carry its A/B challenger
    assert rule.count("ALARM(") == 3 + 2 * variants
    for stack_name in ("dev-Inference", "dev-Inference-typical", "dev-Inference-heavy", "dev-Inference-heavy-pair"):
        assert f'"StackName": "{stack_name}"' in rule


def test_the_group_maximum_holds_for_the_measured_heaviest_endpoint(grouped):
    # Given the measured template cost of a stack and of the heaviest endpoint the configuration allows
    sizes = {
        kind: (len(_group_stack(grouped, kind).resources), _group_stack(grouped, kind).size_bytes)
        for kind in PER_ENDPOINT_GROUPS
    }
    costs = per_endpoint_costs(sizes)
    # Then a full group of heaviest endpoints stays within 50 % of both limits
    full = Headroom(
        costs["per_stack"].resources + MAX_ENDPOINTS_PER_STACK_GROUP * costs["heaviest"].resources,
        costs["per_stack"].template_bytes + MAX_ENDPOINTS_PER_STACK_GROUP * costs["heaviest"].template_bytes,
    )
    assert full.within(HEADROOM_GOAL), full.describe()
    assert max_endpoints_per_group(costs["per_stack"], costs["heaviest"]) >= MAX_ENDPOINTS_PER_STACK_GROUP
    # And the typical endpoint costs less than the heaviest (the maximum is the worst case)
    assert costs["typical"].resources < costs["heaviest"].resources


# ---------------------------------------------------------------------------------------------- declared headroom
def test_every_declared_stack_is_within_half_of_the_cloudformation_limits(platform: SynthesizedPlatform):
    # Given every stack of every declared environment, Then resources <= 250 of 500 and bytes <= 500 KB of 1 MB
    over = [
        f"{s.environment}/{s.stack_id}: {Headroom(len(s.resources), s.size_bytes).describe()}"
        for s in platform.stacks
        if not Headroom(len(s.resources), s.size_bytes).within(HEADROOM_GOAL)
    ]
    assert over == []
