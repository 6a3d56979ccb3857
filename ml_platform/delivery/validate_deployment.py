#!/usr/bin/env python3
"""Post-deploy validation of one environment: is every configured SageMaker endpoint really serving what
the configuration says?

For each endpoint of ``EnvironmentConfig.inference.endpoints`` (named ``<project>-<environment>-<name>``):
the endpoint exists and is ``InService``; its endpoint configuration has exactly the configured production
variant with the configured instance type (or serverless memory); the variant's model runs the configured
image; images SageMaker reports as deployed (``DeployedImages``) are that image too.

The pipeline runs it after each environment's deployment (``ml_platform/delivery/stack.py``), with credentials
of the target account's read-only CDK bootstrap lookup role::

    python3 ml_platform/delivery/validate_deployment.py --environment prod \\
        --role-arn arn:aws:iam::<account>:role/cdk-hnb659fds-lookup-role-<account>-<region>

Without ``--role-arn`` it uses the caller's own credentials. ``--model-package-versions <file>`` reads the versions
the pipeline's synth deployed (the JSON of ``approved_versions.py``, the ``model_package_versions`` context); without
it the versions pinned in the configuration are expected. Exit status: 0 all checks passed, 1 a check failed, 2 a
usage or configuration error. Needs only boto3 and pydantic (the config models).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ml_platform.core.errors import ConfigError
from ml_platform.environment import EnvironmentConfig
from ml_platform.environments import load_environments
from ml_platform.inference.config.endpoint import ServingVariant
from ml_platform.inference.config.models import PackageModel, image_uris
from ml_platform.inference.config.packages import parse_package_versions


@dataclass(frozen=True)
class VariantExpectation:
    """What one variant of a deployed endpoint must serve."""

    name: str = "AllTraffic"
    images: tuple[str, ...] = ()
    """The model's images in container order; none for a registry package (its version names them)."""
    package: str | None = None
    """``model-package/<group>/<version>`` for a registry package variant."""
    instance_type: str | None = None
    serverless_memory_mib: int | None = None


@dataclass(frozen=True)
class EndpointExpectation:
    """What one deployed endpoint must look like: its production variants (the control first) and its shadow."""

    endpoint_name: str
    variants: tuple[VariantExpectation, ...]
    shadow: VariantExpectation | None = None


