"""The benchmark's pure computations and its scale generator (benchmarks/analysis.py, benchmarks/scale.py).

No timing is asserted here, ever: the benchmark's times are reported by `make bench`, not tested.
"""

from __future__ import annotations

import pytest

from benchmarks.analysis import (
    Headroom,
    TemplateCost,
    alternation,
    largest_stack,
    least_squares,
    markdown_table,
    max_endpoints_per_group,
    median,
    per_endpoint_costs,
    ratio,
)
from benchmarks.scale import (
    HEAVIEST_ENDPOINT,
    PER_ENDPOINT_GROUPS,
    endpoint_names,
    group_names,
    per_endpoint_environment,
    scale_environment,
)
from ml_platform.core.errors import ConfigError, build
from ml_platform.environment import EnvironmentConfig
from ml_platform.environments import load_environments
from ml_platform.inference.config import DEFAULT_STACK_GROUP, MAX_ENDPOINTS_PER_STACK_GROUP
from ml_platform.stage import stack_ids
from tests.conftest import declared_environment


def _config(data: dict) -> EnvironmentConfig:
    return build(EnvironmentConfig, data, context="environment 'scale'")


# ---------------------------------------------------------------------------------------------- medians and ratios
def test_median_of_odd_and_even_counts():
    # Given run times in any order, When the median is taken, Then it is the middle value (or the mean of the two)
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert median([7.5]) == 7.5


def test_median_of_nothing_is_refused():
    with pytest.raises(ValueError, match="no values"):
        median([])


def test_ratio_to_a_floor():
    # Given a full-app median of 30 s and a floor of 12 s, Then the ratio is 2.5x
    assert ratio(30.0, 12.0) == pytest.approx(2.5)
    with pytest.raises(ValueError, match="positive"):
        ratio(1.0, 0.0)


# ---------------------------------------------------------------------------------------------- slope
def test_least_squares_recovers_an_exact_line():
    # Given points on y = 0.25 x + 3, When fitted, Then slope and intercept are exact
    slope, intercept = least_squares([1, 5, 10, 20], [3.25, 4.25, 5.5, 8.0])
    assert slope == pytest.approx(0.25)
    assert intercept == pytest.approx(3.0)


def test_least_squares_with_noise_is_the_hand_computed_fit():
    # Given (1, 2), (2, 3), (3, 7): mean x 2, mean y 4, Sxx 2, Sxy (-1)(-2) + 0 + (1)(3) = 5
    slope, intercept = least_squares([1, 2, 3], [2, 3, 7])
    assert slope == pytest.approx(2.5)
    assert intercept == pytest.approx(4 - 2.5 * 2)


def test_least_squares_needs_two_distinct_x_values_and_matching_lengths():
    with pytest.raises(ValueError, match="two distinct"):
        least_squares([5, 5], [1, 2])
    with pytest.raises(ValueError, match="3 x values but 2"):
        least_squares([1, 2, 3], [1, 2])


# ---------------------------------------------------------------------------------------------- headroom
def test_headroom_shares_of_the_cloudformation_limits():
    # Given 250 resources and 400,000 bytes, Then 50 % of 500 resources and 40 % of 1,000,000 bytes: within 50 %
    head = Headroom(250, 400_000)
    assert head.resource_share == pytest.approx(0.5)
    assert head.bytes_share == pytest.approx(0.4)
    assert head.worst_share == pytest.approx(0.5)
    assert head.within()
    assert head.describe() == "250 resources (50.0 %), 400.0 KB (40.0 %)"


@pytest.mark.parametrize(("resources", "template_bytes"), [(251, 1000), (10, 500_001)])
def test_headroom_over_half_of_either_limit_is_over(resources, template_bytes):
    assert not Headroom(resources, template_bytes).within()


def test_largest_stack_is_the_one_closest_to_either_limit():
    # Given a stack with more resources but a small template, and one with fewer resources but 45 % of the bytes
    stacks = [
        {"stack_id": "Many", "resources": 200, "bytes": 100_000},  # 40 % resources
        {"stack_id": "Big", "resources": 50, "bytes": 450_000},  # 45 % bytes
    ]
    # Then the larger share wins
    assert largest_stack(stacks)["stack_id"] == "Big"
    with pytest.raises(ValueError):
        largest_stack([])


# ---------------------------------------------------------------------------------------------- per-endpoint cost
def test_per_endpoint_costs_are_the_differences_between_the_measurement_stacks():
    # Given the (resources, bytes) of the four measurement stacks
    sizes = {"typical_1": (22, 38_002), "typical_2": (41, 72_679), "heavy_1": (35, 65_077), "heavy_2": (67, 127_075)}
    # When the costs are derived
    costs = per_endpoint_costs(sizes)
    # Then one more endpoint of a kind is that kind's cost, and one typical endpoint less is the stack's own cost
    assert costs["typical"] == TemplateCost(19, 34_677)
    assert costs["heaviest"] == TemplateCost(32, 61_998)
    assert costs["per_stack"] == TemplateCost(3, 3_325)


def test_per_endpoint_costs_need_every_measurement():
    with pytest.raises(ValueError, match="heavy_2 is missing"):
        per_endpoint_costs({"typical_1": (1, 1), "typical_2": (2, 2), "heavy_1": (3, 3)})


