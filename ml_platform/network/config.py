"""Configuration of the VPC, subnets, flow logs and VPC endpoints.

The VPC has isolated subnets only (no internet gateway, no NAT): everything the platform's workloads call
leaves through a VPC endpoint. Gateway endpoints (S3 always, DynamoDB optionally) are free; interface
endpoints (PrivateLink) are billed per endpoint, per Availability Zone and per hour, so the set is chosen per
environment (:attr:`NetworkConfig.interface_endpoints`) and its monthly cost is printed by ``make synth``.

Stage-driven defaults (``None`` in a field means "the stage default"):

- Availability Zones: 2 in dev, 3 in staging and prod (:data:`DEFAULT_AZ_COUNT`).
- Interface endpoints: in dev, exactly the endpoints the enabled components *require*; in staging and prod,
  those plus the endpoints the components *recommend* (:data:`COMPONENT_ENDPOINTS`).

Rules (each fails synth with one line naming the field, the bad value and the rule):

- ``vpc_cidr``: an IPv4 network in a private RFC 1918 range, prefix /16 to /24. AWS accepts /16-/28 for a
  VPC (https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html); the platform keeps at least
  /24 so every AZ's subnet has room for endpoint, Lambda and SageMaker network interfaces.
- ``az_count``: 2 to 6. Two is the minimum for high availability (SageMaker: "VPC with at least two subnets
  in different AZs"); no AWS region offers more than six AZs.
- ``interface_endpoints``: names from :data:`INTERFACE_ENDPOINT_CATALOGUE`, no duplicates, and (checked
  with the environment, see :func:`environment_problems`) every endpoint an enabled component requires.
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from pydantic import Field, ValidationError, field_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ml_platform.core.config import FrozenModel

# --------------------------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class InterfaceEndpointSpec:
    """One AWS service reachable through an interface endpoint."""

    service: str
    """The service part of the endpoint service name ``com.amazonaws.<region>.<service>`` (AWS PrivateLink:
    "AWS services that integrate with AWS PrivateLink")."""
    description: str


# Name (used in config) → service. ml_platform.network.endpoints maps the same names to the CDK's
# InterfaceVpcEndpointAwsService (a test keeps the two in step).
INTERFACE_ENDPOINT_CATALOGUE: Mapping[str, InterfaceEndpointSpec] = MappingProxyType(
    {
        "sagemaker_api": InterfaceEndpointSpec("sagemaker.api", "SageMaker API (models, endpoint configs, jobs)"),
        "sagemaker_runtime": InterfaceEndpointSpec("sagemaker.runtime", "SageMaker Runtime (InvokeEndpoint)"),
        "sts": InterfaceEndpointSpec("sts", "AWS STS (regional credentials)"),
        "logs": InterfaceEndpointSpec("logs", "CloudWatch Logs"),
        "monitoring": InterfaceEndpointSpec("monitoring", "CloudWatch metrics (PutMetricData)"),
        "kms": InterfaceEndpointSpec("kms", "AWS KMS (data keys, Decrypt)"),
        "kinesis_streams": InterfaceEndpointSpec("kinesis-streams", "Kinesis Data Streams"),
        "firehose": InterfaceEndpointSpec("kinesis-firehose", "Amazon Data Firehose"),
        "glue": InterfaceEndpointSpec("glue", "AWS Glue (Data Catalog)"),
        "ecr_api": InterfaceEndpointSpec("ecr.api", "Amazon ECR API (auth token, image manifests)"),
        "ecr_dkr": InterfaceEndpointSpec("ecr.dkr", "Amazon ECR Docker registry (image pulls)"),
        "athena": InterfaceEndpointSpec("athena", "Amazon Athena (optional)"),
        "ssm": InterfaceEndpointSpec("ssm", "Systems Manager Parameter Store (optional)"),
        "secretsmanager": InterfaceEndpointSpec("secretsmanager", "Secrets Manager (optional)"),
    }
)


@dataclass(frozen=True)
class ComponentEndpoints:
    """The interface endpoints the in-VPC workloads of one component call."""

    required: tuple[str, ...]
    """Without these the component does not work: synth fails if the component is on and one is missing."""
    recommended: tuple[str, ...]
    """Added by default in staging and prod (not in dev, to keep its bill small)."""
    reason: str


COMPONENT_ENDPOINTS: Mapping[str, ComponentEndpoints] = MappingProxyType(
    {
        "inference": ComponentEndpoints(
            required=(
                "sagemaker_api",
                "sagemaker_runtime",
                "ecr_api",
                "ecr_dkr",
                "logs",
                "monitoring",
                "sts",
                "kms",
            ),
            recommended=(),
            reason=(
                "SageMaker endpoints run in the isolated subnets: the image is pulled from ECR (ecr_api, ecr_dkr, "
                "layers through the S3 gateway), model artifacts come from S3 (gateway) and are decrypted with KMS, "
                "containers write logs and metrics, and clients in the VPC call SageMaker (API and runtime) with "
                "regional STS credentials."
            ),
        ),
        "streaming": ComponentEndpoints(
            required=(),
            recommended=("logs", "monitoring"),
            reason=(
                "The Firehose transform Lambda runs in the isolated subnets but calls no AWS API: Firehose invokes "
                "it and takes the records back, its Powertools metrics are EMF lines in its log, and Lambda itself "
                "(not the function's VPC network interface) delivers function logs to CloudWatch Logs. Nothing is "
                "required; staging and prod keep private CloudWatch Logs and metrics endpoints so direct telemetry "
                "API calls (a log or metrics extension, a diagnostic tool) work without a network change."
            ),
        ),
    }
)

# ------------------------------------------------------------------------------------ stage-driven values

DEFAULT_AZ_COUNT: Mapping[str, int] = MappingProxyType({"dev": 2, "staging": 3, "prod": 3})
MIN_AZ_COUNT = 2
MAX_AZ_COUNT = 6

VPC_PREFIX_RANGE = (16, 24)
# Subnets may be /16 to /28 (https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html).
SUBNET_PREFIX_MAX = 28
PRIVATE_RANGES: tuple[ipaddress.IPv4Network, ...] = tuple(
    ipaddress.IPv4Network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)

# AWS-managed prefix lists of the gateway endpoints' services (com.amazonaws.<region>.s3 / .dynamodb). Their
# IDs are per region and the same in every account; a workload security group needs them for its egress rule
# to S3. Source: Amazon EC2 Developer Guide, "Use DescribePrefixLists with a CLI"
# (https://docs.aws.amazon.com/ec2/latest/devguide/example_ec2_DescribePrefixLists_section.html): the AWS CLI
# example (us-east-1 S3) and the Tools for PowerShell example (eu-west-1 S3 and DynamoDB). For another region
# set network.s3_prefix_list_id (and dynamodb_prefix_list_id), from
# `aws ec2 describe-managed-prefix-lists --filters Name=prefix-list-name,Values=com.amazonaws.<region>.s3`.
KNOWN_PREFIX_LISTS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "eu-west-1": MappingProxyType({"s3": "pl-6da54004", "dynamodb": "pl-6fa54006"}),
        "us-east-1": MappingProxyType({"s3": "pl-63a5400a"}),
    }
)

_PREFIX_LIST = r"^pl-[0-9a-f]{8}([0-9a-f]{9})?$"
# Bucket names (or name patterns with `*`) allowed through the S3 gateway endpoint besides the platform's own.
_BUCKET_PATTERN = r"^[a-z0-9*][a-z0-9.*-]{1,61}[a-z0-9*]$"


class NetworkConfig(FrozenModel):
    """VPC, subnets, flow logs and VPC endpoints of one environment."""

    vpc_cidr: str = Field(
        default="10.20.0.0/16",
        description="IPv4 CIDR of the VPC: private (RFC 1918), /16 to /24. Default: 10.20.0.0/16.",
    )
    az_count: int | None = Field(
        default=None,
        description="Availability Zones (one isolated subnet each), 2-6. Default: 2 in dev, 3 in staging/prod.",
    )
    interface_endpoints: tuple[str, ...] | None = Field(
        default=None,
        description=(
            "Interface endpoints (names from INTERFACE_ENDPOINT_CATALOGUE). Default: the endpoints the enabled "
            "components require, plus in staging/prod the ones they recommend. A list replaces the default."
        ),
    )
    dynamodb_gateway_endpoint: bool = Field(
        default=False, description="Add a DynamoDB gateway endpoint (free). Default: off."
    )
    additional_s3_buckets: tuple[str, ...] = Field(
        default=(),
        description=(
            "Bucket names or patterns (with `*`) of this account that workloads may use through the S3 gateway "
            "endpoint besides the platform's own `<project>-<environment>-*` buckets. Default: none."
        ),
    )
    s3_prefix_list_id: str | None = Field(
        default=None,
        pattern=_PREFIX_LIST,
        description="ID of the region's S3 prefix list. Default: known for eu-west-1, us-east-1 (KNOWN_PREFIX_LISTS).",
    )
    dynamodb_prefix_list_id: str | None = Field(
        default=None,
        pattern=_PREFIX_LIST,
        description="ID of the region's DynamoDB prefix list (DynamoDB gateway). Default: known for eu-west-1.",
    )

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError as error:
            raise ValueError(f"not an IPv4 network in CIDR notation like 10.20.0.0/16 ({error})") from None
        if not isinstance(network, ipaddress.IPv4Network):
            raise ValueError("must be an IPv4 network (the VPC's primary CIDR block is IPv4)")
        if not any(network.subnet_of(private) for private in PRIVATE_RANGES):
            raise ValueError("must be inside a private RFC 1918 range (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)")
        low, high = VPC_PREFIX_RANGE
        if not low <= network.prefixlen <= high:
            raise ValueError(f"prefix /{network.prefixlen} is outside /{low} to /{high}")
        return value

    @field_validator("az_count")
    @classmethod
    def _az_count(cls, value: int | None) -> int | None:
        if value is not None and value < MIN_AZ_COUNT:
            raise ValueError(f"at least {MIN_AZ_COUNT} Availability Zones are needed for high availability")
        if value is not None and value > MAX_AZ_COUNT:
            raise ValueError(f"at most {MAX_AZ_COUNT}: no AWS region has more Availability Zones")
        return value

    @field_validator("interface_endpoints")
    @classmethod
    def _endpoints(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        unknown = [name for name in value if name not in INTERFACE_ENDPOINT_CATALOGUE]
        if unknown:
            known = ", ".join(INTERFACE_ENDPOINT_CATALOGUE)
            raise ValueError(f"unknown interface endpoint {unknown[0]!r}; the catalogue has {known}")
        duplicates = sorted({name for name in value if value.count(name) > 1})
        if duplicates:
            raise ValueError(f"interface endpoint {duplicates[0]!r} is listed more than once")
        return value

    @field_validator("additional_s3_buckets")
    @classmethod
    def _buckets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not re.match(_BUCKET_PATTERN, name) or name.strip("*") == "":
                raise ValueError(f"{name!r} is not an S3 bucket name or name pattern (lowercase, digits, . - *)")
        return value

    # -------------------------------------------------------------------------- stage-driven behaviour
    def resolved_az_count(self, stage: str) -> int:
        """Availability Zones of the VPC: ``az_count`` or the stage default (dev 2, staging/prod 3)."""
        return self.az_count if self.az_count is not None else DEFAULT_AZ_COUNT[stage]

    def subnet_prefix_length(self, stage: str) -> int:
        """Prefix length of each AZ's isolated subnet: the largest equal subnets that fit ``az_count`` times
        into the VPC CIDR (e.g. /16 with 3 AZs → /18, with 2 AZs → /17)."""
        vpc_prefix = ipaddress.IPv4Network(self.vpc_cidr).prefixlen
        prefix = vpc_prefix + math.ceil(math.log2(self.resolved_az_count(stage)))
        if prefix > SUBNET_PREFIX_MAX:  # unreachable with /24 and 6 AZs (/27); kept as the documented limit
            raise ValueError(f"{self.resolved_az_count(stage)} subnets do not fit into {self.vpc_cidr}")
        return prefix

    def resolved_interface_endpoints(self, stage: str, enabled_components: Collection[str]) -> tuple[str, ...]:
        """The interface endpoints to create, in catalogue order.

        ``interface_endpoints`` if set; otherwise every endpoint an enabled component requires, plus in
        staging and prod every endpoint an enabled component recommends.
        """
        if self.interface_endpoints is not None:
            chosen = set(self.interface_endpoints)
        else:
            chosen = set()
            for component in enabled_components:
                needs = COMPONENT_ENDPOINTS.get(component)
                if needs is not None:
                    chosen.update(needs.required)
                    if stage != "dev":
                        chosen.update(needs.recommended)
        return tuple(name for name in INTERFACE_ENDPOINT_CATALOGUE if name in chosen)

    def resolved_prefix_list_id(self, service: str, region: str) -> str | None:
        """ID of the AWS-managed prefix list of ``service`` (``s3`` or ``dynamodb``) in ``region``."""
        configured = self.s3_prefix_list_id if service == "s3" else self.dynamodb_prefix_list_id
        return configured or KNOWN_PREFIX_LISTS.get(region, {}).get(service)

    def platform_bucket_patterns(self, project: str, environment: str) -> tuple[str, ...]:
        """Bucket name patterns workloads may use through the S3 gateway endpoint: the platform's naming
        convention ``<project>-<environment>-*`` (every platform bucket is named so) and the configured extras."""
        return (f"{project}-{environment}-*", *self.additional_s3_buckets)


# ------------------------------------------------------------------------- rules across the environment


@dataclass(frozen=True)
class Problem:
    """A network rule broken by a combination of fields; ``field`` is relative to the environment."""

    field: tuple[str, ...]
    value: object
    message: str


def environment_problems(
    network: NetworkConfig, *, stage: str, region: str, enabled_components: Collection[str]
) -> list[Problem]:
    """Rules that need more than the network section: required endpoints of the enabled components, and the
    gateway services' prefix lists for the region."""
    problems: list[Problem] = []
    selected = set(network.resolved_interface_endpoints(stage, enabled_components))
    for component in sorted(enabled_components):
        needs = COMPONENT_ENDPOINTS.get(component)
        missing = [name for name in needs.required if name not in selected] if needs else []
        if missing:
            problems.append(
                Problem(
                    field=("network", "interface_endpoints"),
                    value=network.interface_endpoints,
                    message=(
                        f"missing {', '.join(repr(m) for m in missing)}: component {component!r} is enabled and needs "
                        f"{'it' if len(missing) == 1 else 'them'} ({needs.reason.split(':')[0]}); add "
                        f"{'it' if len(missing) == 1 else 'them'} or leave the field unset for the stage default"
                    ),
                )
            )
    services = ("s3", "dynamodb") if network.dynamodb_gateway_endpoint else ("s3",)
    for service in services:
        if network.resolved_prefix_list_id(service, region) is None:
            problems.append(
                Problem(
                    field=("network", f"{service}_prefix_list_id"),
                    value=None,
                    message=(
                        f"required in region {region!r} (known only for {', '.join(KNOWN_PREFIX_LISTS)}): find it with "
                        f"`aws ec2 describe-managed-prefix-lists --filters "
                        f"Name=prefix-list-name,Values=com.amazonaws.{region}.{service}`"
                    ),
                )
            )
    return problems


def check_environment(network: NetworkConfig, *, stage: str, region: str, enabled_components: Collection[str]) -> None:
    """Raise a validation error located at each broken field (``network.interface_endpoints``, ...), so the
    user sees ``field 'network.interface_endpoints': value ...: missing 'x': component 'y' ...``."""
    problems = environment_problems(network, stage=stage, region=region, enabled_components=enabled_components)
    if problems:
        raise ValidationError.from_exception_data(
            "EnvironmentConfig",
            [
                InitErrorDetails(
                    type=PydanticCustomError("network_rule", "{message}", {"message": p.message}),
                    loc=p.field,
                    input=p.value,
                )
                for p in problems
            ],
        )
