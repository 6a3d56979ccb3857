"""AWS-owned SageMaker container images the platform uses. Pure data, no CDK."""

from __future__ import annotations

# ECR registry accounts of the Model Monitor analyzer image ("sagemaker-model-monitor-analyzer") per
# region, as published in the SageMaker developer guide ("Prebuilt container" for Model Monitor) and in
# the SageMaker Python SDK (src/sagemaker/image_uri_config/model-monitor.json). A region that is not
# listed here is refused by the configuration with a clear error rather than guessed.
MODEL_MONITOR_REGISTRY_ACCOUNTS: dict[str, str] = {
    "us-east-1": "156813124566",
    "us-east-2": "777275614652",
    "us-west-1": "890145073186",
    "us-west-2": "159807026194",
    "ca-central-1": "536280801234",
    "eu-west-1": "468650794304",
    "eu-west-2": "749857270468",
    "eu-west-3": "680080141114",
    "eu-central-1": "048819808253",
    "eu-north-1": "895015795356",
    "ap-northeast-1": "574779866223",
    "ap-northeast-2": "709848358524",
    "ap-southeast-1": "245545462676",
    "ap-southeast-2": "563025443158",
    "ap-south-1": "126357580389",
    "ap-east-1": "001633400207",
    "sa-east-1": "539772159869",
    "me-south-1": "607024016150",
}
MODEL_MONITOR_REPOSITORY = "sagemaker-model-monitor-analyzer"


def model_monitor_image_uri(region: str) -> str:
    """The region's Model Monitor analyzer image. Raises ``KeyError`` for a region that is not mapped."""
    account = MODEL_MONITOR_REGISTRY_ACCOUNTS[region]
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{MODEL_MONITOR_REPOSITORY}"
