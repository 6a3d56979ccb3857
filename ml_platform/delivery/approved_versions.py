#!/usr/bin/env python3
"""The latest approved version of every declared model package group, as the ``model_package_versions`` context.

The delivery pipeline's synth step runs it and passes its output to the synth, so an approval deploys without a
commit while every synth stays offline and reviewable (the versions are printed in the build log and kept in the
synth output)::

    python3 -m ml_platform.delivery.approved_versions --output model-package-versions.json
    npx cdk synth -c model_package_versions="$(cat model-package-versions.json)"

For each environment with registry groups it assumes the environment's CDK bootstrap lookup role (read-only: the
AWS managed policy ReadOnlyAccess, which grants ``sagemaker:List*``, minus ``kms:Decrypt``; bootstrap template of the
pinned CLI, ``LookupRole``) and calls ListModelPackages (ModelApprovalStatus=Approved, SortBy=CreationTime,
SortOrder=Descending, MaxResults=1; https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ListModelPackages.html),
which needs no key. A group without an approved version (or not created yet) is left out, so the version pinned in
the configuration applies; the script says so on stderr.

Output: ``{"<environment>/<group>": <version>, ...}``, keys sorted. ``--no-assume-role`` uses the caller's own
credentials (a laptop with credentials of the environment's account). Exit status: 0 resolved, 1 an AWS call failed,
2 a usage or configuration error. Needs only boto3 and pydantic (the config models), like the validation step.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ml_platform.core.errors import ConfigError
from ml_platform.delivery.config import lookup_role_arn
from ml_platform.delivery.validate_deployment import session_for
from ml_platform.environment import EnvironmentConfig
from ml_platform.environments import load_environments

APPROVED = "Approved"


def latest_approved(client: Any, group: str) -> int | None:
    """The newest (by creation time) approved version of ``group``; None when it has none or does not exist."""
    try:
        response = client.list_model_packages(
            ModelPackageGroupName=group,
            ModelApprovalStatus=APPROVED,
            ModelPackageType="Versioned",
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        )
    except ClientError as error:
        # A group the Registry stack has not created yet (first deployment): nothing is approved in it.
        if error.response.get("Error", {}).get("Code") in ("ValidationException", "ResourceNotFound"):
            return None
        raise
    summaries = response.get("ModelPackageSummaryList", [])
    return int(summaries[0]["ModelPackageVersion"]) if summaries else None


def resolve(
    environments: Sequence[EnvironmentConfig],
    client_for: Callable[[EnvironmentConfig], Any],
    *,
    notes: Callable[[str], None] = lambda line: None,
) -> dict[str, int]:
    """``{"<environment>/<group>": version}`` of every group of ``environments`` that has an approved version;
    ``client_for(environment)`` returns a SageMaker client of the environment's account and region."""
    result: dict[str, int] = {}
    for environment in environments:
        groups = environment.inference.registry.groups
        if not groups:
            continue
        client = client_for(environment)
        for group in groups:
            version = latest_approved(client, group.name)
            key = f"{environment.name}/{group.name}"
            if version is None:
                notes(f"{key}: no approved version; the version pinned in the configuration applies")
            else:
                result[key] = version
                notes(f"{key}: latest approved version {version}")
    return dict(sorted(result.items()))


def _client_for(*, assume_role: bool, partition: str, qualifier: str) -> Callable[[EnvironmentConfig], Any]:
    def client(environment: EnvironmentConfig) -> Any:
        role = None
        if assume_role and environment.account is not None:
            role = lookup_role_arn(
                account=environment.account, region=environment.region, partition=partition, qualifier=qualifier
            )
        return session_for(environment.region, role, f"approved-versions-{environment.name}").client("sagemaker")

    return client


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--environment", action="append", help="only this environment (repeatable; default: all)")
    parser.add_argument("--output", help="write the JSON to this file too (default: stdout only)")
    parser.add_argument("--no-assume-role", action="store_true", help="use the caller's credentials")
    parser.add_argument("--partition", default="aws", help="partition of the lookup roles (default: aws)")
    parser.add_argument("--qualifier", default="hnb659fds", help="CDK bootstrap qualifier (default: hnb659fds)")
    args = parser.parse_args(argv)
    try:
        environments = load_environments()
    except ConfigError as error:
        for line in str(error).splitlines():
            print(f"config error: {line}", file=sys.stderr)
        return 2
    by_name = {env.name: env for env in environments}
    unknown = [name for name in args.environment or [] if name not in by_name]
    if unknown:
        print(
            f"config error: --environment {unknown[0]!r}: unknown environment; declared environments are "
            f"{', '.join(by_name)}",
            file=sys.stderr,
        )
        return 2
    selected = [by_name[name] for name in args.environment] if args.environment else list(environments)
    client_for = _client_for(assume_role=not args.no_assume_role, partition=args.partition, qualifier=args.qualifier)
    try:
        versions = resolve(selected, client_for, notes=lambda line: print(line, file=sys.stderr))
    except (ClientError, BotoCoreError) as error:
        print(f"FAIL: AWS call failed: {error}", file=sys.stderr)
        return 1
    text = json.dumps(versions, sort_keys=True)
    if args.output:
        Path(args.output).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
