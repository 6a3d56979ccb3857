"""The typed description of one deployment environment (dev, staging, prod, ...)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ml_platform.core.config import MIN_LOG_RETENTION_DAYS, FrozenModel, check_log_retention
from ml_platform.inference.config import InferenceConfig
from ml_platform.lake.config import DataLakeConfig
from ml_platform.network.config import NetworkConfig, check_environment
from ml_platform.security.config import SecurityConfig
from ml_platform.streaming.config import StreamingConfig

Stage = Literal["dev", "staging", "prod"]

# Region names as AWS spells them: us-east-1, eu-central-2, ap-southeast-4, us-gov-west-1, ...
_REGION = re.compile(
    r"^(us|eu|ap|sa|ca|me|af|il|mx|cn)(-gov|-iso[bef]?)?-(north|south|east|west|central|northeast|northwest|southeast|southwest)-[1-9]$"
)
_TAG_VALUE = re.compile(r"^[A-Za-z0-9_ .:/=+\-@]{1,256}$")

# Stage-driven defaults. Each is behaviour a user can override per environment where a field exists.
DEFAULT_LOG_RETENTION_DAYS: dict[str, int] = dict.fromkeys(("dev", "staging", "prod"), MIN_LOG_RETENTION_DAYS)


class TagsConfig(FrozenModel):
    """Cost-allocation tags put on every taggable resource. The ``environment`` tag is the environment name."""

    project: str = Field(default="ml-platform", pattern=_TAG_VALUE.pattern)
    owner: str = Field(pattern=_TAG_VALUE.pattern, description="Team or person accountable for the environment.")
    cost_center: str = Field(pattern=_TAG_VALUE.pattern, description="Finance cost centre the bill goes to.")


class EnvironmentConfig(FrozenModel):
    """One environment: where it deploys, how it is tagged, and what each component looks like there.

    The stage drives defaults: removal policy (RETAIN in prod/staging; DESTROY in dev only with
    ``allow_destroy=True``), log retention (every stage 365 days, the Control Tower minimum) and termination
    protection (on for prod).
    """

    name: str = Field(
        pattern=r"^[a-z][a-z0-9-]{1,15}$",
        description="Environment name: the cdk.Stage id and the prefix of every stack name.",
    )
    stage: Stage
    account: str | None = Field(
        default=None,
        pattern=r"^\d{12}$",
        description="Target AWS account (12 digits). Default: none, the stacks are account-agnostic.",
    )
    region: str = Field(description="Target AWS region, e.g. eu-west-1.")
    tags: TagsConfig
    allow_destroy: bool = Field(
        default=False,
        description="Dev only: let `cdk destroy` delete stateful resources (buckets are emptied first).",
    )
    log_retention_days: int | None = Field(
        default=None,
        description="CloudWatch Logs retention, at least 365 days (Control Tower CT.CLOUDWATCH.PR.2). Default: 365.",
    )
    termination_protection: bool | None = Field(
        default=None, description="CloudFormation termination protection. Default: on for prod only."
    )
    security: SecurityConfig = SecurityConfig()
    network: NetworkConfig = NetworkConfig()
    data_lake: DataLakeConfig = DataLakeConfig()
    streaming: StreamingConfig = StreamingConfig()
    inference: InferenceConfig = InferenceConfig()

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ValueError(f"{value!r} is not an AWS region name (like eu-west-1)")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int | None) -> int | None:
        return None if value is None else check_log_retention(value)

    @field_validator("inference")
    @classmethod
    def _inference_rules(cls, value: InferenceConfig, info: ValidationInfo) -> InferenceConfig:
        # Endpoint rules that depend on the stage and region (declared before `inference`, so known here).
        if {"name", "stage", "region", "tags"} <= info.data.keys():
            prefix = f"{info.data['tags'].project}-{info.data['name']}"
            value.check_environment(
                stage=info.data["stage"],
                region=info.data["region"],
                account=info.data.get("account"),
                name_prefix=prefix,
            )
        return value

    @model_validator(mode="after")
    def _stage_rules(self) -> EnvironmentConfig:
        if self.allow_destroy and self.stage != "dev":
            raise ValueError(f"allow_destroy is only allowed for stage 'dev', not {self.stage!r}")
        if self.stage == "prod" and self.termination_protection is False:
            raise ValueError("termination_protection cannot be turned off for stage 'prod'")
        return self

    @model_validator(mode="after")
    def _network_rules(self) -> EnvironmentConfig:
        # Interface endpoints the enabled components need, gateway prefix lists of the region (network.py).
        check_environment(
            self.network, stage=self.stage, region=self.region, enabled_components=self.enabled_components
        )
        return self

    @model_validator(mode="after")
    def _data_lake_rules(self) -> EnvironmentConfig:
        problems = self.data_lake.environment_problems(
            project=self.tags.project,
            environment=self.name,
            account=self.account,
            region=self.region,
            allow_destroy=self.allow_destroy,
        )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # ------------------------------------------------------------------ stage-driven behaviour
    @property
    def is_production_like(self) -> bool:
        """prod and staging keep every stateful resource on delete and replacement."""
        return self.stage in ("prod", "staging")

    @property
    def destroy_on_delete(self) -> bool:
        """True only for a dev environment that opted in with ``allow_destroy``."""
        return self.stage == "dev" and self.allow_destroy

    @property
    def enabled_components(self) -> frozenset[str]:
        """Components this environment deploys; cross-component rules (e.g. required VPC endpoints) use it."""
        components = {"security", "network", "data_lake", "streaming"}
        if self.inference.endpoints:
            components.add("inference")
        return frozenset(components)

    @property
    def resolved_log_retention_days(self) -> int:
        return self.log_retention_days or DEFAULT_LOG_RETENTION_DAYS[self.stage]

    @property
    def resolved_termination_protection(self) -> bool:
        if self.termination_protection is not None:
            return self.termination_protection
        return self.stage == "prod"

    @property
    def resource_tags(self) -> dict[str, str]:
        """Tags applied to every taggable resource of the environment."""
        return {
            "project": self.tags.project,
            "environment": self.name,
            "owner": self.tags.owner,
            "cost-center": self.tags.cost_center,
        }
