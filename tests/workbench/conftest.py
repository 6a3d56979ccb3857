"""Workbench test helpers (scripts/ and benchmarks/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scripts.assembly import StackTemplate


def stack_template(resources: dict[str, Any], environment: str = "dev", stack_id: str = "Network") -> StackTemplate:
    """A stack of ``environment`` in eu-west-1 named ``<environment>-<stack_id>`` whose template holds ``resources``
    (and no file: the reports under test read ``template``)."""
    return StackTemplate(
        environment, stack_id, f"{environment}-{stack_id}", "eu-west-1", Path("/dev/null"), {"Resources": resources}
    )
