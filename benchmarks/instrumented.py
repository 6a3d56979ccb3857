#!/usr/bin/env python3
"""Where the synth time goes, measured in one instrumented process (run by benchmarks/run.py).

The full app (every declared environment, as ``make synth`` builds it) is built three times in this process:

A. cold, with ``App(builtin_cloud_formation_validation=False)`` and no validation plugin: the construct tree and
   the synth (templates, assets, manifests) as the real app pays them the first time;
B. warm, with the built-in CloudFormation template validation on (the default) and no plugin;
C. warm, validation off again; B's synth minus C's synth is what the built-in validation costs;
D. warm, validation off, every compliance pack registered as a validation plugin (as app.py does): D's synth minus
   C's synth is what the packs cost inside ``cdk synth``.

Then every compliance pack runs over C's app (``ml_platform.shared.compliance.findings`` per pack), timed, with
its number of unacknowledged findings. Before all that, the imports are timed one by one (``aws_cdk`` includes
starting the jsii kernel and loading the aws-cdk-lib assembly). Prints one JSON object: seconds per phase.

Usage::

    .venv/bin/python -m benchmarks.instrumented
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main() -> int:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    phases: dict[str, float] = {}
    started = time.perf_counter()

    _, phases["import aws_cdk"] = _timed(lambda: __import__("aws_cdk"))
    _, phases["import cdk_nag"] = _timed(lambda: __import__("cdk_nag"))

    def project_imports() -> None:
        import ml_platform.delivery.config
        import ml_platform.environments
        import ml_platform.shared.compliance
        import ml_platform.stage  # noqa: F401

    _, phases["import project modules"] = _timed(project_imports)

    import aws_cdk as cdk

    from ml_platform.delivery.config import select_pipeline
    from ml_platform.environments import load_environments
    from ml_platform.shared.compliance import (
        COMPLIANCE_PACKS,
        control_tower_unacknowledged,
        findings,
        register_compliance_packs,
        run_control_tower,
    )
    from ml_platform.stage import PlatformStage

    def configuration() -> tuple[Any, Any]:
        return load_environments(), select_pipeline(None)

    (environments, pipeline), phases["configuration (validate every environment)"] = _timed(configuration)
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]

    def tree(outdir: str, *, validation: bool) -> cdk.App:
        # build_platform without register_compliance_packs: the same stages (and pipeline stack, if configured).
        app = cdk.App(context=context, outdir=outdir, builtin_cloud_formation_validation=validation)
        for config in environments:
            PlatformStage(app, config)
        if pipeline is not None:
            from ml_platform.delivery.stack import PipelineStack

            PipelineStack(app, "Pipeline", config=pipeline, environments=environments)
        return app

    with tempfile.TemporaryDirectory(prefix="bench-instrumented-") as tmp:
        app_a, phases["construct tree (cold)"] = _timed(lambda: tree(f"{tmp}/a", validation=False))
        _, phases["synth without validation (cold)"] = _timed(app_a.synth)
        app_b, tree_b = _timed(lambda: tree(f"{tmp}/b", validation=True))
        _, synth_b = _timed(app_b.synth)
        app_c, tree_c = _timed(lambda: tree(f"{tmp}/c", validation=False))
        _, synth_c = _timed(app_c.synth)
        phases["built-in template validation (B - C)"] = synth_b - synth_c
        app_d, tree_d = _timed(lambda: tree(f"{tmp}/d", validation=False))
        register_compliance_packs(app_d)
        _, synth_d = _timed(app_d.synth)
        phases["compliance packs as synth plugins (D - C)"] = synth_d - synth_c
        counts: dict[str, int] = {}
        for pack in COMPLIANCE_PACKS:
            found, phases[f"compliance pack {pack.__name__}"] = _timed(lambda pack=pack: findings(app_c, [pack]))
            counts[pack.__name__] = len(found)
        # The Control Tower plugin (cfn-guard) over every template of app D, with its acknowledgments (app D has
        # them all: register_compliance_packs adds the aspect that acknowledges unreadable cross-stack references).
        templates = sorted(Path(f"{tmp}/d").glob("**/*.template.json"))
        found, phases["compliance pack ControlTower"] = _timed(
            lambda: control_tower_unacknowledged(app_d, run_control_tower(templates))
        )
        counts["ControlTower"] = len(found)
    total = time.perf_counter() - started
    print(
        json.dumps(
            {
                "phases": phases,
                "warm": {
                    "construct tree (warm)": tree_b,
                    "synth with validation (warm)": synth_b,
                    "construct tree (warm, again)": tree_c,
                    "synth without validation (warm)": synth_c,
                    "construct tree (warm, third)": tree_d,
                    "synth with compliance plugins (warm)": synth_d,
                },
                "findings": counts,
                "process_seconds": total,
                "environments": [config.name for config in environments],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
