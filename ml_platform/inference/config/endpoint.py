"""One SageMaker endpoint: its image, model data, variant, deployment policy and features, with every rule that
ties them together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ml_platform.core.config import FrozenModel
from ml_platform.core.instances import InstanceType
from ml_platform.inference.config.endpoint_rules import feature_rules, policy_rules, shape_rules
from ml_platform.inference.config.features import (
    AsyncInference,
    Autoscaling,
    DataCapture,
    ModelMonitor,
    OperationalAlarms,
    RollbackAlarms,
    ServerlessVariant,
)
from ml_platform.inference.config.models import (
    ContainerEnvironment,
    ContainerModel,
    ExternalModelDataUrl,
    ImageUri,
    ModelDataKey,
    ModelSpec,
    MultiModel,
    PackageModel,
    PipelineModel,
    image_uris,
)
from ml_platform.inference.config.policies import (
    AllAtOncePolicy,
    CanaryPolicy,
    DeploymentPolicy,
    LinearPolicy,
)
from ml_platform.inference.config.stack_groups import (
    DEFAULT_STACK_GROUP,
    MAX_ENDPOINTS_PER_STACK_GROUP,
    STACK_GROUP_PATTERN,
)
from ml_platform.inference.config.variants import (
    MAX_PRODUCTION_VARIANTS,
    VARIANT_NAME,
    ShadowAlarms,
    ShadowVariant,
    Variant,
)

# Endpoint names: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62} (CreateEndpoint); the platform prefixes
# <project>-<environment>- to the configured name.
ENDPOINT_NAME_MAX_LENGTH = 63


@dataclass(frozen=True)
class ServingVariant:
    """One variant of an endpoint, whatever way it was declared: the control (the endpoint's top-level settings),
    an A/B challenger, or the shadow."""

    name: str
    kind: Literal["control", "challenger", "shadow"]
    model: ContainerModel | PipelineModel | MultiModel | PackageModel
    instance_type: str | None
    initial_instance_count: int | None
    initial_variant_weight: float
    autoscaling: Autoscaling | None
    serverless: ServerlessVariant | None = None
    shadow_alarms: ShadowAlarms | None = None

    @property
    def parsed_instance_type(self) -> InstanceType | None:
        return InstanceType.parse(self.instance_type) if self.instance_type else None

    @property
    def fleet_min(self) -> int:
        """The smallest fleet a deployment can meet (autoscaling min or the initial count)."""
        initial = self.initial_instance_count or 0
        return min(initial, self.autoscaling.min_instances) if self.autoscaling else initial

    @property
    def fleet_max(self) -> int:
        initial = self.initial_instance_count or 0
        return max(initial, self.autoscaling.max_instances) if self.autoscaling else initial


class InferenceEndpoint(FrozenModel):
    """One SageMaker endpoint: its control variant (the top-level model and instance settings), optional A/B
    challengers or a shadow, and what every variant shares (deployment policy, alarms, capture, monitor)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,29}[a-z0-9]$", description="Endpoint name suffix.")
    variant_name: str = Field(
        default="AllTraffic", pattern=VARIANT_NAME, description="The control variant's name; keep it stable."
    )
    model: ModelSpec | None = Field(
        default=None,
        description="The control variant's model: a container, a pipeline, a multi-model container or a registry "
        "package version. Default: the single container of image_uri and model_data_key.",
    )
    image_uri: ImageUri | None = Field(
        default=None, description="Private ECR image, pinned by tag (not 'latest') or digest (single container)."
    )
    model_data_key: ModelDataKey | None = Field(
        default=None, description="Model artifact (.tar.gz) as a key in the environment's models bucket."
    )
    external_model_data_url: ExternalModelDataUrl | None = Field(
        default=None, description="Escape hatch: an s3:// URL outside the models bucket."
    )
    environment: ContainerEnvironment = Field(default_factory=dict, description="Container environment.")
    instance_type: str | None = Field(default=None, description="ml.* instance type; none for serverless.")
    initial_instance_count: int | None = Field(default=None, ge=1)
    initial_variant_weight: float = Field(
        default=1.0, ge=0, description="The control's relative share of live traffic (with challengers)."
    )
    challengers: tuple[Variant, ...] = Field(
        default=(), description="A/B: more production variants sharing the traffic by weight. Default: none."
    )
    shadow: ShadowVariant | None = Field(
        default=None, description="A shadow variant receiving a copy of live traffic. Default: none."
    )
    deployment: DeploymentPolicy
    rollback_alarms: RollbackAlarms = RollbackAlarms()
    operational_alarms: OperationalAlarms = OperationalAlarms()
    autoscaling: Autoscaling | None = None
    data_capture: DataCapture = DataCapture()
    serverless: ServerlessVariant | None = None
    async_inference: AsyncInference | None = None
    model_monitor: ModelMonitor | None = None
    stack_group: str = Field(
        default=DEFAULT_STACK_GROUP,
        pattern=STACK_GROUP_PATTERN,
        description="The stack the endpoint lives in: 'default' is the `Inference` stack, any other group "
        f"`Inference-<group>`; at most {MAX_ENDPOINTS_PER_STACK_GROUP} endpoints per group. Moving a deployed "
        "endpoint to another group replaces it (delete in one stack, create in the other).",
    )

    # ------------------------------------------------------------------ field rules
    @field_validator("instance_type")
    @classmethod
    def _instance(cls, value: str | None) -> str | None:
        if value is not None:
            InstanceType.parse(value)
        return value

    # ------------------------------------------------------------------ derived behaviour
    @property
    def control(self) -> ServingVariant:
        """The control variant: the endpoint's top-level settings."""
        model = self.model or ContainerModel(
            image_uri=self.image_uri or "",
            model_data_key=self.model_data_key,
            external_model_data_url=self.external_model_data_url,
            environment=self.environment,
        )
        return ServingVariant(
            name=self.variant_name,
            kind="control",
            model=model,
            instance_type=self.instance_type,
            initial_instance_count=self.initial_instance_count,
            initial_variant_weight=self.initial_variant_weight,
            autoscaling=self.autoscaling,
            serverless=self.serverless,
        )

    @property
    def production_variants(self) -> tuple[ServingVariant, ...]:
        """The control first, then the challengers in declaration order."""
        return (self.control, *(_serving(v, "challenger") for v in self.challengers))

    @property
    def shadow_variant(self) -> ServingVariant | None:
        return _serving(self.shadow, "shadow") if self.shadow is not None else None

    @property
    def variants(self) -> tuple[ServingVariant, ...]:
        """Every variant: production variants, then the shadow."""
        shadow = self.shadow_variant
        return (*self.production_variants, *((shadow,) if shadow else ()))

    @property
    def image_uris(self) -> tuple[str, ...]:
        """Every image the variants declare (a registry package's images are its group's repositories)."""
        return tuple(dict.fromkeys(uri for variant in self.variants for uri in image_uris(variant.model)))

    @property
    def parsed_instance_type(self) -> InstanceType | None:
        return InstanceType.parse(self.instance_type) if self.instance_type else None

    @property
    def fleet_min(self) -> int:
        """The smallest fleet of the control variant a deployment can meet (autoscaling min or the initial count)."""
        return self.control.fleet_min

    @property
    def fleet_max(self) -> int:
        return self.control.fleet_max

    @property
    def implied_bake_seconds(self) -> int:
        """All waiting the policy implies: every bake interval plus the termination wait."""
        policy = self.deployment
        if isinstance(policy, (AllAtOncePolicy, CanaryPolicy)):
            return policy.wait_interval_seconds + policy.termination_wait_seconds
        # A step is a share of each variant's fleet (TrafficRoutingConfig: "of the variant's total instance
        # count"), so the largest number of steps of any production variant bounds the bake.
        fleets = {f for v in self.production_variants for f in (v.fleet_min, v.fleet_max) if f}
        if isinstance(policy, LinearPolicy):
            steps = max(policy.linear_step_size.steps_for(f) for f in fleets)
            return steps * policy.wait_interval_seconds + policy.termination_wait_seconds
        steps = max(policy.maximum_batch_size.steps_for(f) for f in fleets)
        return steps * policy.wait_interval_seconds

    @property
    def has_bake_period(self) -> bool:
        return self.implied_bake_seconds > 0

    def zero_invocations_alarm(self, stage: str) -> bool:
        """Alarm when the endpoint gets no traffic: the config's choice, else on in prod only."""
        choice = self.operational_alarms.alarm_on_zero_invocations
        return choice if choice is not None else stage == "prod"

    # ------------------------------------------------------------------ cross-field rules
    @model_validator(mode="after")
    def _rules(self) -> InferenceEndpoint:
        self._model_rules()
        self._variant_rules()
        for rule in (policy_rules, feature_rules, shape_rules):  # endpoint_rules.py
            rule(self)
        return self

    def _model_rules(self) -> None:
        shorthand = [f for f in ("image_uri", "model_data_key", "external_model_data_url") if getattr(self, f)]
        if self.model is not None:
            if shorthand or self.environment:
                fields = ", ".join([*shorthand, *(["environment"] if self.environment else [])])
                raise ValueError(f"model / {fields}: give the control variant's model once, in model or as {fields}")
            return
        if self.image_uri is None:
            raise ValueError("image_uri: required (or declare the control variant's model in 'model')")
        if (self.model_data_key is None) == (self.external_model_data_url is None):
            raise ValueError(
                "model_data_key / external_model_data_url: give exactly one (the models-bucket key, or an "
                "explicitly external s3:// URL)"
            )

    def _variant_rules(self) -> None:
        if self.serverless is not None:
            if self.instance_type is not None or self.initial_instance_count is not None:
                raise ValueError(
                    "instance_type / initial_instance_count: a serverless variant has no instances; remove them"
                )
        elif self.instance_type is None or self.initial_instance_count is None:
            raise ValueError("instance_type / initial_instance_count: required unless the variant is serverless")
        for variant in self.variants:
            if variant.autoscaling is not None:
                self._autoscaling_rules(variant)
        names = [variant.name for variant in self.variants]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"variant {duplicates[0]!r}: variant names must be unique within the endpoint")
        production = self.production_variants
        if len(production) > MAX_PRODUCTION_VARIANTS:
            raise ValueError(
                f"challengers: {len(production)} production variants; an endpoint configuration holds at most "
                f"{MAX_PRODUCTION_VARIANTS} (CreateEndpointConfig ProductionVariants)"
            )
        if len(production) > 1 and sum(v.initial_variant_weight for v in production) <= 0:
            raise ValueError(
                "initial_variant_weight: every production variant has weight 0; at least one needs a positive weight "
                "to receive traffic"
            )
        if self.shadow is not None and self.challengers:
            # "If you use this field, you can only specify one variant for ProductionVariants and one variant for
            # ShadowProductionVariants" (CreateEndpointConfig, ShadowProductionVariants).
            raise ValueError(
                f"variant {self.shadow.name!r}: a shadow variant allows exactly one production variant; remove the "
                "challengers or the shadow (CreateEndpointConfig ShadowProductionVariants)"
            )

    def _autoscaling_rules(self, variant: ServingVariant) -> None:
        scaling = variant.autoscaling
        assert scaling is not None and variant.initial_instance_count is not None
        where = "autoscaling" if variant.kind == "control" else f"variant {variant.name!r}: autoscaling"
        floor = 0 if self.async_inference is not None else 1
        if scaling.min_instances < floor:
            raise ValueError(
                f"{where}.min_instances {scaling.min_instances}: must be at least {floor} "
                "(only asynchronous endpoints can scale to zero)"
            )
        if scaling.registered_instance_type != variant.instance_type:
            prefix = "" if variant.kind == "control" else f"variant {variant.name!r}: "
            raise ValueError(
                f"{prefix}instance_type {variant.instance_type}: differs from autoscaling.registered_instance_type "
                f"{scaling.registered_instance_type}; SageMaker refuses to change the instance type of a variant "
                "registered for autoscaling, so deploy three times: (1) set autoscaling to null, (2) change "
                "instance_type, (3) restore autoscaling with registered_instance_type equal to it "
                "(docs/inference.md)"
            )
        if not scaling.min_instances <= variant.initial_instance_count <= scaling.max_instances:
            raise ValueError(
                f"{where}: min {scaling.min_instances} <= initial_instance_count "
                f"{variant.initial_instance_count} <= max {scaling.max_instances} does not hold"
            )
        if self.async_inference is not None and scaling.target_backlog_per_instance is None:
            raise ValueError(
                f"{where}.target_backlog_per_instance: required for an asynchronous endpoint "
                "(it scales on ApproximateBacklogSizePerInstance)"
            )
        if self.async_inference is None and scaling.target_invocations_per_instance is None:
            raise ValueError(
                f"{where}.target_invocations_per_instance: required for a real-time endpoint "
                "(it scales on SageMakerVariantInvocationsPerInstance)"
            )


def _serving(variant: Variant, kind: Literal["challenger", "shadow"]) -> ServingVariant:
    return ServingVariant(
        name=variant.name,
        kind=kind,
        model=variant.model,
        instance_type=variant.instance_type,
        initial_instance_count=variant.initial_instance_count,
        initial_variant_weight=variant.initial_variant_weight,
        autoscaling=variant.autoscaling,
        shadow_alarms=variant.alarms if isinstance(variant, ShadowVariant) else None,
    )
