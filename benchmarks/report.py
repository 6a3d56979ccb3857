"""The benchmark's results as Markdown (benchmarks/run.py): the one table, a few sentences computed from the figures,
the machine and the method; docs/benchmarks.md is this rendering."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.analysis import (
    HEADROOM_GOAL,
    SLOPE_GOAL_SECONDS,
    SYNTH_RATIO_GOAL,
    Headroom,
    kilobytes,
    largest_stack,
    markdown_table,
    percent,
    seconds,
    verdict,
)
from benchmarks.measure import REPO_ROOT
from ml_platform.inference.config import MAX_ENDPOINTS_PER_STACK_GROUP

RESULTS_FILE = REPO_ROOT / "docs" / "benchmarks.md"


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
