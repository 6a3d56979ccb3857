"""One JSON snapshot per stack per environment, asset hashes masked.

An intended change: `make snapshot-update`, then review `git diff tests/gates/__snapshots__` like code.
"""

from __future__ import annotations

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.conftest import masked


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


def test_template_snapshot(platform, stack_ref, snapshot_json):
    environment, stack_id = stack_ref
    assert masked(platform.stack(environment, stack_id).template) == snapshot_json
