#!/usr/bin/env python3
"""Scale step of the benchmark: one generated environment with N SageMaker endpoints, synthesized once.

The environment is the declared ``dev`` environment (ml_platform/environments.py) renamed ``scale``,
with N copies of its first endpoint under distinct names (``churn``, ``churn-02``, ...), assigned to stack
groups of at most ``MAX_ENDPOINTS_PER_STACK_GROUP`` endpoints (the first group is ``default``, so its stack
is ``Inference``), and a stream sized for N endpoints (each adds the dev stream's expected write rate: the
endpoints' request events are ingested).

Run as a script it builds the app in this process (the cdk.json context, every compliance pack registered,
exactly as app.py does), synthesizes it into a temporary directory and prints one JSON object: the seconds
spent building the construct tree and synthesizing (``build_seconds``, ``synth_seconds``) and every stack's
resource count and template bytes. ``--single-stack`` puts every endpoint in the default group, bypassing the
per-group rule, to show what one stack would hold (the design before stack groups).

Usage::

    .venv/bin/python -m benchmarks.scale 20 [--single-stack] [--keep DIR]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]

from ml_platform.environments import ENVIRONMENTS  # noqa: E402
from ml_platform.inference.config import DEFAULT_STACK_GROUP, MAX_ENDPOINTS_PER_STACK_GROUP  # noqa: E402

SCALE_ENVIRONMENT = "scale"
BASE_ENVIRONMENT = "dev"

# The heaviest endpoint the configuration allows, feature-wise: GPU instances (GPU alarm), a linear policy with all
# three rollback alarms, autoscaling, asynchronous inference with success and error topics, data capture, Model
# Monitor, the zero-invocation alarm, long names and a ~1 KB container environment. MAX_ENDPOINTS_PER_STACK_GROUP
# is derived from its template cost (ml_platform/inference/config/).
HEAVIEST_ENDPOINT: dict[str, Any] = {
    "name": "heavy",
    "image_uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml-platform/a-rather-long-repository-name-for-models"
    ":1.4.0-build.1234",
    "model_data_key": "heavy/1.4.0/a/rather/long/prefix/for/model/artifacts/model.tar.gz",
    "environment": {f"VARIABLE_{i:02d}": "x" * 40 for i in range(20)},
    "instance_type": "ml.g5.xlarge",
    "initial_instance_count": 4,
    "deployment": {
        "type": "linear",
        "linear_step_size": {"percent": 25},
        "wait_interval_seconds": 300,
        "termination_wait_seconds": 600,
        "maximum_execution_timeout_seconds": 3600,
    },
    "rollback_alarms": {"error_5xx_rate_percent": 1.0, "p99_model_latency_ms": 500, "error_4xx_rate_percent": 5.0},
    "operational_alarms": {"alarm_on_zero_invocations": True},
    "autoscaling": {
        "registered_instance_type": "ml.g5.xlarge",
        "min_instances": 4,
        "max_instances": 8,
        "target_backlog_per_instance": 5,
    },
    "async_inference": {"notify_success": True, "notify_errors": True},
    "data_capture": {"sampling_percent": 20, "json_content_types": ["application/json"]},
    "model_monitor": {
        "baseline_statistics_key": "heavy/1.4.0/baseline/statistics.json",
        "baseline_constraints_key": "heavy/1.4.0/baseline/constraints.json",
    },
}
# Stack groups of the per-endpoint measurement (per_endpoint_environment): the increment from one to two endpoints
# of a kind is that kind's cost; the one-endpoint default group minus a typical endpoint is the per-stack cost.
PER_ENDPOINT_GROUPS = {"typical_1": "default", "typical_2": "typical", "heavy_1": "heavy", "heavy_2": "heavy-pair"}


def endpoint_names(count: int, base: str) -> list[str]:
    """``base``, ``base-02``, ``base-03``, ...: ``count`` distinct endpoint names."""
    if count < 1:
        raise ValueError(f"count {count}: at least one endpoint")
    return [base if i == 1 else f"{base}-{i:02d}" for i in range(1, count + 1)]


def group_names(count: int, per_group: int = MAX_ENDPOINTS_PER_STACK_GROUP) -> list[str]:
    """The stack group of each of ``count`` endpoints: ``per_group`` at a time, ``default`` first, then
    ``g2``, ``g3``, ... (valid group names, each group within the per-group maximum)."""
    if per_group < 1:
        raise ValueError(f"per_group {per_group}: at least one endpoint per group")
    return [DEFAULT_STACK_GROUP if i // per_group == 0 else f"g{i // per_group + 1}" for i in range(count)]


def scale_environment(
    count: int,
    *,
    single_stack: bool = False,
    per_group: int = MAX_ENDPOINTS_PER_STACK_GROUP,
    declared: Sequence[Mapping[str, Any]] = ENVIRONMENTS,
) -> dict[str, Any]:
    """The declared dev environment as plain data, renamed ``scale``, with ``count`` endpoints (copies of its
    first endpoint with distinct names), grouped ``per_group`` at a time (all in ``default`` with
    ``single_stack``) and a stream whose expected write rate is the dev rate times ``count``."""
    base = next((env for env in declared if env.get("name") == BASE_ENVIRONMENT), None)
    if base is None:
        raise ValueError(f"no {BASE_ENVIRONMENT!r} environment is declared to base the scale environment on")
    template_endpoints = base.get("inference", {}).get("endpoints", [])
    if not template_endpoints:
        raise ValueError(f"environment {BASE_ENVIRONMENT!r} declares no endpoint to copy")
    template = dict(template_endpoints[0])
    groups = [DEFAULT_STACK_GROUP] * count if single_stack else group_names(count, per_group)
    endpoints = [
        {**copy.deepcopy(template), "name": name, "stack_group": group}
        for name, group in zip(endpoint_names(count, template["name"]), groups, strict=True)
    ]
    environment = copy.deepcopy(dict(base))
    environment["name"] = SCALE_ENVIRONMENT
    environment["inference"] = {**environment.get("inference", {}), "endpoints": endpoints}
    streaming = dict(environment.get("streaming", {}))
    capacity = dict(streaming.get("capacity", {}))
    # StreamCapacity defaults (ml_platform/streaming/config.py): 100 KB/s and 100 records/s per endpoint.
    capacity["write_kb_per_second"] = capacity.get("write_kb_per_second", 100) * count
    capacity["write_records_per_second"] = capacity.get("write_records_per_second", 100) * count
    streaming["capacity"] = capacity
    environment["streaming"] = streaming
    return environment


def per_endpoint_environment(declared: Sequence[Mapping[str, Any]] = ENVIRONMENTS) -> dict[str, Any]:
    """The declared dev environment (same name, so its ``Inference`` stack is the declared one) plus three stack
    groups: ``typical`` (two more copies of its endpoint), ``heavy`` (one :data:`HEAVIEST_ENDPOINT`) and
    ``heavy-pair`` (two). Comparing the four Inference stacks gives each kind's cost per endpoint."""
    environment = scale_environment(1, declared=declared)
    environment["name"] = BASE_ENVIRONMENT
    environment["streaming"] = copy.deepcopy(
        dict(next(e for e in declared if e.get("name") == BASE_ENVIRONMENT)).get("streaming", {})
    )
    if not environment["streaming"]:
        del environment["streaming"]
    typical = environment["inference"]["endpoints"][0]
    groups = PER_ENDPOINT_GROUPS
    extra = [
        {**copy.deepcopy(typical), "name": f"{typical['name']}-{i:02d}", "stack_group": groups["typical_2"]}
        for i in (2, 3)
    ] + [
        {**_in_account(HEAVIEST_ENDPOINT, environment.get("account")), "name": name, "stack_group": group}
        for name, group in (
            ("heavy", groups["heavy_1"]),
            ("heavy-02", groups["heavy_2"]),
            ("heavy-03", groups["heavy_2"]),
        )
    ]
    environment["inference"]["endpoints"] = [typical, *extra]
    return environment


