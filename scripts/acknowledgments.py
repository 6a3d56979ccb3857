"""Every compliance acknowledgment in the app, with its reason: the acknowledgment table of docs/compliance.md.

    .venv/bin/python -m scripts.acknowledgments [--write [docs/compliance.md]]

Acknowledgments are recorded by ``Validations.of(construct).acknowledge`` as construct metadata
(``aws:cdk:acknowledged-rules``); this reads them from the construct tree of every declared environment,
so the table lists exactly what the code acknowledges. A test fails when the documented copy differs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from scripts.readme_blocks import replace_block  # noqa: E402

BLOCK = "acknowledgments"
DOCUMENT = "docs/compliance.md"  # the page whose acknowledgments block `--write` replaces by default
METADATA_TYPE = "aws:cdk:acknowledged-rules"


@dataclass(frozen=True)
class AcknowledgmentRow:
    path: str  # construct path without the environment
    rule: str
    reason: str
    environments: tuple[str, ...]


def collect(root: object) -> list[AcknowledgmentRow]:
    """Acknowledgments under ``root`` (an App), merged across environments, in construct-tree order."""
    merged: dict[tuple[str, str, str], list[str]] = {}
    for construct in root.node.find_all():  # type: ignore[attr-defined]
        for entry in construct.node.metadata:
            if entry.type != METADATA_TYPE:
                continue
            environment, _, path = construct.node.path.partition("/")
            for rule, reason in dict(entry.data).items():
                key = (path, rule.removeprefix("Annotation::"), str(reason))
                merged.setdefault(key, [])
                if environment not in merged[key]:
                    merged[key].append(environment)
    return [AcknowledgmentRow(path, rule, reason, tuple(envs)) for (path, rule, reason), envs in merged.items()]


def markdown(rows: Iterable[AcknowledgmentRow]) -> str:
    lines = ["| where | finding | environments | why |", "|---|---|---|---|"]
    for row in rows:
        cells = [f"`{row.path}`", f"`{row.rule}`", ", ".join(row.environments), row.reason]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def build_app() -> object:
    """The whole app, as `cdk synth` builds it (cdk.json context, every declared environment), unsynthesized."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import aws_cdk as cdk

    from ml_platform.app import build_platform
    from ml_platform.environments import load_environments

    app = cdk.App(context=json.loads((ROOT / "cdk.json").read_text())["context"])
    build_platform(app, load_environments())
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write", nargs="?", const=DOCUMENT, help=f"file whose acknowledgments block is replaced ({DOCUMENT})"
    )
    args = parser.parse_args(argv)
    app = build_app()
    app.synth()  # type: ignore[attr-defined]  # validations acknowledge some findings only at synth time
    table = markdown(collect(app))
    if args.write:
        path = Path(args.write)
        path.write_text(replace_block(path.read_text(), BLOCK, table))
        print(f"updated the acknowledgments block of {path}")
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
