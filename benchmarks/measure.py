"""The benchmark's measurements (benchmarks/run.py): each runs the app, the floor app or a benchmark script in its own
process from the repository root, with the offline, quiet environment of every run, and returns its raw figures."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.analysis import alternation, least_squares, max_endpoints_per_group, median, per_endpoint_costs, ratio

REPO_ROOT = Path(__file__).resolve().parents[1]
PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
SCALE_STEPS = (1, 5, 10, 20)
# The environment of every run (the Makefile exports the same): offline, quiet, no Node end-of-life banner.
BENCH_ENVIRONMENT = {
    "CDK_DISABLE_VERSION_CHECK": "true",
    "CDK_DISABLE_CLI_TELEMETRY": "true",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "NODE_NO_WARNINGS": "1",
}


def _env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CDK_OUTDIR", "CDK_CONTEXT_JSON")}
    env.update(BENCH_ENVIRONMENT)
    env.update(extra or {})
    return env


def _run(command: Sequence[str], *, env: Mapping[str, str], what: str) -> tuple[float, str]:
    """Run ``command`` in the repository; its wall time and stdout. A failure stops the benchmark."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, env=dict(env), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise SystemExit(f"bench: {what} failed (exit {result.returncode}):\n{tail}")
    return elapsed, result.stdout


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def synth_vs_floor(runs: int, workdir: Path) -> dict[str, Any]:
    """Alternated synths of the full app and the floor app, through the CLI and through python directly."""
    context = json.dumps(json.loads((REPO_ROOT / "cdk.json").read_text())["context"])
    python = str(PYTHON)
    floor_app = f"{python} -m benchmarks.floor_app"
    variants = ["cli/full", "cli/floor", "python/full", "python/floor"]
    times: dict[str, list[float]] = {v: [] for v in variants}
    last_full: Path | None = None
    for index, variant in enumerate(alternation(variants, runs)):
        outdir = workdir / f"synth-{index:02d}-{variant.replace('/', '-')}"
        entry, app = variant.split("/")
        if entry == "cli":
            command = ["npx", "--no-install", "cdk", "synth", "--quiet", "-o", str(outdir)]
            if app == "floor":
                command += ["--app", floor_app]
            env = _env()
        else:
            command = [python, "app.py"] if app == "full" else [python, "-m", "benchmarks.floor_app"]
            env = _env({"CDK_OUTDIR": str(outdir), "CDK_CONTEXT_JSON": context})
        elapsed, _ = _run(command, env=env, what=f"synth {variant}")
        times[variant].append(elapsed)
        progress(f"synth {variant}: {elapsed:.1f} s")
        if variant == "python/full":
            if last_full is not None:
                shutil.rmtree(last_full, ignore_errors=True)
            last_full = outdir
        else:
            shutil.rmtree(outdir, ignore_errors=True)
    medians = {v: median(t) for v, t in times.items()}
    return {
        "runs": runs,
        "times": times,
        "medians": medians,
        "ratio_cli": ratio(medians["cli/full"], medians["cli/floor"]),
        "ratio_python": ratio(medians["python/full"], medians["python/floor"]),
        "full_outdir": str(last_full),
    }


def instrumented() -> dict[str, Any]:
    _, out = _run([str(PYTHON), "-m", "benchmarks.instrumented"], env=_env(), what="instrumented synth")
    return json.loads(out)


def _scale_run(arguments: Sequence[str]) -> dict[str, Any]:
    _, out = _run([str(PYTHON), "-m", "benchmarks.scale", *arguments], env=_env(), what=f"scale {' '.join(arguments)}")
    return json.loads(out)


def scale(runs: int) -> dict[str, Any]:
    steps: dict[int, list[dict[str, Any]]] = {n: [] for n in SCALE_STEPS}
    for label in alternation([str(n) for n in SCALE_STEPS], runs):
        result = _scale_run([label])
        steps[int(label)].append(result)
        progress(f"scale {label} endpoints: {result['build_seconds'] + result['synth_seconds']:.1f} s")
    medians = {n: median([r["build_seconds"] + r["synth_seconds"] for r in results]) for n, results in steps.items()}
    slope, intercept = least_squares(list(medians), list(medians.values()))
    # The same fit for each part: where the per-endpoint time goes.
    part_slopes = {
        part: least_squares(list(steps), [median([r[f"{part}_seconds"] for r in steps[n]]) for n in steps])[0]
        for part in ("build", "synth")
    }
    single = _scale_run([str(max(SCALE_STEPS)), "--single-stack"])
    progress("scale: one-stack comparison done")
    measurement = _scale_run(["--per-endpoint"])
    progress("scale: per-endpoint measurement done")
    costs = per_endpoint_costs(measurement["sizes_by_kind"])
    return {
        "runs": runs,
        "steps": {
            n: {
                "median_seconds": medians[n],
                "seconds": [r["build_seconds"] + r["synth_seconds"] for r in results],
                "stacks": results[0]["stacks"],
            }
            for n, results in steps.items()
        },
        "slope_seconds_per_endpoint": slope,
        "intercept_seconds": intercept,
        "slope_construct_tree": part_slopes["build"],
        "slope_synth": part_slopes["synth"],
        "single_stack": {
            "endpoints": single["endpoints"],
            "seconds": single["build_seconds"] + single["synth_seconds"],
            "stacks": single["stacks"],
        },
        "per_endpoint": {k: vars(v) for k, v in costs.items()},
        "max_per_group_measured": max_endpoints_per_group(costs["per_stack"], costs["heaviest"]),
    }


def headroom_rows(outdir: str) -> list[dict[str, Any]]:
    from scripts.assembly import read_assembly

    return [
        {"environment": s.environment, "stack_id": s.stack_id, "resources": len(s.resources), "bytes": s.size_bytes}
        for s in read_assembly(outdir)
    ]


def transform() -> dict[str, Any]:
    _, out = _run([str(PYTHON), "-m", "benchmarks.transform", "--json"], env=_env(), what="transform benchmark")
    return json.loads(out)


def test_suite() -> dict[str, Any]:
    started = time.perf_counter()
    result = subprocess.run(["make", "test"], cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    summary = next(
        (line.strip("= ") for line in reversed(result.stdout.splitlines()) if re.search(r"\d+ (passed|failed)", line)),
        "no pytest summary",
    )
    return {"seconds": elapsed, "exit_code": result.returncode, "summary": summary}


def _command_version(command: Sequence[str]) -> str:
    try:
        result = subprocess.run(command, cwd=REPO_ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip().splitlines()[0] if result.stdout.strip() else "unknown"


def machine_description() -> dict[str, str]:
    cpu_model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        cpu_model = match[1].strip() if match else cpu_model
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        match = re.search(r"^MemTotal:\s*(\d+) kB", meminfo.read_text(), re.MULTILINE)
        memory = f"{int(match[1]) / 1024 / 1024:.1f} GiB" if match else memory

    def package(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    load = os.getloadavg()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "memory": memory,
        "cpu": cpu_model,
        "os": platform.platform(),
        "python": platform.python_version(),
        "node": _command_version(["node", "--version"]),
        "cdk_cli": _command_version(["npx", "--no-install", "cdk", "--version"]),
        "aws_cdk_lib": package("aws-cdk-lib"),
        "cdk_nag": package("cdk-nag"),
        "jsii": package("jsii"),
        "load_before": ", ".join(f"{x:.2f}" for x in load),
    }