def _in_account(endpoint: Mapping[str, Any], account: str | None) -> dict[str, Any]:
    """A copy of ``endpoint`` whose image is in ``account`` (images come from the environment's own registry)."""
    result = copy.deepcopy(dict(endpoint))
    if account:
        result["image_uri"] = f"{account}{result['image_uri'][12:]}"
    return result


def stack_sizes(outdir: Path) -> list[dict[str, Any]]:
    """Every stack's id, resource count and template bytes (the file the CLI uploads)."""
    from scripts.assembly import read_assembly

    return [
        {
            "environment": stack.environment,
            "stack_id": stack.stack_id,
            "resources": len(stack.resources),
            "bytes": stack.size_bytes,
        }
        for stack in read_assembly(outdir)
    ]


def _config(count: int, single_stack: bool, per_endpoint: bool = False) -> Any:
    from ml_platform.core.errors import build
    from ml_platform.environment import EnvironmentConfig

    if per_endpoint:
        return build(EnvironmentConfig, per_endpoint_environment(), context=f"environment {BASE_ENVIRONMENT!r}")
    data = scale_environment(count, single_stack=single_stack)
    if not single_stack:
        return build(EnvironmentConfig, data, context=f"environment {SCALE_ENVIRONMENT!r}")
    # The per-group rule refuses this on purpose; validate with groups, then move every endpoint to the
    # default group without validation (the design before stack groups, for comparison only).
    grouped = build(EnvironmentConfig, scale_environment(count), context=f"environment {SCALE_ENVIRONMENT!r}")
    endpoints = tuple(e.model_copy(update={"stack_group": DEFAULT_STACK_GROUP}) for e in grouped.inference.endpoints)
    return grouped.model_copy(update={"inference": grouped.inference.model_copy(update={"endpoints": endpoints})})


def run(count: int, *, single_stack: bool, outdir: Path, per_endpoint: bool = False) -> dict[str, Any]:
    import aws_cdk as cdk

    from ml_platform.app import build_platform

    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    started = time.perf_counter()
    config = _config(count, single_stack, per_endpoint)
    app = cdk.App(context=context, outdir=str(outdir))
    build_platform(app, [config])
    built = time.perf_counter()
    app.synth()
    synthesized = time.perf_counter()
    stacks = stack_sizes(outdir)
    result = {
        "endpoints": len(config.inference.endpoints),
        "single_stack": single_stack,
        "per_endpoint": per_endpoint,
        "build_seconds": built - started,
        "synth_seconds": synthesized - built,
        "stacks": stacks,
    }
    if per_endpoint:
        from ml_platform.inference.config import inference_stack_id

        by_id = {s["stack_id"]: (s["resources"], s["bytes"]) for s in stacks}
        result["sizes_by_kind"] = {
            kind: by_id[inference_stack_id(group)] for kind, group in PER_ENDPOINT_GROUPS.items()
        }
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("endpoints", type=int, nargs="?", default=1)
    parser.add_argument("--single-stack", action="store_true", help="every endpoint in the default group")
    parser.add_argument(
        "--per-endpoint", action="store_true", help="the per-endpoint measurement environment (ignores endpoints)"
    )
    parser.add_argument("--keep", type=Path, help="synthesize into this directory and keep it")
    args = parser.parse_args(argv)
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    options = {"single_stack": args.single_stack, "per_endpoint": args.per_endpoint}
    if args.keep:
        result = run(args.endpoints, outdir=args.keep, **options)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            result = run(args.endpoints, outdir=Path(tmp), **options)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
