#!/usr/bin/env python3
"""`make bench`: synth cost, scale and template headroom, measured as ratios in one run (one table).

1. Synth vs floor: the full app (every environment, every compliance pack: what `make synth` does) against an empty
   CDK app with one stack (benchmarks/floor_app.py), both through `npx --no-install cdk synth --quiet -o <tmp>` and
   through `python app.py` (CDK_OUTDIR and the cdk.json context in CDK_CONTEXT_JSON, as the CLI passes them),
   alternated, medians and ratios; and where the time goes, from one instrumented process
   (benchmarks/instrumented.py).
2. Scale: a generated environment with 1, 5, 10 and 20 endpoints (benchmarks/scale.py): synth time per step, the
   least-squares slope per endpoint, the largest stack at each step; the same 20 endpoints in one stack (the design
   before stack groups); the per-endpoint template cost behind MAX_ENDPOINTS_PER_STACK_GROUP.
3. Headroom: every stack of every declared environment against CloudFormation's 500 resources and 1 MB template.
4. Transform: benchmarks/transform.py --json (records/s, ratio to the stdlib floor, peak memory ratio).
5. Test suite: wall time of `make test` (with --with-tests).

No absolute time is a goal: the machine is shared and noisy, so each time is compared with a floor measured in the
same run. Usage::

    .venv/bin/python -m benchmarks.run [--runs 5] [--scale-runs 3] [--with-tests] [--write] [--json results.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]

from ml_platform.inference.config import MAX_ENDPOINTS_PER_STACK_GROUP  # noqa: E402

RESULTS_FILE = REPO_ROOT / "docs" / "benchmarks.md"
PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
# CloudFormation quotas ("Understand CloudFormation quotas",
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html): "Resources: Maximum
# number of resources that you can declare in your CloudFormation template: 500 resources"; "Template body size in
# an Amazon S3 object: 1 MB" (the CDK CLI uploads templates above 50 KB to the bootstrap bucket). 1 MB is taken as
# 1,000,000 bytes, the stricter reading.
RESOURCE_LIMIT = 500
TEMPLATE_BYTES_LIMIT = 1_000_000
HEADROOM_GOAL = 0.5
SYNTH_RATIO_GOAL = 3.0
SLOPE_GOAL_SECONDS = 0.3
SCALE_STEPS = (1, 5, 10, 20)
# The environment of every run (the Makefile exports the same): offline, quiet, no Node end-of-life banner.
BENCH_ENVIRONMENT = {
    "CDK_DISABLE_VERSION_CHECK": "true",
    "CDK_DISABLE_CLI_TELEMETRY": "true",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "NODE_NO_WARNINGS": "1",
}


# ---------------------------------------------------------------------------------------------- pure functions
def median(values: Sequence[float]) -> float:
    """The median of at least one value."""
    if not values:
        raise ValueError("median of no values")
    return float(statistics.median(values))


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; the denominator (a floor) must be positive."""
    if denominator <= 0:
        raise ValueError(f"ratio to a floor of {denominator}: the floor must be positive")
    return numerator / denominator


