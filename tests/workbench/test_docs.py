"""Generated README blocks match what their generators print from the synthesized app now."""

from __future__ import annotations

import re

import pytest

from scripts import acknowledgments
from scripts.alarm_catalogue import catalogue, markdown
from scripts.architecture import diagram
from scripts.readme_blocks import read_block, replace_block
from tests.conftest import ROOT

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


def _anchors(markdown: str) -> set[str]:
    """GitHub-style anchors of a Markdown file's headings."""
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 -]", "", title).replace(" ", "-"))
    return anchors


def test_every_runbook_link_in_alarm_descriptions_resolves(platform):
    # Regression: alarm runbooks pointed to a docs/inference.md that did not exist
    links = set()
    for stack in platform.stacks:
        for resource in stack.resources.values():
            description = resource.get("Properties", {}).get("AlarmDescription")
            if isinstance(description, str):
                links |= set(re.findall(r"(docs/[\w./-]+\.md)(?:#([\w-]+))?", description))
    assert links, "no alarm links to a runbook"
    for path, anchor in sorted(links):
        target = ROOT / path
        assert target.is_file(), f"alarm runbook link {path} does not exist"
        if anchor:
            assert anchor in _anchors(target.read_text()), f"{path}#{anchor}: no such heading"


def test_every_relative_link_of_the_readme_and_docs_resolves():
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = re.sub(r"`[^`\n]*`", "", document.read_text())  # code spans are not links
        for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in link or link.startswith("mailto:"):
                continue
            assert (document.parent / link).exists(), f"{document.name}: broken link {link}"
