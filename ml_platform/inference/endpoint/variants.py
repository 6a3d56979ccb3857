"""The endpoint's variants as SageMaker resources: one model per variant, and the variant entries of the endpoint
configuration.

Built into the endpoint construct's scope. The control variant's model keeps the id ``Model`` (the id it had
before variants existed); every other variant's resources carry the variant's name in their ids, so adding,
reordering or removing challengers never touches the control's resources.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from ml_platform.inference.config.endpoint import ServingVariant
from ml_platform.inference.config.models import Container, MultiModel, PackageModel, PipelineModel
from ml_platform.inference.endpoint.monitor import selection_kwargs


def camel_id(name: str) -> str:
    """A variant name as a construct-id suffix: ``challenger-b`` → ``ChallengerB``."""
    return "".join(part[:1].upper() + part[1:] for part in name.replace("_", "-").split("-"))


def variant_id(variant: ServingVariant) -> str:
    """The construct-id suffix of a variant's resources: "" for the control, else its name in CamelCase."""
    return "" if variant.kind == "control" else camel_id(variant.name)


def variant_model(
    scope: Construct,
    variant: ServingVariant,
    *,
    role_arn: str,
    models_bucket: s3.IBucket,
    vpc: ec2.IVpc,
    subnets: ec2.SubnetSelection,
    security_group: ec2.ISecurityGroup,
) -> sagemaker.CfnModel:
    """The variant's model: no name (CloudFormation generates one, so a change creates a new model and a new
    endpoint configuration), in the VPC with network isolation unless serverless."""
    in_vpc = variant.serverless is None
    model = variant.model
    primary: sagemaker.CfnModel.ContainerDefinitionProperty | None = None
    containers: list[sagemaker.CfnModel.ContainerDefinitionProperty] | None = None
    execution: sagemaker.CfnModel.InferenceExecutionConfigProperty | None = None
    if isinstance(model, PipelineModel):
        containers = [_container(c, models_bucket) for c in model.containers]
        # Serial: each container's output is the next one's input ("The default mode is Serial"; stated so the
        # template says what runs).
        execution = sagemaker.CfnModel.InferenceExecutionConfigProperty(mode="Serial")
    elif isinstance(model, MultiModel):
        primary = sagemaker.CfnModel.ContainerDefinitionProperty(
            image=model.image_uri,
            mode="MultiModel",
            model_data_url=f"s3://{models_bucket.bucket_name}/{model.model_data_prefix}",
            environment=dict(sorted(model.environment.items())) or None,
            multi_model_config=sagemaker.CfnModel.MultiModelConfigProperty(
                model_cache_setting="Enabled" if model.cache_models else "Disabled"
            ),
        )
    elif isinstance(model, PackageModel):
        # "The name or Amazon Resource Name (ARN) of the model package to use to create the model" (API reference,
        # ContainerDefinition.ModelPackageName); the version's containers bring their images and artifacts.
        primary = sagemaker.CfnModel.ContainerDefinitionProperty(
            model_package_name=Stack.of(scope).format_arn(
                service="sagemaker", resource="model-package", resource_name=f"{model.group}/{model.version}"
            ),
            environment=dict(sorted(model.environment.items())) or None,
        )
    else:
        primary = _container(model, models_bucket)
    return sagemaker.CfnModel(
        scope,
        f"Model{variant_id(variant)}",
        execution_role_arn=role_arn,
        primary_container=primary,
        containers=containers,
        inference_execution_config=execution,
        vpc_config=(
            sagemaker.CfnModel.VpcConfigProperty(
                security_group_ids=[security_group.security_group_id],
                subnets=vpc.select_subnets(**selection_kwargs(subnets)).subnet_ids,
            )
            if in_vpc
            else None
        ),
        # Containers are internet-enabled unless network isolation is on; with it they make no inbound
        # or outbound network calls (SageMaker fetches the model data and image on their behalf).
        enable_network_isolation=True if in_vpc else None,
    )


def _container(container: Container, models_bucket: s3.IBucket) -> sagemaker.CfnModel.ContainerDefinitionProperty:
    return sagemaker.CfnModel.ContainerDefinitionProperty(
        image=container.image_uri,
        model_data_url=container.external_model_data_url
        or f"s3://{models_bucket.bucket_name}/{container.model_data_key}",
        environment=dict(sorted(container.environment.items())) or None,
        container_hostname=container.hostname,
    )


def variant_property(
    variant: ServingVariant, model: sagemaker.CfnModel
) -> sagemaker.CfnEndpointConfig.ProductionVariantProperty:
    """The variant's entry of ``ProductionVariants`` or ``ShadowProductionVariants``."""
    serverless = variant.serverless
    return sagemaker.CfnEndpointConfig.ProductionVariantProperty(
        variant_name=variant.name,
        model_name=model.attr_model_name,
        initial_variant_weight=variant.initial_variant_weight,
        instance_type=variant.instance_type,
        initial_instance_count=variant.initial_instance_count,
        serverless_config=(
            sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                memory_size_in_mb=serverless.memory_mib,
                max_concurrency=serverless.max_concurrency,
                provisioned_concurrency=serverless.provisioned_concurrency,
            )
            if serverless
            else None
        ),
    )
