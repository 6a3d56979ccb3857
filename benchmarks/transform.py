"""Benchmark of the Firehose transform Lambda against a bare stdlib floor.

Builds one realistic Firehose batch (Kinesis-stream source, ~3 MB of decoded record payload, 10 % malformed records),
then alternates, in this process:

* the floor: a bare loop doing ``base64-decode -> json.loads -> json.dumps -> base64-encode`` per record;
* the handler: ``handler.lambda_handler(event, context)`` with its Powertools decorators, logging and metrics (their
  output goes to /dev/null).

It prints records/s for both (median CPU time over the repetitions; wall time alongside), their ratio (goal <= 1.5x)
and the handler's peak traced memory (tracemalloc) relative to the invocation payload size (goal <= 3x; the ratio to
the decoded record bytes is printed too).

Usage::

    .venv/bin/python -m benchmarks.transform [--repeat 7] [--target-mb 3] [--malformed 0.1] [--json]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import gc
import json
import os
import random
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
RATIO_GOAL = 1.5
MEMORY_GOAL = 3.0


@dataclass
class FakeContext:
    function_name: str = "ingest-firehose-transform"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:ingest-firehose-transform"
    aws_request_id: str = "00000000-0000-4000-8000-000000000000"


EVENT_TYPES = ("click", "view", "purchase", "inference_request", "feedback")
SOURCES = ("web-frontend", "ios-app", "android-app", "model-gateway", "batch-scorer")
PAGES = ("/home", "/search", "/product/123", "/checkout", "/account/settings")


def _valid_record(rng: random.Random, base: datetime, i: int) -> dict[str, Any]:
    moment = base + timedelta(milliseconds=rng.randrange(0, 86_400_000))
    style = rng.random()
    if style < 0.5:
        event_time: Any = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    elif style < 0.7:
        event_time = (moment.astimezone(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00")
    elif style < 0.9:
        event_time = int(moment.timestamp() * 1000)
    else:
        event_time = int(moment.timestamp())
    record: dict[str, Any] = {
        "event_id": f"{rng.getrandbits(128):032x}",
        "event_time": event_time,
        "event_type": rng.choice(EVENT_TYPES),
        "source": rng.choice(SOURCES),
        "user_id": f"user-{rng.randrange(1_000_000):07d}",
        "value": round(rng.uniform(0, 500), 2),
        "quantity": rng.randrange(1, 10),
        "is_test": rng.random() < 0.05,
        "attributes": {
            "page": rng.choice(PAGES),
            "session": f"{rng.getrandbits(64):016x}",
            "locale": rng.choice(("en-GB", "de-DE", "fr-FR", "ja-JP")),
            "model_version": f"v{rng.randrange(1, 20)}",
            "latency_ms": rng.randrange(1, 900),
        },
    }
    if rng.random() < 0.3:  # a producer using camelCase names and an extra field
        record = {
            "eventId": record["event_id"],
            "eventTime": record["event_time"],
            "eventType": record["event_type"],
            "Source": record["source"],
            "userId": record["user_id"],
            "value": record["value"],
            "quantity": record["quantity"],
            "isTest": record["is_test"],
            "attributes": record["attributes"],
            "sdkVersion": "4.2.1",
        }
    return record


def _malformed_payload(rng: random.Random, base: datetime, i: int) -> bytes | str:
    """Bytes to base64-encode, or a ready (invalid) base64 string."""
    kind = i % 8
    good = _valid_record(rng, base, i)
    if kind == 0:
        return "not//base64!!" + f"{i:06d}"
    if kind == 1:
        return b'{"event_id": "\xff\xfe broken utf-8"}'
    if kind == 2:
        return json.dumps(good).encode()[:-7]  # truncated JSON
    if kind == 3:
        return json.dumps([good]).encode()
    if kind == 4:
        good.pop("event_id", None)
        good.pop("eventId", None)
        return json.dumps(good).encode()
    if kind == 5:
        good["quantity"] = "three"
        return json.dumps(good).encode()
    if kind == 6:
        good["event_type" if "event_type" in good else "eventType"] = "unknown-type"
        return json.dumps(good).encode()
    good["source" if "source" in good else "Source"] = "x" * 300
    return json.dumps(good).encode()


def build_event(target_bytes: int, malformed_share: float, seed: int = 20240501) -> tuple[dict[str, Any], int]:
    """A Firehose event (Kinesis source) whose decoded record payloads add up to about ``target_bytes``."""
    rng = random.Random(seed)
    base = datetime(2024, 5, 1, tzinfo=UTC)
    records: list[dict[str, Any]] = []
    raw_total = 0
    i = 0
    sequence = 49_650_000_000_000_000_000_000_000_000_000_000_000_000_000_000_000
    while raw_total < target_bytes:
        if rng.random() < malformed_share:
            payload = _malformed_payload(rng, base, i)
        else:
            payload = json.dumps(_valid_record(rng, base, i)).encode()
        if isinstance(payload, str):
            data = payload
            raw_total += len(payload)
        else:
            data = base64.b64encode(payload).decode("ascii")
            raw_total += len(payload)
        arrival = 1_714_521_600_000 + i
        seq = str(sequence + i * 1_208_925_819_614_629_174_706_176)
        records.append(
            {
                "recordId": f"{seq}000000",
                "approximateArrivalTimestamp": arrival,
                "data": data,
                "kinesisRecordMetadata": {
                    "shardId": f"shardId-{i % 4:012d}",
                    "partitionKey": f"pk-{rng.randrange(10_000)}",
                    "approximateArrivalTimestamp": arrival,
                    "sequenceNumber": seq,
                    "subsequenceNumber": 0,
                },
            }
        )
        i += 1
    event = {
        "invocationId": "0c3d5a1e-7f0b-4d8e-9a55-1b0f6d2c9e11",
        "deliveryStreamArn": "arn:aws:firehose:eu-west-1:123456789012:deliverystream/ingest-events",
        "sourceKinesisStreamArn": "arn:aws:kinesis:eu-west-1:123456789012:stream/ingest-events",
        "region": "eu-west-1",
        "records": records,
    }
    return event, raw_total


def floor_loop(event: dict[str, Any]) -> list[str]:
    """The bare minimum any transform has to do per record."""
    out: list[str] = []
    append = out.append
    for record in event["records"]:
        try:
            obj = json.loads(base64.b64decode(record["data"]))
        except (ValueError, binascii.Error):
            append(record["data"])
            continue
        append(base64.b64encode(json.dumps(obj).encode()).decode("ascii"))
    return out


def _timed(fn: Any, *args: Any) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one call."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="timed runs of each contender (median is reported)")
    parser.add_argument("--target-mb", type=float, default=3.0, help="decoded payload size of the batch in MB")
    parser.add_argument("--malformed", type=float, default=0.10, help="share of malformed records")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)

    real_stdout = sys.stdout
    from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA
    from ml_platform.streaming.runtime import import_asset_module

    os.environ["EVENT_SCHEMA"] = INGEST_EVENT_SCHEMA.validation_rules_json()
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "firehose-transform")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "MlPlatform/Ingest")
    # The handler's logger binds to sys.stdout when it is created and metrics print(): send both to /dev/null so
    # the run still pays for formatting its logs and EMF blobs without flooding the terminal.
    with open(os.devnull, "w") as devnull:
        sys.stdout = devnull
        try:
            handler = import_asset_module("handler")

            event, raw_bytes = build_event(int(args.target_mb * 1_000_000), args.malformed)
            payload_bytes = len(json.dumps(event))
            n = len(event["records"])
            context = FakeContext()
            handler.lambda_handler(event, context)  # warm-up (imports, caches)
            floor_loop(event)

            floor_times: list[tuple[float, float]] = []
            handler_times: list[tuple[float, float]] = []
            for _ in range(args.repeat):  # alternate, so drift and noise hit both contenders alike
                floor_times.append(_timed(floor_loop, event))
                handler_times.append(_timed(handler.lambda_handler, event, context))

            gc.collect()
            tracemalloc.start()
            response = handler.lambda_handler(event, context)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        finally:
            sys.stdout = real_stdout

    results = {r["result"] for r in response["records"]}
    ok = sum(1 for r in response["records"] if r["result"] == "Ok")
    # CPU time is the primary measure: both loops are single-threaded and CPU-bound, and on a shared machine wall time
    # also counts the time the process waited for a core. Wall-clock medians are reported alongside.
    floor_s = statistics.median(cpu for _, cpu in floor_times)
    handler_s = statistics.median(cpu for _, cpu in handler_times)
    floor_wall = statistics.median(wall for wall, _ in floor_times)
    handler_wall = statistics.median(wall for wall, _ in handler_times)
    figures = {
        "python": sys.version.split()[0],
        "records": n,
        "records_ok": ok,
        "records_failed": n - ok,
        "result_kinds": sorted(results),
        "decoded_payload_bytes": raw_bytes,
        "invocation_payload_bytes": payload_bytes,
        "response_bytes": len(json.dumps(response)),
        "repeat": args.repeat,
        "floor_median_cpu_s": round(floor_s, 4),
        "handler_median_cpu_s": round(handler_s, 4),
        "floor_records_per_s": round(n / floor_s),
        "handler_records_per_s": round(n / handler_s),
        "ratio": round(handler_s / floor_s, 3),
        "ratio_goal": RATIO_GOAL,
        "floor_median_wall_s": round(floor_wall, 4),
        "handler_median_wall_s": round(handler_wall, 4),
        "ratio_wall": round(handler_wall / floor_wall, 3),
        "peak_traced_bytes": peak,
        "peak_vs_invocation_payload": round(peak / payload_bytes, 3),
        "peak_vs_decoded_payload": round(peak / raw_bytes, 3),
        "memory_goal": MEMORY_GOAL,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"batch: {n} records ({n - ok} failed), {raw_bytes / 1e6:.2f} MB of record payload, "
        f"{payload_bytes / 1e6:.2f} MB invocation event (base64 + Kinesis record metadata)"
    )
    print(
        f"floor   (stdlib loop): {figures['floor_records_per_s']:>9,} records/s  "
        f"median {floor_s * 1000:.1f} ms CPU ({floor_wall * 1000:.1f} ms wall)"
    )
    print(
        f"handler (Lambda)     : {figures['handler_records_per_s']:>9,} records/s  "
        f"median {handler_s * 1000:.1f} ms CPU ({handler_wall * 1000:.1f} ms wall)"
    )
    verdict = "OK" if figures["ratio"] <= RATIO_GOAL else "ABOVE GOAL"
    print(
        f"ratio handler/floor  : {figures['ratio']:.2f}x CPU (goal <= {RATIO_GOAL}x) {verdict}; "
        f"{figures['ratio_wall']:.2f}x wall"
    )
    mem_verdict = "OK" if figures["peak_vs_invocation_payload"] <= MEMORY_GOAL else "ABOVE GOAL"
    print(
        f"peak traced memory   : {peak / 1e6:.2f} MB = {figures['peak_vs_invocation_payload']:.2f}x the invocation "
        f"payload ({figures['peak_vs_decoded_payload']:.2f}x the decoded records), goal <= {MEMORY_GOAL}x {mem_verdict}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
