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

This file runs the steps; measure.py measures, analysis.py computes (limits, goals, medians, slopes, headroom),
report.py renders the table and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.analysis import markdown_table
from benchmarks.measure import (
    REPO_ROOT,
    headroom_rows,
    instrumented,
    machine_description,
    progress,
    scale,
    synth_vs_floor,
    test_suite,
    transform,
)
from benchmarks.report import RESULTS_FILE, TABLE_HEADER, render_results, result_rows, write_results


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
        progress(f"wrote {RESULTS_FILE.relative_to(REPO_ROOT)} from {args.render}")
        return 0
    if args.runs < 1 or args.scale_runs < 1:
        parser.error("--runs and --scale-runs must be at least 1")
    started = time.perf_counter()
    results: dict[str, Any] = {"machine": machine_description()}
    progress(f"machine: {results['machine']['nproc']} CPUs, load {results['machine']['load_before']}")
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        results["synth"] = synth_vs_floor(args.runs, Path(tmp))
        results["headroom"] = headroom_rows(results["synth"]["full_outdir"])
    progress("instrumented synth")
    results["instrumented"] = instrumented()
    results["scale"] = scale(args.scale_runs)
    progress("transform benchmark")
    results["transform"] = transform()
    if args.with_tests:
        progress("make test")
        results["tests"] = test_suite()
    results["load_after"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    results["bench_seconds"] = time.perf_counter() - started
    print(markdown_table(TABLE_HEADER, result_rows(results)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    if args.write:
        write_results(render_results(results))
        progress(f"wrote {RESULTS_FILE.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
