"""The data contract documented in docs/lake.md is the event schema (make docs writes it)."""

from __future__ import annotations

import subprocess
import sys

from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA
from scripts import render_data_contract
from tests.conftest import ROOT


# --------------------------------------------------------------------------------------- data contract
def test_documented_data_contract_equals_the_schema():
    text = (ROOT / "docs" / "lake.md").read_text()
    assert render_data_contract.documented_table(text) == INGEST_EVENT_SCHEMA.markdown_table(), (
        "the data contract in docs/lake.md is stale: run `make docs`"
    )


def test_render_tool_prints_the_table():
    result = subprocess.run(
        [sys.executable, "-m", "scripts.render_data_contract"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == INGEST_EVENT_SCHEMA.markdown_table()
