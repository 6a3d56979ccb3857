"""Configuration of the security baseline: who the alarm topic notifies."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from ml_platform.core.config import FrozenModel

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class SecurityConfig(FrozenModel):
    """KMS keys and the alarm topic."""

    alarm_emails: tuple[str, ...] = Field(
        default=(), description="E-mail addresses subscribed to the alarm topic. Default: none."
    )

    @field_validator("alarm_emails")
    @classmethod
    def _emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for email in value:
            if not _EMAIL.match(email):
                raise ValueError(f"{email!r} is not an e-mail address")
        if len(set(value)) != len(value):
            raise ValueError("e-mail addresses must be unique")
        return value
