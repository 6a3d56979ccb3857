"""Read a synthesized cloud assembly (cdk.out) without the CDK: stages, stacks and their templates."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class StackTemplate:
    environment: str
    stack_id: str
    stack_name: str
    region: str | None
    template_path: Path
    template: dict[str, Any] = field(repr=False)
    account: str | None = None
    """The account the stack is bound to (None: account-agnostic)."""

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template.get("Resources", {})

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.resources.items() if v.get("Type") == resource_type}

    @property
    def size_bytes(self) -> int:
        return self.template_path.stat().st_size


def read_assembly(outdir: str | Path) -> list[StackTemplate]:
    """Every stack of every stage in ``outdir``, in manifest order."""
    outdir = Path(outdir)
    result: list[StackTemplate] = []
    manifest = json.loads((outdir / "manifest.json").read_text())
    for artifact in manifest.get("artifacts", {}).values():
        if artifact.get("type") != "cdk:cloud-assembly":
            continue
        stage_dir = outdir / artifact["properties"]["directoryName"]
        stage_name = artifact["properties"].get("displayName") or stage_dir.name.removeprefix("assembly-")
        stage_manifest = json.loads((stage_dir / "manifest.json").read_text())
        for art_id, art in stage_manifest.get("artifacts", {}).items():
            if art.get("type") != "aws:cloudformation:stack":
                continue
            template_path = stage_dir / art["properties"]["templateFile"]
            environment = art.get("environment", "")
            region = environment.rsplit("/", 1)[-1] if environment else None
            account = environment.removeprefix("aws://").split("/", 1)[0] if environment else None
            result.append(
                StackTemplate(
                    environment=stage_name,
                    stack_id=art.get("displayName", art_id).split("/")[-1],
                    stack_name=art["properties"].get("stackName", art_id),
                    region=None if region in (None, "unknown-region") else region,
                    template_path=template_path,
                    template=json.loads(template_path.read_text()),
                    account=None if account in (None, "unknown-account") else account,
                )
            )
    return result
