"""The pipeline's post-deploy validator (ml_platform.delivery.validate_deployment) against SageMaker in moto."""

from __future__ import annotations

from typing import Any

import pytest

from ml_platform.delivery import validate_deployment as validator
from ml_platform.delivery.validate_deployment import (
    EndpointExpectation,
    VariantExpectation,
    expectations_for,
    validate_endpoints,
)
from ml_platform.environments import load_environments

REGION = "eu-west-1"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ml-platform/churn-model:1.4.0"
ROLE = "arn:aws:iam::123456789012:role/sagemaker-execution"
MODEL = "ml-platform-dev-churn-AllTraffic-model"
EXPECTED = EndpointExpectation(
    endpoint_name="ml-platform-dev-churn",
    variants=(VariantExpectation(name="AllTraffic", images=(IMAGE,), instance_type="ml.m5.large"),),
)


@pytest.fixture
def sagemaker(aws: Any) -> Any:
    return aws.client("sagemaker", region_name=REGION)


def deploy(client: Any, expected: EndpointExpectation = EXPECTED, *, image: str | None = None, **change: Any) -> None:
    """Model → endpoint configuration → endpoint, as the Inference stack creates them (one model per variant);
    ``image`` and ``change`` alter the control variant."""
    name = expected.endpoint_name

    def entry(variant: VariantExpectation, **extra: Any) -> dict[str, Any]:
        model = f"{name}-{variant.name}-model"
        client.create_model(
            ModelName=model,
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": variant.images[0], "ModelDataUrl": "s3://models/churn/1.4.0/model.tar.gz"},
        )
        return {"VariantName": variant.name, "ModelName": model, "InstanceType": variant.instance_type,
                "InitialInstanceCount": 2, **extra}  # fmt: skip

    control, *challengers = expected.variants
    if image is not None:
        control = VariantExpectation(name=control.name, images=(image,), instance_type=control.instance_type)
    client.create_endpoint_config(
        EndpointConfigName=f"{name}-config",
        ProductionVariants=[entry(control, **change), *(entry(v) for v in challengers)],
        **({"ShadowProductionVariants": [entry(expected.shadow)]} if expected.shadow else {}),
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
        f"PASS endpoint ml-platform-dev-churn: model {MODEL} image {IMAGE}, expected {IMAGE}",
    ]


