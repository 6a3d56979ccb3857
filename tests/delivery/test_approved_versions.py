"""The resolver of the latest approved model package versions (ml_platform.delivery.approved_versions), against
SageMaker's model registry in moto (ListModelPackages with approval status, sort and limit; one backend per account)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ml_platform.delivery import approved_versions as resolver
from ml_platform.delivery.validate_deployment import session_for
from ml_platform.environments import load_environments

REGION = "eu-west-1"
PROD_ACCOUNT = "222222222222"
LOOKUP_ROLE = f"arn:aws:iam::{PROD_ACCOUNT}:role/cdk-hnb659fds-lookup-role-{PROD_ACCOUNT}-{REGION}"
SPEC = {
    "Containers": [
        {
            "Image": f"{PROD_ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/ml-platform/churn-model:1.5.0",
            "ModelDataUrl": f"s3://ml-platform-prod-models-{PROD_ACCOUNT}-{REGION}/churn/1.5.0/model.tar.gz",
        }
    ],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}


@pytest.fixture
def prod_registry(aws: Any) -> Any:
    """SageMaker of prod's account (reached as the pipeline reaches it: through prod's lookup role)."""
    return session_for(REGION, LOOKUP_ROLE, "test-setup").client("sagemaker")


def register(client: Any, *statuses: str, group: str = "churn") -> None:
    client.create_model_package_group(ModelPackageGroupName=group)
    for status in statuses:
        client.create_model_package(
            ModelPackageGroupName=group, ModelApprovalStatus=status, InferenceSpecification=SPEC
        )


def test_the_latest_approved_version_wins_over_newer_pending_and_rejected_ones(prod_registry):
    # Given versions 1 and 2 approved, 3 pending, 4 rejected
    register(prod_registry, "Approved", "Approved", "PendingManualApproval", "Rejected")
    # Then the latest approved is 2
    assert resolver.latest_approved(prod_registry, "churn") == 2
    # When 2 is rejected (a rollback through the registry), Then 1 is the latest approved
    prod_registry.update_model_package(
        ModelPackageArn=f"arn:aws:sagemaker:{REGION}:{PROD_ACCOUNT}:model-package/churn/2",
        ModelApprovalStatus="Rejected",
    )
    assert resolver.latest_approved(prod_registry, "churn") == 1


def test_a_group_without_approved_versions_or_not_created_is_left_to_the_config(prod_registry):
    register(prod_registry, "PendingManualApproval")
    assert resolver.latest_approved(prod_registry, "churn") is None
    assert resolver.latest_approved(prod_registry, "not-created-yet") is None


def test_resolve_reads_every_declared_group_of_every_environment(prod_registry):
    # Given prod's registry with an approved version 3
    register(prod_registry, "Approved", "Rejected", "Approved")
    notes: list[str] = []
    # When every environment is resolved (dev declares no group: its registry is not read)
    read: list[str] = []

    def client_for(environment: Any) -> Any:
        read.append(environment.name)
        return prod_registry

    versions = resolver.resolve(load_environments(), client_for, notes=notes.append)
    # Then the output is the context the synth takes, and the log says where each version comes from
    assert versions == {"prod/churn": 3}
    assert read == ["prod"]
    assert notes == ["prod/churn: latest approved version 3"]


def test_cli_assumes_the_lookup_role_and_prints_the_context(prod_registry, tmp_path, capsys):
    register(prod_registry, "Approved", "Approved")
    output = tmp_path / "model-package-versions.json"
    # When the resolver runs as the pipeline's synth runs it
    assert resolver.main(["--output", str(output)]) == 0
    # Then it printed and wrote {"prod/churn": 2}, read from prod's account through its lookup role
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"prod/churn": 2} == json.loads(output.read_text())
    assert "prod/churn: latest approved version 2" in captured.err
    # And with the caller's own credentials (the pipeline account: no registry there) nothing is approved
    assert resolver.main(["--no-assume-role"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {}
    assert "prod/churn: no approved version; the version pinned in the configuration applies" in captured.err


def test_cli_refuses_an_unknown_environment(capsys):
    assert resolver.main(["--environment", "qa"]) == 2
    assert "config error: --environment 'qa': unknown environment" in capsys.readouterr().err