def least_squares(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Slope and intercept of the least-squares line through ``(xs[i], ys[i])``."""
    if len(xs) != len(ys):
        raise ValueError(f"{len(xs)} x values but {len(ys)} y values")
    if len(set(xs)) < 2:
        raise ValueError("a slope needs at least two distinct x values")
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
    slope = sxy / sxx
    return slope, mean_y - slope * mean_x


@dataclass(frozen=True)
class Headroom:
    """A template's share of CloudFormation's per-template limits."""

    resources: int
    template_bytes: int

    @property
    def resource_share(self) -> float:
        return self.resources / RESOURCE_LIMIT

    @property
    def bytes_share(self) -> float:
        return self.template_bytes / TEMPLATE_BYTES_LIMIT

    @property
    def worst_share(self) -> float:
        return max(self.resource_share, self.bytes_share)

    def within(self, goal: float = HEADROOM_GOAL) -> bool:
        return self.worst_share <= goal

    def describe(self) -> str:
        return (
            f"{self.resources} resource{'' if self.resources == 1 else 's'} ({percent(self.resource_share)}), "
            f"{kilobytes(self.template_bytes)} ({percent(self.bytes_share)})"
        )


def largest_stack(stacks: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    """The stack closest to a CloudFormation limit (the larger of its two shares), then the most resources."""
    if not stacks:
        raise ValueError("no stacks")
    return max(
        stacks,
        key=lambda s: (Headroom(s["resources"], s["bytes"]).worst_share, s["resources"], s["bytes"]),
    )


@dataclass(frozen=True)
class TemplateCost:
    resources: int
    template_bytes: int


def per_endpoint_costs(sizes: Mapping[str, Sequence[int]]) -> dict[str, TemplateCost]:
    """Template cost of a typical endpoint, of the heaviest endpoint and of a stack itself, from the (resources,
    bytes) of the Inference stacks of benchmarks/scale.py's per-endpoint environment, keyed by what they hold:
    ``typical_1`` / ``typical_2`` (one / two typical endpoints), ``heavy_1`` / ``heavy_2`` (one / two heaviest)."""

    def size(kind: str) -> tuple[int, int]:
        if kind not in sizes:
            raise ValueError(f"{kind} is missing from the per-endpoint measurement")
        resources, template_bytes = sizes[kind]
        return resources, template_bytes

    (t1r, t1b), (t2r, t2b), (h1r, h1b), (h2r, h2b) = (size(k) for k in ("typical_1", "typical_2", "heavy_1", "heavy_2"))
    typical = TemplateCost(t2r - t1r, t2b - t1b)
    return {
        "typical": typical,
        "heaviest": TemplateCost(h2r - h1r, h2b - h1b),
        "per_stack": TemplateCost(t1r - typical.resources, t1b - typical.template_bytes),
    }


def max_endpoints_per_group(per_stack: TemplateCost, per_endpoint: TemplateCost, goal: float = HEADROOM_GOAL) -> int:
    """The most endpoints of cost ``per_endpoint`` one stack holds within ``goal`` of both CloudFormation limits."""
    if per_endpoint.resources <= 0 or per_endpoint.template_bytes <= 0:
        raise ValueError("an endpoint costs at least one resource and one byte")
    by_resources = (RESOURCE_LIMIT * goal - per_stack.resources) / per_endpoint.resources
    by_bytes = (TEMPLATE_BYTES_LIMIT * goal - per_stack.template_bytes) / per_endpoint.template_bytes
    return max(0, math.floor(min(by_resources, by_bytes)))


def alternation(variants: Sequence[str], runs: int) -> list[str]:
    """Run order: ``runs`` rounds of every variant, each round starting one variant later than the previous one, so
    no variant always runs first (right after a quiet moment) or right after the same neighbour."""
    if runs < 1 or not variants:
        raise ValueError("at least one run of at least one variant")
    order = []
    for round_ in range(runs):
        shift = round_ % len(variants)
        order.extend(list(variants[shift:]) + list(variants[:shift]))
    return order


def percent(share: float) -> str:
    return f"{share * 100:.1f} %"


def kilobytes(size: int) -> str:
    return f"{size / 1000:,.1f} KB"


def seconds(value: float) -> str:
    return f"{value:.2f} s"


def verdict(ok: bool) -> str:
    return "ok" if ok else "**over**"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- measurements
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


def _progress(message: str) -> None:
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
        _progress(f"synth {variant}: {elapsed:.1f} s")
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
        _progress(f"scale {label} endpoints: {result['build_seconds'] + result['synth_seconds']:.1f} s")
    medians = {n: median([r["build_seconds"] + r["synth_seconds"] for r in results]) for n, results in steps.items()}
    slope, intercept = least_squares(list(medians), list(medians.values()))
    # The same fit for each part: where the per-endpoint time goes.
    part_slopes = {
        part: least_squares(list(steps), [median([r[f"{part}_seconds"] for r in steps[n]]) for n in steps])[0]
        for part in ("build", "synth")
    }
    single = _scale_run([str(max(SCALE_STEPS)), "--single-stack"])
    _progress("scale: one-stack comparison done")
    measurement = _scale_run(["--per-endpoint"])
    _progress("scale: per-endpoint measurement done")
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


# ---------------------------------------------------------------------------------------------- the table
def result_rows(results: Mapping[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    synth = results["synth"]
    m = synth["medians"]
    for entry, label in (("cli", "`npx cdk synth`"), ("python", "`python app.py`")):
        r = synth[f"ratio_{entry}"]
        rows.append(
            [
                "1 synth vs floor",
                f"{label}: full app / empty app (median of {synth['runs']})",
                f"{seconds(m[entry + '/full'])} / {seconds(m[entry + '/floor'])} = **{r:.2f}×**",
                f"≤ {SYNTH_RATIO_GOAL:g}×",
                verdict(r <= SYNTH_RATIO_GOAL),
            ]
        )
    phases = results["instrumented"]["phases"]
    findings = results["instrumented"]["findings"]
    total = sum(v for k, v in phases.items() if not k.startswith("compliance pack "))
    for name, value in phases.items():
        if name.startswith("compliance pack "):
            pack = name.removeprefix("compliance pack ")
            shown = f"{seconds(value)}, {findings.get(pack, '?')} findings"
        else:
            shown = f"{seconds(value)} ({percent(value / total)})"
        rows.append(["1 where the time goes", name, shown, "", ""])

    sc = results["scale"]
    for n, step in sc["steps"].items():
        inference = [s for s in step["stacks"] if s["stack_id"].startswith("Inference")]
        big = largest_stack(step["stacks"])
        head = Headroom(big["resources"], big["bytes"])
        rows.append(
            [
                "2 scale",
                f"{n} endpoint(s), {len(inference)} inference stack(s) (median of {sc['runs']})",
                f"{seconds(step['median_seconds'])}; largest stack {big['stack_id']}: {head.describe()}",
                f"≤ {percent(HEADROOM_GOAL)}",
                verdict(head.within()),
            ]
        )
    slope = sc["slope_seconds_per_endpoint"]
    rows.append(
        [
            "2 scale",
            "slope per endpoint (least squares over the step medians)",
            f"**{slope:.3f} s** per endpoint: construct tree {sc['slope_construct_tree']:.3f} s + synth (templates, "
            f"validation, packs) {sc['slope_synth']:.3f} s; intercept {seconds(sc['intercept_seconds'])}",
            f"≤ {SLOPE_GOAL_SECONDS:g} s",
            verdict(slope <= SLOPE_GOAL_SECONDS),
        ]
    )
    single = sc["single_stack"]
    big = largest_stack(single["stacks"])
    head = Headroom(big["resources"], big["bytes"])
    rows.append(
        [
            "2 scale",
            f"before stack groups: {single['endpoints']} endpoints in one stack",
            f"{big['stack_id']}: {head.describe()}",
            f"≤ {percent(HEADROOM_GOAL)}",
            verdict(head.within()) + ("" if head.within() else " (now refused by the per-group rule)"),
        ]
    )
    costs = sc["per_endpoint"]
    typical, heaviest, per_stack = costs["typical"], costs["heaviest"], costs["per_stack"]
    projected = Headroom(
        per_stack["resources"] + MAX_ENDPOINTS_PER_STACK_GROUP * heaviest["resources"],
        per_stack["template_bytes"] + MAX_ENDPOINTS_PER_STACK_GROUP * heaviest["template_bytes"],
    )
    rows.append(
        [
            "2 scale",
            "template cost per endpoint: typical (dev churn) / heaviest / per stack",
            f"{typical['resources']} res, {kilobytes(typical['template_bytes'])} / "
            f"{heaviest['resources']} res, {kilobytes(heaviest['template_bytes'])} / "
            f"{per_stack['resources']} res, {kilobytes(per_stack['template_bytes'])}",
            "",
            "",
        ]
    )
    rows.append(
        [
            "2 scale",
            f"a full group: {MAX_ENDPOINTS_PER_STACK_GROUP} heaviest endpoints (MAX_ENDPOINTS_PER_STACK_GROUP; "
            f"the measured maximum is {sc['max_per_group_measured']})",
            projected.describe(),
            f"≤ {percent(HEADROOM_GOAL)}",
            verdict(projected.within() and sc["max_per_group_measured"] >= MAX_ENDPOINTS_PER_STACK_GROUP),
        ]
    )

    for stack in results["headroom"]:
        head = Headroom(stack["resources"], stack["bytes"])
        rows.append(
            [
                "3 headroom",
                f"{stack['environment']}/{stack['stack_id']}",
                head.describe(),
                f"≤ {percent(HEADROOM_GOAL)}",
                verdict(head.within()),
            ]
        )

    tr = results["transform"]
    rows.append(
        [
            "4 transform",
            f"{tr['records']:,} records, {tr['decoded_payload_bytes'] / 1e6:.1f} MB: handler / stdlib floor (CPU)",
            f"{tr['handler_records_per_s']:,} / {tr['floor_records_per_s']:,} records/s = **{tr['ratio']:.2f}×** "
            f"time ({tr['ratio_wall']:.2f}× wall)",
            f"≤ {tr['ratio_goal']:g}×",
            verdict(tr["ratio"] <= tr["ratio_goal"]),
        ]
    )
    rows.append(
        [
            "4 transform",
            "peak traced memory / invocation payload",
            f"{tr['peak_traced_bytes'] / 1e6:.1f} MB / {tr['invocation_payload_bytes'] / 1e6:.1f} MB = "
            f"**{tr['peak_vs_invocation_payload']:.2f}×** ({tr['peak_vs_decoded_payload']:.2f}× the decoded records)",
            f"≤ {tr['memory_goal']:g}×",
            verdict(tr["peak_vs_invocation_payload"] <= tr["memory_goal"]),
        ]
    )

    tests = results.get("tests")
    if tests is None:
        rows.append(["5 test suite", "`make test` wall time", "not measured in this run (--with-tests)", "", ""])
    else:
        minutes, secs = divmod(tests["seconds"], 60)
        rows.append(
            [
                "5 test suite",
                "`make test` wall time",
                f"{int(minutes)} min {secs:.0f} s ({tests['summary']}; exit {tests['exit_code']})",
                "reported",
                "",
            ]
        )
    return rows


TABLE_HEADER = ("section", "measure", "value", "goal", "")


def observations(results: Mapping[str, Any]) -> list[str]:
    """A few sentences computed from the figures (so they stay true when the numbers change)."""
    phases = results["instrumented"]["phases"]
    total = sum(v for k, v in phases.items() if not k.startswith("compliance pack "))
    biggest = max((k for k in phases if not k.startswith("compliance pack ")), key=lambda k: phases[k])
    packs = phases.get("compliance packs as synth plugins (D - C)", 0.0)
    synth = results["synth"]
    sc = results["scale"]
    single = largest_stack(sc["single_stack"]["stacks"])
    top = max(sc["steps"], key=lambda n: int(n))
    grouped = largest_stack(sc["steps"][top]["stacks"])
    return [
        f"The full app costs {synth['ratio_cli']:.2f}× the empty app through the CLI and "
        f"{synth['ratio_python']:.2f}× through `python app.py` (goal ≤ {SYNTH_RATIO_GOAL:g}×). The CLI adds its own "
        f"start-up and the assembly read-back to both sides.",
        f'The largest phase in process is "{biggest}": {seconds(phases[biggest])} of {seconds(total)} '
        f"({percent(phases[biggest] / total)}). The compliance packs (five cdk-nag packs and the Control Tower "
        f"plugin) together cost {seconds(packs)} "
        f"({percent(packs / total)}).",
        f"Each endpoint adds {sc['slope_seconds_per_endpoint']:.3f} s to the synth (goal ≤ {SLOPE_GOAL_SECONDS:g} s): "
        f"{sc['slope_construct_tree']:.3f} s of construct tree and {sc['slope_synth']:.3f} s of synth.",
        f"Before stack groups, {sc['single_stack']['endpoints']} endpoints in one stack would use "
        f"{Headroom(single['resources'], single['bytes']).describe()} of the limits; with groups of at most "
        f"{MAX_ENDPOINTS_PER_STACK_GROUP} the largest stack at {top} endpoints is {grouped['stack_id']} with "
        f"{Headroom(grouped['resources'], grouped['bytes']).describe()}.",
    ]


def render_results(results: Mapping[str, Any]) -> str:
    machine = results["machine"]
    machine_rows = [
        ["date", machine["date"]],
        ["CPU", f"{machine['cpu']} ({machine['nproc']} CPUs, `nproc`)"],
        ["memory", machine["memory"]],
        ["OS", machine["os"]],
        ["Python / Node.js", f"{machine['python']} / {machine['node']}"],
        [
            "CDK CLI / aws-cdk-lib / cdk-nag / jsii",
            f"{machine['cdk_cli']} / {machine['aws_cdk_lib']} / {machine['cdk_nag']} / {machine['jsii']}",
        ],
        ["load average (1, 5, 15 min)", f"before the run {machine['load_before']}; after {results['load_after']}"],
        ["benchmark wall time", f"{results['bench_seconds'] / 60:.1f} min"],
    ]
    return "\n".join(
        [
            "# Benchmarks",
            "",
            'Generated by `make bench BENCH_ARGS="--write --with-tests"` (benchmarks/run.py); the method is at the '
            "end.",
            "Every time is compared with a floor measured in the same run: the machine is shared, so absolute times",
            "vary from run to run, and no test asserts any of them.",
            "",
            "## Machine",
            "",
            markdown_table(("", ""), machine_rows),
            "",
            "## Results",
            "",
            markdown_table(TABLE_HEADER, result_rows(results)),
            "",
            "## Reading the numbers",
            "",
            *(f"* {line}" for line in observations(results)),
            "",
            METHOD,
        ]
    )


METHOD = """## Method

Run `make bench` (prints the table; 10-20 minutes on 2 CPUs, depending on the load), `make bench
BENCH_ARGS="--write --with-tests"` to also time the test suite and rewrite this file. `--runs N` and `--scale-runs N`
change the repetitions; `--json FILE` keeps the raw figures and `--render FILE` rewrites this file from them.

1. **Synth vs floor.** Four variants, alternated (each round starts one variant later): the full app (every declared
   environment, every compliance pack registered: what `make synth` runs) and the floor app
   (`benchmarks/floor_app.py`: one stack with one `AWS::CloudFormation::WaitConditionHandle`, since CloudFormation
   and the CDK's built-in validation reject a template without resources), each through
   `npx --no-install cdk synth --quiet -o <tmp>` (the repository's `cdk.json`; `--app "<venv python>
   benchmarks/floor_app.py"` for the floor, same context) and through the Python entry point directly
   (`python app.py` with `CDK_OUTDIR` and the `cdk.json` context in `CDK_CONTEXT_JSON`, as the CLI passes it).
   Every run has `CDK_DISABLE_VERSION_CHECK=true CDK_DISABLE_CLI_TELEMETRY=true
   JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 NODE_NO_WARNINGS=1`. Wall time of each process; medians;
   full ÷ floor. **Where the time goes** comes from one instrumented process (`benchmarks/instrumented.py`): the
   imports one by one, the configuration, the construct tree and the synth with
   `App(builtin_cloud_formation_validation=False)` (cold), the built-in CloudFormation template validation as the
   difference between two warm synths with and without it, the compliance packs as synth plugins (warm difference),
   and each pack's `findings()` over the whole app (time and unacknowledged findings; for the Control Tower plugin
   `run_control_tower` over every template plus `control_tower_unacknowledged`). Percentages are of the sum of
   the phases above the per-pack rows.
2. **Scale.** `benchmarks/scale.py N` builds the declared dev environment renamed `scale` with N copies of its
   endpoint (distinct names), grouped `MAX_ENDPOINTS_PER_STACK_GROUP` at a time (`default`, `g2`, `g3`), and a stream
   whose expected write rate grows with N (Firehose stays the one consumer: the platform has no other), in a fresh
   process per run, every compliance pack registered as in `app.py`. The time is the construct tree plus the synth
   inside that process (the imports are the same at every step). Steps 1, 5, 10, 20 alternated; median per step; the
   slope is the least-squares line through the medians. The largest stack is the one with the larger share of
   either limit. "Before stack groups" is the same 20 endpoints all in the default group (`--single-stack`, which
   bypasses the per-group rule). The per-endpoint cost comes from `--per-endpoint`: Inference stacks with one and
   two typical endpoints and one and two of the heaviest endpoint the configuration allows
   (`HEAVIEST_ENDPOINT`); the differences are the cost per endpoint and per stack.
3. **Headroom.** Every stack of the full app's synth from step 1: `Resources` count ÷ 500 and template file bytes ÷
   1,000,000 (CloudFormation quotas: 500 resources per template, 1 MB template body in S3,
   <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html>). Goal ≤ 50 % of both.
4. **Transform.** `benchmarks/transform.py --json`: one ~3 MB Firehose batch (10 % malformed records), the Lambda
   handler against a bare stdlib decode/encode loop, median CPU time (wall alongside), peak traced memory.
5. **Test suite.** Wall time of `make test` (only with `--with-tests`).
"""


def write_results(markdown: str, path: Path = RESULTS_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown.rstrip() + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="synth runs per variant (at least 5 for the record)")
    parser.add_argument("--scale-runs", type=int, default=3, help="runs per scale step (at least 3 for the record)")
    parser.add_argument("--with-tests", action="store_true", help="also time `make test` (2-3 minutes)")
    parser.add_argument("--write", action="store_true", help=f"rewrite {RESULTS_FILE.relative_to(REPO_ROOT)}")
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    parser.add_argument("--render", type=Path, help="measure nothing: rewrite the results file from --json figures")
    args = parser.parse_args(argv)
    if args.render:
        write_results(render_results(json.loads(args.render.read_text())))
        _progress(f"wrote {RESULTS_FILE.relative_to(REPO_ROOT)} from {args.render}")
        return 0
    if args.runs < 1 or args.scale_runs < 1:
        parser.error("--runs and --scale-runs must be at least 1")
    started = time.perf_counter()
    results: dict[str, Any] = {"machine": machine_description()}
    _progress(f"machine: {results['machine']['nproc']} CPUs, load {results['machine']['load_before']}")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        results["synth"] = synth_vs_floor(args.runs, Path(tmp))
        results["headroom"] = headroom_rows(results["synth"]["full_outdir"])
    _progress("instrumented synth")
    results["instrumented"] = instrumented()
    results["scale"] = scale(args.scale_runs)
    _progress("transform benchmark")
    results["transform"] = transform()
    if args.with_tests:
        _progress("make test")
        results["tests"] = test_suite()
    results["load_after"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    results["bench_seconds"] = time.perf_counter() - started
    print(markdown_table(TABLE_HEADER, result_rows(results)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    if args.write:
        write_results(render_results(results))
        _progress(f"wrote {RESULTS_FILE.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
