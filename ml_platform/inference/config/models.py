"""What a production or shadow variant serves: one container, a serial inference pipeline, a multi-model container,
or a version of a model package from the environment's model registry.

Every rule here is a documented SageMaker rule (cited beside it) or a platform rule (said so). The execution role is
scoped from these declarations: which ECR repositories it pulls and which models-bucket prefixes it reads.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from ml_platform.core.config import FrozenModel
from ml_platform.inference.config.features import S3_KEY_PATTERN
from ml_platform.inference.config.packages import MODEL_PACKAGE_GROUP_NAME, package_reference

# Private ECR image in an account's own registry, pinned by tag or digest:
# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>(:<tag>|@sha256:<digest>).
ECR_IMAGE_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127})|@sha256:(?P<digest>[a-f0-9]{64}))$"
)
_S3_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.+)$")
# ContainerDefinition.Environment: keys [a-zA-Z_][a-zA-Z0-9_]*; "The maximum length of each key and value
# in the Environment map is 1024 bytes. The maximum length of all keys and values in the map, combined, is
# 32 KB." and "If you pass multiple containers to a CreateModel request, then the maximum length of all of their
# maps, combined, is also 32 KB" (SageMaker API reference, ContainerDefinition).
_ENV_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,1023}$")
ENVIRONMENT_MAX_BYTES = 32 * 1024
# ContainerDefinition.ContainerHostname: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62} (SageMaker API reference).
_HOSTNAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
# "a linear sequence of two to fifteen containers" (SageMaker developer guide, Inference pipelines).
PIPELINE_CONTAINERS = (2, 15)


def check_image_uri(value: str) -> str:
    """``value`` if it is a private ECR image pinned by a version tag or digest."""
    match = ECR_IMAGE_URI.match(value)
    if not match:
        raise ValueError(
            "not a private ECR image URI pinned by tag or digest "
            "(<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>)"
        )
    if match["tag"] == "latest":
        raise ValueError(
            "the mutable tag 'latest' is refused: a new image under the same tag does not change the "
            "endpoint configuration, so no guarded deployment would happen; use a version tag or digest"
        )
    return value


def check_environment(value: dict[str, str]) -> dict[str, str]:
    """``value`` if it is a valid container environment (names, 1 KB per value, 32 KB in all)."""
    for key, item in value.items():
        if not _ENV_KEY.match(key):
            raise ValueError(f"variable name {key!r} must match [a-zA-Z_][a-zA-Z0-9_]* (at most 1024 bytes)")
        if len(item.encode()) > 1024:
            raise ValueError(f"value of {key!r} is longer than 1024 bytes")
    if environment_bytes(value) > ENVIRONMENT_MAX_BYTES:
        raise ValueError(
            f"keys and values add up to {environment_bytes(value)} bytes; the container environment allows 32 KB"
        )
    return value


def check_model_data_key(value: str) -> str:
    """``value`` if it is ``<model>/<version>/<file>.tar.gz`` in the models bucket."""
    if not S3_KEY_PATTERN.match(value) or not value.endswith(".tar.gz"):
        raise ValueError("must be a key in the models bucket (no leading '/') ending in .tar.gz")
    if value.count("/") < 2:
        # The execution role reads every version under <model>/ (a rollback launches the previous one).
        raise ValueError(
            "must be <model>/<version>/<file>.tar.gz: the endpoint may read every version under <model>/, "
            "which a rollback to the previous version needs"
        )
    return value


def check_external_url(value: str) -> str:
    """``value`` if it is an ``s3://<bucket>/<key>.tar.gz`` URL."""
    match = _S3_URL.match(value)
    if not match or not value.endswith(".tar.gz") or not S3_KEY_PATTERN.match(match["key"]):
        raise ValueError("must be an s3://<bucket>/<key>.tar.gz URL")
    return value


