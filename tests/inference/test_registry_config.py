"""The model registry's configuration: package references (group + version or ARN), groups, sharing and the version
pins of the ``model_package_versions`` context. Every malformed input is refused with one line that names the
environment, the endpoint, the variant and the rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ml_platform.core.errors import ConfigError
from ml_platform.environments import ENVIRONMENTS, load_environments
from ml_platform.inference.config.models import PackageModel
from ml_platform.inference.config.packages import parse_package_versions, pin_package_versions

PROD = "222222222222"
GROUP = {"name": "churn", "image_repositories": ["ml-platform/churn-model"], "model_data_prefix": "churn/"}
PACKAGE_ARN = f"arn:aws:sagemaker:eu-west-1:{PROD}:model-package/churn/4"
CHALLENGER = {"name": "challenger-b", "instance_type": "ml.m5.xlarge", "initial_instance_count": 4}


def _declared(*, model: Any = None, challenger_model: Any = None, groups: Any = None, **prod: Any) -> list[dict]:
    """dev and prod as declared, prod's churn control model (and an optional challenger's) replaced."""
    declared = copy.deepcopy([dict(env) for env in ENVIRONMENTS])
    inference = declared[1]["inference"]
    churn = inference["endpoints"][0]
    if model is not None:
        churn["model"] = model
    if challenger_model is not None:
        churn["challengers"] = [{**CHALLENGER, "model": challenger_model}]
    if groups is not None:
        inference["registry"] = {"groups": groups}
    declared[1].update(prod)
    return declared


def _problems(declared: list[dict]) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load_environments(declared)
    return error.value.problems


# ---------------------------------------------------------------------------------------------------- references
def test_prod_churn_declares_version_1_of_its_registry_group():
    prod = load_environments()[1]
    assert prod.inference.endpoints[0].control.model == PackageModel(type="package", group="churn", version=1)
    assert [group.name for group in prod.inference.registry.groups] == ["churn"]


def test_a_package_of_this_account_and_region_may_be_named_by_its_arn():
    # Given the challenger's model named by the ARN of version 4 of prod's own group
    (_, prod) = load_environments(_declared(challenger_model={"type": "package", "arn": PACKAGE_ARN}))
    # Then it is that group and version
    model = prod.inference.endpoints[0].challengers[0].model
    assert (model.group, model.version, model.arn) == ("churn", 4, PACKAGE_ARN)


@pytest.mark.parametrize(
    ("model", "line"),
    [
        ({"type": "package", "group": "churn", "version": 0},
         "field 'inference.endpoints.churn.model': variant 'AllTraffic': version 0: a model package version is a "
         "whole number from 1 (SageMaker numbers the versions of each group 1, 2, ...)"),
        ({"type": "package", "group": "churn"},
         "field 'inference.endpoints.churn.model': variant 'AllTraffic': version missing: pin a version of a group "
         "(group + version) or give its versioned arn"),
        ({"type": "package", "group": "churn_v2", "version": 1},
         "field 'inference.endpoints.churn.model': variant 'AllTraffic': group 'churn_v2': not a model package group "
         "name (letters, digits and single hyphens, at most 63 characters; CreateModelPackageGroup)"),
        ({"type": "package", "arn": PACKAGE_ARN, "version": 4},
         "field 'inference.endpoints.churn.model': variant 'AllTraffic': give the model package as arn or as group + "
         "version, not both"),
        ({"type": "package", "arn": f"arn:aws:sagemaker:eu-west-1:{PROD}:model-package-group/churn"},
         "field 'inference.endpoints.churn.model': variant 'AllTraffic': arn 'arn:aws:sagemaker:eu-west-1:"
         f"{PROD}:model-package-group/churn': not a versioned model package ARN (arn:aws:sagemaker:<region>:<account>:"
         "model-package/<group>/<version>); a group or an unversioned package is refused: pin a version"),
        ({"type": "package", "group": "churn", "version": 1, "image_uri": "x"},
         "field 'inference.endpoints.churn.model.image_uri': value 'x': variant 'AllTraffic': Extra inputs are not "
         "permitted"),
        ({"type": "package", "group": "fraud", "version": 1},
         "field 'inference': endpoint 'churn': variant 'AllTraffic': model package group 'fraud' is not in "
         "inference.registry.groups (declared: churn)"),
        ({"type": "package", "arn": PACKAGE_ARN.replace(PROD, "333333333333")},
         "field 'inference': endpoint 'churn': variant 'AllTraffic': field 'model.arn': the model package is in "
         "account 333333333333 but the environment deploys to account 222222222222; a package of another account "
         "needs ECR, S3 and KMS grants in that account, which this app does not manage: register the version in the "
         "environment's own registry (see docs/releases.md)"),
        ({"type": "package", "arn": PACKAGE_ARN.replace("eu-west-1", "us-east-1")},
         "field 'inference': endpoint 'churn': variant 'AllTraffic': field 'model.arn': the model package is in region "
         "'us-east-1' but the environment deploys to 'eu-west-1'; a model's image and artifacts must be in its region: "
         "register the version in the environment's own registry (see docs/releases.md)"),
    ],
)  # fmt: skip
def test_a_malformed_control_reference_is_one_line_naming_environment_endpoint_variant_and_rule(model, line):
    assert _problems(_declared(model=model)) == [f"environment 'prod': {line}"]


def test_a_malformed_challenger_reference_names_the_challenger():
    problems = _problems(_declared(challenger_model={"type": "package", "group": "churn", "version": -1}))
    assert problems == [
        "environment 'prod': field 'inference.endpoints.churn.challengers[0].model': variant 'challenger-b': version "
        "-1: a model package version is a whole number from 1 (SageMaker numbers the versions of each group 1, 2, ...)"
    ]


def test_an_arn_needs_an_environment_with_an_account():
    declared = _declared(model={"type": "package", "arn": PACKAGE_ARN})
    del declared[1]["account"]
    declared[1]["inference"]["endpoints"][1]["image_uri"] = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/r:1"
    assert _problems(declared) == [
        "environment 'prod': field 'inference': endpoint 'churn': variant 'AllTraffic': field 'model.arn': the "
        "environment declares no account, so a package ARN cannot be checked against it; reference the package by "
        "group + version"
    ]


# ---------------------------------------------------------------------------------------------------- groups, sharing
def test_group_names_are_lower_case():
    problems = _problems(_declared(groups=[{**GROUP, "name": "Churn"}], model={"type": "package", "group": "Churn",
                                                                              "version": 1}))  # fmt: skip
    assert problems == [
        "environment 'prod': field 'inference.registry.groups[0].name': value 'Churn': 'Churn': use lower case (the "
        "group's ARN is built from the name)"
    ]


@pytest.mark.parametrize(
    ("shared_with", "rule"),
    [
        ("qa", "value 'qa': unknown environment; declared environments are dev, prod"),
        ("prod", "value 'prod': a group is not shared with its own environment"),
    ],
)
def test_sharing_names_another_declared_environment(shared_with, rule):
    assert _problems(_declared(groups=[{**GROUP, "shared_with": [shared_with]}])) == [
        f"environment 'prod': field 'inference.registry.groups.churn.shared_with': {rule}"
    ]


def test_sharing_needs_the_readers_account():
    declared = _declared(groups=[{**GROUP, "shared_with": ["dev"]}])
    del declared[0]["account"]
    declared[0]["data_lake"] = {"catalog_encryption": False}  # prod owns the Data Catalog encryption of the region
    assert _problems(declared) == [
        "environment 'prod': field 'inference.registry.groups.churn.shared_with': value 'dev': environment 'dev' "
        "declares no account; the group's resource policy can only name an account: declare its account"
    ]


def test_readers_are_the_shared_environments_accounts():
    (dev, prod) = load_environments(_declared(groups=[{**GROUP, "shared_with": ["dev"]}]))
    accounts = {dev.name: dev.account, prod.name: prod.account}
    assert prod.inference.registry.reader_accounts(accounts, own_account=prod.account) == {"churn": ("111111111111",)}
    # An environment in the same account needs no resource policy
    assert prod.inference.registry.reader_accounts({**accounts, "dev": PROD}, own_account=PROD) == {"churn": ()}


# ---------------------------------------------------------------------------------------------------- version pins
def test_a_pin_replaces_the_version_of_every_variant_of_the_group_in_that_environment_only():
    declared = _declared(challenger_model={"type": "package", "arn": PACKAGE_ARN})
    (dev, prod) = load_environments(declared, package_versions=parse_package_versions('{"prod/churn": 9}'))
    control, challenger = prod.inference.endpoints[0].production_variants
    assert (control.model.version, challenger.model.version, challenger.model.arn) == (9, 9, None)
    # Everything else is as declared
    assert prod.inference.endpoints[1] == load_environments(declared)[1].inference.endpoints[1]
    assert dev == load_environments(declared)[0]
    # And the declared mappings are not modified
    assert declared[1]["inference"]["endpoints"][0]["model"]["version"] == 1


def test_pins_parse_from_the_cli_string_or_a_mapping():
    assert parse_package_versions(None) == parse_package_versions("") == {}
    assert (
        parse_package_versions({"prod/churn": 3})
        == parse_package_versions('{"prod/churn": 3}')
        == {("prod", "churn"): 3}
    )
    with pytest.raises(ConfigError) as error:
        parse_package_versions({"prod/churn": True, "x": 1})
    assert error.value.problems == [
        "context 'model_package_versions': key 'prod/churn': version True: a model package version is a whole number "
        "from 1",
        "context 'model_package_versions': key 'x': expected '<environment>/<group>' (e.g. 'prod/churn')",
    ]


def test_pinning_nothing_returns_the_declared_environments_unchanged():
    assert pin_package_versions(ENVIRONMENTS, {}) == list(ENVIRONMENTS)
