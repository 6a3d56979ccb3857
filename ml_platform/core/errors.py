"""Turning configuration mistakes into one clear line each: field, bad value, rule."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration value breaks a rule. ``str()`` is the user-facing message: one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def _location(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(root)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def format_validation_error(error: ValidationError, *, context: str) -> ConfigError:
    """One line per pydantic error: ``<context>: field 'a.b': value X: rule``."""
    problems = []
    for item in error.errors(include_url=False):
        # A model-level rule reports the location of the model itself; "Value error, " is pydantic's prefix.
        message = str(item["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        loc = _location(tuple(item["loc"]))
        value = item.get("input")
        shown = "" if isinstance(value, Mapping) else f" value {_short(value)}:"
        problems.append(f"{context}: field '{loc}':{shown} {message}")
    return ConfigError(problems)


def build(model: type[M], data: Mapping[str, Any], *, context: str) -> M:
    """Validate ``data`` as ``model`` or raise a :class:`ConfigError` naming every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise format_validation_error(error, context=context) from None


def guarded(factory: Callable[[], M], *, context: str) -> M:
    """Run ``factory`` (which builds models in Python code) and convert validation failures."""
    try:
        return factory()
    except ValidationError as error:
        raise format_validation_error(error, context=context) from None
