"""Configuration of the SageMaker endpoints with deployment guardrails.

Every rule below is a documented SageMaker rule (the comment beside it says where it comes from) or a
platform rule (said so). A broken rule fails synth with one line that names the endpoint, the field,
the bad value and the rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ml_platform.core.config import FrozenModel
from ml_platform.core.images import MODEL_MONITOR_REGISTRY_ACCOUNTS
from ml_platform.core.instances import InstanceType

# Private ECR image in an account's own registry, pinned by tag or digest:
# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>(:<tag>|@sha256:<digest>).
ECR_IMAGE_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127})|@sha256:(?P<digest>[a-f0-9]{64}))$"
)
# S3 object keys the platform accepts (S3's "safe characters"); no leading slash, no "..".
_S3_KEY = re.compile(r"^[A-Za-z0-9!_.*'()-]+(?:/[A-Za-z0-9!_.*'()-]+)*$")
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

# Stack groups (platform rule). Every endpoint of a group lives in one CloudFormation stack: the default group's
# stack is `Inference`, any other group's is `Inference-<group>`. CloudFormation allows 500 resources per template
# and a 1 MB template body in S3 (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/
# cloudformation-limits.html); the platform keeps every stack within 50 % of both. Measured with aws-cdk-lib
# 2.275.0 (benchmarks/run.py, docs/benchmarks.md; tests/unit/test_inference_stack_groups.py re-measures it):
#   * the heaviest endpoint (GPU instances, linear policy with 3 rollback alarms, autoscaling, asynchronous with
#     success and error topics, data capture, Model Monitor, zero-invocation alarm, a 1 KB container environment):
#     32 resources and 62.0 KB of template per endpoint;
#   * the dev `churn` endpoint (canary, no autoscaling): 19 resources and 34.7 KB;
#   * per stack, whatever the endpoints: 3 resources and 3.3 KB (the events dead-letter queue and its alarm).
# 3 + 7 x 32 = 227 resources (45 % of 500) and 3.3 + 7 x 62.0 = 437 KB (44 % of 1,000,000 bytes): at most 7
# endpoints per group keeps any group within 50 % (each endpoint also adds 4 outputs: 28 of 200). Only container
# environments far above 1 KB (the service allows 32 KB each) could push a full group's bytes past 50 %; the
# headroom test over every declared environment (make test) catches that.
DEFAULT_STACK_GROUP = "default"
MAX_ENDPOINTS_PER_STACK_GROUP = 7
_STACK_GROUP = r"^[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?$"


def inference_stack_id(group: str) -> str:
    """The stack id of a stack group: ``Inference`` for the default group, ``Inference-<group>`` otherwise."""
    return "Inference" if group == DEFAULT_STACK_GROUP else f"Inference-{group}"


class CapacitySize(FrozenModel):
    """A step of a deployment: a number of instances or a percentage of the variant's fleet."""

    instances: int | None = Field(default=None, ge=1, description="Step size in instances.")
    percent: int | None = Field(default=None, ge=1, le=100, description="Step size in % of the fleet.")

    @model_validator(mode="after")
    def _exactly_one(self) -> CapacitySize:
        if (self.instances is None) == (self.percent is None):
            raise ValueError("give exactly one of 'instances' or 'percent'")
        return self

    def fraction_of(self, fleet: int) -> float:
        """The share of a fleet of ``fleet`` instances this step represents (0-1)."""
        return (self.percent / 100) if self.percent is not None else (self.instances or 0) / fleet

    def instances_of(self, fleet: int) -> float:
        """How many instances this step moves on a fleet of ``fleet`` instances."""
        return (self.percent / 100 * fleet) if self.percent is not None else float(self.instances or 0)

    def steps_for(self, fleet: int) -> int:
        """How many steps of this size it takes to move the whole fleet."""
        return math.ceil(1 / self.fraction_of(fleet) - 1e-9)

    def describe(self) -> str:
        return f"{self.instances} instance(s)" if self.instances is not None else f"{self.percent} %"


