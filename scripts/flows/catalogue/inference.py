"""SageMaker endpoints: the execution role (image, artifacts, capture, asynchronous inference, logs, metrics,
rollback alarms), the data-quality monitor's role, and what neither may do.

SageMaker uses the execution role to pull the image and download the model data when it launches an instance
(SageMaker developer guide, "How to use SageMaker AI execution roles", CreateModel API: Execution Role
Permissions); a model with a VPC configuration downloads through the VPC, i.e. the S3 gateway endpoint
("Give SageMaker AI hosted endpoints access to resources in your Amazon VPC").
"""

from __future__ import annotations

from ml_platform.core.images import model_monitor_image_uri
from ml_platform.inference.config import ECR_IMAGE_URI, InferenceEndpoint, inference_stack_id
from scripts.flows.catalogue.base import PERMISSIVE, Environment, kms_via, kms_via_s3, s3_bucket, s3_object, sse_kms
from scripts.flows.templates import PARTITION


def _construct_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def add(env: Environment) -> None:
    for endpoint in env.config.inference.endpoints:
        _endpoint(env, endpoint)


def _repository_arn(image_uri: str) -> str:
    match = ECR_IMAGE_URI.match(image_uri) or ECR_IMAGE_URI.match(image_uri + ":latest")
    assert match, image_uri
    return f"arn:{PARTITION}:ecr:{match['region']}:{match['account']}:repository/{match['repository']}"


def _endpoint(env: Environment, endpoint: InferenceEndpoint) -> None:
    stack_id = inference_stack_id(endpoint.stack_group)
    cid = _construct_id(endpoint.name)
    component = f"endpoint-{endpoint.name}"
    role = env.role(stack_id, f"{cid}ExecutionRole")
    name = f"{env.prefix}-{endpoint.name}"
    models = env.bucket("models")
    capture = env.bucket("capture")
    lake_key, ml_key = env.key_arn("DataLakeKey"), env.key_arn("MlKey")
    env.assumed_by(component, "sagemaker.amazonaws.com", role, description="SageMaker assumes the execution role")
    # ------------------------------------------------------------------ image
    env.role_request(
        component,
        "ecr-token",
        role,
        "ecr:GetAuthorizationToken",
        "*",
        expected="allow",
        description="SageMaker authenticates to ECR for the model image",
    )
    repository = _repository_arn(endpoint.image_uri)
    pulls = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
    env.role_allows(component, role, [(a, repository) for a in pulls], description="SageMaker pulls the model image")
    # ------------------------------------------------------------------ model artifact
    if endpoint.model_data_key is not None:
        key = endpoint.model_data_key
        env.role_request(
            component,
            "read-artifact",
            role,
            "s3:GetObject",
            s3_object(models, key),
            expected="allow",
            endpoint="s3",
            description="SageMaker downloads the model artifact through the S3 gateway endpoint",
        )
        env.s3_decrypts(
            component,
            "decrypt-artifact",
            role,
            lake_key,
            models,
            key,
            description="S3 decrypts the artifact for SageMaker",
        )
        model_prefix = key.split("/", 1)[0]
        env.role_request(
            component,
            "read-previous-artifact",
            role,
            "s3:GetObject",
            s3_object(models, f"{model_prefix}/0.0.1-previous/model.tar.gz"),
            expected="allow",
            endpoint="s3",
            description="a rollback (or an old-fleet instance replaced during a bake) downloads the previous version",
        )
        others = [e for e in env.config.inference.endpoints if e.model_data_key and e.name != endpoint.name]
        for other in others:
            if other.model_data_key and other.model_data_key.split("/", 1)[0] != model_prefix:
                env.role_request(
                    component,
                    f"read-artifact-of-{other.name}",
                    role,
                    "s3:GetObject",
                    s3_object(models, other.model_data_key),
                    expected="deny",
                    endpoint="s3",
                    description=f"the role cannot read {other.name}'s model",
                )
    # ------------------------------------------------------------------ data capture
    if endpoint.data_capture.enabled:
        obj = s3_object(capture, f"{name}/data-capture/AllTraffic/2026/11/30/12/capture.jsonl")
        env.role_request(
            component,
            "write-capture",
            role,
            "s3:PutObject",
            obj,
            expected="allow",
            context=sse_kms(ml_key),
            description="SageMaker writes captured requests/responses with the ML key",
        )
        env.role_request(
            component,
            "capture-data-key",
            role,
            "kms:GenerateDataKey",
            ml_key,
            expected="allow",
            description="S3 generates the data key of a capture object",
            context=kms_via_s3(env, capture, obj),
        )
        env.role_request(
            component,
            "write-outside-prefix",
            role,
            "s3:PutObject",
            s3_object(capture, "other-endpoint/x"),
            expected="deny",
            context=sse_kms(ml_key),
            description="the role cannot write another endpoint's prefix",
        )
    if endpoint.async_inference is not None:
        _async(env, endpoint, role, name, capture, lake_key, ml_key)
    # ------------------------------------------------------------------ logs, metrics, alarms
    group = f"/aws/sagemaker/Endpoints/{name}"
    stream = f"{env.log_group_arn(group)}:log-stream:AllTraffic/i-0123456789abcdef0"
    env.role_allows(
        component,
        role,
        [(a, stream) for a in ("logs:CreateLogStream", "logs:PutLogEvents")],
        description="the endpoint's containers log to its log group",
    )
    env.role_request(
        component,
        "instance-metrics",
        role,
        "cloudwatch:PutMetricData",
        "*",
        expected="allow",
        context={"cloudwatch:namespace": "/aws/sagemaker/Endpoints"},
        description="instance metrics go to the endpoint instance namespace",
    )
    env.role_request(
        component,
        "metrics-elsewhere",
        role,
        "cloudwatch:PutMetricData",
        "*",
        expected="deny",
        context={"cloudwatch:namespace": "Custom/Anything"},
        description="no metrics into other namespaces",
    )
    view = env.view(stack_id)
    rollback = [
        view.resolve({"Fn::GetAtt": [lid, "Arn"]})
        for lid in view.of_type("AWS::CloudWatch::Alarm")
        if lid.startswith(f"{cid}Guardrails")
    ]
    for alarm in rollback:
        env.role_request(
            component,
            f"describe-{alarm.rsplit(':', 1)[-1]}",
            role,
            "cloudwatch:DescribeAlarms",
            alarm,
            expected="allow",
            description="SageMaker reads the rollback alarms while it bakes a deployment",
        )
    env.creates_network_interfaces(
        component, role, description="SageMaker creates the model's network interfaces in the isolated subnets"
    )
    if endpoint.model_monitor is not None:
        _monitor(env, endpoint, stack_id, cid, name, models, capture, lake_key, ml_key)


