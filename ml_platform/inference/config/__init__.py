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
from ml_platform.inference.config.packages import arn_part
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
        items = list(value) if isinstance(value, (list, tuple)) else []
        names = [
            item.get("name") if isinstance(item, Mapping) and isinstance(item.get("name"), str) else None
            for item in items
        ]
        details: list[InitErrorDetails] = []
        for item in error.errors(include_url=False):
            loc = list(item["loc"])
            message = str(item["msg"]).removeprefix("Value error, ")
            variant = _package_variant(items, loc)
            if variant is not None:
                # A model package reference: name the variant, drop pydantic's discriminator tag from the location.
                loc.remove("package")
                message = f"variant {variant!r}: {message}"
            if loc and isinstance(loc[0], int) and loc[0] < len(names) and names[loc[0]]:
                loc[0] = names[loc[0]]
            details.append(
                InitErrorDetails(
                    type=PydanticCustomError("inference_endpoint", "{message}", {"message": message}),
                    loc=tuple(loc),
                    input=item.get("input"),
                )
            )
        raise ValidationError.from_exception_data(error.title, details) from None


def _package_variant(items: list[Any], loc: list[Any]) -> str | None:
    """The name of the variant whose model package reference ``loc`` (``[i, ..., "model", "package", ...]``) points
    into; ``None`` when ``loc`` is not inside a package reference."""
    if "package" not in loc or loc.index("package") == 0 or loc[loc.index("package") - 1] != "model":
        return None
    endpoint = items[loc[0]] if isinstance(loc[0], int) and loc[0] < len(items) else None
    if not isinstance(endpoint, Mapping):
        return "?"
    where = loc[1 : loc.index("package") - 1]
    if not where:
        return str(endpoint.get("variant_name") or "AllTraffic")
    if where[0] == "shadow" and isinstance(endpoint.get("shadow"), Mapping):
        return str(endpoint["shadow"].get("name", "shadow"))
    challengers = endpoint.get("challengers")
    if where[0] == "challengers" and len(where) > 1 and isinstance(challengers, (list, tuple)):
        index = where[1]
        if isinstance(index, int) and index < len(challengers) and isinstance(challengers[index], Mapping):
            return str(challengers[index].get("name", f"challengers[{index}]"))
    return "?"


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
            for variant in endpoint.variants:
                if isinstance(variant.model, PackageModel) and variant.model.arn is not None:
                    _check_package_arn(variant.model.arn, f"{where}: variant {variant.name!r}", region, account)
            if endpoint.model_monitor is not None and region not in MODEL_MONITOR_REGISTRY_ACCOUNTS:
                raise ValueError(
                    f"{where}: field 'model_monitor': no Model Monitor image registry is known for region "
                    f"{region!r} (known: {', '.join(sorted(MODEL_MONITOR_REGISTRY_ACCOUNTS))}); add the "
                    "region's registry account to ml_platform/core/images.py"
                )
        return self


def _check_package_arn(arn: str, where: str, region: str, account: str | None) -> None:
    """Platform rule: a package ARN names a version of this environment's own registry. A version of another account
    runs with images and artifacts of that account, which the execution role may only use with an ECR repository
    policy, a bucket policy and a KMS grant there ("Deploy a Model Version from a Different Account", SageMaker
    developer guide); this app manages none of them. Artifacts and images must be in the model's region (API
    reference, ContainerDefinition)."""
    rule = "register the version in the environment's own registry (see docs/releases.md)"
    if arn_part(arn, "region") != region:
        raise ValueError(
            f"{where}: field 'model.arn': the model package is in region {arn_part(arn, 'region')!r} but the "
            f"environment deploys to {region!r}; a model's image and artifacts must be in its region: {rule}"
        )
    if account is None:
        raise ValueError(
            f"{where}: field 'model.arn': the environment declares no account, so a package ARN cannot be checked "
            "against it; reference the package by group + version"
        )
    if arn_part(arn, "account") != account:
        raise ValueError(
            f"{where}: field 'model.arn': the model package is in account {arn_part(arn, 'account')} but the "
            f"environment deploys to account {account}; a package of another account needs ECR, S3 and KMS grants in "
            f"that account, which this app does not manage: {rule}"
        )
