"""The documentation: generated blocks match what their generators print from the synthesized app now, every
link of README.md and docs/*.md resolves, and the README stays a five-minute read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import acknowledgments
from scripts.alarm_catalogue import catalogue, markdown
from scripts.architecture import diagram
from scripts.readme_blocks import read_block, replace_block
from tests.conftest import ROOT

README = ROOT / "README.md"
DOCUMENTS = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 200


def test_readme_architecture_diagram_is_generated_from_the_app(platform):
    assert read_block(README.read_text(), "architecture") == diagram(platform.stacks, "prod"), "run `make docs`"


def test_alarm_catalogue_is_generated_from_the_app(platform):
    text = (ROOT / "docs" / "operations.md").read_text()
    assert read_block(text, "alarms") == markdown(catalogue(platform.stacks)), "run `make docs`"


def test_acknowledgment_table_is_generated_from_the_construct_tree(platform):
    rows = acknowledgments.collect(platform.app)
    text = (ROOT / "docs" / "compliance.md").read_text()
    assert read_block(text, "acknowledgments") == acknowledgments.markdown(rows), "run `make docs`"
    # every acknowledgment gives a specific reason and names one exact finding
    assert rows and all(len(row.reason) >= 30 and " " not in row.rule for row in rows)


def test_diagram_shows_the_data_flow(platform):
    text = diagram(platform.stacks, "prod")
    assert "Kinesis stream: ml-platform-prod-ingest" in text and "Firehose: ml-platform-prod-ingest-to-raw" in text
    edges = [line.strip() for line in text.splitlines() if "-->" in line]
    assert any(e.startswith("StreamIngestStream") and "IngestionDeliveryDeliveryStream" in e for e in edges)
    assert any(e.startswith("IngestionDeliveryDeliveryStream") and "DataLakeRawBucket" in e for e in edges)
    # A model serving a registry version names it by ARN, not by reference: the edge comes from the group's name
    assert "Model package group: churn" in text
    assert "RegistryChurnGroup --> InferenceChurnModel6AEE25BA" in edges


def test_blocks_can_be_replaced_and_read_back():
    text = "a\n<!-- x:start (generated) -->\nold\n<!-- x:end -->\nb"
    assert read_block(replace_block(text, "x", "new"), "x") == "new"
    with pytest.raises(ValueError, match="no generated block 'y'"):
        replace_block(text, "y", "new")


# --------------------------------------------------------------------------------------------------- links
FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"`[^`]*`")
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")  # http:, https:, mailto: are not checked (offline)


def prose_lines(markdown: str) -> Iterator[tuple[int, str]]:
    """Numbered lines outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(markdown.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            yield number, line


def links(markdown: str) -> list[tuple[int, str]]:
    """(line, target) of every inline link or image outside code; link text may wrap over lines."""
    lines = dict(prose_lines(markdown))
    text = "\n".join(lines.get(number, "") for number in range(1, len(markdown.splitlines()) + 1))
    text = CODE_SPAN.sub(lambda span: "\n" * span.group().count("\n"), text)  # keep the line numbers
    return [(text.count("\n", 0, match.start(1)) + 1, match.group(1)) for match in LINK.finditer(text)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation except '-' and '_' dropped, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading contributes its text
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every heading anchor of a Markdown file; a repeated heading gets -1, -2, … as on GitHub."""
    seen: dict[str, int] = {}
    result = set()
    for _, line in prose_lines(markdown):
        match = HEADING.match(line)
        if match:
            base = slug(match.group(1))
            result.add(f"{base}-{seen[base]}" if base in seen else base)
            seen[base] = seen.get(base, 0) + 1
    return result


def broken_links(document: Path, root: Path = ROOT) -> list[str]:
    """Relative links of ``document`` whose file does not exist or whose #anchor is no heading of that file."""
    problems = []
    for number, target in links(document.read_text()):
        if not target or SCHEME.match(target):
            continue
        path, _, anchor = target.partition("#")
        if not path:
            file = document
        elif path.startswith("/"):
            file = root / path.lstrip("/")
        else:
            file = document.parent / path
        where = f"{document.relative_to(root)}:{number}: {target}"
        if not file.exists():
            problems.append(f"{where}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text()):
            problems.append(f"{where}: no heading #{anchor} in {file.name}")
    return problems


def test_every_link_of_the_readme_and_docs_resolves():
    problems = [problem for document in DOCUMENTS for problem in broken_links(document)]
    assert not problems, "\n".join(problems)


def test_the_readme_links_every_docs_page():
    linked = {
        (ROOT / target.partition("#")[0]).resolve()
        for _, target in links(README.read_text())
        if target.startswith("docs/")
    }
    assert {page.resolve() for page in DOCUMENTS[1:]} <= linked


def test_the_readme_is_a_five_minute_read_and_names_the_two_commands():
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES, "move detail into docs/"
    assert "make synth" in text and "make test" in text


def test_slugs_follow_githubs_rules():
    assert slug("Runtime flows: `make flows`") == "runtime-flows-make-flows"
    assert slug("Cross-stack references: weak (decision)") == "cross-stack-references-weak-decision"
    assert slug("The delivery pipeline (`ml_platform/delivery/stack.py`)") == (
        "the-delivery-pipeline-ml_platformdeliverystackpy"
    )
    assert anchors("# A\n## A\n```\n# not a heading\n```\n## B: c") == {"a", "a-1", "b-c"}


def test_the_link_checker_reports_what_is_broken(tmp_path):
    # Given a document with good links and one of each kind of broken link
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other\n\n## Known section\n")
    document = tmp_path / "README.md"
    document.write_text(
        "# Top\n\n## Here\n\n"
        "[ok](docs/other.md) [ok](docs/other.md#known-section) [ok](#here) [ok](/docs/other.md)\n"
        "[web](https://example.com/x#y) `[code](missing.md)`\n"
        "```\n[fenced](missing.md)\n```\n"
        "[file](docs/missing.md) [anchor](docs/other.md#unknown) [a link text\nover two lines](#nowhere)\n"
    )
    # When the checker reads it, Then it reports exactly the three broken links, with their line
    assert broken_links(document, root=tmp_path) == [
        "README.md:10: docs/missing.md: no such file",
        "README.md:10: docs/other.md#unknown: no heading #unknown in other.md",
        "README.md:11: #nowhere: no heading #nowhere in README.md",
    ]


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
            assert anchor in anchors(target.read_text()), f"{path}#{anchor}: no such heading"
