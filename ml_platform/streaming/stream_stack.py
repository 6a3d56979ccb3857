"""Stateful: the Kinesis data stream producers write to."""

from __future__ import annotations

from typing import Any

from constructs import Construct

from ml_platform.security.stack import SecurityStack
from ml_platform.shared.stack import PlatformStack
from ml_platform.streaming.constructs import EncryptedStream


class StreamStack(PlatformStack):
    """The ingest stream, encrypted with the streaming key; provisioned shards are computed from config."""

    def __init__(self, scope: Construct, construct_id: str, *, security: SecurityStack, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, description="Kinesis ingest stream", **kwargs)
        streaming = self.config.streaming
        self.stream = EncryptedStream(
            self,
            "IngestStream",
            stream_name=f"{self.name_prefix}-ingest",
            encryption_key=security.streaming_key,
            shard_count=streaming.shard_count,
            retention_hours=streaming.retention_hours,
            removal_policy=self.stateful_removal_policy,
        ).stream
