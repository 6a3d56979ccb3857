"""The pipeline's post-deploy validator (ml_platform.delivery.validate_deployment) against SageMaker in moto."""

from __future__ import annotations

from typing import Any

import pytest

from ml_platform.delivery import validate_deployment as validator
from ml_platform.delivery.validate_deployment import EndpointExpectation, expectations_for, validate_endpoints
from ml_platform.environments import load_environments

REGION = "eu-west-1"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml-platform/churn-model:1.4.0"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
EXPECTED = EndpointExpectation(
    endpoint_name="ml-platform-dev-churn", image_uri=IMAGE, variant_name="AllTraffic", instance_type="ml.m5.large"
)


@pytest.fixture
def sagemaker(aws: Any) -> Any:
    return aws.client("sagemaker", region_name=REGION)


def deploy(client: Any, *, name: str = "ml-platform-dev-churn", image: str = IMAGE, **variant: Any) -> None:
    """Model → endpoint configuration → endpoint, as the Inference stack creates them."""
    client.create_model(
        ModelName=f"{name}-model",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": image, "ModelDataUrl": "s3://models/churn/1.4.0/model.tar.gz"},
    )
    client.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"{name}-model",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 2,
                **variant,
            }
        ],
    )
    client.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")


def _failures(checks: list[validator.Check]) -> list[str]:
    return [str(check) for check in checks if not check.passed]


def test_in_service_endpoint_with_the_expected_configuration_passes(sagemaker):
    # Given the endpoint deployed as configured
    deploy(sagemaker)
    # When validated
    checks = validate_endpoints(sagemaker, [EXPECTED])
    # Then every check passes: InService, instance type, image
    assert _failures(checks) == []
    assert [str(c) for c in checks] == [
        "PASS endpoint ml-platform-dev-churn: InService",
        "PASS endpoint ml-platform-dev-churn: variant AllTraffic instance type ml.m5.large, expected ml.m5.large",
        f"PASS endpoint ml-platform-dev-churn: model ml-platform-dev-churn-model image {IMAGE}, expected {IMAGE}",
    ]


def test_wrong_image_fails_naming_both_images(sagemaker):
    # Given the endpoint serves an older image
    old = IMAGE.replace(":1.4.0", ":1.3.9")
    deploy(sagemaker, image=old)
    # Then the image check fails with both images in the message
    assert _failures(validate_endpoints(sagemaker, [EXPECTED])) == [
        f"FAIL endpoint ml-platform-dev-churn: model ml-platform-dev-churn-model image {old}, expected {IMAGE}"
    ]


def test_missing_endpoint_fails_clearly(sagemaker):
    assert _failures(validate_endpoints(sagemaker, [EXPECTED])) == [
        "FAIL endpoint ml-platform-dev-churn: not found (was the Inference stack deployed to this account/region?)"
    ]


def test_wrong_instance_type_fails(sagemaker):
    deploy(sagemaker, InstanceType="ml.m5.xlarge")
    assert _failures(validate_endpoints(sagemaker, [EXPECTED])) == [
        "FAIL endpoint ml-platform-dev-churn: variant AllTraffic instance type ml.m5.xlarge, expected ml.m5.large"
    ]


def test_unexpected_variant_fails(sagemaker):
    deploy(sagemaker, VariantName="Canary")
    (failure,) = _failures(validate_endpoints(sagemaker, [EXPECTED]))
    assert "has variants ['Canary'], expected exactly ['AllTraffic']" in failure


def test_endpoint_not_in_service_fails_with_its_status():
    # Given an endpoint SageMaker reports as Failed (stubbed: moto creates endpoints InService)
    class Client:
        def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:  # noqa: N803 - boto3 parameter name
            return {"EndpointStatus": "Failed", "FailureReason": "image not found", "EndpointConfigName": "c"}

    assert _failures(validate_endpoints(Client(), [EXPECTED])) == [
        "FAIL endpoint ml-platform-dev-churn: status is Failed, expected InService (image not found)"
    ]


def test_expectations_come_from_the_environment_config():
    # Given the declared dev environment, Then each endpoint is expected under <project>-<env>-<name>
    dev = next(env for env in load_environments() if env.name == "dev")
    expected = expectations_for(dev)
    assert [e.endpoint_name for e in expected] == [f"ml-platform-dev-{e.name}" for e in dev.inference.endpoints]
    assert [e.image_uri for e in expected] == [e.image_uri for e in dev.inference.endpoints]


