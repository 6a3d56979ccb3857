"""Streaming config: the shard count is computed from load with the seed formula; service rules enforced."""

from __future__ import annotations

from typing import Any

import pytest

from ml_platform.core.errors import ConfigError
from ml_platform.environments import load_environments
from ml_platform.streaming.config import StreamCapacity, StreamingConfig
from tests.conftest import declared_environment


@pytest.mark.parametrize(
    ("capacity", "shards"),
    [
        # Seed example: 1,000 tx/s × 8 KB = 8 MB/s in → 8 shards (reads 8 MB/s / 2 MB/s = 4 do not dominate).
        ({"write_kb_per_second": 8000, "write_records_per_second": 1000, "headroom_factor": 1.0}, 8),
        # Tiny load still needs one shard.
        ({"write_kb_per_second": 100, "write_records_per_second": 100, "headroom_factor": 1.5}, 1),
        # Small records: 3,000 records/s exceed the 1,000 records/s per shard before the bytes do.
        ({"write_kb_per_second": 500, "write_records_per_second": 3000, "headroom_factor": 1.0}, 3),
        # Three classic consumers each reading 1.5 MB/s: 4.5 MB/s / 2 MB/s = 2.25 × 1.2 = 2.7 → 3.
        (
            {
                "write_kb_per_second": 1500,
                "write_records_per_second": 10,
                "consumers": 3,
                "read_kb_per_second_per_consumer": 1500,
                "headroom_factor": 1.2,
            },
            3,
        ),
        # Exactly on a boundary: 2,000 KB/s × 2.0 = 4 shards, not 5.
        ({"write_kb_per_second": 2000, "write_records_per_second": 10, "headroom_factor": 2.0}, 4),
        # Float noise must not add a shard: 1,000 × 3 × 1.1 / 1,000 = 3.3000000000000003 → 4 (true ceiling).
        ({"write_kb_per_second": 3000, "write_records_per_second": 10, "headroom_factor": 1.1}, 4),
    ],
)
def test_required_shards_match_hand_computed_cases(capacity, shards):
    assert StreamCapacity(**capacity).required_shards() == shards


def test_on_demand_has_no_shard_count():
    assert StreamingConfig(capacity_mode="on_demand").shard_count is None
    assert StreamingConfig().shard_count == 1


def test_derived_alarm_thresholds():
    config = StreamingConfig(buffer_interval_seconds=600)
    assert config.data_freshness_threshold_seconds == 1500
    assert config.iterator_age_threshold_seconds("dev") == 3600
    assert config.iterator_age_threshold_seconds("prod") == 300


def _env(**streaming: Any) -> dict[str, Any]:
    return declared_environment("dev", streaming=streaming)


BAD = [
    ({"retention_hours": 12}, "retention_hours 12 must be within 24-8760"),
    ({"retention_hours": 9000}, "retention_hours 9000 must be within 24-8760"),
    ({"buffer_size_mib": 32}, "buffer_size_mib 32 must be within 64-128"),
    ({"buffer_size_mib": 256}, "buffer_size_mib 256 must be within 64-128"),
    ({"buffer_interval_seconds": 901}, "buffer_interval_seconds 901 must be within 0-900"),
    ({"lambda_timeout_seconds": 600}, "lambda_timeout_seconds 600 must be within 1-300"),
    ({"processor_buffer_size_mb": 5}, "processor_buffer_size_mb 5.0 must be within 0.2-3"),
    ({"capacity": {"write_kb_per_second": 300000}}, "capacity needs 450 shards, more than shard_quota 200"),
    ({"capacity": {"headroom_factor": 0.5}}, "field 'streaming.capacity.headroom_factor'"),
    ({"capacity": {"write_kb_per_second": 0}}, "field 'streaming.capacity.write_kb_per_second'"),
    ({"capacity_mode": "burst"}, "field 'streaming.capacity_mode'"),
]


@pytest.mark.parametrize(("streaming", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_streaming_config_is_one_clear_line(streaming, message):
    with pytest.raises(ConfigError) as raised:
        load_environments([_env(**streaming)])
    assert len(raised.value.problems) == 1
    assert message in str(raised.value)
    assert "field 'streaming" in str(raised.value)
