"""Configuration of the SageMaker endpoints with deployment guardrails.

Every rule below is a documented SageMaker rule (the comment beside it says where it comes from) or a
platform rule (said so). A broken rule fails synth with one line that names the endpoint, the field,
the bad value and the rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ml_platform.core.config import FrozenModel
from ml_platform.core.images import MODEL_MONITOR_REGISTRY_ACCOUNTS
from ml_platform.inference.config.endpoint import ENDPOINT_NAME_MAX_LENGTH, InferenceEndpoint
from ml_platform.inference.config.models import PackageModel, image_part
from ml_platform.inference.config.registry import RegistryConfig
from ml_platform.inference.config.stack_groups import (
    DEFAULT_STACK_GROUP,
    MAX_ENDPOINTS_PER_STACK_GROUP,
    inference_stack_id,
)

# The environment's view; each model of one endpoint is in its own module (endpoint, features, policies,
# stack_groups), imported from there.
__all__ = [
    "DEFAULT_STACK_GROUP",
    "MAX_ENDPOINTS_PER_STACK_GROUP",
    "InferenceConfig",
    "InferenceEndpoint",
    "inference_stack_id",
]


def _named_endpoint_errors(value: Any, handler: Callable[[Any], Any]) -> Any:
    """Validate the endpoint list, reporting each problem under the endpoint's name instead of its index."""
    try:
        return handler(value)
    except ValidationError as error:
        names = [
            item.get("name") if isinstance(item, Mapping) and isinstance(item.get("name"), str) else None
            for item in (value if isinstance(value, (list, tuple)) else [])
        ]
        details: list[InitErrorDetails] = []
        for item in error.errors(include_url=False):
            loc = list(item["loc"])
            if loc and isinstance(loc[0], int) and loc[0] < len(names) and names[loc[0]]:
                loc[0] = names[loc[0]]
            message = str(item["msg"]).removeprefix("Value error, ")
            details.append(
                InitErrorDetails(
                    type=PydanticCustomError("inference_endpoint", "{message}", {"message": message}),
                    loc=tuple(loc),
                    input=item.get("input"),
                )
            )
        raise ValidationError.from_exception_data(error.title, details) from None


