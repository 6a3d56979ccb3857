"""Hourly data-quality monitoring of an endpoint's captured requests against a baseline (SageMaker Model Monitor).

The monitor is its own unit (role, policies, job definition, schedule) but built into the endpoint construct's
scope (ids ``MonitorRole``, ``MonitorScopedPermissions``, ...): a construct level of its own would change the
logical ids, and replacing the named job definition and schedule of a deployed environment fails.
"""

from __future__ import annotations

import hashlib
import json

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct, IDependable

from ml_platform.core.images import MODEL_MONITOR_REGISTRY_ACCOUNTS, MODEL_MONITOR_REPOSITORY, model_monitor_image_uri
from ml_platform.core.instances import InstanceType
from ml_platform.inference.config.features import ModelMonitor
from ml_platform.inference.endpoint.role import ECR_PULL_ACTIONS, VPC_NETWORK_INTERFACE_ACTIONS, repository_arn
from ml_platform.shared.compliance import acknowledge, acknowledge_resource_wildcards
from ml_platform.shared.lake_access import kms_statement, object_read_statements, object_write_statements

# Model Monitor: hourly, on the hour (a cron expression is the documented schedule format).
HOURLY = "cron(0 * ? * * *)"


class DataQualityMonitor:
    """A data-quality job definition and its hourly schedule, with a role that reads the hour's captured requests
    and the baseline and writes reports under ``<capture prefix>/monitoring/data-quality``. Exposes ``role``,
    ``job_definition`` and ``schedule``."""

    def __init__(
        self,
        scope: Construct,
        *,
        config: ModelMonitor,
        region: str,
        endpoint_name: str,
        endpoint: IDependable,
        capture_prefix: str,
        models_bucket: s3.IBucket,
        models_bucket_key: kms.IKey | None,
        capture_bucket: s3.IBucket,
        ml_key: kms.IKey,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
    ) -> None:
        """
        :param scope: the endpoint construct.
        :param region: the endpoint's region: the monitoring job runs the region's Model Monitor analyzer image
            (``ml_platform.core.images``; the config refuses a region without a known registry).
        :param endpoint: the endpoint resource; the job definition is created after it.
        :param models_bucket_key: the models bucket's key, to decrypt the baseline. None: no decrypt permission.
        :param ml_key: reports are written with it; it also encrypts the job's volume (unless NVMe).
        """
        image_uri = model_monitor_image_uri(region)
        self.role = iam.Role(
            scope,
            "MonitorRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"Data-quality monitoring jobs of endpoint {endpoint_name}",
        )
        reports = f"{capture_prefix}/monitoring/data-quality"
        statements = [
            # The hour's captured requests (listed, then read), decrypted via S3.
            *object_read_statements(
                sid="CapturedData", bucket=capture_bucket, keys=[ml_key], prefixes=[f"{capture_prefix}/data-capture/"]
            ),
            iam.PolicyStatement(
                sid="ReadTheBaseline",
                actions=["s3:GetObject"],
                resources=[
                    models_bucket.arn_for_objects(config.baseline_statistics_key),
                    models_bucket.arn_for_objects(config.baseline_constraints_key),
                ],
            ),
            *object_write_statements(sid="Reports", bucket=capture_bucket, keys=[ml_key], prefixes=[f"{reports}/"]),
            # A volume key of a processing cluster needs kms:CreateGrant (SageMaker execution role
            # permissions, "If you specify a volume KMS key").
            iam.PolicyStatement(
                sid="EncryptTheJobVolume", actions=["kms:CreateGrant", "kms:DescribeKey"], resources=[ml_key.key_arn]
            ),
            iam.PolicyStatement(
                sid="PullTheMonitorImage",
                actions=list(ECR_PULL_ACTIONS),
                resources=[
                    repository_arn(
                        scope,
                        account=MODEL_MONITOR_REGISTRY_ACCOUNTS[region],
                        region=region,
                        repository=MODEL_MONITOR_REPOSITORY,
                    )
                ],
            ),
            iam.PolicyStatement(
                sid="WriteProcessingJobLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[
                    Stack.of(scope).format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="/aws/sagemaker/ProcessingJobs:*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            ),
        ]
        if models_bucket_key is not None:
            statements.append(kms_statement(sid="DecryptTheBaseline", keys=[models_bucket_key], bucket=models_bucket))
        scoped = iam.ManagedPolicy(
            scope,
            "MonitorScopedPermissions",
            description=f"What the data-quality monitor of {endpoint_name} reads and writes",
            statements=statements,
            roles=[self.role],
        )
        acknowledge_resource_wildcards(
            scoped,
            suffixes=[
                f"/{capture_prefix}/data-capture/*",
                f"/{reports}/*",
                ":log-group:/aws/sagemaker/ProcessingJobs:*",
            ],
            reason="Monitoring jobs read capture objects SageMaker named per request, write reports under "
            "names they generate, and log to per-job streams of the shared /aws/sagemaker/ProcessingJobs "
            "group; each grant is limited to the endpoint's own prefix or that log group.",
        )
        service_wide = iam.ManagedPolicy(
            scope,
            "MonitorServiceWidePermissions",
            description=f"Monitor actions of {endpoint_name} that IAM cannot scope to a resource",
            statements=[
                iam.PolicyStatement(
                    sid="PublishDataQualityMetrics",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringLike": {"cloudwatch:namespace": "aws/sagemaker/Endpoints/*"}},
                ),
                iam.PolicyStatement(sid="AuthenticateToEcr", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
                iam.PolicyStatement(
                    sid="ManageJobNetworkInterfaces", actions=list(VPC_NETWORK_INTERFACE_ACTIONS), resources=["*"]
                ),
            ],
            roles=[self.role],
        )
        acknowledge(
            service_wide,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData, ecr:GetAuthorizationToken and the EC2 network-interface actions a "
            "processing job in a private VPC needs support no resource-level permissions or act on interfaces "
            "that do not exist yet (SageMaker CreateProcessingJob execution role permissions).",
        )
        # Every property requires replacement, so the name carries a hash of the content: a change creates a new
        # job definition instead of colliding with the old name.
        content = {"options": {**config.model_dump(), "image_uri": image_uri}, "endpoint": endpoint_name, "v": 1}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:8]
        spec = sagemaker.CfnDataQualityJobDefinition
        self.job_definition = spec(
            scope,
            "DataQualityJobDefinition",
            job_definition_name=f"{endpoint_name[:50]}-dq-{digest}",
            endpoint_name=endpoint_name,
            role_arn=self.role.role_arn,
            data_quality_app_specification=spec.DataQualityAppSpecificationProperty(image_uri=image_uri),
            data_quality_baseline_config=spec.DataQualityBaselineConfigProperty(
                constraints_resource=spec.ConstraintsResourceProperty(
                    s3_uri=f"s3://{models_bucket.bucket_name}/{config.baseline_constraints_key}"
                ),
                statistics_resource=spec.StatisticsResourceProperty(
                    s3_uri=f"s3://{models_bucket.bucket_name}/{config.baseline_statistics_key}"
                ),
            ),
            data_quality_job_input=spec.DataQualityJobInputProperty(
                endpoint_input=spec.EndpointInputProperty(
                    endpoint_name=endpoint_name,
                    local_path="/opt/ml/processing/input/endpoint",
                    s3_data_distribution_type="FullyReplicated",
                    s3_input_mode="File",
                )
            ),
            data_quality_job_output_config=spec.MonitoringOutputConfigProperty(
                kms_key_id=ml_key.key_arn,
                monitoring_outputs=[
                    spec.MonitoringOutputProperty(
                        s3_output=spec.S3OutputProperty(
                            local_path="/opt/ml/processing/output",
                            s3_uri=f"s3://{capture_bucket.bucket_name}/{reports}",
                            s3_upload_mode="EndOfJob",
                        )
                    )
                ],
            ),
            job_resources=spec.MonitoringResourcesProperty(
                cluster_config=spec.ClusterConfigProperty(
                    instance_count=1,
                    instance_type=config.instance_type,
                    volume_size_in_gb=config.volume_size_gb,
                    volume_kms_key_id=(
                        None if InstanceType.parse(config.instance_type).has_local_nvme_storage else ml_key.key_arn
                    ),
                )
            ),
            network_config=spec.NetworkConfigProperty(
                enable_inter_container_traffic_encryption=True,
                vpc_config=spec.VpcConfigProperty(
                    security_group_ids=[security_group.security_group_id],
                    subnets=vpc.select_subnets(**selection_kwargs(subnets)).subnet_ids,
                ),
            ),
            stopping_condition=spec.StoppingConditionProperty(max_runtime_in_seconds=config.max_runtime_seconds),
        )
        self.job_definition.node.add_dependency(endpoint, scoped, service_wide)
        self.schedule = sagemaker.CfnMonitoringSchedule(
            scope,
            "DataQualitySchedule",
            monitoring_schedule_name=f"{endpoint_name[:50]}-data-quality",
            endpoint_name=endpoint_name,
            monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
                monitoring_job_definition_name=self.job_definition.job_definition_name,
                monitoring_type="DataQuality",
                schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(schedule_expression=HOURLY),
            ),
        )
        self.schedule.node.add_dependency(self.job_definition)


def selection_kwargs(selection: ec2.SubnetSelection) -> dict[str, object]:
    """``SubnetSelection`` as keyword arguments of ``IVpc.select_subnets`` (Python takes no struct there)."""
    fields = ("availability_zones", "one_per_az", "subnet_filters", "subnet_group_name", "subnets", "subnet_type")
    return {name: getattr(selection, name) for name in fields if getattr(selection, name) is not None}