class _BlueGreenPolicy(FrozenModel):
    # TrafficRoutingConfig.WaitIntervalInSeconds: 0-3600; BlueGreenUpdatePolicy.TerminationWaitInSeconds:
    # 0-3600; MaximumExecutionTimeoutInSeconds: 600-28800 "larger than the total waiting time specified in
    # TerminationWaitInSeconds and WaitIntervalInSeconds" (SageMaker API reference / CloudFormation
    # AWS::SageMaker::Endpoint BlueGreenUpdatePolicy, TrafficRoutingConfig).
    wait_interval_seconds: int = Field(
        default=600, ge=0, le=3600, description="Bake time after each traffic shift; alarms are watched."
    )
    termination_wait_seconds: int = Field(
        default=300, ge=0, le=3600, description="Extra bake on the full green fleet before the blue fleet ends."
    )
    maximum_execution_timeout_seconds: int = Field(
        default=3600, ge=600, le=28800, description="The whole deployment's time limit."
    )


class AllAtOncePolicy(_BlueGreenPolicy):
    """Blue/green: all traffic to the new fleet in one step, bake, then terminate the old fleet."""

    type: Literal["all_at_once"]


class CanaryPolicy(_BlueGreenPolicy):
    """Blue/green: a canary share first, bake, then the rest."""

    type: Literal["canary"]
    canary_size: CapacitySize


class LinearPolicy(_BlueGreenPolicy):
    """Blue/green: equal steps, each followed by a bake."""

    type: Literal["linear"]
    linear_step_size: CapacitySize


class RollingPolicy(FrozenModel):
    """Rolling: replace the fleet in batches in place (fewer spare instances than blue/green)."""

    type: Literal["rolling"]
    maximum_batch_size: CapacitySize
    rollback_maximum_batch_size: CapacitySize | None = Field(
        default=None, description="Default: the whole old fleet comes back at once on rollback."
    )
    # RollingUpdatePolicy: WaitIntervalInSeconds 0-3600; MaximumExecutionTimeoutInSeconds 600-28800.
    wait_interval_seconds: int = Field(default=600, ge=0, le=3600)
    maximum_execution_timeout_seconds: int = Field(default=3600, ge=600, le=28800)


DeploymentPolicy = Annotated[AllAtOncePolicy | CanaryPolicy | LinearPolicy | RollingPolicy, Field(discriminator="type")]


class RollbackAlarms(FrozenModel):
    """Thresholds of the alarms SageMaker watches during a deployment's bake periods; any alarm in ALARM
    rolls the deployment back. ``None`` leaves that alarm out."""

    error_5xx_rate_percent: float | None = Field(default=1.0, gt=0, le=100)
    p99_model_latency_ms: int | None = Field(default=1000, gt=0)
    error_4xx_rate_percent: float | None = Field(default=None, gt=0, le=100)
    period_seconds: Literal[60, 120, 300] = Field(default=60, description="Evaluation period of each alarm.")
    evaluation_periods: int = Field(default=3, ge=1, le=10, description="Breaching periods before ALARM.")

    @property
    def count(self) -> int:
        return sum(v is not None for v in (self.error_5xx_rate_percent, self.p99_model_latency_ms,
                                           self.error_4xx_rate_percent))  # fmt: skip


class OperationalAlarms(FrozenModel):
    """Alarms to the environment's alarm topic, outside deployments."""

    error_5xx_rate_percent: float = Field(default=1.0, gt=0, le=100)
    error_4xx_rate_percent: float = Field(default=5.0, gt=0, le=100)
    p99_model_latency_ms: int = Field(default=1000, gt=0)
    p99_overhead_latency_ms: int = Field(default=100, gt=0)
    cpu_utilization_percent: float = Field(default=85, gt=0, le=100, description="Of all vCPUs together.")
    memory_utilization_percent: float = Field(default=85, gt=0, le=100)
    disk_utilization_percent: float = Field(default=80, gt=0, le=100)
    gpu_utilization_percent: float = Field(default=90, gt=0, le=100, description="Of all GPUs together.")
    alarm_on_zero_invocations: bool | None = Field(
        default=None, description="Alarm when the endpoint gets no traffic. Default: on in prod only."
    )
    zero_invocations_minutes: int = Field(default=15, ge=5, le=1440)