def _async(env, endpoint, role, name, capture, lake_key, ml_key) -> None:
    component = f"endpoint-{endpoint.name}"
    options = endpoint.async_inference
    request = s3_object(capture, f"{name}/{options.input_prefix}/request-0001.json")
    env.role_request(
        component,
        "read-async-input",
        role,
        "s3:GetObject",
        request,
        expected="allow",
        endpoint="s3",
        description="SageMaker reads an asynchronous request's input payload",
    )
    for key_name, key in (("lake", lake_key), ("ml", ml_key)):
        env.s3_decrypts(
            component,
            f"decrypt-async-input-{key_name}",
            role,
            key,
            capture,
            request,
            description=f"S3 decrypts an input payload encrypted with the {key_name} key (the bucket accepts both)",
        )
    result = s3_object(capture, f"{name}/{options.output_prefix}/result-0001.out")
    env.role_request(
        component,
        "write-async-output",
        role,
        "s3:PutObject",
        result,
        expected="allow",
        context=sse_kms(ml_key),
        description="SageMaker writes an asynchronous result with the ML key",
    )
    env.role_request(
        component,
        "read-other-endpoint-input",
        role,
        "s3:GetObject",
        s3_object(capture, f"{env.prefix}-other/{options.input_prefix}/request-0001.json"),
        expected="deny",
        endpoint="s3",
        description="the role cannot read another endpoint's asynchronous inputs",
    )
    # Notifications: successes to the endpoint's own topic (ML key), failures to the alarm topic (alarms key).
    topics = []
    if options.notify_success:
        topics.append((f"{name}-async-success", ml_key))
    if options.notify_errors:
        topics.append((env.alarm_topic.rsplit(":", 1)[-1], env.key_arn("AlarmsKey")))
    for topic_name, key in topics:
        topic = f"arn:{PARTITION}:sns:{env.region}:{env.account}:{topic_name}"
        env.role_request(
            component,
            f"notify-{topic_name}",
            role,
            "sns:Publish",
            topic,
            expected="allow",
            description="SageMaker publishes the asynchronous result notification",
        )
        env.role_request(
            component,
            f"notify-{topic_name}-data-key",
            role,
            "kms:GenerateDataKey",
            key,
            expected="allow",
            context=kms_via(env, "sns"),
            description="SNS encrypts the notification with the topic's key for SageMaker",
        )


def _monitor(env, endpoint, stack_id, cid, name, models, capture, lake_key, ml_key) -> None:
    component = f"monitor-{endpoint.name}"
    role = env.role(stack_id, f"{cid}MonitorRole")
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
        _repository_arn(model_monitor_image_uri(env.region)),
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


def add_cross_environment(consumer: Environment, owner: Environment) -> None:
    """Roles of ``consumer`` on ``owner``'s data: every request is refused (same or different account)."""
    component = f"isolation-from-{consumer.name}"
    models, raw = owner.bucket("models"), owner.bucket("raw")
    owner_lake_key = owner.key_arn("DataLakeKey")
    firehose = consumer.role("Ingestion", "DeliveryRole")
    owner.role_request(
        component,
        "firehose-writes-raw",
        firehose,
        "s3:PutObject",
        s3_object(raw, "events/x.parquet"),
        expected="deny",
        context=sse_kms(owner_lake_key),
        description=f"{consumer.name}'s Firehose cannot write {owner.name}'s raw zone",
    )
    owner.role_request(
        component,
        "firehose-data-key",
        firehose,
        "kms:GenerateDataKey",
        owner_lake_key,
        expected="deny",
        context=kms_via_s3(owner, raw, "events/x.parquet"),
        description=f"{consumer.name}'s Firehose cannot use {owner.name}'s lake key",
    )
    for endpoint in consumer.config.inference.endpoints:
        role = consumer.role(inference_stack_id(endpoint.stack_group), f"{_construct_id(endpoint.name)}ExecutionRole")
        key = endpoint.model_data_key or "model.tar.gz"
        owner.role_request(
            component,
            f"{endpoint.name}-reads-models",
            role,
            "s3:GetObject",
            s3_object(models, key),
            expected="deny",
            description=f"{consumer.name}'s {endpoint.name} endpoint cannot read {owner.name}'s models",
        )
        owner.s3_decrypts(
            component,
            f"{endpoint.name}-decrypts",
            role,
            owner_lake_key,
            models,
            key,
            expected="deny",
            description=f"{consumer.name}'s {endpoint.name} endpoint cannot decrypt with {owner.name}'s lake key",
        )
