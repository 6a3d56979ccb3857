#!/usr/bin/env python3
"""`make deploy-local`: deploy every stack of the dev environment with the real CDK CLI into a local moto
server, then check what moto really created. No AWS account, no network beyond localhost.

1. Starts moto (tests/local_deploy/moto_server.py: moto[server] from requirements-dev.txt plus documented fixes) on
   127.0.0.1 at a free port, with fake credentials. The CLI and boto3 reach it through
   ``AWS_ENDPOINT_URL=http://localhost:<port>``: moto needs the ``localhost`` host name (with ``127.0.0.1``
   CloudFormation cannot read the template the CLI uploaded to the bootstrap bucket: ``NoSuchBucket``).
2. ``cdk bootstrap aws://<account>/<region>`` with the project's pinned CLI (node_modules/.bin/cdk, what
   ``npx cdk`` runs). The account is the environment's own, or moto's default 123456789012 for an
   account-agnostic environment (the CLI deploys such stacks into the caller's account); moto is started
   with ``MOTO_ACCOUNT_ID`` set to it, so no config is changed.
3. ``cdk deploy '<env>/*' -c env=<env> --method=direct --require-approval never``: the real synth (with the
   compliance packs), asset publishing to the bootstrap bucket, cross-stack references, CloudFormation.
4. Reads every resource of the synthesized templates and reports it as
   * ``verified``: moto has it and a property read back with boto3 matches the template (key rotation,
     bucket encryption, stream encryption, VPC endpoint service, role trust, endpoint status, ...);
   * ``created``: moto's CloudFormation created it (listed in the stack's resources with a real id), and
     no property of it is read back;
   * ``not emulated``: moto did not create it (a type its CloudFormation lacks, or a custom resource whose
     Lambda it cannot run). Decided per resource from what moto reports, never assumed deployed;
   and runs the pipeline's post-deploy validator (ml_platform/delivery/validate_deployment.py) against the endpoints.
5. Stops the server it started (by its PID), also on failure or Ctrl+C.

Exit status: 0 everything deployed and every read-back matched; 1 otherwise; 2 bad usage or config.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

from ml_platform.core.errors import ConfigError  # noqa: E402
from ml_platform.delivery.validate_deployment import expectations_for, validate_endpoints  # noqa: E402
from ml_platform.environment import EnvironmentConfig  # noqa: E402
from ml_platform.environments import load_environments  # noqa: E402
from scripts.assembly import StackTemplate, read_assembly  # noqa: E402
from tests.local_deploy.moto_server import NOT_EMULATED  # noqa: E402

CDK = ROOT / "node_modules" / ".bin" / "cdk"
MOTO_DEFAULT_ACCOUNT = "123456789012"
VERIFIED, CREATED, NOT_EMULATED_RESULT = "verified", "created", "not emulated"
MISMATCH, MISSING = "MISMATCH", "MISSING"
FAILURES = (MISMATCH, MISSING)


# ---------------------------------------------------------------------------------------------------- processes
def free_port() -> int:
    """A port the OS reports free on the loopback interface (never a fixed one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MotoServer:
    """The moto server this run starts, and stops by its PID."""

    def __init__(self, *, port: int, account: str, log_path: Path) -> None:
        self.port = port
        self.account = account
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout_seconds: float = 60) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["MOTO_ACCOUNT_ID"] = self.account
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.local_deploy.moto_server", "--port", str(self.port)],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl+C reaches this script, which stops the server itself
            )
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"moto did not answer on {self.endpoint_url} within {timeout_seconds:.0f} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def aws_environment(endpoint_url: str, region: str, cdk_home: Path | None = None) -> dict[str, str]:
    """The caller's environment minus every AWS setting, plus fake credentials and the local endpoint.

    ``cdk_home``: the CLI's cache directory (``CDK_HOME``). The CLI caches the account of each access key
    (``~/.cdk/cache/accounts_partitions.json``): with the shared home, a run for one account would make the next
    run's fake key look like it belongs to the previous account. Default: the caller's.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_DEFAULT_"))}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_ENDPOINT_URL": endpoint_url,
            # No profile, no config file, no instance metadata: nothing can reach a real account.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "CDK_DISABLE_VERSION_CHECK": "true",
            "CDK_DISABLE_CLI_TELEMETRY": "true",
            **({"CDK_HOME": str(cdk_home)} if cdk_home is not None else {}),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "NODE_NO_WARNINGS": "1",
        }
    )
    return env


def run(command: Sequence[str], *, cwd: Path, env: dict[str, str], log_path: Path, timeout_seconds: float) -> None:
    """Run a CLI step, its output to ``log_path``; on timeout stop its process group (it was started here)."""
    print(f"$ {' '.join(command)}", flush=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            process.wait(timeout=timeout_seconds)
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
    if process.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-25:]
        raise RuntimeError(f"{command[1]} failed ({process.returncode}):\n" + "\n".join(tail))


# ---------------------------------------------------------------------------------------------------- verification
class Unresolved:
    """A template value this script cannot know (e.g. an attribute moto computes)."""

    def __repr__(self) -> str:
        return "<unresolved>"


UNRESOLVED = Unresolved()


@dataclass
class Context:
    session: Any
    account: str
    region: str
    stack_name: str
    physical_ids: dict[str, str]  # logical id → physical id, this stack
    types: dict[str, str]  # logical id → resource type, this stack
    outputs: dict[str, dict[str, str]]  # stack name → output name → value

    def client(self, service: str) -> Any:
        return self.session.client(service)

    def resolve(self, value: Any) -> Any:
        """A template value with Ref, Fn::Join, Fn::Sub (references only) and Fn::GetStackOutput resolved
        against what moto created; anything else is UNRESOLVED (never guessed)."""
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return UNRESOLVED
        if len(value) == 1:
            (key, argument), *_ = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key == "Fn::Join":
                delimiter, items = argument
                parts = [self.resolve(item) for item in items]
                if any(not isinstance(p, (str, int)) for p in parts):
                    return UNRESOLVED
                return delimiter.join(str(p) for p in parts)
            if key == "Fn::Sub" and isinstance(argument, str):
                return self._sub(argument)
            if key == "Fn::GetAtt" and isinstance(argument, list) and argument[1:] == ["Arn"]:
                return self._arn(argument[0])
            if key == "Fn::GetStackOutput":
                return self.outputs.get(argument.get("StackName"), {}).get(argument.get("OutputName"), UNRESOLVED)
            if key.startswith("Fn::"):
                return UNRESOLVED
        return {k: self.resolve(v) for k, v in value.items()}

    def _arn(self, logical_id: str) -> Any:
        """The ARN of a resource of this stack, for the types whose ARN follows from the physical id."""
        physical = self.physical_ids.get(logical_id)
        if physical is None:
            return UNRESOLVED
        arns = {
            "AWS::KMS::Key": f"arn:aws:kms:{self.region}:{self.account}:key/{physical}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{physical}",
        }
        return arns.get(self.types.get(logical_id, ""), UNRESOLVED)

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
        }
        if name in pseudo:
            return pseudo[name]
        return self.physical_ids.get(name, UNRESOLVED)

    def _sub(self, text: str) -> Any:
        import re

        def replace(match: re.Match[str]) -> str:
            resolved = self._ref(match.group(1)) if "." not in match.group(1) else UNRESOLVED
            if not isinstance(resolved, str):
                raise LookupError
            return resolved

        try:
            return re.sub(r"\$\{([^}]+)\}", replace, text)
        except LookupError:
            return UNRESOLVED


@dataclass
class Row:
    stack: str
    logical_id: str
    resource_type: str
    result: str
    detail: str


@dataclass
class Checks:
    """Read-back checks of one resource: (what, expected, actual)."""

    items: list[tuple[str, Any, Any]] = field(default_factory=list)

    def expect(self, what: str, expected: Any, actual: Any) -> None:
        """Compare only what the template states concretely; UNRESOLVED/None expectations are skipped."""
        if expected is None or expected is UNRESOLVED or _contains_unresolved(expected):
            return
        self.items.append((what, expected, actual))

    def fact(self, what: str, actual: Any, expected: Any = True) -> None:
        """A property that must hold whatever the template says (e.g. the endpoint is InService)."""
        self.items.append((what, expected, actual))

    @property
    def failed(self) -> list[tuple[str, Any, Any]]:
        return [(w, e, a) for w, e, a in self.items if not _equal(e, a)]


def _contains_unresolved(value: Any) -> bool:
    if value is UNRESOLVED:
        return True
    if isinstance(value, list):
        return any(_contains_unresolved(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_unresolved(v) for v in value.values())
    return False


def _equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return str(expected).lower() == str(actual).lower()
    if isinstance(expected, (int, float)) or isinstance(actual, (int, float)):
        try:
            return float(expected) == float(actual)
        except (TypeError, ValueError):
            return False
    if isinstance(expected, list) and isinstance(actual, list):
        return sorted(map(json.dumps, expected)) == sorted(map(json.dumps, actual))
    return expected == actual


def _name_from_arn(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def _principal_services(document: Any) -> list[str]:
    if isinstance(document, str):
        document = json.loads(document)
    services: set[str] = set()
    for statement in document.get("Statement", []):
        service = statement.get("Principal", {}).get("Service", [])
        services.update([service] if isinstance(service, str) else service)
    return sorted(services)


# One function per resource type: read the resource back from moto and compare with the template.
Verifier = Callable[[Context, dict[str, Any], str, Checks], None]


def _kms_key(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    kms = ctx.client("kms")
    metadata = kms.describe_key(KeyId=physical)["KeyMetadata"]
    checks.fact("key enabled", metadata["Enabled"])
    checks.expect(
        "key rotation",
        props.get("EnableKeyRotation", False),
        kms.get_key_rotation_status(KeyId=physical)["KeyRotationEnabled"],
    )


def _kms_alias(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    kms = ctx.client("kms")
    aliases = {a["AliasName"]: a for a in kms.list_aliases()["Aliases"]}
    checks.expect("alias name", props["AliasName"], props["AliasName"] if props["AliasName"] in aliases else None)
    target = aliases.get(props["AliasName"], {}).get("TargetKeyId")
    checks.fact("alias target key enabled", bool(target) and kms.describe_key(KeyId=target)["KeyMetadata"]["Enabled"])


def _s3_bucket(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    s3 = ctx.client("s3")
    (rule,) = s3.get_bucket_encryption(Bucket=physical)["ServerSideEncryptionConfiguration"]["Rules"][:1]
    actual = rule["ApplyServerSideEncryptionByDefault"]
    for expected in props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])[:1]:
        default = expected.get("ServerSideEncryptionByDefault", {})
        checks.expect("encryption", default.get("SSEAlgorithm"), actual.get("SSEAlgorithm"))
        checks.expect("encryption key", default.get("KMSMasterKeyID"), actual.get("KMSMasterKeyID"))
    if "VersioningConfiguration" in props:
        checks.expect(
            "versioning",
            props["VersioningConfiguration"].get("Status"),
            s3.get_bucket_versioning(Bucket=physical).get("Status"),
        )
    if "PublicAccessBlockConfiguration" in props:
        block = s3.get_public_access_block(Bucket=physical)["PublicAccessBlockConfiguration"]
        checks.expect("public access block", props["PublicAccessBlockConfiguration"], block)
    # Not compared: lifecycle rules, access logging, bucket key (moto's CloudFormation ignores them).


def _kinesis_stream(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    summary = ctx.client("kinesis").describe_stream_summary(StreamName=physical)["StreamDescriptionSummary"]
    checks.fact("stream ACTIVE", summary["StreamStatus"], "ACTIVE")
    encryption = props.get("StreamEncryption", {})
    checks.expect("stream encryption", encryption.get("EncryptionType"), summary.get("EncryptionType"))
    checks.expect("stream key", encryption.get("KeyId"), summary.get("KeyId"))
    checks.expect("retention hours", props.get("RetentionPeriodHours"), summary.get("RetentionPeriodHours"))
    checks.expect("shards", props.get("ShardCount"), summary.get("OpenShardCount"))


def _vpc(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    (vpc,) = ctx.client("ec2").describe_vpcs(VpcIds=[physical])["Vpcs"]
    checks.expect("CIDR", props.get("CidrBlock"), vpc["CidrBlock"])


def _subnet(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    (subnet,) = ctx.client("ec2").describe_subnets(SubnetIds=[physical])["Subnets"]
    checks.expect("CIDR", props.get("CidrBlock"), subnet["CidrBlock"])
    checks.expect("VPC", props.get("VpcId"), subnet["VpcId"])
    checks.expect("availability zone", props.get("AvailabilityZone"), subnet["AvailabilityZone"])
    checks.expect("public IPs on launch", props.get("MapPublicIpOnLaunch"), subnet["MapPublicIpOnLaunch"])


def _route_table(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    (table,) = ctx.client("ec2").describe_route_tables(RouteTableIds=[physical])["RouteTables"]
    checks.expect("VPC", props.get("VpcId"), table["VpcId"])


def _vpc_endpoint(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    (endpoint,) = ctx.client("ec2").describe_vpc_endpoints(VpcEndpointIds=[physical])["VpcEndpoints"]
    checks.expect("service", props.get("ServiceName"), endpoint["ServiceName"])
    checks.expect("type", props.get("VpcEndpointType", "Gateway"), endpoint["VpcEndpointType"])
    checks.expect("VPC", props.get("VpcId"), endpoint["VpcId"])
    checks.expect("private DNS", props.get("PrivateDnsEnabled"), endpoint.get("PrivateDnsEnabled"))
    checks.expect("subnets", props.get("SubnetIds"), endpoint.get("SubnetIds"))
    if "PolicyDocument" in props:
        checks.fact("endpoint policy set", bool(endpoint.get("PolicyDocument")))


def _security_group(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    (group,) = ctx.client("ec2").describe_security_groups(GroupIds=[physical])["SecurityGroups"]
    checks.expect("VPC", props.get("VpcId"), group["VpcId"])
    checks.expect("description", props.get("GroupDescription"), group["Description"])


def _flow_log(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    (log,) = ctx.client("ec2").describe_flow_logs(FlowLogIds=[physical])["FlowLogs"]
    checks.expect("traffic type", props.get("TrafficType"), log["TrafficType"])
    checks.expect("resource", props.get("ResourceId"), log["ResourceId"])
    checks.expect("destination", props.get("LogGroupName"), log.get("LogGroupName"))


def _iam_role(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    iam = ctx.client("iam")
    role = iam.get_role(RoleName=physical)["Role"]
    checks.expect(
        "trusted services",
        _principal_services(props.get("AssumeRolePolicyDocument", {})) or None,
        _principal_services(role["AssumeRolePolicyDocument"]),
    )
    # Not compared: ManagedPolicyArns (moto's CloudFormation does not attach them; docs/operations.md, "not proven").


def _iam_managed_policy(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    iam = ctx.client("iam")
    policy = iam.get_policy(PolicyArn=physical)["Policy"]
    version = iam.get_policy_version(PolicyArn=physical, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    document = version["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    checks.expect(
        "statement ids",
        sorted(s.get("Sid", "") for s in props["PolicyDocument"]["Statement"]),
        sorted(s.get("Sid", "") for s in document["Statement"]),
    )
    roles = [r["RoleName"] for r in iam.list_entities_for_policy(PolicyArn=physical)["PolicyRoles"]]
    checks.expect("attached roles", props.get("Roles"), roles)


def _log_group(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    groups = ctx.client("logs").describe_log_groups(logGroupNamePrefix=physical)["logGroups"]
    (group,) = [g for g in groups if g["logGroupName"] == physical]
    checks.expect("retention days", props.get("RetentionInDays"), group.get("retentionInDays"))
    checks.expect("encryption key", props.get("KmsKeyId"), group.get("kmsKeyId"))


def _sns_topic(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    attributes = ctx.client("sns").get_topic_attributes(TopicArn=physical)["Attributes"]
    checks.expect("encryption key", props.get("KmsMasterKeyId"), attributes.get("KmsMasterKeyId"))
    checks.expect("name", props.get("TopicName"), _name_from_arn(physical.replace(":", "/")))


def _sqs_queue(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    attributes = ctx.client("sqs").get_queue_attributes(QueueUrl=physical, AttributeNames=["All"])["Attributes"]
    checks.expect("encryption key", props.get("KmsMasterKeyId"), attributes.get("KmsMasterKeyId"))
    checks.expect("retention seconds", props.get("MessageRetentionPeriod"), attributes.get("MessageRetentionPeriod"))


def _lambda_function(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    configuration = ctx.client("lambda").get_function(FunctionName=physical)["Configuration"]
    for key in ("Runtime", "Handler", "MemorySize", "Timeout"):
        checks.expect(key.lower(), props.get(key), configuration.get(key))
    checks.expect("code uploaded (bytes > 0)", True, configuration.get("CodeSize", 0) > 0)


def _sagemaker_model(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    model = ctx.client("sagemaker").describe_model(ModelName=_name_from_arn(physical))
    container = props.get("PrimaryContainer", {})
    checks.expect("image", container.get("Image"), model.get("PrimaryContainer", {}).get("Image"))
    checks.expect("model data", container.get("ModelDataUrl"), model.get("PrimaryContainer", {}).get("ModelDataUrl"))


def _sagemaker_endpoint_config(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    config = ctx.client("sagemaker").describe_endpoint_config(EndpointConfigName=_name_from_arn(physical))
    expected = {v["VariantName"]: v for v in props.get("ProductionVariants", [])}
    actual = {v["VariantName"]: v for v in config.get("ProductionVariants", [])}
    checks.expect("variants", sorted(expected), sorted(actual))
    for name, variant in expected.items():
        for key in ("InstanceType", "InitialInstanceCount"):
            checks.expect(f"{name} {key}", variant.get(key), actual.get(name, {}).get(key))


def _sagemaker_endpoint(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    endpoint = ctx.client("sagemaker").describe_endpoint(EndpointName=props.get("EndpointName") or physical)
    checks.fact("endpoint status", endpoint["EndpointStatus"], "InService")
    checks.expect("endpoint name", props.get("EndpointName"), endpoint["EndpointName"])


def _events_rule(ctx: Context, props: dict[str, Any], physical: str, checks: Checks) -> None:
    rule = ctx.client("events").describe_rule(Name=physical)
    checks.expect("state", props.get("State"), rule.get("State"))
    pattern = props.get("EventPattern")
    checks.expect("event pattern", pattern, json.loads(rule["EventPattern"]) if rule.get("EventPattern") else None)


VERIFIERS: dict[str, Verifier] = {
    "AWS::KMS::Key": _kms_key,
    "AWS::KMS::Alias": _kms_alias,
    "AWS::S3::Bucket": _s3_bucket,
    "AWS::Kinesis::Stream": _kinesis_stream,
    "AWS::EC2::VPC": _vpc,
    "AWS::EC2::Subnet": _subnet,
    "AWS::EC2::RouteTable": _route_table,
    "AWS::EC2::VPCEndpoint": _vpc_endpoint,
    "AWS::EC2::SecurityGroup": _security_group,
    "AWS::EC2::FlowLog": _flow_log,
    "AWS::IAM::Role": _iam_role,
    "AWS::IAM::ManagedPolicy": _iam_managed_policy,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::SNS::Topic": _sns_topic,
    "AWS::SQS::Queue": _sqs_queue,
    "AWS::Lambda::Function": _lambda_function,
    "AWS::SageMaker::Model": _sagemaker_model,
    "AWS::SageMaker::EndpointConfig": _sagemaker_endpoint_config,
    "AWS::SageMaker::Endpoint": _sagemaker_endpoint,
    "AWS::Events::Rule": _events_rule,
}


def _paginate(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page[key]


def classify(ctx: Context, logical_id: str, resource: dict[str, Any], listed: dict[str, Any] | None) -> Row:
    """One template resource: verified, created, not emulated, or a failure (MISMATCH/MISSING)."""
    resource_type = resource["Type"]

    def row(result: str, detail: str) -> Row:
        return Row(ctx.stack_name, logical_id, resource_type, result, detail)

    if listed is None:
        return row(NOT_EMULATED_RESULT, "absent from moto's stack resources (skipped by moto)")
    physical = listed.get("PhysicalResourceId") or ""
    if physical.startswith(NOT_EMULATED):
        if resource_type.startswith("Custom::") or resource_type == "AWS::CloudFormation::CustomResource":
            return row(NOT_EMULATED_RESULT, "custom resource: its provider Lambda was not run")
        return row(NOT_EMULATED_RESULT, f"moto's CloudFormation has no {resource_type}")
    if not listed.get("ResourceStatus", "").endswith("_COMPLETE"):
        return row(MISSING, f"status {listed.get('ResourceStatus')}")
    verifier = VERIFIERS.get(resource_type)
    if verifier is None:
        return row(CREATED, f"moto id {physical}")
    checks = Checks()
    try:
        verifier(ctx, ctx.resolve(resource.get("Properties", {})), physical, checks)
    except Exception as error:  # a describe call that cannot find it: moto listed it but does not have it
        return row(MISSING, f"{type(error).__name__}: {error}"[:200])
    if checks.failed:
        return row(MISMATCH, "; ".join(f"{w}: expected {e!r}, moto has {a!r}" for w, e, a in checks.failed))
    if not checks.items:
        return row(CREATED, f"moto id {physical} (no property stated concretely to compare)")
    return row(VERIFIED, ", ".join(w for w, _, _ in checks.items))


def verify(
    stacks: Sequence[StackTemplate], *, endpoint_url: str, account: str, region: str
) -> tuple[list[Row], list[str]]:
    """Every resource of every stack, classified; plus the stacks' own problems."""
    import boto3

    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", aws_session_token="testing", region_name=region
    )
    session_client = session.client

    class Session:
        def client(self, service: str) -> Any:
            return session_client(service, endpoint_url=endpoint_url)

    local = Session()
    cloudformation = local.client("cloudformation")
    problems: list[str] = []
    outputs: dict[str, dict[str, str]] = {}
    listed: dict[str, dict[str, dict[str, Any]]] = {}
    for stack in stacks:
        try:
            (description,) = cloudformation.describe_stacks(StackName=stack.stack_name)["Stacks"]
        except Exception as error:
            problems.append(f"{stack.stack_name}: not deployed ({error})")
            continue
        if description["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            problems.append(f"{stack.stack_name}: status {description['StackStatus']}")
        outputs[stack.stack_name] = {o["OutputKey"]: o["OutputValue"] for o in description.get("Outputs", [])}
        listed[stack.stack_name] = {
            r["LogicalResourceId"]: r
            for r in _paginate(
                cloudformation, "list_stack_resources", "StackResourceSummaries", StackName=stack.stack_name
            )
            if r.get("LogicalResourceId")
        }
    rows = []
    for stack in stacks:
        resources = listed.get(stack.stack_name, {})
        ctx = Context(
            session=local,
            account=account,
            region=region,
            stack_name=stack.stack_name,
            physical_ids={k: v.get("PhysicalResourceId", "") for k, v in resources.items()},
            types={k: v["Type"] for k, v in stack.resources.items()},
            outputs=outputs,
        )
        for logical_id, resource in stack.resources.items():
            rows.append(classify(ctx, logical_id, resource, resources.get(logical_id)))
    return rows, problems


# ---------------------------------------------------------------------------------------------------- report
def table(rows: Sequence[Row]) -> str:
    headers = ("STACK", "LOGICAL ID", "TYPE", "RESULT", "DETAIL")
    cells = [(r.stack, r.logical_id, r.resource_type, r.result, r.detail) for r in rows]
    widths = [min(max(len(str(c[i])) for c in [headers, *cells]), cap) for i, cap in enumerate((16, 44, 40, 12, 200))]
    lines = []
    for cell in [headers, *cells]:
        parts = [str(value)[: widths[i]].ljust(widths[i]) for i, value in enumerate(cell)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def summary(rows: Sequence[Row]) -> str:
    counts = Counter(r.result for r in rows)
    skipped = Counter(r.resource_type for r in rows if r.result == NOT_EMULATED_RESULT)
    lines = [
        f"{len(rows)} resources: " + ", ".join(f"{counts[k]} {k}" for k in (VERIFIED, CREATED, NOT_EMULATED_RESULT)),
        "not emulated by type: " + ", ".join(f"{t} ×{n}" for t, n in sorted(skipped.items())),
    ]
    failures = [r for r in rows if r.result in FAILURES]
    if failures:
        lines.append(f"FAILED: {len(failures)} resources do not match their template")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- main
def _interrupt(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # runs the `finally` that stops the server


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environment", default="dev", help="environment to deploy (default: dev)")
    parser.add_argument("--report", type=Path, help="also write the result as JSON to this file")
    parser.add_argument("--timeout-seconds", type=float, default=900, help="limit of the deploy step")
    parser.add_argument(
        "--assembly",
        type=Path,
        help="deploy this already synthesized cloud assembly (e.g. the cdk.out of `make synth`) instead of letting "
        "the CLI synthesize the app again",
    )
    args = parser.parse_args(argv)
    try:
        environments = {env.name: env for env in load_environments()}
    except ConfigError as error:
        print("\n".join(f"config error: {line}" for line in str(error).splitlines()), file=sys.stderr)
        return 2
    environment: EnvironmentConfig | None = environments.get(args.environment)
    if environment is None:
        print(
            f"config error: --environment {args.environment!r}: unknown; declared: {', '.join(environments)}",
            file=sys.stderr,
        )
        return 2
    if not CDK.exists():
        print(f"{CDK} is missing: run `make install` (or `npm ci`) first", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _interrupt)
    account = environment.account or MOTO_DEFAULT_ACCOUNT
    region = environment.region
    timings: dict[str, float] = {}
    report: dict[str, Any] = {"environment": environment.name, "account": account, "region": region}
    with tempfile.TemporaryDirectory(prefix="deploy-local-") as work_dir:
        work = Path(work_dir)
        (work / "empty").mkdir()
        server = MotoServer(port=free_port(), account=account, log_path=work / "moto.log")
        started = time.monotonic()
        try:
            for attempt in range(3):  # a free port can be taken between probing and binding: retry elsewhere
                try:
                    server.start()
                    break
                except RuntimeError:
                    if attempt == 2 or server.process is None or server.process.poll() is None:
                        raise
                    server = MotoServer(port=free_port(), account=account, log_path=work / "moto.log")
            report.update(port=server.port, endpoint_url=server.endpoint_url, moto_pid=server.pid)
            print(f"moto (pid {server.pid}) on {server.endpoint_url}, account {account}, region {region}")
            env = aws_environment(server.endpoint_url, region, cdk_home=work / "cdk-home")
            step = time.monotonic()
            # In an empty directory: bootstrapping needs no synth of the app.
            run(
                [str(CDK), "bootstrap", f"aws://{account}/{region}", "--no-notices"],
                cwd=work / "empty",
                env=env,
                log_path=work / "bootstrap.log",
                timeout_seconds=300,
            )
            timings["bootstrap_seconds"] = time.monotonic() - step
            step = time.monotonic()
            outdir = args.assembly.resolve() if args.assembly else work / "cdk.out"
            source = (
                ["--app", str(outdir)] if args.assembly else ["-c", f"env={environment.name}", "--output", str(outdir)]
            )
            run(
                [
                    str(CDK),
                    "deploy",
                    f"{environment.name}/*",
                    *source,
                    "--method=direct",
                    "--require-approval",
                    "never",
                    "--progress",
                    "events",
                    "--no-notices",
                ],
                cwd=ROOT,
                env=env,
                log_path=work / "deploy.log",
                timeout_seconds=args.timeout_seconds,
            )
            timings["deploy_seconds"] = time.monotonic() - step
            step = time.monotonic()
            stacks = [s for s in read_assembly(outdir) if s.environment == environment.name]
            rows, problems = verify(stacks, endpoint_url=server.endpoint_url, account=account, region=region)
            validation = _post_deploy_validation(environment, server.endpoint_url)
            timings["verify_seconds"] = time.monotonic() - step
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            print(f"deploy-local failed: {error}", file=sys.stderr)
            log = work / "moto.log"
            if log.exists():
                print(
                    "moto log (last lines):\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:]),
                    file=sys.stderr,
                )
            return 1
        finally:
            server.stop()
            timings["total_seconds"] = time.monotonic() - started
            print(f"moto (pid {server.pid}) stopped")
    print()
    print(table(rows))
    print()
    print(summary(rows))
    for check in validation:
        print(f"post-deploy validation: {check}")
    for problem in problems:
        print(f"FAILED: {problem}")
    print("timings: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    failed = problems or any(r.result in FAILURES for r in rows) or any(not c.passed for c in validation)
    if args.report:
        report.update(
            rows=[asdict(r) for r in rows],
            problems=problems,
            validation=[asdict(c) for c in validation],
            timings=timings,
            stacks=[s.stack_name for s in stacks],
            ok=not failed,
        )
        args.report.write_text(json.dumps(report, indent=2))
    return 1 if failed else 0


def _post_deploy_validation(environment: EnvironmentConfig, endpoint_url: str) -> list[Any]:
    """The pipeline's validation step (ml_platform.delivery.validate_deployment), run against the local deployment."""
    import boto3

    client = boto3.client(
        "sagemaker",
        endpoint_url=endpoint_url,
        region_name=environment.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
    )
    return validate_endpoints(client, expectations_for(environment))


if __name__ == "__main__":
    sys.exit(main())