def test_cli_validates_the_environment_through_an_assumed_role(sagemaker, capsys):
    # Given every dev endpoint deployed as configured in the TARGET account (moto keeps one backend per account)
    role = "arn:aws:iam::222222222222:role/cdk-hnb659fds-lookup-role-222222222222-eu-west-1"
    target = validator.session_for(REGION, role, "test-setup").client("sagemaker")
    dev = next(env for env in load_environments() if env.name == "dev")
    for endpoint in expectations_for(dev):
        deploy(target, name=endpoint.endpoint_name, image=endpoint.image_uri, InstanceType=endpoint.instance_type)
    # When the CLI runs without the role, Then it sees nothing: the pipeline account has no endpoints
    assert validator.main(["--environment", "dev"]) == 1
    capsys.readouterr()
    # When it runs as the pipeline runs it (assuming the target account's lookup role)
    status = validator.main(["--environment", "dev", "--role-arn", role])
    # Then every check passes and the summary says so
    out = capsys.readouterr().out
    assert status == 0, out
    checks = 3 * len(dev.inference.endpoints)
    assert out.splitlines()[-1] == f"dev: {checks} checks passed, 0 failed"


def test_cli_fails_when_an_endpoint_is_missing(sagemaker, capsys):
    assert validator.main(["--environment", "dev"]) == 1
    assert "not found" in capsys.readouterr().out


def test_cli_refuses_an_unknown_environment(capsys):
    assert validator.main(["--environment", "qa"]) == 2
    assert "config error: --environment 'qa': unknown environment" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------- registry versions
PACKAGE = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn/{}"
PACKAGE_EXPECTED = EndpointExpectation(
    endpoint_name="ml-platform-prod-churn", image_uri=None, model_package="churn/3", instance_type="ml.m5.large"
)


def deploy_package(client: Any, version: int, name: str = "ml-platform-prod-churn") -> None:
    """The model of a registry version names the package instead of an image."""
    client.create_model(
        ModelName=f"{name}-model", ExecutionRoleArn=ROLE, PrimaryContainer={"ModelPackageName": PACKAGE.format(version)}
    )
    client.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": f"{name}-model", "InstanceType": "ml.m5.large",
             "InitialInstanceCount": 2}
        ],
    )  # fmt: skip
    client.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")


def test_a_registry_variant_must_serve_exactly_the_expected_version(sagemaker):
    # Given the endpoint serving version 3 of the group, Then the package check passes
    deploy_package(sagemaker, 3)
    checks = validate_endpoints(sagemaker, [PACKAGE_EXPECTED])
    assert _failures(checks) == []
    assert str(checks[-1]) == (
        f"PASS endpoint ml-platform-prod-churn: model ml-platform-prod-churn-model package {PACKAGE.format(3)}, "
        "expected version churn/3"
    )
    # When version 4 was expected (the synth deployed 4, the endpoint still serves 3), Then it fails in one line
    newer = EndpointExpectation(**{**PACKAGE_EXPECTED.__dict__, "model_package": "churn/4"})
    assert _failures(validate_endpoints(sagemaker, [newer])) == [
        f"FAIL endpoint ml-platform-prod-churn: model ml-platform-prod-churn-model package {PACKAGE.format(3)}, "
        "expected version churn/4"
    ]


def test_prod_churn_is_expected_to_serve_its_pinned_or_deployed_registry_version():
    prod = next(env for env in load_environments() if env.name == "prod")
    (churn,) = [e for e in expectations_for(prod) if e.endpoint_name.endswith("-churn")]
    assert (churn.model_package, churn.image_uri) == ("churn/1", None)
    # With the versions the pipeline's synth deployed, the validator expects those
    pinned = next(env for env in load_environments(package_versions={("prod", "churn"): 7}) if env.name == "prod")
    (churn,) = [e for e in expectations_for(pinned) if e.endpoint_name.endswith("-churn")]
    assert churn.model_package == "churn/7"


def test_cli_reads_the_deployed_versions_from_the_synth_output(tmp_path, capsys):
    versions = tmp_path / "model-package-versions.json"
    versions.write_text('{"prod/churn": "seven"}')
    # A malformed file is a configuration error, one line naming the key and the rule
    assert validator.main(["--environment", "prod", "--model-package-versions", str(versions)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "config error: context 'model_package_versions': key 'prod/churn': version 'seven': a model package version "
        "is a whole number from 1"
    ]
    assert validator.main(["--environment", "prod", "--model-package-versions", str(tmp_path / "missing")]) == 2
    assert "cannot be read" in capsys.readouterr().err