@dataclass(frozen=True)
class Check:
    subject: str
    passed: bool
    message: str

    def __str__(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'} {self.subject}: {self.message}"


def expectations_for(environment: EnvironmentConfig) -> list[EndpointExpectation]:
    """The endpoints an environment's configuration declares, as the Inference stack names them."""
    prefix = f"{environment.tags.project}-{environment.name}"
    return [
        EndpointExpectation(
            endpoint_name=f"{prefix}-{endpoint.name}",
            variants=tuple(_variant(variant) for variant in endpoint.production_variants),
            shadow=_variant(endpoint.shadow_variant) if endpoint.shadow_variant else None,
        )
        for endpoint in environment.inference.endpoints
    ]


def _variant(variant: ServingVariant) -> VariantExpectation:
    model = variant.model
    return VariantExpectation(
        name=variant.name,
        images=image_uris(model),
        package=f"model-package/{model.group}/{model.version}" if isinstance(model, PackageModel) else None,
        instance_type=variant.instance_type,
        serverless_memory_mib=variant.serverless.memory_mib if variant.serverless else None,
    )


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def validate_endpoint(client: Any, expected: EndpointExpectation) -> list[Check]:
    """Checks of one endpoint against ``expected``; stops at the first check the others depend on."""
    name = expected.endpoint_name
    subject = f"endpoint {name}"
    try:
        endpoint = client.describe_endpoint(EndpointName=name)
    except ClientError as error:
        if _error_code(error) == "ValidationException":
            return [Check(subject, False, "not found (was the Inference stack deployed to this account/region?)")]
        raise
    checks: list[Check] = []
    status = endpoint.get("EndpointStatus")
    if status == "InService":
        checks.append(Check(subject, True, "InService"))
    else:
        reason = endpoint.get("FailureReason")
        return [Check(subject, False, f"status is {status}, expected InService" + (f" ({reason})" if reason else ""))]

    config_name = endpoint["EndpointConfigName"]
    config = client.describe_endpoint_config(EndpointConfigName=config_name)
    deployed: dict[str, dict[str, Any]] = {}
    for key, wanted in (
        ("ProductionVariants", expected.variants),
        ("ShadowProductionVariants", (expected.shadow,) if expected.shadow else ()),
    ):
        variants = {variant["VariantName"]: variant for variant in config.get(key) or []}
        names = [variant.name for variant in wanted]
        if sorted(variants) != sorted(names):
            kind = "variants" if key == "ProductionVariants" else "shadow variants"
            return [
                *checks,
                Check(subject, False, f"endpoint configuration {config_name} has {kind} {sorted(variants)}, "
                      f"expected exactly {sorted(names)}"),
            ]  # fmt: skip
        deployed.update(variants)
    for variant in (*expected.variants, *((expected.shadow,) if expected.shadow else ())):
        checks += _variant_checks(client, subject, variant, deployed[variant.name])
    images = {variant.name: variant.images for variant in (*expected.variants, expected.shadow) if variant}
    for live in (endpoint.get("ProductionVariants") or []) + (endpoint.get("ShadowProductionVariants") or []):
        wanted_images = images.get(live.get("VariantName", ""), ())
        for deployed_image in live.get("DeployedImages", []):
            specified = deployed_image.get("SpecifiedImage")
            if specified is not None and wanted_images and specified not in wanted_images:
                checks.append(
                    Check(
                        subject,
                        False,
                        f"variant {live.get('VariantName')} serves {specified}, expected {', '.join(wanted_images)}",
                    )
                )
    return checks


def _variant_checks(client: Any, subject: str, expected: VariantExpectation, variant: dict[str, Any]) -> list[Check]:
    checks = []
    if expected.serverless_memory_mib is not None:
        memory = variant.get("ServerlessConfig", {}).get("MemorySizeInMB")
        checks.append(
            Check(
                subject,
                memory == expected.serverless_memory_mib,
                f"serverless memory {memory} MB, expected {expected.serverless_memory_mib} MB",
            )
        )
    if expected.instance_type is not None:
        instance_type = variant.get("InstanceType")
        checks.append(
            Check(
                subject,
                instance_type == expected.instance_type,
                f"variant {expected.name} instance type {instance_type}, expected {expected.instance_type}",
            )
        )
    model = client.describe_model(ModelName=variant["ModelName"])
    containers = [model["PrimaryContainer"]] if model.get("PrimaryContainer") else model.get("Containers") or [{}]
    if expected.package is not None:
        package = str(containers[0].get("ModelPackageName", ""))
        checks.append(
            Check(
                subject,
                package.endswith(expected.package),
                f"model {variant['ModelName']} package {package or 'none'}, expected {expected.package}",
            )
        )
        return checks
    images = tuple(container.get("Image") for container in containers)
    shown = ", ".join(str(image) for image in images)
    checks.append(
        Check(
            subject,
            images == expected.images,
            f"model {variant['ModelName']} image {shown}, expected {', '.join(expected.images)}",
        )
    )
    return checks


def validate_endpoints(client: Any, expectations: Sequence[EndpointExpectation]) -> list[Check]:
    """Every check of every expected endpoint (a plain list of expectations; no config needed)."""
    return [check for expected in expectations for check in validate_endpoint(client, expected)]


def session_for(region: str, role_arn: str | None, session_name: str) -> boto3.Session:
    """A session in ``region``: the caller's credentials, or those of ``role_arn`` when given."""
    if role_arn is None:
        return boto3.Session(region_name=region)
    sts = boto3.client("sts", region_name=region)
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def validate_environment(environment: EnvironmentConfig, session: boto3.Session) -> list[Check]:
    return validate_endpoints(session.client("sagemaker"), expectations_for(environment))


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as error:
        raise ConfigError([f"--model-package-versions {path!r}: cannot be read ({error.strerror})"]) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environment", required=True, help="environment name (ml_platform/environments.py)")
    parser.add_argument("--role-arn", help="role to assume in the target account (default: own credentials)")
    parser.add_argument(
        "--model-package-versions", help="JSON file of the model package versions the synth deployed (default: none)"
    )
    args = parser.parse_args(argv)
    try:
        pins = parse_package_versions(_read(args.model_package_versions)) if args.model_package_versions else {}
        by_name = {env.name: env for env in load_environments(package_versions=pins)}
    except ConfigError as error:
        for line in str(error).splitlines():
            print(f"config error: {line}", file=sys.stderr)
        return 2
    environment = by_name.get(args.environment)
    if environment is None:
        print(
            f"config error: --environment {args.environment!r}: unknown environment; declared environments are "
            f"{', '.join(by_name)}",
            file=sys.stderr,
        )
        return 2
    if not environment.inference.endpoints:
        print(f"{environment.name}: no SageMaker endpoints configured; nothing to validate")
        return 0
    try:
        session = session_for(environment.region, args.role_arn, f"validate-{environment.name}")
        checks = validate_environment(environment, session)
    except (ClientError, BotoCoreError) as error:
        print(f"FAIL {environment.name}: AWS call failed: {error}", file=sys.stderr)
        return 1
    for check in checks:
        print(check)
    failed = [check for check in checks if not check.passed]
    print(f"{environment.name}: {len(checks) - len(failed)} checks passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
