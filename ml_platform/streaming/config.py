"""Configuration of the Kinesis stream, the Firehose delivery stream and the transform Lambda.

Service rules behind the validation (AWS documentation):
- Kinesis Data Streams: a shard takes 1 MB/s or 1,000 records/s of writes and serves 2 MB/s of reads
  shared by its classic consumers; retention 24-8,760 hours; the default shard quota is 500 per account
  in us-east-1, us-west-2 and eu-west-1 and 200 elsewhere (raise it with a quota increase).
- Firehose: buffer interval 0-900 s; buffer size 1-128 MiB, and at least 64 MiB when record format
  conversion or dynamic partitioning is on; a data-transformation Lambda may run at most 5 minutes and its
  processor buffer is 0.2-3 MB (the Lambda synchronous payload limit is 6 MB).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from ml_platform.core.config import FrozenModel

KB = 1000  # Kinesis quotas are stated in decimal units: 1 MB/s = 1,000 KB/s.
SHARD_WRITE_KB_PER_SECOND = 1000
SHARD_WRITE_RECORDS_PER_SECOND = 1000
SHARD_READ_KB_PER_SECOND = 2000


class StreamCapacity(FrozenModel):
    """Expected load of the stream; the provisioned shard count is computed from it, never typed."""

    write_kb_per_second: float = Field(default=100, gt=0, description="Expected incoming bytes, KB/s.")
    write_records_per_second: float = Field(default=100, gt=0, description="Expected incoming records/s.")
    consumers: int = Field(
        default=1, ge=1, le=20, description="Classic (shared-throughput) consumers; Firehose is one. Default: 1."
    )
    read_kb_per_second_per_consumer: float | None = Field(
        default=None, gt=0, description="Bytes each consumer reads, KB/s. Default: the write rate (reads all)."
    )
    headroom_factor: float = Field(
        default=1.5, ge=1.0, le=10.0, description="Multiplier for bursts and growth. Default: 1.5."
    )

    def required_shards(self) -> int:
        """``ceil(max(write KB/1000, write records/1000, read KB/2000) × headroom)``, at least 1."""
        read_per_consumer = self.read_kb_per_second_per_consumer or self.write_kb_per_second
        needed = max(
            self.write_kb_per_second / SHARD_WRITE_KB_PER_SECOND,
            self.write_records_per_second / SHARD_WRITE_RECORDS_PER_SECOND,
            read_per_consumer * self.consumers / SHARD_READ_KB_PER_SECOND,
        )
        # Round away float noise (e.g. 3.0000000000000004) before the ceiling.
        return max(1, math.ceil(round(needed * self.headroom_factor, 9)))


class StreamingAlarmThresholds(FrozenModel):
    """Alarm thresholds of the ingestion path. ``None`` means the stage default (documented per field)."""

    iterator_age_seconds: int | None = Field(
        default=None, gt=0, description="Oldest unread record age. Default: dev 3,600 s, staging/prod 300 s."
    )
    data_freshness_seconds: int | None = Field(
        default=None,
        gt=0,
        description="Age of the oldest record not yet in S3. Default: 2 × buffer interval + 300 s.",
    )
    lambda_errors_per_5_minutes: int = Field(
        default=1, ge=1, description="Transform Lambda errors in 5 minutes that raise the alarm. Default: 1."
    )


class StreamingConfig(FrozenModel):
    """Kinesis Data Stream → Firehose (Lambda transform, Parquet, dynamic partitioning) → raw zone."""

    capacity_mode: Literal["provisioned", "on_demand"] = Field(
        default="provisioned",
        description="Provisioned: shard count computed from `capacity`. On-demand: scales on the 30-day peak.",
    )
    capacity: StreamCapacity = StreamCapacity()
    shard_quota: int = Field(
        default=200, ge=1, description="Account's shard quota in the region (200 by default; 500 in some regions)."
    )
    retention_hours: int = Field(default=24, description="Stream retention, 24-8,760 hours. Default: 24.")
    buffer_size_mib: int = Field(default=128, description="Firehose S3 buffer size (64-128 MiB here). Default: 128.")
    buffer_interval_seconds: int = Field(default=300, description="Firehose S3 buffer interval, 0-900 s. Default: 300.")
    dynamic_partitioning_retry_seconds: int = Field(
        default=300, ge=0, le=7200, description="How long Firehose retries delivery to a partition. Default: 300."
    )
    processor_buffer_size_mb: float = Field(
        default=1.0, description="Records handed to one Lambda invocation, 0.2-3 MB. Default: 1 MB."
    )
    processor_buffer_interval_seconds: int = Field(
        default=60, ge=60, le=900, description="Longest wait before invoking the Lambda, 60-900 s. Default: 60."
    )
    lambda_memory_mib: int = Field(default=512, ge=128, le=10240, description="Transform memory. Default: 512 MiB.")
    lambda_timeout_seconds: int = Field(default=60, description="Transform timeout, 1-300 s. Default: 60.")
    lambda_reserved_concurrency: int = Field(
        default=10, ge=1, le=1000, description="Reserved (and maximum) concurrency of the transform. Default: 10."
    )
    alarms: StreamingAlarmThresholds = StreamingAlarmThresholds()

    @model_validator(mode="after")
    def _service_rules(self) -> StreamingConfig:
        if not 24 <= self.retention_hours <= 8760:
            raise ValueError(f"retention_hours {self.retention_hours} must be within 24-8760 (Kinesis retention)")
        if not 64 <= self.buffer_size_mib <= 128:
            raise ValueError(
                f"buffer_size_mib {self.buffer_size_mib} must be within 64-128: Firehose needs at least 64 MiB "
                "with Parquet conversion and dynamic partitioning, and allows at most 128"
            )
        if not 0 <= self.buffer_interval_seconds <= 900:
            raise ValueError(f"buffer_interval_seconds {self.buffer_interval_seconds} must be within 0-900")
        if not 0.2 <= self.processor_buffer_size_mb <= 3:
            raise ValueError(
                f"processor_buffer_size_mb {self.processor_buffer_size_mb} must be within 0.2-3 (Lambda processor)"
            )
        if not 1 <= self.lambda_timeout_seconds <= 300:
            raise ValueError(
                f"lambda_timeout_seconds {self.lambda_timeout_seconds} must be within 1-300: Firehose waits at "
                "most 5 minutes for a transformation"
            )
        if self.capacity_mode == "provisioned":
            shards = self.capacity.required_shards()
            if shards > self.shard_quota:
                raise ValueError(
                    f"capacity needs {shards} shards, more than shard_quota {self.shard_quota}; request a quota "
                    "increase and raise shard_quota, or use capacity_mode 'on_demand'"
                )
        return self

    @property
    def shard_count(self) -> int | None:
        """Provisioned shards, or ``None`` in on-demand mode."""
        return self.capacity.required_shards() if self.capacity_mode == "provisioned" else None

    def iterator_age_threshold_seconds(self, stage: str) -> int:
        return self.alarms.iterator_age_seconds or (3600 if stage == "dev" else 300)

    @property
    def data_freshness_threshold_seconds(self) -> int:
        return self.alarms.data_freshness_seconds or 2 * self.buffer_interval_seconds + 300
