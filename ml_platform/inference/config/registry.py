"""The environment's model registry: one SageMaker model package group per model.

A group catalogues the versions of one model and their approval status ("catalog models for production, manage
model versions, ... manage the approval status of a model", SageMaker developer guide, Model Registry). Endpoint
variants deploy a pinned version (``model: {type: package, group: ..., version: ...}``). The versions' images and
artifacts are not known at synth, so each group declares where its versions' images and artifacts live: the
execution roles may pull and read exactly there, and a version registered elsewhere fails to deploy (a
least-privilege contract documented in docs/releases.md).

Encryption: a group itself cannot be encrypted. Neither CreateModelPackageGroup nor AWS::SageMaker::ModelPackageGroup
has a key setting (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackageGroup.html,
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sagemaker-modelpackagegroup.html). What
is encrypted is each version's metadata (CreateModelPackage ``SecurityConfig.KmsKeyId``: register versions with the
environment's ML key, docs/releases.md) and the artifacts (the models bucket, SSE-KMS with the lake key).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import Field, field_validator, model_validator

from ml_platform.core.config import FrozenModel
from ml_platform.inference.config.endpoint import InferenceEndpoint
from ml_platform.inference.config.features import S3_KEY_PATTERN
from ml_platform.inference.config.models import (
    ContainerModel,
    MultiModel,
    PackageModel,
    PipelineModel,
    image_part,
)
from ml_platform.inference.config.packages import MODEL_PACKAGE_GROUP_NAME

# ECR repository names: (?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)* (CreateRepository).
_REPOSITORY = r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$"


class RegistryGroup(FrozenModel):
    """One model package group of this environment's account and region."""

    name: str = Field(pattern=MODEL_PACKAGE_GROUP_NAME, description="The group name (the model's name).")
    description: str = Field(
        default="", max_length=1024, description="Immutable: changing it replaces the group. Default: none."
    )
    image_repositories: tuple[str, ...] = Field(
        min_length=1, description="ECR repositories (this account) the versions' images come from."
    )
    model_data_prefix: str = Field(description="Models-bucket prefix the versions' artifacts live under ('<model>/').")
    shared_with: tuple[str, ...] = Field(
        default=(),
        description="Other declared environments whose accounts may read the group and its versions (to promote "
        "a version into their own registry). Default: none.",
    )

    @field_validator("name")
    @classmethod
    def _lower_case(cls, value: str) -> str:
        # Platform rule: SageMaker writes the ARNs of some resources in lower case (endpoints, models); whether it
        # does for model package groups is unverified, and the group's policy and the execution roles name the group
        # by ARN built from this name, so a name in lower case matches either way.
        if value != value.lower():
            raise ValueError(f"{value!r}: use lower case (the group's ARN is built from the name)")
        return value

    @field_validator("image_repositories")
    @classmethod
    def _repositories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for repository in value:
            if not re.match(_REPOSITORY, repository):
                raise ValueError(f"{repository!r} is not an ECR repository name")
        return value

    @field_validator("model_data_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value.endswith("/") or not S3_KEY_PATTERN.match(value.rstrip("/")):
            raise ValueError("must be a prefix in the models bucket ending in '/' (e.g. 'churn/')")
        return value


class RegistryConfig(FrozenModel):
    """Model package groups of the environment. Default: none (no registry resources)."""

    groups: tuple[RegistryGroup, ...] = Field(default=(), description="One group per model.")

    @model_validator(mode="after")
    def _unique(self) -> RegistryConfig:
        names = [group.name for group in self.groups]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"registry group names must be unique; declared more than once: {', '.join(duplicates)}")
        return self

    def group(self, name: str) -> RegistryGroup | None:
        return next((group for group in self.groups if group.name == name), None)

    def reader_accounts(
        self, accounts: Mapping[str, str | None], *, own_account: str | None
    ) -> dict[str, tuple[str, ...]]:
        """Group name → the accounts of its ``shared_with`` environments (``accounts``: every declared environment's
        account), sorted, without this environment's own account (its principals need no resource policy). Assumes
        :func:`sharing_problems` found nothing."""
        result = {}
        for group in self.groups:
            readers = {accounts[name] for name in group.shared_with if accounts.get(name)}
            result[group.name] = tuple(sorted(a for a in readers if a is not None and a != own_account))
        return result


