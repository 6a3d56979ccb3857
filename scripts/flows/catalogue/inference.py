"""SageMaker endpoints: the execution role (image, artifacts, capture, asynchronous inference, logs, metrics,
rollback alarms) and what it may not do; the data-quality monitor's role is in model_monitor.py.

SageMaker uses the execution role to pull the image and download the model data when it launches an instance
(SageMaker developer guide, "How to use SageMaker AI execution roles", CreateModel API: Execution Role
Permissions); a model with a VPC configuration downloads through the VPC, i.e. the S3 gateway endpoint
("Give SageMaker AI hosted endpoints access to resources in your Amazon VPC").
"""

from __future__ import annotations

from ml_platform.inference.config import InferenceEndpoint, inference_stack_id
from ml_platform.inference.config.registry import model_sources
from scripts.flows.catalogue import model_monitor
from scripts.flows.catalogue.base import Environment
from scripts.flows.catalogue.context import kms_via, kms_via_s3, s3_object, sse_kms
from scripts.flows.templates import PARTITION


def _construct_id(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def add(env: Environment) -> None:
    for endpoint in env.config.inference.endpoints:
        _endpoint(env, endpoint)


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
    sources = model_sources(endpoint, env.config.inference.registry)
    pulls = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
    # One flow per repository: an image's repository and a registry group's ("" = this account and region) may be one.
    arns = dict.fromkeys(
        f"arn:{PARTITION}:ecr:{region or env.region}:{account or env.account}:repository/{repository}"
        for account, region, repository in sources.repositories
    )
    for index, arn in enumerate(arns):
        env.role_allows(
            component, role, [(a, arn) for a in pulls], name_prefix="" if index == 0 else f"{index + 1}-",
            description=f"SageMaker pulls {arn.split(':repository/', 1)[1]}",
        )  # fmt: skip
    # ------------------------------------------------------------------ model artifacts: every version of each
    control_key = endpoint.model_data_key
    for index, prefix in enumerate(sources.prefixes):
        suffix = "" if index == 0 else f"-{index + 1}"
        key = control_key if control_key and control_key.startswith(prefix) else f"{prefix}1.0.0/model.tar.gz"
        env.role_request(
            component,
            f"read-artifact{suffix}",
            role,
            "s3:GetObject",
            s3_object(models, key),
            expected="allow",
            endpoint="s3",
            description="SageMaker downloads the model artifact through the S3 gateway endpoint",
        )
        env.s3_decrypts(
            component,
            f"decrypt-artifact{suffix}",
            role,
            lake_key,
            models,
            key,
            description="S3 decrypts the artifact for SageMaker",
        )
        env.role_request(
            component,
            f"read-previous-artifact{suffix}",
            role,
            "s3:GetObject",
            s3_object(models, f"{prefix}0.0.1-previous/model.tar.gz"),
            expected="allow",
            endpoint="s3",
            description="a rollback (or an old-fleet instance replaced during a bake) downloads the previous version",
        )
    registry = env.config.inference.registry
    for other in env.config.inference.endpoints:
        if other.name == endpoint.name:
            continue
        foreign = [prefix for prefix in model_sources(other, registry).prefixes if prefix not in sources.prefixes]
        for index, prefix in enumerate(foreign):
            env.role_request(
                component,
                f"read-artifact-of-{other.name}" + ("" if index == 0 else f"-{index + 1}"),
                role,
                "s3:GetObject",
                s3_object(models, f"{prefix}1.0.0/model.tar.gz"),
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
        model_monitor.add(env, endpoint, role=env.role(stack_id, f"{cid}MonitorRole"), name=name)


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
