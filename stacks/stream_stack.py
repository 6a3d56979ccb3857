"""Stateful: the Kinesis data stream producers write to."""

from __future__ import annotations

from typing import Any

from constructs import Construct

from platform_constructs.streaming import EncryptedStream
from stacks.base import PlatformStack
from stacks.security_stack import SecurityStack


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