def test_max_endpoints_per_group_is_bounded_by_the_tighter_limit():
    # Resources bind: (250 - 3) / 32 = 7.7, bytes (500,000 - 3,325) / 61,998 = 8.01 -> 7
    assert max_endpoints_per_group(TemplateCost(3, 3_325), TemplateCost(32, 61_998)) == 7
    # Bytes bind: resources (250 - 10) / 10 = 24, bytes (500,000 - 10,000) / 70,000 = 7 -> 7
    assert max_endpoints_per_group(TemplateCost(10, 10_000), TemplateCost(10, 70_000)) == 7
    # A stack already over the goal holds none
    assert max_endpoints_per_group(TemplateCost(300, 0), TemplateCost(1, 1)) == 0
    with pytest.raises(ValueError):
        max_endpoints_per_group(TemplateCost(0, 0), TemplateCost(0, 1))


# ---------------------------------------------------------------------------------------------- run order, table
def test_alternation_rotates_the_first_variant_each_round():
    order = alternation(["a", "b", "c"], 3)
    assert order == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    # Every variant runs once per round
    assert all(order.count(v) == 3 for v in "abc")
    with pytest.raises(ValueError):
        alternation(["a"], 0)


def test_markdown_table_escapes_pipes():
    table = markdown_table(("a", "b"), [["x|y", "z"]])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | z |"]


# ---------------------------------------------------------------------------------------------- scale generator
def test_endpoint_names_are_distinct_copies_of_the_base_name():
    assert endpoint_names(3, "churn") == ["churn", "churn-02", "churn-03"]
    assert len(set(endpoint_names(20, "churn"))) == 20
    with pytest.raises(ValueError):
        endpoint_names(0, "churn")


def test_groups_fill_the_default_group_first_and_never_exceed_the_maximum():
    groups = group_names(20, per_group=7)
    assert groups[:7] == [DEFAULT_STACK_GROUP] * 7
    assert groups[7:14] == ["g2"] * 7 and groups[14:] == ["g3"] * 6
    assert group_names(3, per_group=7) == [DEFAULT_STACK_GROUP] * 3


@pytest.mark.parametrize("count", [1, 5, 10, 20])
def test_every_scale_step_is_a_valid_environment(count):
    # Given the generated environment for a scale step, When it is validated like a declared one
    config = _config(scale_environment(count))
    # Then it has `count` copies of the dev endpoint (same image, policy, instance), none over the group maximum
    dev = declared_environment("dev")["inference"]["endpoints"][0]
    endpoints = config.inference.endpoints
    assert len(endpoints) == count and len({e.name for e in endpoints}) == count
    assert {(e.image_uri, e.instance_type, e.deployment.type) for e in endpoints} == {
        (dev["image_uri"], dev["instance_type"], dev["deployment"]["type"])
    }
    assert all(
        len(config.inference.endpoints_in(g)) <= MAX_ENDPOINTS_PER_STACK_GROUP for g in config.inference.stack_groups
    )
    # And its stack ids are the dev ones with one Inference stack per group
    expected_groups = -(-count // MAX_ENDPOINTS_PER_STACK_GROUP)
    inference_ids = [i for i in stack_ids(config) if i.startswith("Inference")]
    assert inference_ids == ["Inference"] + [f"Inference-g{k}" for k in range(2, expected_groups + 1)]


def test_the_scale_stream_is_sized_for_its_endpoints():
    # Given the expected write rate grows with the endpoints, Then the computed shard count does too
    one, twenty = (_config(scale_environment(n)).streaming for n in (1, 20))
    assert twenty.capacity.write_kb_per_second == 20 * one.capacity.write_kb_per_second
    assert twenty.shard_count > one.shard_count


def test_one_stack_with_twenty_endpoints_is_refused_by_the_group_rule():
    # Given the design before stack groups (every endpoint in the default group), Then the config rule refuses it
    with pytest.raises(ConfigError) as error:
        _config(scale_environment(20, single_stack=True))
    assert "stack group 'default' has 20 endpoints" in str(error.value)


def test_the_declared_environments_are_not_changed_by_the_generator():
    # Given the generator deep-copies, When it builds a step, Then the declared dev environment still loads unchanged
    before = [e.model_dump() for e in load_environments()]
    scale_environment(20)
    per_endpoint_environment()
    assert [e.model_dump() for e in load_environments()] == before


def test_the_per_endpoint_environment_puts_each_kind_in_its_own_group():
    config = _config(per_endpoint_environment())
    sizes = {kind: len(config.inference.endpoints_in(group)) for kind, group in PER_ENDPOINT_GROUPS.items()}
    assert sizes == {"typical_1": 1, "typical_2": 2, "heavy_1": 1, "heavy_2": 2}
    # The heaviest endpoint has every optional feature that adds resources
    heavy = config.inference.endpoints_in(PER_ENDPOINT_GROUPS["heavy_1"])[0]
    assert heavy.name == HEAVIEST_ENDPOINT["name"]
    assert heavy.autoscaling and heavy.async_inference and heavy.model_monitor and heavy.data_capture.enabled
    assert heavy.async_inference.notify_success and heavy.rollback_alarms.count == 3
    assert heavy.parsed_instance_type is not None and heavy.parsed_instance_type.has_gpus
