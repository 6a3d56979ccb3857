"""The SageMaker Model Monitor data-quality job of an endpoint: what its role reads (captured data, the baseline),
writes (the report, job logs, metrics), the KMS grant SageMaker makes for its volume, and what it may not do."""

from __future__ import annotations

from ml_platform.core.images import model_monitor_image_uri
from ml_platform.inference.config import InferenceEndpoint
from scripts.flows.catalogue.base import PERMISSIVE, Environment
from scripts.flows.catalogue.context import kms_via_s3, repository_arn, s3_bucket, s3_object, sse_kms
from scripts.flows.templates import Principal


def add(env: Environment, endpoint: InferenceEndpoint, *, role: Principal, name: str) -> None:
    """The flows of ``endpoint``'s monitor, whose role is ``role``; ``name`` is the endpoint's physical name (the
    prefix of its captured data)."""
    models, capture = env.bucket("models"), env.bucket("capture")
    lake_key, ml_key = env.key_arn("DataLakeKey"), env.key_arn("MlKey")
    component = f"monitor-{endpoint.name}"
    monitor = endpoint.model_monitor
    env.assumed_by(component, "sagemaker.amazonaws.com", role, description="SageMaker assumes the monitor's role")
    captured = s3_object(capture, f"{name}/data-capture/AllTraffic/2026/11/30/12/capture.jsonl")
    env.role_request(
        component,
        "list-capture",
        role,
        "s3:ListBucket",
        s3_bucket(capture),
        expected="allow",
        endpoint="s3",
        context={"s3:prefix": f"{name}/data-capture/AllTraffic/2026/11/30/12/"},
        description="the job lists the hour's captured data",
    )
    env.role_request(
        component,
        "read-capture",
        role,
        "s3:GetObject",
        captured,
        expected="allow",
        endpoint="s3",
        description="the job reads captured requests",
    )
    env.s3_decrypts(
        component,
        "decrypt-capture",
        role,
        ml_key,
        capture,
        captured,
        description="S3 decrypts captured data for the job",
    )
    for key in (monitor.baseline_statistics_key, monitor.baseline_constraints_key):
        env.role_request(
            component,
            f"read-baseline-{key.rsplit('/', 1)[-1]}",
            role,
            "s3:GetObject",
            s3_object(models, key),
            expected="allow",
            endpoint="s3",
            description="the job reads the baseline",
        )
    baseline = monitor.baseline_statistics_key
    env.s3_decrypts(
        component, "decrypt-baseline", role, lake_key, models, baseline, description="S3 decrypts the baseline"
    )
    report = s3_object(capture, f"{name}/monitoring/data-quality/2026/11/30/12/constraint_violations.json")
    env.role_request(
        component,
        "write-report",
        role,
        "s3:PutObject",
        report,
        expected="allow",
        endpoint="s3",
        context=sse_kms(ml_key),
        description="the job writes its report with the ML key",
    )
    env.role_request(
        component,
        "report-data-key",
        role,
        "kms:GenerateDataKey",
        ml_key,
        expected="allow",
        context=kms_via_s3(env, capture, report),
        description="S3 generates the report's data key",
    )
    # SageMaker creates the volume's grant on the role's behalf: kms:GrantIsForAWSResource is true exactly when an
    # AWS service integrated with KMS calls CreateGrant (AWS KMS Developer Guide, "kms:GrantIsForAWSResource").
    env.role_request(
        component,
        "volume-grant",
        role,
        "kms:CreateGrant",
        ml_key,
        expected="allow",
        context={"kms:GrantIsForAWSResource": "true", "kms:ViaService": f"sagemaker.{env.region}.amazonaws.com"},
        description="SageMaker encrypts the processing volume with the ML key",
    )
    env.role_request(
        component,
        "grant-outside-a-service",
        role,
        "kms:CreateGrant",
        ml_key,
        expected="deny",
        context={"kms:GrantIsForAWSResource": "false"},
        description="the role cannot hand the ML key to anyone by a grant of its own",
    )
    env.role_request(
        component,
        "pull-analyzer",
        role,
        "ecr:BatchGetImage",
        repository_arn(model_monitor_image_uri(env.region)),
        expected="allow",
        description="SageMaker pulls the Model Monitor analyzer image (an AWS account's registry)",
        resource_policy=("AWS's registry of SageMaker images (lets accounts pull; not in the templates)", PERMISSIVE),
    )
    env.role_request(
        component,
        "write-job-logs",
        role,
        "logs:PutLogEvents",
        f"{env.log_group_arn('/aws/sagemaker/ProcessingJobs')}:log-stream:job/algo-1",
        expected="allow",
        description="the job logs to SageMaker's processing-job log group",
    )
    env.role_request(
        component,
        "publish-metrics",
        role,
        "cloudwatch:PutMetricData",
        "*",
        expected="allow",
        context={"cloudwatch:namespace": "aws/sagemaker/Endpoints/data-metrics"},
        description="the job publishes data-quality metrics",
    )
    env.role_request(
        component,
        "read-model",
        role,
        "s3:GetObject",
        s3_object(models, endpoint.model_data_key or "x"),
        expected="deny",
        endpoint="s3",
        description="the monitor cannot read the model artifact",
    )
    env.role_request(
        component,
        "write-capture",
        role,
        "s3:PutObject",
        captured,
        expected="deny",
        endpoint="s3",
        context=sse_kms(ml_key),
        description="the monitor cannot overwrite captured data",
    )
