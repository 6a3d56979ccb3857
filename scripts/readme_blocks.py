"""Generated blocks in README.md and docs/*.md: ``<!-- NAME:start ... -->`` … ``<!-- NAME:end -->``.

Each generator writes its block with :func:`replace_block` (the architecture diagram into README.md, the alarm
catalogue into docs/operations.md, the acknowledgments into docs/compliance.md); a test reads it with
:func:`read_block` and fails when the documented copy differs from what the generator prints now, so documentation
cannot drift.
"""

from __future__ import annotations

import re


def _markers(name: str) -> tuple[re.Pattern[str], str]:
    return re.compile(rf"<!-- {re.escape(name)}:start[^>]*-->"), f"<!-- {name}:end -->"


def read_block(text: str, name: str) -> str:
    start, end = _markers(name)
    match = start.search(text)
    if not match or end not in text:
        raise ValueError(f"the document has no generated block {name!r}")
    return text[match.end() : text.index(end)].strip("\n")


def replace_block(text: str, name: str, block: str) -> str:
    start, end = _markers(name)
    match = start.search(text)
    if not match or end not in text:
        raise ValueError(f"the document has no generated block {name!r}: add <!-- {name}:start --> and {end}")
    return f"{text[: match.end()]}\n{block}\n{text[text.index(end) :]}"
