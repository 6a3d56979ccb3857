"""One SageMaker endpoint: its image, model data, variant, deployment policy and features, with every rule that
ties them together."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from ml_platform.core.config import FrozenModel
from ml_platform.core.instances import InstanceType
from ml_platform.inference.config.features import (
    S3_KEY_PATTERN,
    AsyncInference,
    Autoscaling,
    DataCapture,
    ModelMonitor,
    OperationalAlarms,
    RollbackAlarms,
    ServerlessVariant,
)
from ml_platform.inference.config.policies import (
    AllAtOncePolicy,
    CanaryPolicy,
    CapacitySize,
    DeploymentPolicy,
    LinearPolicy,
    RollingPolicy,
)
from ml_platform.inference.config.stack_groups import (
    DEFAULT_STACK_GROUP,
    MAX_ENDPOINTS_PER_STACK_GROUP,
    STACK_GROUP_PATTERN,
)

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
# 32 KB." (SageMaker API reference).
_ENV_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,1023}$")
_ENV_TOTAL_BYTES = 32 * 1024
# ProductionVariant VariantName pattern (SageMaker API reference).
_VARIANT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# Endpoint names: ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62} (CreateEndpoint); the platform prefixes
# <project>-<environment>- to the configured name.
ENDPOINT_NAME_MAX_LENGTH = 63


class InferenceEndpoint(FrozenModel):
    """One SageMaker endpoint with a single production variant."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,29}[a-z0-9]$", description="Endpoint name suffix.")
    variant_name: str = Field(default="AllTraffic", pattern=_VARIANT_NAME.pattern)
    image_uri: str = Field(description="Private ECR image, pinned by tag (not 'latest') or digest.")
    model_data_key: str | None = Field(
        default=None, description="Model artifact (.tar.gz) as a key in the environment's models bucket."
    )
    external_model_data_url: str | None = Field(
        default=None, description="Escape hatch: an s3:// URL outside the models bucket."
    )
    instance_type: str | None = Field(default=None, description="ml.* instance type; none for serverless.")
    initial_instance_count: int | None = Field(default=None, ge=1)
    environment: dict[str, str] = Field(default_factory=dict, description="Container environment.")
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
    @field_validator("image_uri")
    @classmethod
    def _image(cls, value: str) -> str:
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

    @field_validator("model_data_key")
    @classmethod
    def _model_key(cls, value: str | None) -> str | None:
        if value is not None and (not S3_KEY_PATTERN.match(value) or not value.endswith(".tar.gz")):
            raise ValueError("must be a key in the models bucket (no leading '/') ending in .tar.gz")
        if value is not None and value.count("/") < 2:
            # The execution role reads every version under <model>/ (a rollback launches the previous one).
            raise ValueError(
                "must be <model>/<version>/<file>.tar.gz: the endpoint may read every version under <model>/, "
                "which a rollback to the previous version needs"
            )
        return value

    @field_validator("external_model_data_url")
    @classmethod
    def _external_url(cls, value: str | None) -> str | None:
        if value is not None:
            match = _S3_URL.match(value)
            if not match or not value.endswith(".tar.gz") or not S3_KEY_PATTERN.match(match["key"]):
                raise ValueError("must be an s3://<bucket>/<key>.tar.gz URL")
        return value

    @field_validator("instance_type")
    @classmethod
    def _instance(cls, value: str | None) -> str | None:
        if value is not None:
            InstanceType.parse(value)
        return value

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if not _ENV_KEY.match(key):
                raise ValueError(f"variable name {key!r} must match [a-zA-Z_][a-zA-Z0-9_]* (at most 1024 bytes)")
            if len(item.encode()) > 1024:
                raise ValueError(f"value of {key!r} is longer than 1024 bytes")
        total = sum(len(k.encode()) + len(v.encode()) for k, v in value.items())
        if total > _ENV_TOTAL_BYTES:
            raise ValueError(f"keys and values add up to {total} bytes; the container environment allows 32 KB")
        return value

    # ------------------------------------------------------------------ derived behaviour
    @property
    def parsed_instance_type(self) -> InstanceType | None:
        return InstanceType.parse(self.instance_type) if self.instance_type else None

    @property
    def image_account(self) -> str:
        return _image_part(self.image_uri, "account")

    @property
    def image_region(self) -> str:
        return _image_part(self.image_uri, "region")

    @property
    def image_repository(self) -> str:
        return _image_part(self.image_uri, "repository")

    @property
    def fleet_min(self) -> int:
        """The smallest fleet a deployment can meet (autoscaling min or the initial count)."""
        initial = self.initial_instance_count or 0
        return min(initial, self.autoscaling.min_instances) if self.autoscaling else initial

    @property
    def fleet_max(self) -> int:
        initial = self.initial_instance_count or 0
        return max(initial, self.autoscaling.max_instances) if self.autoscaling else initial

    @property
    def implied_bake_seconds(self) -> int:
        """All waiting the policy implies: every bake interval plus the termination wait."""
        policy = self.deployment
        if isinstance(policy, (AllAtOncePolicy, CanaryPolicy)):
            return policy.wait_interval_seconds + policy.termination_wait_seconds
        if isinstance(policy, LinearPolicy):
            steps = max(policy.linear_step_size.steps_for(f) for f in {self.fleet_min, self.fleet_max} if f)
            return steps * policy.wait_interval_seconds + policy.termination_wait_seconds
        steps = max(policy.maximum_batch_size.steps_for(f) for f in {self.fleet_min, self.fleet_max} if f)
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
        for rule in (self._model_data_rules, self._variant_rules, self._policy_rules, self._feature_rules):
            rule()
        return self

    def _model_data_rules(self) -> None:
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
            return
        if self.instance_type is None or self.initial_instance_count is None:
            raise ValueError("instance_type / initial_instance_count: required unless the variant is serverless")
        if self.autoscaling is not None:
            scaling = self.autoscaling
            floor = 0 if self.async_inference is not None else 1
            if scaling.min_instances < floor:
                raise ValueError(
                    f"autoscaling.min_instances {scaling.min_instances}: must be at least {floor} "
                    "(only asynchronous endpoints can scale to zero)"
                )
            if scaling.registered_instance_type != self.instance_type:
                raise ValueError(
                    f"instance_type {self.instance_type}: differs from autoscaling.registered_instance_type "
                    f"{scaling.registered_instance_type}; SageMaker refuses to change the instance type of a variant "
                    "registered for autoscaling, so deploy three times: (1) set autoscaling to null, (2) change "
                    "instance_type, (3) restore autoscaling with registered_instance_type equal to it "
                    "(docs/inference.md)"
                )
            if not scaling.min_instances <= self.initial_instance_count <= scaling.max_instances:
                raise ValueError(
                    f"autoscaling: min {scaling.min_instances} <= initial_instance_count "
                    f"{self.initial_instance_count} <= max {scaling.max_instances} does not hold"
                )
            if self.async_inference is not None and scaling.target_backlog_per_instance is None:
                raise ValueError(
                    "autoscaling.target_backlog_per_instance: required for an asynchronous endpoint "
                    "(it scales on ApproximateBacklogSizePerInstance)"
                )
            if self.async_inference is None and scaling.target_invocations_per_instance is None:
                raise ValueError(
                    "autoscaling.target_invocations_per_instance: required for a real-time endpoint "
                    "(it scales on SageMakerVariantInvocationsPerInstance)"
                )

    def _policy_rules(self) -> None:
        policy = self.deployment
        instance = self.parsed_instance_type
        where = f"deployment ({policy.type})"
        # Deployment guardrails exclusions: with Inf1 instances (or Marketplace containers, which this
        # platform never deploys: images must be the account's own ECR images) "you cannot use deployment
        # guardrails ... and your endpoint will fall back to using a blue/green deployment with all at
        # once traffic shifting and no final baking period".
        if instance is not None and instance.is_inf1 and (policy.type != "all_at_once" or self.has_bake_period):
            raise ValueError(
                f"{where}: {self.instance_type} is an Inf1 instance; SageMaker ignores deployment guardrails on "
                "Inf1 and falls back to all-at-once with no baking period, so nothing would be baked or rolled "
                "back; use type all_at_once with wait_interval_seconds 0 and termination_wait_seconds 0, or "
                "an Inf2/GPU/CPU instance type"
            )
        if self.serverless is not None and policy.type != "all_at_once":
            # Exclusions: rolling deployments do not support serverless endpoints; canary and linear sizes
            # are shares of "the variant's total instance count", which a serverless variant does not have.
            raise ValueError(
                f"{where}: serverless variants support only all_at_once (rolling deployments exclude "
                "serverless endpoints; canary/linear steps are shares of an instance fleet)"
            )
        if isinstance(policy, CanaryPolicy):
            rule = "the canary must be at most 50 % of the fleet (TrafficRoutingConfig.CanarySize)"
            self._step_rule(policy.canary_size, "canary_size", low=0.0, high=0.5, rule=rule)
        elif isinstance(policy, LinearPolicy):
            rule = "each linear step must be 10-50 % of the fleet (TrafficRoutingConfig.LinearStepSize)"
            self._step_rule(policy.linear_step_size, "linear_step_size", low=0.1, high=0.5, rule=rule)
        elif isinstance(policy, RollingPolicy):
            rule = "each rolling batch must be 5-50 % of the fleet (RollingUpdatePolicy.MaximumBatchSize)"
            self._step_rule(policy.maximum_batch_size, "maximum_batch_size", low=0.05, high=0.5, rule=rule)
            rollback = policy.rollback_maximum_batch_size
            if rollback is not None and rollback.instances is not None and rollback.instances > self.fleet_max:
                raise ValueError(
                    f"{where}.rollback_maximum_batch_size {rollback.describe()}: larger than the fleet of "
                    f"{self.fleet_max}"
                )
        total = self.implied_bake_seconds
        if policy.maximum_execution_timeout_seconds <= total:
            raise ValueError(
                f"{where}.maximum_execution_timeout_seconds {policy.maximum_execution_timeout_seconds}: must be "
                f"larger than the {total} s of bake intervals and termination wait the policy implies "
                "(MaximumExecutionTimeoutInSeconds rule)"
            )
        if total > 0 and self.rollback_alarms.count == 0:
            raise ValueError(
                f"rollback_alarms: the {policy.type} policy bakes for {total} s but no rollback alarm is "
                "configured; CloudWatch alarms are a prerequisite for baking periods and auto-rollback"
            )

    def _step_rule(self, size: CapacitySize, field: str, *, low: float, high: float, rule: str) -> None:
        where = f"deployment ({self.deployment.type}).{field} {size.describe()}"
        for fleet in sorted({self.fleet_min, self.fleet_max}):
            if fleet <= 0:
                continue
            fraction = size.fraction_of(fleet)
            if not low <= fraction <= high:
                raise ValueError(f"{where}: is {fraction:.0%} of a fleet of {fleet}; {rule}")
            if size.instances_of(fleet) < 1:
                raise ValueError(
                    f"{where}: is less than one instance of a fleet of {fleet}; {rule}, and a step needs at "
                    "least one whole instance"
                )

    def _feature_rules(self) -> None:
        if self.serverless is not None:
            # Serverless Inference feature exclusions: "... VPC configuration, network isolation, data
            # capture, multiple production variants, Model Monitor ..."; it scales itself.
            if self.data_capture.enabled:
                raise ValueError("data_capture.enabled: data capture is not supported on serverless variants")
            if self.model_monitor is not None:
                raise ValueError("model_monitor: Model Monitor is not supported on serverless variants")
            if self.autoscaling is not None:
                raise ValueError("autoscaling: serverless variants scale themselves (max_concurrency)")
            if self.async_inference is not None:
                raise ValueError("async_inference: asynchronous inference needs an instance-based variant")
        if self.model_monitor is not None and not self.data_capture.readable_by_model_monitor:
            raise ValueError(
                "model_monitor: Model Monitor's analyzer reads captured requests as CSV or flat JSON only; enable "
                "data_capture with capture_request and declare csv_content_types or json_content_types (without "
                "them SageMaker captures payloads base64-encoded)"
            )


def _image_part(uri: str, part: str) -> str:
    match = ECR_IMAGE_URI.match(uri)
    return match[part] if match else ""
