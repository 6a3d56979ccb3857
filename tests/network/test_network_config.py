"""Network configuration: stage defaults, the endpoint catalogue, and one clear line per bad input."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_platform.core.errors import ConfigError
from ml_platform.environment import EnvironmentConfig
from ml_platform.environments import load_environments
from ml_platform.network.config import (
    COMPONENT_ENDPOINTS,
    INTERFACE_ENDPOINT_CATALOGUE,
    NetworkConfig,
    environment_problems,
)
from tests.network.conftest import network_environment as _env


@pytest.fixture
def inference_enabled(monkeypatch):
    """Environments whose inference component is on (without depending on the inference config's shape)."""
    base = EnvironmentConfig.enabled_components.fget

    monkeypatch.setattr(
        EnvironmentConfig, "enabled_components", property(lambda self: frozenset(base(self) | {"inference"}))
    )


# ----------------------------------------------------------------------------------------- stage defaults


@pytest.mark.parametrize(("stage", "azs", "prefix"), [("dev", 2, 17), ("staging", 3, 18), ("prod", 3, 18)])
def test_stage_drives_az_count_and_subnet_size(stage, azs, prefix):
    # Given the default /16 CIDR and no az_count, Then the stage picks the AZ count and the subnets halve/quarter it
    network = NetworkConfig()
    assert network.resolved_az_count(stage) == azs
    assert network.subnet_prefix_length(stage) == prefix


def test_az_count_overrides_the_stage_and_sizes_the_subnets():
    network = NetworkConfig(vpc_cidr="192.168.0.0/24", az_count=5)
    assert network.resolved_az_count("dev") == 5
    assert network.subnet_prefix_length("dev") == 27  # 8 subnets of /27 fit, 5 are used


@st.composite
def private_vpc_cidrs(draw: st.DrawFn) -> ipaddress.IPv4Network:
    """Any /16-/24 network inside one of the RFC 1918 ranges."""
    parent = ipaddress.IPv4Network(draw(st.sampled_from(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"])))
    prefix = draw(st.integers(min_value=max(16, parent.prefixlen), max_value=24))
    index = draw(st.integers(min_value=0, max_value=2 ** (prefix - parent.prefixlen) - 1))
    return ipaddress.IPv4Network((int(parent.network_address) + index * 2 ** (32 - prefix), prefix))


@given(vpc=private_vpc_cidrs(), azs=st.integers(min_value=2, max_value=6))
def test_every_valid_cidr_and_az_count_gives_non_overlapping_subnets_inside_the_vpc(vpc, azs):
    # Given any valid private CIDR and AZ count
    network = NetworkConfig(vpc_cidr=str(vpc), az_count=azs)
    # When the subnets are laid out the way the VPC construct allocates them (in order from the start)
    subnets = list(vpc.subnets(new_prefix=network.subnet_prefix_length("prod")))[:azs]
    # Then there is one per AZ, all inside the VPC, none overlapping, each within AWS's /28 minimum
    assert len(subnets) == azs
    assert all(s.subnet_of(vpc) and s.prefixlen <= 28 for s in subnets)
    assert len({s.network_address for s in subnets}) == azs


def test_catalogue_has_the_issue_s_services():
    required = {"sagemaker_api", "sagemaker_runtime", "sts", "logs", "monitoring", "kms", "kinesis_streams"}
    required |= {"firehose", "glue", "ecr_api", "ecr_dkr", "athena", "ssm", "secretsmanager"}
    assert required <= set(INTERFACE_ENDPOINT_CATALOGUE)


def test_components_only_name_catalogued_endpoints():
    for component, needs in COMPONENT_ENDPOINTS.items():
        assert set(needs.required + needs.recommended) <= set(INTERFACE_ENDPOINT_CATALOGUE), component


def test_inference_requires_what_a_sagemaker_endpoint_in_an_isolated_vpc_calls():
    assert set(COMPONENT_ENDPOINTS["inference"].required) == {
        "sagemaker_api",
        "sagemaker_runtime",
        "ecr_api",
        "ecr_dkr",
        "logs",
        "monitoring",
        "sts",
        "kms",
    }


@pytest.mark.parametrize(
    ("stage", "components", "expected"),
    [
        ("dev", {"network", "streaming"}, ()),
        ("prod", {"network", "streaming"}, ("logs", "monitoring")),
        (
            "dev",
            {"streaming", "inference"},
            ("sagemaker_api", "sagemaker_runtime", "sts", "logs", "monitoring", "kms", "ecr_api", "ecr_dkr"),
        ),
        (
            "staging",
            {"streaming", "inference"},
            ("sagemaker_api", "sagemaker_runtime", "sts", "logs", "monitoring", "kms", "ecr_api", "ecr_dkr"),
        ),
    ],
)
def test_default_selection_is_required_in_dev_plus_recommended_elsewhere(stage, components, expected):
    assert NetworkConfig().resolved_interface_endpoints(stage, components) == expected


def test_an_explicit_selection_replaces_the_default_and_keeps_catalogue_order():
    network = NetworkConfig(interface_endpoints=("kms", "athena", "sts"))
    assert network.resolved_interface_endpoints("prod", {"streaming"}) == ("sts", "kms", "athena")


def test_declared_environments_validate_and_pick_their_defaults():
    by_name = {env.name: env for env in load_environments()}
    dev, prod = by_name["dev"], by_name["prod"]
    assert dev.network.resolved_az_count(dev.stage) == 2 and prod.network.resolved_az_count(prod.stage) == 3
    for env in (dev, prod):
        assert (
            environment_problems(
                env.network, stage=env.stage, region=env.region, enabled_components=env.enabled_components
            )
            == []
        )


def test_platform_buckets_follow_the_naming_convention():
    assert NetworkConfig(additional_s3_buckets=("models-shared-*",)).platform_bucket_patterns("ml-platform", "dev") == (
        "ml-platform-dev-*",
        "models-shared-*",
    )


# -------------------------------------------------------------------------------------------- bad inputs

BAD_NETWORKS = [
    ({"vpc_cidr": "10.0.0.300/16"}, "field 'network.vpc_cidr'", "not an IPv4 network in CIDR notation"),
    ({"vpc_cidr": "banana"}, "field 'network.vpc_cidr'", "not an IPv4 network in CIDR notation"),
    ({"vpc_cidr": "10.20.0.1/16"}, "field 'network.vpc_cidr'", "has host bits set"),
    ({"vpc_cidr": "fd00::/56"}, "field 'network.vpc_cidr'", "must be an IPv4 network"),
    ({"vpc_cidr": "8.8.0.0/16"}, "value '8.8.0.0/16'", "must be inside a private RFC 1918 range"),
    ({"vpc_cidr": "100.64.0.0/16"}, "field 'network.vpc_cidr'", "private RFC 1918 range"),
    ({"vpc_cidr": "10.0.0.0/8"}, "value '10.0.0.0/8'", "prefix /8 is outside /16 to /24"),
    ({"vpc_cidr": "10.0.0.0/28"}, "value '10.0.0.0/28'", "prefix /28 is outside /16 to /24"),
    ({"az_count": 1}, "field 'network.az_count': value 1", "at least 2 Availability Zones"),
    ({"az_count": 7}, "field 'network.az_count': value 7", "at most 6"),
    ({"interface_endpoints": ["sts", "s3"]}, "field 'network.interface_endpoints'", "unknown interface endpoint 's3'"),
    ({"interface_endpoints": ["kms", "kms"]}, "field 'network.interface_endpoints'", "'kms' is listed more than once"),
    ({"s3_prefix_list_id": "pl-xyz"}, "field 'network.s3_prefix_list_id'", "should match pattern"),
    ({"additional_s3_buckets": ["Bad_Bucket"]}, "field 'network.additional_s3_buckets'", "not an S3 bucket name"),
    ({"nat_gateways": 1}, "field 'network.nat_gateways'", "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(("network", "field", "rule"), BAD_NETWORKS, ids=[str(b[0]) for b in BAD_NETWORKS])
def test_bad_network_input_fails_with_one_clear_line(network, field, rule):
    # Given one bad network field, When the environments load
    with pytest.raises(ConfigError) as raised:
        load_environments([_env(network)])
    # Then exactly one line names the environment, the field, the value and the rule
    message = str(raised.value)
    assert len(raised.value.problems) == 1, message
    assert message.startswith("environment 'dev': ")
    assert field in message and rule in message, message
    assert "\n" not in message and "Traceback" not in message


def test_unknown_endpoint_message_lists_the_catalogue():
    with pytest.raises(ConfigError) as raised:
        load_environments([_env({"interface_endpoints": ["sagemaker"]})])
    assert "the catalogue has sagemaker_api, sagemaker_runtime, sts," in str(raised.value)


def test_missing_required_endpoint_names_field_endpoint_and_component(inference_enabled):
    # Given an environment with inference on and a selection without SageMaker Runtime and ECR
    selection = ["sagemaker_api", "logs", "monitoring", "sts", "kms"]
    # When it loads
    with pytest.raises(ConfigError) as raised:
        load_environments([_env({"interface_endpoints": selection})])
    # Then one line names the field, the selection, every missing endpoint and the component needing them
    assert raised.value.problems == [
        "environment 'dev': field 'network.interface_endpoints': value ('sagemaker_api', 'logs', 'monitoring', "
        "'sts', 'kms'): missing 'sagemaker_runtime', 'ecr_api', 'ecr_dkr': component 'inference' is enabled and "
        "needs them (SageMaker endpoints run in the isolated subnets); add them or leave the field unset for the "
        "stage default"
    ]


def test_a_single_missing_endpoint_reads_naturally(inference_enabled):
    selection = [name for name in COMPONENT_ENDPOINTS["inference"].required if name != "kms"]
    with pytest.raises(ConfigError, match=r"missing 'kms': component 'inference' is enabled and needs it \("):
        load_environments([_env({"interface_endpoints": selection})])


def test_the_stage_default_satisfies_every_enabled_component(inference_enabled):
    # Given inference on and no explicit selection, Then the default selection passes validation
    (env,) = load_environments([_env()])
    assert set(COMPONENT_ENDPOINTS["inference"].required) <= set(
        env.network.resolved_interface_endpoints(env.stage, env.enabled_components)
    )


def test_a_region_without_a_known_s3_prefix_list_needs_it_configured():
    # Given a region the platform has no S3 prefix list ID for
    with pytest.raises(ConfigError) as raised:
        load_environments([_env(region="ap-southeast-2")])
    # Then the line names the field and says how to find the ID
    (line,) = raised.value.problems
    assert line.startswith("environment 'dev': field 'network.s3_prefix_list_id': value None: required in region")
    assert "Values=com.amazonaws.ap-southeast-2.s3" in line
    # And with the ID configured the environment loads
    (env,) = load_environments([_env({"s3_prefix_list_id": "pl-6ca54005"}, region="ap-southeast-2")])
    assert env.network.resolved_prefix_list_id("s3", env.region) == "pl-6ca54005"


def test_known_regions_need_no_prefix_list_configured():
    (env,) = load_environments([_env(region="us-east-1")])
    assert env.network.resolved_prefix_list_id("s3", env.region) == "pl-63a5400a"


def test_the_dynamodb_gateway_needs_the_dynamodb_prefix_list_outside_known_regions():
    data = _env({"dynamodb_gateway_endpoint": True}, region="us-east-1")
    with pytest.raises(ConfigError, match=r"field 'network.dynamodb_prefix_list_id': value None: required in region"):
        load_environments([data])
    (env,) = load_environments([_env({"dynamodb_gateway_endpoint": True})])
    assert env.network.resolved_prefix_list_id("dynamodb", env.region) == "pl-6fa54006"