def test_wrong_image_fails_naming_both_images(sagemaker):
    # Given the endpoint serves an older image
    old = IMAGE.replace(":1.4.0", ":1.3.9")
    deploy(sagemaker, image=old)
    # Then the image check fails with both images in the message
    assert _failures(validate_endpoints(sagemaker, [EXPECTED])) == [
        f"FAIL endpoint ml-platform-dev-churn: model {MODEL} image {old}, expected {IMAGE}"
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
    assert [[v.name for v in e.variants] for e in expected] == [
        [v.name for v in e.production_variants] for e in dev.inference.endpoints
    ]
    assert [e.variants[0].images for e in expected] == [e.image_uris[:1] for e in dev.inference.endpoints]


def test_cli_validates_the_environment_through_an_assumed_role(sagemaker, capsys):
    # Given every dev endpoint deployed as configured in the TARGET account (moto keeps one backend per account)
    role = "arn:aws:iam::222222222222:role/cdk-hnb659fds-lookup-role-222222222222-eu-west-1"
    target = validator.session_for(REGION, role, "test-setup").client("sagemaker")
    dev = next(env for env in load_environments() if env.name == "dev")
    for endpoint in expectations_for(dev):
        deploy(target, endpoint)
    # When the CLI runs without the role, Then it sees nothing: the pipeline account has no endpoints
    assert validator.main(["--environment", "dev"]) == 1
    capsys.readouterr()
    # When it runs as the pipeline runs it (assuming the target account's lookup role)
    status = validator.main(["--environment", "dev", "--role-arn", role])
    # Then every check passes and the summary says so
    out = capsys.readouterr().out
    assert status == 0, out
    checks = sum(1 + 2 * len(e.variants) + (2 if e.shadow else 0) for e in expectations_for(dev))
    assert out.splitlines()[-1] == f"dev: {checks} checks passed, 0 failed"


def test_cli_fails_when_an_endpoint_is_missing(sagemaker, capsys):
    assert validator.main(["--environment", "dev"]) == 1
    assert "not found" in capsys.readouterr().out


def test_cli_refuses_an_unknown_environment(capsys):
    assert validator.main(["--environment", "qa"]) == 2
    assert "config error: --environment 'qa': unknown environment" in capsys.readouterr().err


def test_missing_shadow_or_challenger_fails_naming_the_variants(sagemaker):
    # Given an endpoint expected with a challenger and one expected with a shadow, both deployed with the control only
    control = EXPECTED.variants[0]
    challenger = VariantExpectation(name="b", images=(IMAGE,), instance_type="ml.m5.large")
    ab = EndpointExpectation(endpoint_name="ml-platform-dev-ab", variants=(control, challenger))
    shadowed = EndpointExpectation(endpoint_name="ml-platform-dev-sh", variants=(control,), shadow=challenger)
    for expected in (ab, shadowed):
        deploy(sagemaker, EndpointExpectation(endpoint_name=expected.endpoint_name, variants=(control,)))
    # Then each fails with what is deployed and what was expected
    assert _failures(validate_endpoints(sagemaker, [ab, shadowed])) == [
        "FAIL endpoint ml-platform-dev-ab: endpoint configuration ml-platform-dev-ab-config has variants "
        "['AllTraffic'], expected exactly ['AllTraffic', 'b']",
        "FAIL endpoint ml-platform-dev-sh: endpoint configuration ml-platform-dev-sh-config has shadow variants [], "
        "expected exactly ['b']",
    ]


def test_a_package_variant_is_checked_by_its_model_package():
    # Given a variant expected to serve version 7 of group fraud (stubbed client: the model names its package)
    class Client:
        def describe_endpoint(self, EndpointName: str) -> dict[str, Any]:  # noqa: N803 - boto3 parameter name
            return {"EndpointStatus": "InService", "EndpointConfigName": "c"}

        def describe_endpoint_config(self, EndpointConfigName: str) -> dict[str, Any]:  # noqa: N803
            return {"ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": "m"}]}

        def describe_model(self, ModelName: str) -> dict[str, Any]:  # noqa: N803
            arn = "arn:aws:sagemaker:eu-west-1:222222222222:model-package/fraud/6"
            return {"PrimaryContainer": {"ModelPackageName": arn}}

    expected = EndpointExpectation(endpoint_name="e", variants=(VariantExpectation(package="model-package/fraud/7"),))
    # Then the older version deployed fails the check, naming both
    assert _failures(validate_endpoints(Client(), [expected])) == [
        "FAIL endpoint e: model m package arn:aws:sagemaker:eu-west-1:222222222222:model-package/fraud/6, "
        "expected model-package/fraud/7"
    ]


# ---------------------------------------------------------------------------------------------------- deployed versions
def _churn(environment: Any) -> EndpointExpectation:
    (churn,) = [e for e in expectations_for(environment) if e.endpoint_name.endswith("-churn")]
    return churn


def test_prod_churn_is_expected_to_serve_its_pinned_or_deployed_registry_version():
    # Given prod's churn control pinned to version 1 of its registry group, Then version 1 is expected
    prod = next(env for env in load_environments() if env.name == "prod")
    assert _churn(prod).variants[0].package == "model-package/churn/1"
    # And with the versions the pipeline's synth deployed (its model_package_versions), those
    pinned = next(env for env in load_environments(package_versions={("prod", "churn"): 7}) if env.name == "prod")
    assert _churn(pinned).variants[0].package == "model-package/churn/7"


def test_cli_reads_the_deployed_versions_from_the_synth_output(sagemaker, tmp_path, capsys):
    versions = tmp_path / "model-package-versions.json"
    # A malformed file is a configuration error, one line naming the key and the rule
    versions.write_text('{"prod/churn": "seven"}')
    assert validator.main(["--environment", "prod", "--model-package-versions", str(versions)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "config error: context 'model_package_versions': key 'prod/churn': version 'seven': a model package version "
        "is a whole number from 1"
    ]
    assert validator.main(["--environment", "prod", "--model-package-versions", str(tmp_path / "missing")]) == 2
    assert "cannot be read" in capsys.readouterr().err
