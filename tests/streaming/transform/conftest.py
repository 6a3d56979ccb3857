"""Fixtures for the Firehose transform Lambda tests.

The Lambda folder is a deployment asset, not a package: the handler is loaded from its file
(``ml_platform.streaming.runtime.import_asset_module``, which imports its helper module ``record_transform`` at the
top level exactly as in the Lambda runtime), under a private module name, with ``EVENT_SCHEMA`` and the Powertools
variables set only while the module initialises. :func:`load_handler_module` is exposed as a fixture so tests can
build a second, independent handler instance from a different schema (the cold-start path).
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider import cold_start

from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA
from ml_platform.streaming.runtime import import_asset_module

FIXTURES = Path(__file__).resolve().parent / "fixtures"

SERVICE = "firehose-transform"
NAMESPACE = "MlPlatform/Ingest"
POWERTOOLS_ENV = {"POWERTOOLS_SERVICE_NAME": SERVICE, "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE}
_loaded = 0


def load_handler_module(schema_json: str | None) -> ModuleType:
    """Execute the transform asset's ``handler.py`` as a fresh module (a cold start) with ``EVENT_SCHEMA``.

    ``schema_json=None`` leaves the variable unset. The environment is restored afterwards.
    """
    global _loaded
    _loaded += 1
    env: dict[str, str | None] = {**POWERTOOLS_ENV, "EVENT_SCHEMA": schema_json}
    saved = {key: os.environ.get(key) for key in env}
    try:
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        return import_asset_module("handler", as_name=f"firehose_transform_handler_{_loaded}")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def load_handler() -> Callable[[str | None], ModuleType]:
    return load_handler_module


# Loaded once at collection time, outside any test: the Powertools Logger binds its stream (sys.stdout) when the
# first instance is created, and that must not be a capsys stream that is closed after one test.
_HANDLER = load_handler_module(INGEST_EVENT_SCHEMA.validation_rules_json())


@pytest.fixture(scope="session")
def handler_module() -> ModuleType:
    """The handler as deployed: rules from ``INGEST_EVENT_SCHEMA.validation_rules_json()``."""
    return _HANDLER


@pytest.fixture(scope="session")
def ingest_rules() -> dict[str, Any]:
    return INGEST_EVENT_SCHEMA.validation_rules()


@pytest.fixture(autouse=True)
def _powertools_test_env(monkeypatch: pytest.MonkeyPatch, handler_module: ModuleType) -> Iterator[None]:
    """Powertools' documented test set-up: env vars, metrics enabled, empty metric set, cold start per test."""
    for key, value in POWERTOOLS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    handler_module.metrics.clear_metrics()
    cold_start.is_cold_start = True
    yield
    handler_module.metrics.clear_metrics()


@dataclass(frozen=True)
class FakeLambdaContext:
    function_name: str = "ingest-firehose-transform"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:ingest-firehose-transform"
    aws_request_id: str = "5d2ec2a4-9b0b-4f5e-8d34-1a7c0f3b6e21"
    log_group_name: str = "/aws/lambda/ingest-firehose-transform"
    log_stream_name: str = "2024/05/01/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture(scope="session")
def kinesis_event() -> dict[str, Any]:
    """A real-shaped Firehose transformation event from a Kinesis stream source (3 records)."""
    return json.loads((FIXTURES / "firehose_kinesis_event.json").read_text())


Payload = bytes | str | dict[str, Any] | list[Any]


def encode_payload(payload: Payload) -> str:
    """dict/list -> JSON -> base64; bytes -> base64; str is taken as the (possibly invalid) base64 data itself."""
    if isinstance(payload, str):
        return payload
    if isinstance(payload, bytes):
        return base64.b64encode(payload).decode("ascii")
    return base64.b64encode(json.dumps(payload).encode("utf-8")).decode("ascii")


def build_event(template: dict[str, Any], payloads: Sequence[Payload], shard: int = 0) -> dict[str, Any]:
    """A Firehose event shaped like ``template`` (envelope and record metadata) carrying ``payloads``.

    Record ids follow Firehose's Kinesis-source form: sequence number plus a zero-padded sub-sequence number.
    """
    base_record = template["records"][0]
    base_sequence = int(base_record["kinesisRecordMetadata"]["sequenceNumber"])
    arrival = base_record["approximateArrivalTimestamp"]
    records = []
    for i, payload in enumerate(payloads):
        sequence = str(base_sequence + i * 1_208_925_819_614_629_174_706_176)
        records.append(
            {
                "recordId": f"{sequence}000000",
                "approximateArrivalTimestamp": arrival + i,
                "data": encode_payload(payload),
                "kinesisRecordMetadata": {
                    "shardId": f"shardId-{shard:012d}",
                    "partitionKey": f"pk-{i}",
                    "approximateArrivalTimestamp": arrival + i - 85,
                    "sequenceNumber": sequence,
                    "subsequenceNumber": 0,
                },
            }
        )
    envelope = {key: value for key, value in template.items() if key != "records"}
    return {**envelope, "records": records}


@pytest.fixture(scope="session")
def make_event(kinesis_event: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    def make(payloads: Sequence[Payload], shard: int = 0) -> dict[str, Any]:
        return build_event(kinesis_event, payloads, shard)

    return make


def decode_data(record: dict[str, Any]) -> bytes:
    return base64.b64decode(record["data"], validate=True)


@pytest.fixture(scope="session")
def decode() -> Callable[[dict[str, Any]], bytes]:
    return decode_data


@pytest.fixture
def emitted_metrics(capsys: pytest.CaptureFixture[str]) -> Callable[[], list[dict[str, Any]]]:
    """Parse the EMF blobs Powertools printed to stdout so far (the Logger writes to its own stream)."""

    def read() -> list[dict[str, Any]]:
        blobs = []
        for line in capsys.readouterr().out.splitlines():
            line = line.strip()
            if line.startswith("{"):
                blob = json.loads(line)
                if "_aws" in blob:
                    blobs.append(blob)
        return blobs

    return read


@pytest.fixture
def transform_logs(caplog: pytest.LogCaptureFixture, handler_module: ModuleType) -> Iterator[pytest.LogCaptureFixture]:
    """caplog wired to the handler's Powertools logger (which does not propagate); read ``.records`` in the test."""
    powertools_logger = logging.getLogger(handler_module.logger.name)
    powertools_logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        powertools_logger.removeHandler(caplog.handler)
