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

This file classifies, reports and runs the steps; processes.py starts moto and the CLI, readback.py resolves
template values against what moto created, verifiers.py reads each resource type back.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

from ml_platform.core.errors import ConfigError  # noqa: E402
from ml_platform.delivery.validate_deployment import expectations_for, validate_endpoints  # noqa: E402
from ml_platform.environment import EnvironmentConfig  # noqa: E402
from ml_platform.environments import load_environments  # noqa: E402
from scripts.assembly import StackTemplate, read_assembly  # noqa: E402
from tests.local_deploy.moto_server import NOT_EMULATED  # noqa: E402
from tests.local_deploy.processes import MotoServer, aws_environment, free_port, run  # noqa: E402
from tests.local_deploy.readback import Checks, Context  # noqa: E402
from tests.local_deploy.verifiers import VERIFIERS  # noqa: E402

CDK = ROOT / "node_modules" / ".bin" / "cdk"
MOTO_DEFAULT_ACCOUNT = "123456789012"
VERIFIED, CREATED, NOT_EMULATED_RESULT = "verified", "created", "not emulated"
MISMATCH, MISSING = "MISMATCH", "MISSING"
FAILURES = (MISMATCH, MISSING)


# ---------------------------------------------------------------------------------------------------- verification
@dataclass
class Row:
    stack: str
    logical_id: str
    resource_type: str
    result: str
    detail: str


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