class InferenceConfig(FrozenModel):
    """SageMaker endpoints with deployment guardrails (inference issue)."""

    endpoints: tuple[InferenceEndpoint, ...] = Field(
        default=(), description="The environment's SageMaker endpoints. Default: none (no Inference stack)."
    )
    registry: RegistryConfig = Field(
        default=RegistryConfig(), description="Model package groups (the model registry). Default: none."
    )

    @field_validator("endpoints", mode="wrap")
    @classmethod
    def _name_errors(cls, value: Any, handler: Callable[[Any], Any]) -> Any:
        return _named_endpoint_errors(value, handler)

    @field_validator("endpoints")
    @classmethod
    def _unique(cls, value: tuple[InferenceEndpoint, ...]) -> tuple[InferenceEndpoint, ...]:
        names = [endpoint.name for endpoint in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"endpoint names must be unique; declared more than once: {', '.join(duplicates)}")
        return value

    @model_validator(mode="after")
    def _group_sizes(self) -> InferenceConfig:
        # Platform rule: every stack within 50 % of CloudFormation's resource and template-size limits (see
        # MAX_ENDPOINTS_PER_STACK_GROUP).
        for group in self.stack_groups:
            names = [endpoint.name for endpoint in self.endpoints_in(group)]
            if len(names) > MAX_ENDPOINTS_PER_STACK_GROUP:
                raise ValueError(
                    f"stack group {group!r} has {len(names)} endpoints ({', '.join(names)}); at most "
                    f"{MAX_ENDPOINTS_PER_STACK_GROUP} fit in one stack within 50 % of CloudFormation's 500-resource "
                    "and 1 MB template limits: set `stack_group` on the new endpoints (e.g. stack_group: 'b' "
                    "puts them in stack Inference-b)"
                )
        return self

    @model_validator(mode="after")
    def _packages_in_registry(self) -> InferenceConfig:
        for endpoint in self.endpoints:
            for variant in endpoint.variants:
                if isinstance(variant.model, PackageModel) and self.registry.group(variant.model.group) is None:
                    declared = ", ".join(group.name for group in self.registry.groups) or "none"
                    raise ValueError(
                        f"endpoint {endpoint.name!r}: variant {variant.name!r}: model package group "
                        f"{variant.model.group!r} is not in inference.registry.groups (declared: {declared})"
                    )
        return self

    @property
    def stack_groups(self) -> tuple[str, ...]:
        """The stack groups in use: ``default`` first (when used), then in order of first appearance."""
        groups = list(dict.fromkeys(endpoint.stack_group for endpoint in self.endpoints))
        if DEFAULT_STACK_GROUP in groups:
            groups.remove(DEFAULT_STACK_GROUP)
            groups.insert(0, DEFAULT_STACK_GROUP)
        return tuple(groups)

    def endpoints_in(self, group: str) -> tuple[InferenceEndpoint, ...]:
        """The endpoints of one stack group, in declaration order."""
        return tuple(endpoint for endpoint in self.endpoints if endpoint.stack_group == group)

    def check_environment(
        self, *, stage: str, region: str, name_prefix: str, account: str | None = None
    ) -> InferenceConfig:
        """Rules that depend on the environment. Raises ``ValueError`` naming endpoint, field and rule."""
        for endpoint in self.endpoints:
            where = f"endpoint {endpoint.name!r}"
            full_name = f"{name_prefix}-{endpoint.name}"
            if len(full_name) > ENDPOINT_NAME_MAX_LENGTH:
                raise ValueError(
                    f"{where}: field 'name': endpoint name {full_name!r} is longer than "
                    f"{ENDPOINT_NAME_MAX_LENGTH} characters (CreateEndpoint limit)"
                )
            for variant in endpoint.production_variants if stage == "prod" and endpoint.serverless is None else ():
                # Platform rule (HA): every production variant in prod runs at least two instances, which SageMaker
                # spreads over the VPC subnets' Availability Zones (a variant's share of traffic fails with it).
                of = "" if variant.kind == "control" else f"variant {variant.name!r}: "
                for field, count in (
                    ("initial_instance_count", variant.initial_instance_count),
                    ("autoscaling.min_instances", variant.autoscaling.min_instances if variant.autoscaling else 2),
                ):
                    if count is not None and count < 2:
                        raise ValueError(
                            f"{where}: {of}field '{field}': value {count}: stage 'prod' needs at least 2 instances "
                            "so the endpoint survives the loss of an instance or an Availability Zone"
                        )
            for image in endpoint.image_uris:
                # ContainerDefinition.Image: "The model artifacts in an Amazon S3 bucket and the Docker image for
                # inference container in Amazon EC2 Container Registry must be in the same region as the model or
                # endpoint you are creating."
                if image_part(image, "region") != region:
                    raise ValueError(
                        f"{where}: field 'image_uri': the image {image} is in region {image_part(image, 'region')!r} "
                        f"but the environment deploys to {region!r}; the ECR image must be in the endpoint's region"
                    )
                # Platform rule: images come from the environment's own ECR registry, which its execution role may
                # pull from with its identity policy alone; a registry in another account would also need a
                # repository policy there, which this app does not manage.
                if account is not None and image_part(image, "account") != account:
                    raise ValueError(
                        f"{where}: field 'image_uri': the image {image} is in account {image_part(image, 'account')} "
                        f"but the environment deploys to account {account}; push the image to the environment's own "
                        "ECR registry"
                    )
            if endpoint.model_monitor is not None and region not in MODEL_MONITOR_REGISTRY_ACCOUNTS:
                raise ValueError(
                    f"{where}: field 'model_monitor': no Model Monitor image registry is known for region "
                    f"{region!r} (known: {', '.join(sorted(MODEL_MONITOR_REGISTRY_ACCOUNTS))}); add the "
                    "region's registry account to ml_platform/core/images.py"
                )
        return self
