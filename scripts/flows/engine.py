"""Evaluate flows with @cloud-copilot/iam-simulate (scripts/flows/simulate.cjs), all in one Node.js process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scripts.flows.model import Flow, FlowResult

ROOT = Path(__file__).resolve().parents[2]
SIMULATOR = Path(__file__).with_name("simulate.cjs")


class SimulatorUnavailableError(RuntimeError):
    """Node.js or the pinned simulator package is missing (run `npm ci`, which `make install` does)."""


def evaluate(flows: Sequence[Flow]) -> list[FlowResult]:
    """Authorize every flow; one result per flow, in order."""
    ids = [flow.flow_id for flow in flows]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"flow ids must be unique: {duplicates[:5]}")
    if not (ROOT / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
        raise SimulatorUnavailableError("node_modules/@cloud-copilot/iam-simulate is missing: run `make install`")
    batch = [
        {
            "id": flow.flow_id,
            "engine": flow.engine,
            "resourcePolicyName": flow.resource_policy[0] if flow.resource_policy else None,
            "simulation": flow.simulation(),
        }
        for flow in flows
    ]
    completed = subprocess.run(
        ["node", str(SIMULATOR)],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"simulator failed: {completed.stderr.strip()[-2000:]}")
    by_id = {item["id"]: item for item in json.loads(completed.stdout)}
    return [_result(flow, by_id[flow.flow_id]) for flow in flows]


def _result(flow: Flow, raw: dict[str, Any]) -> FlowResult:
    decision = raw["result"]
    if decision == "Error":
        return FlowResult(flow, "error", decision, "", errors=json.dumps(raw.get("errors"), sort_keys=True))
    ignored = raw.get("ignoredContextKeys") or []
    if ignored:
        # A key the simulator dropped would make the flow test less than it claims: treat it as an error.
        return FlowResult(flow, "error", decision, "", errors=f"context keys ignored by the simulator: {ignored}")
    actual = "allow" if decision == "Allowed" else "deny"
    return FlowResult(flow, actual, decision, _deciding(flow, raw))


def _deciding(flow: Flow, raw: dict[str, Any]) -> str:
    """The statements that decided: every granting statement of an allow, or the denying ones of a deny."""
    parts = []
    for item in raw.get("grants", []) or raw.get("denials", []):
        kind = item["policyType"]
        if kind == "resource":
            where = flow.resource_policy[0] if flow.resource_policy else "resource policy"
        elif kind == "vpce":
            where = item.get("policyIdentifier") or "endpoint policy"
        elif kind == "identity":
            where = item.get("policyIdentifier") or "identity policies"
        else:
            where = kind
        if item.get("denialType") == "Implicit":
            parts.append(f"{where}: no statement allows ({kind})")
        else:
            statement = item.get("statementId") or f"#{item.get('statementIndex')}"
            verb = "denies" if item.get("denialType") == "Explicit" else "allows"
            parts.append(f"{where} [{statement}] {verb}")
    return "; ".join(parts)