def sharing_problems(environment: str, registry: RegistryConfig, accounts: Mapping[str, str | None]) -> list[str]:
    """One line per ``shared_with`` entry of ``environment``'s groups that names no declared environment, the group's
    own environment, or an environment without an account (a group policy names accounts).

    ``accounts``: every declared environment's name → its account (None: account-agnostic)."""
    problems = []
    for group in registry.groups:
        where = f"environment {environment!r}: field 'inference.registry.groups.{group.name}.shared_with'"
        for name in group.shared_with:
            if name == environment:
                problems.append(f"{where}: value {name!r}: a group is not shared with its own environment")
            elif name not in accounts:
                problems.append(
                    f"{where}: value {name!r}: unknown environment; declared environments are {', '.join(accounts)}"
                )
            elif accounts[name] is None:
                problems.append(
                    f"{where}: value {name!r}: environment {name!r} declares no account; the group's resource policy "
                    "can only name an account: declare its account"
                )
    return problems


# ---------------------------------------------------------------------------------------------------- approval events
# "SageMaker Model Package State Change", source aws.sagemaker, with ModelPackageGroupName and ModelApprovalStatus in
# its detail ("Events that Amazon SageMaker AI sends to Amazon EventBridge", model package state change,
# https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html). SageMaker "may send
# multiple events to EventBridge for each state change" (same page): every consumer of the rule is idempotent (a
# notification twice, a pipeline started twice deploys the same commit and versions twice).
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
APPROVED = "Approved"


def approval_event_pattern(groups: Sequence[str], *, accounts: Sequence[str] = ()) -> dict[str, Any]:
    """The EventBridge pattern of an approval of a version of ``groups`` (in ``accounts``, when given: the pattern of
    the pipeline account's rule, which receives the environments' forwarded events)."""
    pattern: dict[str, Any] = {
        "source": ["aws.sagemaker"],
        "detail-type": [MODEL_PACKAGE_STATE_CHANGE],
        "detail": {"ModelPackageGroupName": sorted(groups), "ModelApprovalStatus": [APPROVED]},
    }
    if accounts:
        pattern["account"] = sorted(accounts)
    return pattern


def approval_rule_name(name_prefix: str) -> str:
    """The approval rule's physical name (``<project>-<environment>-model-package-approved``): fixed, so that the
    pipeline account's bus policy can admit exactly this rule (``aws:SourceArn``)."""
    return f"{name_prefix}-model-package-approved"


def approval_rule_arn(*, partition: str, region: str, account: str, name_prefix: str) -> str:
    """ARN of an environment's approval rule (a rule of the default event bus: ``rule/<name>``)."""
    return f"arn:{partition}:events:{region}:{account}:rule/{approval_rule_name(name_prefix)}"


@dataclass(frozen=True)
class ModelSources:
    """Where an endpoint's variants pull images and read model data from (the execution role's grants)."""

    repositories: tuple[tuple[str, str, str], ...]  # (account, region, repository); "" = the stack's
    prefixes: tuple[str, ...]  # models-bucket prefixes
    external_objects: tuple[str, ...]  # <bucket>/<key> outside the models bucket


def model_sources(config: InferenceEndpoint, registry: RegistryConfig) -> ModelSources:
    """Where the endpoint's variants pull images and read model data from, in declaration order, each once."""
    repositories: dict[tuple[str, str, str], None] = {}
    prefixes: dict[str, None] = {}
    external: dict[str, None] = {}
    for variant in config.variants:
        model = variant.model
        if isinstance(model, PackageModel):
            group = registry.group(model.group)
            assert group is not None, model.group  # InferenceConfig refuses an undeclared group
            repositories.update(dict.fromkeys(("", "", repository) for repository in group.image_repositories))
            prefixes[group.model_data_prefix] = None
            continue
        images = [model.image_uri] if isinstance(model, MultiModel) else [c.image_uri for c in model.containers]
        for image in images:
            repositories[
                (image_part(image, "account"), image_part(image, "region"), image_part(image, "repository"))
            ] = None
        if isinstance(model, MultiModel):
            prefixes[model.model_data_prefix] = None
        for container in model.containers if isinstance(model, (ContainerModel, PipelineModel)) else ():
            if container.model_prefix is not None:
                prefixes[container.model_prefix] = None
            if container.external_model_data_url is not None:
                external[container.external_model_data_url.removeprefix("s3://")] = None
    return ModelSources(tuple(repositories), tuple(prefixes), tuple(external))
