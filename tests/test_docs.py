"""Generated README blocks match what their generators print from the synthesized app now."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT
from tools import acknowledgments
from tools.alarm_catalogue import catalogue, markdown
from tools.architecture import diagram
from tools.readme_blocks import read_block, replace_block

README = (ROOT / "README.md").read_text()


def test_readme_architecture_diagram_is_generated_from_the_app(platform):
    assert read_block(README, "architecture") == diagram(platform.stacks, "prod"), "run `make docs`"


def test_readme_alarm_catalogue_is_generated_from_the_app(platform):
    assert read_block(README, "alarms") == markdown(catalogue(platform.stacks)), "run `make docs`"


def test_readme_acknowledgment_table_is_generated_from_the_construct_tree(platform):
    rows = acknowledgments.collect(platform.app)
    assert read_block(README, "acknowledgments") == acknowledgments.markdown(rows), "run `make docs`"
    # every acknowledgment gives a specific reason and names one exact finding
    assert rows and all(len(row.reason) >= 30 and " " not in row.rule for row in rows)


def test_diagram_shows_the_data_flow(platform):
    text = diagram(platform.stacks, "prod")
    assert "Kinesis stream: ml-platform-prod-ingest" in text and "Firehose: ml-platform-prod-ingest-to-raw" in text
    edges = [line.strip() for line in text.splitlines() if "-->" in line]
    assert any(e.startswith("StreamIngestStream") and "IngestionDeliveryDeliveryStream" in e for e in edges)
    assert any(e.startswith("IngestionDeliveryDeliveryStream") and "DataLakeRawBucket" in e for e in edges)


def test_blocks_can_be_replaced_and_read_back():
    text = "a\n<!-- x:start (generated) -->\nold\n<!-- x:end -->\nb"
    assert read_block(replace_block(text, "x", "new"), "x") == "new"
    with pytest.raises(ValueError, match="no generated block 'y'"):
        replace_block(text, "y", "new")
