"""Configuration of the delivery pipeline (CDK Pipelines on CodePipeline), declared as ``PIPELINE``.

The pipeline lives in its own (tooling) account and region, pulls the repository through a CodeConnections
connection and deploys every declared environment, in declaration order, into that environment's account
and region. It exists only when ``PIPELINE`` in ``ml_platform/environments.py`` is set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field, field_validator

from ml_platform.core.config import FrozenModel, check_log_retention
from ml_platform.core.errors import ConfigError, build
from ml_platform.environment import EnvironmentConfig, TagsConfig

# A CodeConnections connection. The service was renamed from CodeStar Connections to CodeConnections in
# 2024; connections created before keep the `codestar-connections` service name in their ARN and both are
# accepted by the CodePipeline source action (CodeStarSourceConnection: "ConnectionArn").
CONNECTION_ARN = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):(?P<service>codeconnections|codestar-connections):"
    r"(?P<region>[a-z]{2}(?:-gov|-iso[bef]?)?-[a-z]+-\d):(?P<account>\d{12}):"
    r"connection/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
# "owner/name" as the source action's FullRepositoryId takes it. Owner: GitHub user/organisation names
# (letters, digits, single hyphens, at most 39 characters); name: letters, digits, '.', '_', '-' (at most
# 100 characters, not '.' or '..').
_OWNER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
_REPOSITORY_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
# Git branch names (git check-ref-format, simplified): no spaces or control characters, none of ~^:?*[\,
# no '..', '@{' or '//', must not start with '-' or '/', nor end with '/', '.' or '.lock'.
_BRANCH = re.compile(r"^(?!-|/)(?!.*(?:\.\.|@\{|//|/\.|\.lock$|[/.]$))[^\s~^:?*\[\\\x00-\x1f\x7f]{1,255}$")
# CodePipeline pipeline names: [A-Za-z0-9.@_-]{1,100} (CreatePipeline API reference). The name is also the
# pipeline stack's name, so it must satisfy CloudFormation's stack-name rule: a letter first, then letters,
# digits and hyphens.
_PIPELINE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,99}$")
_ACCOUNT = re.compile(r"^\d{12}$")


class PipelineConfig(FrozenModel):
    """The delivery pipeline: where it runs and where its source comes from.

    Behaviour (not configurable): one stage per environment in declaration order; a manual approval before
    every environment of stage ``prod``; after each environment a validation step that describes every
    configured SageMaker endpoint in the target account; self-mutation on; the artifact bucket and every
    CodeBuild project encrypted with one customer-managed key (rotation on) usable across accounts.
    """

    connection_arn: str = Field(
        description="CodeConnections connection to the Git provider, in the pipeline's account "
        "(arn:aws:codeconnections:<region>:<account>:connection/<uuid>)."
    )
    repository: str = Field(description="Repository as 'owner/name', e.g. 'my-org/ml-platform'.")
    branch: str = Field(default="main", description="Branch the pipeline follows. Default: main.")
    account: str = Field(description="The pipeline's own (tooling) account, 12 digits.")
    region: str = Field(description="The pipeline's region, e.g. eu-west-1.")
    pipeline_name: str = Field(
        default="ml-platform-delivery",
        description="Name of the pipeline and of its CloudFormation stack. Default: ml-platform-delivery.",
    )
    tags: TagsConfig = Field(description="Cost-allocation tags of the pipeline's resources.")
    log_retention_days: int = Field(
        default=365, description="Retention of the build logs, at least 365 days (CT.CLOUDWATCH.PR.2). Default: 365."
    )

    @field_validator("connection_arn")
    @classmethod
    def _connection(cls, value: str) -> str:
        if not CONNECTION_ARN.match(value):
            raise ValueError(
                "not a CodeConnections connection ARN "
                "(arn:aws:codeconnections:<region>:<12-digit account>:connection/<uuid>, or the older "
                "'codestar-connections' service name)"
            )
        return value

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        owner, slash, name = value.partition("/")
        if not slash or not _OWNER.match(owner) or not _REPOSITORY_NAME.match(name) or name in (".", ".."):
            raise ValueError(
                "must be 'owner/name': owner of letters, digits and single hyphens (at most 39 characters), "
                "name of letters, digits, '.', '_' and '-' (at most 100 characters)"
            )
        return value

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str) -> str:
        if not _BRANCH.match(value):
            raise ValueError("not a valid Git branch name (no spaces, '..', '~^:?*[\\', leading '-' or '/')")
        return value

    @field_validator("account")
    @classmethod
    def _account(cls, value: str) -> str:
        if not _ACCOUNT.match(value):
            raise ValueError("an AWS account id has exactly 12 digits")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        # The same rule as an environment's region.
        return EnvironmentConfig._region(value)

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return check_log_retention(value)

    @field_validator("pipeline_name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _PIPELINE_NAME.match(value):
            raise ValueError("must start with a letter and contain only letters, digits and '-' (at most 100)")
        return value

    @property
    def connection_region(self) -> str:
        return _connection_part(self.connection_arn, "region")

    @property
    def connection_account(self) -> str:
        return _connection_part(self.connection_arn, "account")

    @property
    def partition(self) -> str:
        return _connection_part(self.connection_arn, "partition")

    @property
    def event_bus_arn(self) -> str:
        """The pipeline account's default event bus: the environments' registries forward approvals to it."""
        return f"arn:{self.partition}:events:{self.region}:{self.account}:event-bus/default"


def _connection_part(arn: str, part: str) -> str:
    match = CONNECTION_ARN.match(arn)
    assert match is not None  # validated
    return match[part]


def lookup_role_arn(*, account: str, region: str, partition: str = "aws", qualifier: str = "hnb659fds") -> str:
    """The CDK bootstrap lookup role of an account and region (read-only; the default qualifier).

    ``cdk bootstrap --trust <pipeline account>`` lets the pipeline account assume it (bootstrap template,
    ``LookupRole`` trusts ``TrustedAccounts`` and ``TrustedAccountsForLookup``).
    """
    return f"arn:{partition}:iam::{account}:role/cdk-{qualifier}-lookup-role-{account}-{region}"


def load_pipeline(
    declared: Mapping[str, Any] | None, environments: Sequence[EnvironmentConfig]
) -> PipelineConfig | None:
    """Validate the declared pipeline against the environments it deploys; ``None`` when not configured.

    Cross-account delivery needs a target: with a pipeline, every environment must declare its account.
    """
    if declared is None:
        return None
    config = build(PipelineConfig, declared, context="pipeline")
    missing = [env.name for env in environments if env.account is None]
    if missing:
        raise ConfigError(
            [
                f"pipeline: environment {name!r}: field 'account': value None: the delivery pipeline deploys "
                "every environment into its own account; declare the environment's 12-digit account"
                for name in missing
            ]
        )
    return config


def select_pipeline(
    requested: str | None,
    declared: Mapping[str, Any] | None = None,
    environments: Sequence[EnvironmentConfig] | None = None,
) -> PipelineConfig | None:
    """The pipeline to synthesize: the declared one (validated) for a full synth; ``None`` when not
    configured or when ``-c env=NAME`` limits the synth to one environment (the pipeline spans them all).

    ``declared`` and ``environments`` default to ``PIPELINE`` and every environment in environments.py.
    """
    from ml_platform.environments import PIPELINE, load_environments

    config = load_pipeline(
        PIPELINE if declared is None else declared, load_environments() if environments is None else environments
    )
    return None if requested else config


def approval_bus_statement(
    *, bus_arn: str, partition: str, accounts: Sequence[str], rules: Sequence[str]
) -> dict[str, Any]:
    """The statement of the pipeline account's default event bus policy (ml_platform/delivery/approvals.py):
    ``accounts`` may put events on ``bus_arn`` only from their approval rules ``rules`` (``aws:SourceArn``)."""
    return {
        "Effect": "Allow",
        "Principal": {"AWS": [f"arn:{partition}:iam::{account}:root" for account in accounts]},
        "Action": "events:PutEvents",
        "Resource": bus_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": list(rules)}},
    }
