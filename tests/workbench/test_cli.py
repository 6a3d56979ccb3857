"""The app as a user runs it: bad input is one clear line on stderr, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def _run_app(context: dict[str, str], outdir: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CDK_CONTEXT_JSON=json.dumps(context), CDK_OUTDIR=outdir)
    return subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_unknown_environment_is_one_clear_line_without_traceback(tmp_path):
    result = _run_app({"env": "nope"}, str(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("config error:")]
    assert lines == [
        "config error: context 'env': value 'nope': unknown environment; declared environments are dev, prod"
    ]
