"""Interface endpoint cost: the price table, the cost function, the figure from the templates, the summary."""

from __future__ import annotations

import json
import re

import pytest

from scripts.assembly import StackTemplate
from scripts.costs import (
    PRICES_FILE,
    interface_endpoint_costs_by_environment,
    interface_endpoint_monthly_cost,
    interface_endpoint_usage,
    load_prices,
)
from tests.conftest import ROOT
from tests.workbench.conftest import stack_template

PRICES = {"interface_endpoint_az_hour": 0.011, "hours_per_month": 730}


def test_price_table_states_its_source_region_date_and_currency():
    table = load_prices()
    assert "PrivateLink https://aws.amazon.com/privatelink/pricing/" in table["source"]
    assert table["region"] == "eu-west-1" and table["currency"] == "USD"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", table["date"])
    assert table["prices"]["interface_endpoint_az_hour"] == pytest.approx(0.011)
    assert table["prices"]["hours_per_month"] == 730
    # A flat dict of named unit prices (other issues add theirs to the same file)
    assert all(isinstance(v, int | float) for v in table["prices"].values())


def test_a_price_table_without_its_source_is_refused(tmp_path):
    table = json.loads(PRICES_FILE.read_text())
    del table["source"]
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(table))
    with pytest.raises(ValueError, match="lacks source"):
        load_prices(path)


@pytest.mark.parametrize(
    ("endpoints", "azs", "expected"),
    [
        (1, 1, 8.03),  # 730 h × $0.011
        (2, 2, 32.12),  # 4 endpoint-AZs × $8.03
        (2, 3, 48.18),  # streaming on, inference off, prod: the recommended logs + monitoring in 3 AZs
        (8, 2, 128.48),  # inference on, dev: its required set in 2 AZs
        (8, 3, 192.72),  # inference on, prod: the same set in 3 AZs
        (14, 3, 337.26),  # the whole catalogue in 3 AZs
        (0, 3, 0.0),
    ],
)
def test_monthly_cost_matches_hand_computed_figures(endpoints, azs, expected):
    assert interface_endpoint_monthly_cost(endpoints, azs, PRICES) == pytest.approx(expected)


def test_negative_counts_are_refused():
    with pytest.raises(ValueError):
        interface_endpoint_monthly_cost(-1, 2, PRICES)


def _stack(resources: dict) -> StackTemplate:
    return stack_template(resources)


def test_template_count_takes_interface_endpoints_times_their_subnets_and_ignores_gateways():
    # Given two interface endpoints in 3 and 2 subnets, and a gateway endpoint
    stack = _stack(
        {
            "A": {
                "Type": "AWS::EC2::VPCEndpoint",
                "Properties": {"VpcEndpointType": "Interface", "SubnetIds": [1, 2, 3]},
            },
            "B": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"VpcEndpointType": "Interface", "SubnetIds": [1, 2]}},
            "G": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"RouteTableIds": [1, 2, 3]}},
            "V": {"Type": "AWS::EC2::VPC", "Properties": {}},
        }
    )
    # When the usage is read
    usage = interface_endpoint_usage([stack])
    # Then 2 endpoints count 5 endpoint-AZs, i.e. 5 × 730 h × $0.011
    assert (usage.endpoints, usage.endpoint_azs, usage.azs_per_endpoint) == (2, 5, (2, 3))
    assert usage.monthly_cost(PRICES) == pytest.approx(40.15)
    assert usage.describe(PRICES) == "interface endpoints: 2 in 5 endpoint-AZs ≈ $40.15/month"


def test_synthesized_templates_give_the_same_figure_as_the_config(platform):
    # Given every synthesized environment
    prices = load_prices()["prices"]
    usage = interface_endpoint_costs_by_environment(platform.stacks)
    for name, config in platform.environments.items():
        # When the cost is derived from the config (endpoints × AZs) and from the templates
        endpoints = len(config.network.resolved_interface_endpoints(config.stage, config.enabled_components))
        azs = config.network.resolved_az_count(config.stage)
        # Then both agree
        assert usage[name].monthly_cost(prices) == pytest.approx(
            interface_endpoint_monthly_cost(endpoints, azs, prices)
        )
        assert usage[name].endpoints == endpoints
        assert usage[name].azs_per_endpoint == ((azs,) if endpoints else ())
        if endpoints:
            cost = interface_endpoint_monthly_cost(endpoints, azs, prices)
            assert usage[name].describe(prices) == f"interface endpoints: {endpoints} × {azs} AZs ≈ ${cost:,.2f}/month"


def test_synth_summary_prints_the_cost_per_environment(platform, capsys):
    from scripts.synth_summary import main

    # Given the synthesized assembly, When the summary runs
    assert main(str(platform.outdir)) == 0
    out = capsys.readouterr().out
    # Then every environment has its line, with the figure the config implies
    prices = load_prices()["prices"]
    for name, config in platform.environments.items():
        endpoints = len(config.network.resolved_interface_endpoints(config.stage, config.enabled_components))
        azs = config.network.resolved_az_count(config.stage)
        cost = interface_endpoint_monthly_cost(endpoints, azs, prices)
        shape = f"{endpoints} × {azs} AZs" if endpoints else "0"
        (line,) = [line for line in out.splitlines() if line.startswith(f"{name}: stream: ")]
        assert f"interface endpoints: {shape} ≈ ${cost:,.2f}/month" in line, out
        assert f"stream: {config.streaming.shard_count} shard(s)" in line and "idle total ≈ $" in line
    assert "(prices: eu-west-1, USD, as of " in out


def test_summary_and_cost_tools_do_not_start_the_cdk():
    # The summary must stay fast and CDK-free: neither module imports aws_cdk
    for module in ("scripts/costs.py", "scripts/synth_summary.py"):
        assert "aws_cdk" not in (ROOT / module).read_text(), module


def _network_page() -> str:
    return (ROOT / "docs" / "network.md").read_text()


def test_documented_cost_table_matches_the_computed_figures():
    # Given the cost table of docs/network.md, Then each row is endpoints × AZs × 730 h × price
    text = _network_page()
    rows = re.findall(r"^\| ([^|]+?) \| (\d+) \| (\d+) \| \$([\d,.]+) \|$", text, flags=re.MULTILINE)
    assert len(rows) >= 6, rows
    prices = load_prices()["prices"]
    for label, endpoints, azs, figure in rows:
        expected = interface_endpoint_monthly_cost(int(endpoints), int(azs), prices)
        assert float(figure.replace(",", "")) == pytest.approx(expected, abs=0.005), label


def test_documented_catalogue_lists_every_endpoint_with_its_service_and_components():
    from ml_platform.network.config import COMPONENT_ENDPOINTS, INTERFACE_ENDPOINT_CATALOGUE

    text = _network_page()
    for name, spec in INTERFACE_ENDPOINT_CATALOGUE.items():
        required = ", ".join(c for c, needs in COMPONENT_ENDPOINTS.items() if name in needs.required) or "—"
        recommended = ", ".join(c for c, needs in COMPONENT_ENDPOINTS.items() if name in needs.recommended) or "—"
        row = (
            f"| `{name}` | `com.amazonaws.<region>.{spec.service}` | {spec.description} | {required} | {recommended} |"
        )
        assert row in text, row