class Autoscaling(FrozenModel):
    """Target tracking on the variant's instance count.

    ``registered_instance_type`` guards the one change SageMaker refuses on a scaled variant: "If the update
    would change the instance type for any model that is a target for auto scaling, the update fails ... Before
    you update the endpoint, delete any scaling policies configured for it and deregister the variant as a
    scalable target" (SageMaker developer guide, "Update or delete endpoints that use auto scaling"). It must equal
    the endpoint's ``instance_type``; the error on a mismatch gives the three deployments that change the type
    safely (docs/inference.md, "Change the instance type of an autoscaled endpoint").
    """

    registered_instance_type: str = Field(
        description="The instance type the variant is registered with for autoscaling; must equal instance_type."
    )
    min_instances: int = Field(ge=0)
    max_instances: int = Field(ge=1)
    target_invocations_per_instance: int | None = Field(
        default=None, gt=0, description="Real-time: SageMakerVariantInvocationsPerInstance target (per minute)."
    )
    target_backlog_per_instance: float | None = Field(
        default=None, gt=0, description="Asynchronous: ApproximateBacklogSizePerInstance target."
    )
    scale_in_cooldown_seconds: int = Field(default=300, ge=0, le=3600)
    scale_out_cooldown_seconds: int = Field(default=60, ge=0, le=3600)


# CaptureContentTypeHeader.CsvContentTypes / JsonContentTypes: 1-10 items, each a MIME type of at most 256
# characters, pattern ^[a-zA-Z0-9](-*[a-zA-Z0-9])*\/[a-zA-Z0-9](-*[a-zA-Z0-9.])* (SageMaker API reference).
_CONTENT_TYPE = r"^[a-zA-Z0-9](-*[a-zA-Z0-9])*\/[a-zA-Z0-9](-*[a-zA-Z0-9.])*$"
MAX_CAPTURE_CONTENT_TYPES = 10


class DataCapture(FrozenModel):
    """Capture of requests/responses to the capture bucket, encrypted with the ML key.

    ``csv_content_types`` / ``json_content_types`` name the request content types the endpoint accepts; SageMaker
    captures those payloads as CSV or JSON text and base64-encodes any other ("If no headers are specified Amazon
    SageMaker AI will by default base64 encode when capturing the data", API reference, CaptureContentTypeHeader).
    Model Monitor's built-in analyzer reads CSV and flat JSON only, so a monitored endpoint must declare one.
    """

    enabled: bool = True
    # DataCaptureConfig.InitialSamplingPercentage: 0-100; 0 captures nothing, so the platform wants >= 1.
    sampling_percent: int = Field(default=100, ge=1, le=100)
    capture_request: bool = True
    capture_response: bool = True
    csv_content_types: tuple[Annotated[str, Field(pattern=_CONTENT_TYPE, max_length=256)], ...] = Field(
        default=(), max_length=MAX_CAPTURE_CONTENT_TYPES, description="e.g. ('text/csv',). Default: none."
    )
    json_content_types: tuple[Annotated[str, Field(pattern=_CONTENT_TYPE, max_length=256)], ...] = Field(
        default=(), max_length=MAX_CAPTURE_CONTENT_TYPES, description="e.g. ('application/json',). Default: none."
    )

    @model_validator(mode="after")
    def _something_captured(self) -> DataCapture:
        if self.enabled and not (self.capture_request or self.capture_response):
            raise ValueError("data capture is enabled but captures neither requests nor responses")
        both = sorted(set(self.csv_content_types) & set(self.json_content_types))
        if both:
            raise ValueError(f"content type {both[0]!r} is declared both as CSV and as JSON")
        return self

    @property
    def readable_by_model_monitor(self) -> bool:
        """Captured requests are CSV or JSON text, the formats Model Monitor's built-in analyzer reads."""
        return self.enabled and self.capture_request and bool(self.csv_content_types or self.json_content_types)


class ServerlessVariant(FrozenModel):
    """A serverless variant instead of instances."""

    # ProductionVariantServerlessConfig / serverless docs: memory 1024-6144 MB in 1024 MB steps; maximum
    # concurrency per endpoint up to 200; provisioned concurrency at most the maximum concurrency.
    memory_mib: int = Field(ge=1024, le=6144)
    max_concurrency: int = Field(ge=1, le=200)
    provisioned_concurrency: int | None = Field(default=None, ge=1, le=200)
    accept_no_vpc_isolation: bool = Field(
        default=False,
        description="Serverless variants cannot run in the VPC or with network isolation (documented "
        "exclusion); set true to accept that for this endpoint.",
    )

    @field_validator("memory_mib")
    @classmethod
    def _memory_step(cls, value: int) -> int:
        if value % 1024:
            raise ValueError("memory must be a multiple of 1024 MB (1024, 2048, ..., 6144)")
        return value

    @model_validator(mode="after")
    def _provisioned(self) -> ServerlessVariant:
        if self.provisioned_concurrency is not None and self.provisioned_concurrency > self.max_concurrency:
            raise ValueError(
                f"provisioned_concurrency {self.provisioned_concurrency} exceeds max_concurrency "
                f"{self.max_concurrency}; it must be at most the maximum concurrency"
            )
        if not self.accept_no_vpc_isolation:
            raise ValueError(
                "serverless variants cannot use VPC configuration or network isolation (SageMaker Serverless "
                "Inference feature exclusions); set accept_no_vpc_isolation: true to deploy one anyway"
            )
        return self


