"""The environment's model registry: one SageMaker model package group per model.

A group catalogues the versions of one model and their approval status ("catalog models for production, manage
model versions, ... manage the approval status of a model", SageMaker developer guide, Model Registry). Endpoint
variants deploy a pinned version (``model: {type: package, group: ..., version: ...}``). The versions' images and
artifacts are not known at synth, so each group declares where its versions' images and artifacts live: the
execution roles may pull and read exactly there, and a version registered elsewhere fails to deploy (a
least-privilege contract documented in docs/releases.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import Field, field_validator, model_validator

from ml_platform.core.config import FrozenModel
from ml_platform.inference.config.endpoint import InferenceEndpoint
from ml_platform.inference.config.features import S3_KEY_PATTERN
from ml_platform.inference.config.models import (
    MODEL_PACKAGE_GROUP_NAME,
    ContainerModel,
    MultiModel,
    PackageModel,
    PipelineModel,
    image_part,
)

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