def environment_bytes(environment: dict[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in environment.items())


def image_part(uri: str, part: str) -> str:
    """``account``, ``region`` or ``repository`` of an ECR image URI ("" when it is not one)."""
    match = ECR_IMAGE_URI.match(uri)
    return match[part] if match else ""


ImageUri = Annotated[str, AfterValidator(check_image_uri)]
ContainerEnvironment = Annotated[dict[str, str], AfterValidator(check_environment)]
ModelDataKey = Annotated[str, AfterValidator(check_model_data_key)]
ExternalModelDataUrl = Annotated[str, AfterValidator(check_external_url)]


class Container(FrozenModel):
    """One container: a private ECR image and its model artifact."""

    image_uri: ImageUri = Field(description="Private ECR image, pinned by tag (not 'latest') or digest.")
    model_data_key: ModelDataKey | None = Field(
        default=None, description="Model artifact (.tar.gz) as a key in the environment's models bucket."
    )
    external_model_data_url: ExternalModelDataUrl | None = Field(
        default=None, description="Escape hatch: an s3:// URL outside the models bucket."
    )
    environment: ContainerEnvironment = Field(default_factory=dict, description="Container environment. Default: none.")
    hostname: str | None = Field(
        default=None, pattern=_HOSTNAME, description="Pipeline containers only; all or none. Default: generated."
    )

    @model_validator(mode="after")
    def _one_artifact(self) -> Container:
        if (self.model_data_key is None) == (self.external_model_data_url is None):
            raise ValueError(
                "model_data_key / external_model_data_url: give exactly one (the models-bucket key, or an "
                "explicitly external s3:// URL)"
            )
        return self

    @property
    def model_prefix(self) -> str | None:
        """``<model>/`` of ``model_data_key``: the role reads every version under it (rollbacks need the old one)."""
        return f"{self.model_data_key.split('/', 1)[0]}/" if self.model_data_key else None


class ContainerModel(Container):
    """A single container (the default shape)."""

    type: Literal["container"] = "container"

    @property
    def containers(self) -> tuple[Container, ...]:
        return (self,)


class PipelineModel(FrozenModel):
    """A serial inference pipeline: 2-15 containers, each request passes through them in order (pre-processing,
    prediction, post-processing). "Instead of setting one PrimaryContainer, you use the Containers parameter"
    (SageMaker developer guide, Inference pipelines)."""

    type: Literal["pipeline"]
    containers: tuple[Container, ...] = Field(min_length=PIPELINE_CONTAINERS[0], max_length=PIPELINE_CONTAINERS[1])

    @model_validator(mode="after")
    def _rules(self) -> PipelineModel:
        named = [container.hostname is not None for container in self.containers]
        if any(named) and not all(named):
            # "If you specify a value for the ContainerHostName for any ContainerDefinition that is part of an
            # inference pipeline, you must specify a value for the ContainerHostName parameter of every
            # ContainerDefinition in that pipeline" (API reference, ContainerDefinition).
            raise ValueError("containers: set a hostname on every container of the pipeline or on none")
        hostnames = [c.hostname for c in self.containers if c.hostname]
        if len(set(hostnames)) != len(hostnames):
            raise ValueError("containers: hostnames must be unique within the pipeline")
        total = sum(environment_bytes(c.environment) for c in self.containers)
        if total > ENVIRONMENT_MAX_BYTES:
            raise ValueError(
                f"containers: their environments add up to {total} bytes; all containers of one model share 32 KB"
            )
        return self


class MultiModel(FrozenModel):
    """A multi-model container: one serving container loads the models under ``model_data_prefix`` on demand
    ("ModelDataUrl ... specifies the prefix in Amazon S3 where the model artifacts are located, instead of the path
    to a single model artifact", SageMaker developer guide, Create a multi-model endpoint). Any caller that may
    invoke the endpoint may invoke any model under the prefix (Multi-model endpoint security): keep the prefix to
    the models this endpoint serves."""

    type: Literal["multi_model"]
    image_uri: ImageUri = Field(description="A serving image that supports multi-model hosting, pinned.")
    model_data_prefix: str = Field(description="A prefix in the models bucket, ending in '/'.")
    environment: ContainerEnvironment = Field(default_factory=dict, description="Container environment. Default: none.")
    cache_models: bool = Field(
        default=True, description="MultiModelConfig.ModelCacheSetting: keep loaded models cached. Default: on."
    )

    @field_validator("model_data_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value.endswith("/") or not S3_KEY_PATTERN.match(value.rstrip("/")):
            raise ValueError("must be a prefix in the models bucket ending in '/' (e.g. 'churn-by-region/v3/')")
        return value

    @property
    def containers(self) -> tuple[Container, ...]:
        return ()


class PackageModel(FrozenModel):
    """A pinned version of a model package group in the environment's model registry (``inference.registry``).

    The version is pinned in config, or given at synth by the delivery pipeline (``-c model_package_versions=...``,
    resolved from the latest approved version; docs/releases.md). Only approved versions should be deployed
    ("For versioned models, the value of this parameter must be set to Approved to deploy the model",
    CreateModelPackage API reference); the platform cannot see approval at synth, so approval is the release
    workflow's gate (unverified whether CreateModel itself refuses an unapproved version).
    """

    type: Literal["package"]
    group: str = Field(pattern=MODEL_PACKAGE_GROUP_NAME, description="A group of this environment's registry.")
    version: int = Field(ge=1, description="The model package version (1, 2, ... per group).")
    arn: str | None = Field(
        default=None, description="Instead of group + version: the version's ARN (this account and region only)."
    )
    environment: ContainerEnvironment = Field(default_factory=dict, description="Container environment. Default: none.")

    @model_validator(mode="before")
    @classmethod
    def _reference(cls, data: Any) -> Any:
        # group + version, or the versioned ARN (packages.py has the rules and their one-line messages).
        return package_reference(data)

    @property
    def containers(self) -> tuple[Container, ...]:
        return ()


ModelSpec = Annotated[ContainerModel | PipelineModel | MultiModel | PackageModel, Field(discriminator="type")]


def image_uris(model: ContainerModel | PipelineModel | MultiModel | PackageModel) -> tuple[str, ...]:
    """The images a model declares (none for a package: its versions name theirs)."""
    if isinstance(model, MultiModel):
        return (model.image_uri,)
    return tuple(container.image_uri for container in model.containers)
