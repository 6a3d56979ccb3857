"""One JSON snapshot per stack per environment, asset hashes masked.

An intended change: `make snapshot-update`, then review `git diff tests/gates/__snapshots__` like code.
"""

from __future__ import annotations

import json
import re

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

_ASSET_HASH = re.compile(r"\b[0-9a-f]{64}\b")


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


def masked(template: dict) -> dict:
    return json.loads(_ASSET_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True)))


def test_template_snapshot(platform, stack_ref, snapshot_json):
    environment, stack_id = stack_ref
    assert masked(platform.stack(environment, stack_id).template) == snapshot_json
