"""Reading a deployed resource back (tests/local_deploy/harness.py): template values resolved against what moto
created (:class:`Context`), and the comparisons of one resource (:class:`Checks`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


class Unresolved:
    """A template value this script cannot know (e.g. an attribute moto computes)."""

    def __repr__(self) -> str:
        return "<unresolved>"


UNRESOLVED = Unresolved()


@dataclass
class Context:
    session: Any
    account: str
    region: str
    stack_name: str
    physical_ids: dict[str, str]  # logical id → physical id, this stack
    types: dict[str, str]  # logical id → resource type, this stack
    outputs: dict[str, dict[str, str]]  # stack name → output name → value

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def resolve(self, value: Any) -> Any:
        """A template value with Ref, Fn::Join, Fn::Sub (references only) and Fn::GetStackOutput resolved
        against what moto created; anything else is UNRESOLVED (never guessed)."""
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return UNRESOLVED
        if len(value) == 1:
            (key, argument), *_ = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key == "Fn::Join":
                delimiter, items = argument
                parts = [self.resolve(item) for item in items]
                if any(not isinstance(p, (str, int)) for p in parts):
                    return UNRESOLVED
                return delimiter.join(str(p) for p in parts)
            if key == "Fn::Sub" and isinstance(argument, str):
                return self._sub(argument)
            if key == "Fn::GetAtt" and isinstance(argument, list) and argument[1:] == ["Arn"]:
                return self._arn(argument[0])
            if key == "Fn::GetStackOutput":
                return self.outputs.get(argument.get("StackName"), {}).get(argument.get("OutputName"), UNRESOLVED)
            if key.startswith("Fn::"):
                return UNRESOLVED
        return {k: self.resolve(v) for k, v in value.items()}

    def _arn(self, logical_id: str) -> Any:
        """The ARN of a resource of this stack, for the types whose ARN follows from the physical id."""
        physical = self.physical_ids.get(logical_id)
        if physical is None:
            return UNRESOLVED
        arns = {
            "AWS::KMS::Key": f"arn:aws:kms:{self.region}:{self.account}:key/{physical}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{physical}",
        }
        return arns.get(self.types.get(logical_id, ""), UNRESOLVED)

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
        }
        if name in pseudo:
            return pseudo[name]
        return self.physical_ids.get(name, UNRESOLVED)

    def _sub(self, text: str) -> Any:
        import re

        def replace(match: re.Match[str]) -> str:
            resolved = self._ref(match.group(1)) if "." not in match.group(1) else UNRESOLVED
            if not isinstance(resolved, str):
                raise LookupError
            return resolved

        try:
            return re.sub(r"\$\{([^}]+)\}", replace, text)
        except LookupError:
            return UNRESOLVED


@dataclass
class Checks:
    """Read-back checks of one resource: (what, expected, actual)."""

    items: list[tuple[str, Any, Any]] = field(default_factory=list)

    def expect(self, what: str, expected: Any, actual: Any) -> None:
        """Compare only what the template states concretely; UNRESOLVED/None expectations are skipped."""
        if expected is None or expected is UNRESOLVED or _contains_unresolved(expected):
            return
        self.items.append((what, expected, actual))

    def fact(self, what: str, actual: Any, expected: Any = True) -> None:
        """A property that must hold whatever the template says (e.g. the endpoint is InService)."""
        self.items.append((what, expected, actual))

    @property
    def failed(self) -> list[tuple[str, Any, Any]]:
        return [(w, e, a) for w, e, a in self.items if not _equal(e, a)]


def _contains_unresolved(value: Any) -> bool:
    if value is UNRESOLVED:
        return True
    if isinstance(value, list):
        return any(_contains_unresolved(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_unresolved(v) for v in value.values())
    return False


def _equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return str(expected).lower() == str(actual).lower()
    if isinstance(expected, (int, float)) or isinstance(actual, (int, float)):
        try:
            return float(expected) == float(actual)
        except (TypeError, ValueError):
            return False
    if isinstance(expected, list) and isinstance(actual, list):
        return sorted(map(json.dumps, expected)) == sorted(map(json.dumps, actual))
    return expected == actual