class AsyncInference(FrozenModel):
    """Asynchronous inference: clients upload payloads under ``<endpoint>/<input_prefix>/`` of the capture
    bucket (the execution role reads only there), results are written to the capture bucket."""

    input_prefix: str = Field(default="async/input", pattern=_S3_KEY.pattern)
    output_prefix: str = Field(default="async/output", pattern=_S3_KEY.pattern)
    failure_prefix: str = Field(default="async/failure", pattern=_S3_KEY.pattern)
    max_concurrent_invocations_per_instance: int | None = Field(default=None, ge=1, le=1000)
    notify_success: bool = Field(default=False, description="Publish each success to a per-endpoint topic.")
    notify_errors: bool = Field(default=True, description="Publish each failure to the alarm topic.")


class ModelMonitor(FrozenModel):
    """Hourly data-quality monitoring of captured requests against a baseline."""

    baseline_statistics_key: str = Field(pattern=_S3_KEY.pattern, description="In the models bucket.")
    baseline_constraints_key: str = Field(pattern=_S3_KEY.pattern, description="In the models bucket.")
    instance_type: str = "ml.m5.xlarge"
    volume_size_gb: int = Field(default=20, ge=1, le=16384)
    # MonitoringStoppingCondition.MaxRuntimeInSeconds "cannot exceed the frequency of the job. For data
    # quality ... up to 3600 seconds for an hourly schedule" (SageMaker API reference).
    max_runtime_seconds: int = Field(default=1800, ge=60, le=3600)

    @field_validator("instance_type")
    @classmethod
    def _instance(cls, value: str) -> str:
        InstanceType.parse(value)
        return value


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
        pattern=_STACK_GROUP,
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
        if value is not None and (not _S3_KEY.match(value) or not value.endswith(".tar.gz")):
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
            if not match or not value.endswith(".tar.gz") or not _S3_KEY.match(match["key"]):
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
            if stage == "prod" and endpoint.serverless is None:
                # Platform rule (HA): production endpoints run at least two instances, which SageMaker
                # spreads over the VPC subnets' Availability Zones.
                for field, count in (
                    ("initial_instance_count", endpoint.initial_instance_count),
                    ("autoscaling.min_instances", endpoint.autoscaling.min_instances if endpoint.autoscaling else 2),
                ):
                    if count is not None and count < 2:
                        raise ValueError(
                            f"{where}: field '{field}': value {count}: stage 'prod' needs at least 2 instances "
                            "so the endpoint survives the loss of an instance or an Availability Zone"
                        )
            # ContainerDefinition.Image: "The model artifacts in an Amazon S3 bucket and the Docker image for
            # inference container in Amazon EC2 Container Registry must be in the same region as the model or
            # endpoint you are creating."
            if endpoint.image_region != region:
                raise ValueError(
                    f"{where}: field 'image_uri': the image is in region {endpoint.image_region!r} but the "
                    f"environment deploys to {region!r}; the ECR image must be in the endpoint's region"
                )
            # Platform rule: images come from the environment's own ECR registry, which its execution role may pull
            # from with its identity policy alone; a registry in another account would also need a repository
            # policy there, which this app does not manage.
            if account is not None and endpoint.image_account != account:
                raise ValueError(
                    f"{where}: field 'image_uri': the image is in account {endpoint.image_account} but the "
                    f"environment deploys to account {account}; push the image to the environment's own ECR registry"
                )
            if endpoint.model_monitor is not None and region not in MODEL_MONITOR_REGISTRY_ACCOUNTS:
                raise ValueError(
                    f"{where}: field 'model_monitor': no Model Monitor image registry is known for region "
                    f"{region!r} (known: {', '.join(sorted(MODEL_MONITOR_REGISTRY_ACCOUNTS))}); add the "
                    "region's registry account to ml_platform/core/images.py"
                )
        return self
