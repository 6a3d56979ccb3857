"""VPC endpoints of the isolated VPC: the S3 gateway endpoint with a data-perimeter policy, an optional DynamoDB
gateway endpoint, interface endpoints behind one security group, and the security group for workloads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from aws_cdk import Aws, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct

HTTPS = ec2.Port.tcp(443)

# Name → CDK service. The names are the ones ml_platform.network.config.INTERFACE_ENDPOINT_CATALOGUE declares (a
# test keeps both lists and the service names in step).
INTERFACE_ENDPOINT_SERVICES: Mapping[str, ec2.InterfaceVpcEndpointAwsService] = MappingProxyType(
    {
        "sagemaker_api": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API,
        "sagemaker_runtime": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
        "sts": ec2.InterfaceVpcEndpointAwsService.STS,
        "logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
        "monitoring": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
        "kms": ec2.InterfaceVpcEndpointAwsService.KMS,
        "kinesis_streams": ec2.InterfaceVpcEndpointAwsService.KINESIS_STREAMS,
        "firehose": ec2.InterfaceVpcEndpointAwsService.KINESIS_FIREHOSE,
        "glue": ec2.InterfaceVpcEndpointAwsService.GLUE,
        "ecr_api": ec2.InterfaceVpcEndpointAwsService.ECR,
        "ecr_dkr": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
        "athena": ec2.InterfaceVpcEndpointAwsService.ATHENA,
        "ssm": ec2.InterfaceVpcEndpointAwsService.SSM,
        "secretsmanager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    }
)

# What workloads may do in the platform's own buckets through the S3 gateway endpoint: read, write and list
# objects (incl. multipart uploads). Bucket configuration (policies, lifecycle, encryption) is changed by
# CloudFormation, never from inside the VPC, so it is not allowed here.
PLATFORM_BUCKET_ACTIONS: tuple[str, ...] = (
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:GetBucketLocation",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
)


def aws_owned_bucket_objects(partition: str, region: str) -> dict[str, list[str]]:
    """Objects of AWS-owned buckets the platform's workloads read in ``region``, by statement id.

    * ``EcrImageLayers``: Amazon ECR stores image layers in ``prod-<region>-starport-layer-bucket``; pulling
      any ECR image (private repositories, SageMaker's own and Model Monitor images) downloads its layers from
      there through the S3 gateway endpoint (Amazon ECR User Guide, "Amazon ECR interface VPC endpoints",
      "Minimum Amazon S3 bucket permissions for Amazon ECR": ``s3:GetObject`` on
      ``arn:aws:s3:::prod-region-starport-layer-bucket/*``).
    * ``SageMakerJumpStartArtifacts``: SageMaker JumpStart's model artifacts and inference scripts are in
      ``jumpstart-cache-prod-<region>`` (SageMaker Developer Guide, JumpStart security settings: scope S3
      access to "the JumpStart Amazon S3 bucket"). Read-only, so the endpoint cannot be used to write data out.

    Deliberately not allowed: the Amazon Linux package repositories (``packages.<region>.amazonaws.com``,
    ``repo.<region>.amazonaws.com``, ``amazonlinux.<region>.amazonaws.com``, ``al2023-repos-<region>-*``).
    The SageMaker Developer Guide ("Give SageMaker hosted endpoints access to resources in your Amazon VPC")
    recommends an endpoint policy that denies them so nobody installs packages into a model container at run
    time; nothing in the platform installs packages (images are built outside the VPC).
    """
    return {
        "EcrImageLayers": [f"arn:{partition}:s3:::prod-{region}-starport-layer-bucket/*"],
        "SageMakerJumpStartArtifacts": [f"arn:{partition}:s3:::jumpstart-cache-prod-{region}/*"],
    }


def s3_gateway_policy_statements(
    *, partition: str, region: str, account: str, bucket_patterns: Sequence[str]
) -> list[iam.PolicyStatement]:
    """The S3 gateway endpoint's policy: an allow-list (whatever no statement allows is denied).

    * ``PlatformBuckets``: :data:`PLATFORM_BUCKET_ACTIONS` on the buckets matching ``bucket_patterns`` and
      their objects, only when the bucket is in ``account`` (``aws:ResourceAccount``: a lookalike bucket with
      the same name prefix in another account is refused, which closes the exfiltration path a name pattern
      alone leaves open) and the caller is a principal of ``account`` (``aws:PrincipalAccount``).
    * The read-only AWS-owned objects of :func:`aws_owned_bucket_objects`.
    """
    own_resources = []
    for pattern in bucket_patterns:
        own_resources += [f"arn:{partition}:s3:::{pattern}", f"arn:{partition}:s3:::{pattern}/*"]
    statements = [
        iam.PolicyStatement(
            sid="PlatformBuckets",
            principals=[iam.StarPrincipal()],
            actions=list(PLATFORM_BUCKET_ACTIONS),
            resources=own_resources,
            conditions={"StringEquals": {"aws:ResourceAccount": account, "aws:PrincipalAccount": account}},
        )
    ]
    for sid, resources in aws_owned_bucket_objects(partition, region).items():
        statements.append(
            iam.PolicyStatement(
                sid=sid, principals=[iam.StarPrincipal()], actions=["s3:GetObject"], resources=resources
            )
        )
    return statements


def dynamodb_gateway_policy_statements(*, account: str) -> list[iam.PolicyStatement]:
    """The DynamoDB gateway endpoint's policy: any action on tables of ``account`` by principals of ``account``."""
    return [
        iam.PolicyStatement(
            sid="TablesOfThisAccount",
            principals=[iam.StarPrincipal()],
            actions=["dynamodb:*"],
            resources=["*"],
            conditions={"StringEquals": {"aws:ResourceAccount": account, "aws:PrincipalAccount": account}},
        )
    ]


def interface_endpoint_policy_statements(
    name: str, *, partition: str, region: str, account: str, aws_image_accounts: Sequence[str] = ()
) -> list[iam.PolicyStatement]:
    """The policy of the interface endpoint ``name`` (a key of :data:`INTERFACE_ENDPOINT_SERVICES`): a data
    perimeter. Without a policy an endpoint allows full access, so credentials of any account could reach any
    account's resources through it ("If you do not attach a policy ..., we attach a default policy for you that
    allows full access", AWS PrivateLink guide, "Control access to VPC endpoints using endpoint policies").

    * ``PrincipalsAndResourcesOfThisAccount``: any action by principals of ``account`` on resources of
      ``account`` (``aws:PrincipalAccount``, ``aws:ResourceAccount``; the latter is "always included in the
      request context for most service actions", IAM User Guide, global condition keys, whose listed exceptions
      do not concern these services).
    * Documented exceptions, each for principals of ``account`` only:

      - ``ecr_api``/``ecr_dkr``: ``ecr:GetAuthorizationToken`` has no resource (Resource ``*``; whether
        ``aws:ResourceAccount`` is set for it is unverified, so it is not required), and SageMaker's own images
        (Model Monitor's analyzer) live in AWS-owned registries ``aws_image_accounts`` ("Amazon SageMaker
        pre-built Docker images" among the service-owned repositories of the data-perimeter guidance,
        aws-samples/data-perimeter-policy-examples).
      - ``monitoring``: ``cloudwatch:PutMetricData`` takes no resource (it writes the caller's own account).
      - ``sts``: ``sts:GetCallerIdentity`` takes no resource.
      - ``ssm``: AWS's public parameters (``arn:aws:ssm:<region>::parameter/aws/service/*``) have no account.
    """
    own = {"StringEquals": {"aws:PrincipalAccount": account}}
    statements = [
        iam.PolicyStatement(
            sid="PrincipalsAndResourcesOfThisAccount",
            principals=[iam.StarPrincipal()],
            actions=["*"],
            resources=["*"],
            conditions={"StringEquals": {"aws:PrincipalAccount": account, "aws:ResourceAccount": account}},
        )
    ]

    def extra(sid: str, actions: Sequence[str], resources: Sequence[str]) -> None:
        statements.append(
            iam.PolicyStatement(
                sid=sid,
                principals=[iam.StarPrincipal()],
                actions=list(actions),
                resources=list(resources),
                conditions=own,
            )
        )

    if name in ("ecr_api", "ecr_dkr"):
        extra("AuthenticateToEcr", ["ecr:GetAuthorizationToken"], ["*"])
        if aws_image_accounts:
            extra(
                "PullAwsOwnedSageMakerImages",
                ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                [f"arn:{partition}:ecr:{region}:{image_account}:repository/*" for image_account in aws_image_accounts],
            )
    elif name == "monitoring":
        extra("PublishMetricsOfThisAccount", ["cloudwatch:PutMetricData"], ["*"])
    elif name == "sts":
        extra("CallerIdentity", ["sts:GetCallerIdentity"], ["*"])
    elif name == "ssm":
        public_parameters = f"arn:{partition}:ssm:{region}::parameter/aws/service/*"
        extra("AwsPublicParameters", ["ssm:GetParameter", "ssm:GetParameters"], [public_parameters])
    return statements


class VpcEndpoints(Construct):
    """Gateway and interface endpoints of an isolated VPC, and the two security groups around them.

    * S3 gateway endpoint (always) with :func:`s3_gateway_policy_statements`; DynamoDB gateway endpoint
      (``dynamodb_gateway=True``) with :func:`dynamodb_gateway_policy_statements`. Both route from ``subnets``.
    * One interface endpoint per name in ``interface_endpoints`` (keys of
      :data:`INTERFACE_ENDPOINT_SERVICES`), with private DNS, in ``subnets``, all behind
      ``endpoint_security_group``: TCP 443 in from the VPC CIDR and nothing else; no egress (an endpoint
      network interface only answers connections, and security groups are stateful).
    * ``workload_security_group`` for Lambda functions, SageMaker models and other workloads in ``subnets``:
      no ingress; egress only TCP 443 to the endpoint security group and to the S3 (and DynamoDB) prefix list.
      DNS needs no rule: security groups do not filter traffic to the Amazon-provided DNS server.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        vpc_cidr: str,
        subnets: ec2.SubnetSelection,
        interface_endpoints: Sequence[str],
        s3_bucket_patterns: Sequence[str],
        s3_prefix_list_id: str,
        dynamodb_gateway: bool = False,
        dynamodb_prefix_list_id: str | None = None,
        aws_image_accounts: Sequence[str] = (),
    ) -> None:
        """
        :param vpc: the VPC.
        :param vpc_cidr: the VPC's CIDR block as a literal (the endpoint ingress rule's source; a literal rather
            than the VPC's ``CidrBlock`` attribute so compliance rules and reviewers can read the rule).
        :param subnets: where interface endpoints get their network interfaces and gateway endpoints route from.
        :param interface_endpoints: names from :data:`INTERFACE_ENDPOINT_SERVICES`; one endpoint each.
        :param s3_bucket_patterns: names or ``*`` patterns of this account's buckets workloads may use.
        :param s3_prefix_list_id: the region's ``com.amazonaws.<region>.s3`` prefix list (workload egress).
        :param dynamodb_gateway: add the DynamoDB gateway endpoint. Default: no.
        :param dynamodb_prefix_list_id: the region's DynamoDB prefix list; required with ``dynamodb_gateway``.
        :param aws_image_accounts: AWS-owned ECR registries workloads pull SageMaker images from (Model Monitor's
            analyzer), allowed through the ECR endpoints. Default: none.
        """
        super().__init__(scope, construct_id)
        unknown = [name for name in interface_endpoints if name not in INTERFACE_ENDPOINT_SERVICES]
        if unknown:
            raise ValueError(f"unknown interface endpoint(s) {unknown}; known: {list(INTERFACE_ENDPOINT_SERVICES)}")
        if dynamodb_gateway and not dynamodb_prefix_list_id:
            raise ValueError("dynamodb_gateway needs dynamodb_prefix_list_id for the workload egress rule")
        stack = Stack.of(self)

        self.s3_endpoint = ec2.GatewayVpcEndpoint(
            self, "S3GatewayEndpoint", vpc=vpc, service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[subnets]
        )
        for statement in s3_gateway_policy_statements(
            partition=stack.partition, region=stack.region, account=Aws.ACCOUNT_ID, bucket_patterns=s3_bucket_patterns
        ):
            self.s3_endpoint.add_to_policy(statement)

        self.dynamodb_endpoint: ec2.GatewayVpcEndpoint | None = None
        if dynamodb_gateway:
            self.dynamodb_endpoint = ec2.GatewayVpcEndpoint(
                self,
                "DynamoDbGatewayEndpoint",
                vpc=vpc,
                service=ec2.GatewayVpcEndpointAwsService.DYNAMODB,
                subnets=[subnets],
            )
            for statement in dynamodb_gateway_policy_statements(account=Aws.ACCOUNT_ID):
                self.dynamodb_endpoint.add_to_policy(statement)

        self.endpoint_security_group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=vpc,
            description="Interface endpoints: HTTPS in from the VPC CIDR only, no egress",
            allow_all_outbound=False,
        )
        self.endpoint_security_group.add_ingress_rule(ec2.Peer.ipv4(vpc_cidr), HTTPS, "HTTPS from the VPC")

        self.interface_endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        for name in interface_endpoints:
            self.interface_endpoints[name] = ec2.InterfaceVpcEndpoint(
                self,
                _endpoint_id(name),
                vpc=vpc,
                service=INTERFACE_ENDPOINT_SERVICES[name],
                subnets=subnets,
                security_groups=[self.endpoint_security_group],
                private_dns_enabled=True,
                open=False,  # the ingress rule above is the only one
            )
            for statement in interface_endpoint_policy_statements(
                name,
                partition=stack.partition,
                region=stack.region,
                account=Aws.ACCOUNT_ID,
                aws_image_accounts=aws_image_accounts,
            ):
                self.interface_endpoints[name].add_to_policy(statement)

        self.workload_security_group = ec2.SecurityGroup(
            self,
            "WorkloadSecurityGroup",
            vpc=vpc,
            description="Workloads in the isolated subnets: HTTPS out to the VPC endpoints only",
            allow_all_outbound=False,
        )
        self.workload_security_group.add_egress_rule(
            self.endpoint_security_group, HTTPS, "HTTPS to the interface endpoints"
        )
        self.workload_security_group.add_egress_rule(
            ec2.Peer.prefix_list(s3_prefix_list_id), HTTPS, "HTTPS to S3 through the gateway endpoint"
        )
        if dynamodb_gateway and dynamodb_prefix_list_id:
            self.workload_security_group.add_egress_rule(
                ec2.Peer.prefix_list(dynamodb_prefix_list_id), HTTPS, "HTTPS to DynamoDB through the gateway endpoint"
            )


def _endpoint_id(name: str) -> str:
    """Construct id of an interface endpoint: ``sagemaker_api`` → ``SagemakerApiEndpoint`` (a stable contract)."""
    return "".join(part.capitalize() for part in name.split("_")) + "Endpoint"
