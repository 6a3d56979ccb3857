"""What an endpoint may add to its variant: rollback and operational alarms, autoscaling, data capture, a
serverless variant, asynchronous inference, data-quality monitoring."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ml_platform.core.config import FrozenModel
from ml_platform.core.instances import InstanceType

# S3 object keys the platform accepts (S3's "safe characters"); no leading slash, no "..".
S3_KEY_PATTERN = re.compile(r"^[A-Za-z0-9!_.*'()-]+(?:/[A-Za-z0-9!_.*'()-]+)*$")


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

    input_prefix: str = Field(default="async/input", pattern=S3_KEY_PATTERN.pattern)
    output_prefix: str = Field(default="async/output", pattern=S3_KEY_PATTERN.pattern)
    failure_prefix: str = Field(default="async/failure", pattern=S3_KEY_PATTERN.pattern)
    max_concurrent_invocations_per_instance: int | None = Field(default=None, ge=1, le=1000)
    notify_success: bool = Field(default=False, description="Publish each success to a per-endpoint topic.")
    notify_errors: bool = Field(default=True, description="Publish each failure to the alarm topic.")


class ModelMonitor(FrozenModel):
    """Hourly data-quality monitoring of captured requests against a baseline."""

    baseline_statistics_key: str = Field(pattern=S3_KEY_PATTERN.pattern, description="In the models bucket.")
    baseline_constraints_key: str = Field(pattern=S3_KEY_PATTERN.pattern, description="In the models bucket.")
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
