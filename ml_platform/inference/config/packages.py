"""Model package references: how a variant names a version of the environment's model registry, and how the delivery
pipeline pins versions at synth (``-c model_package_versions=...``).

A reference is ``{type: package, group: <group>, version: <n>}`` or ``{type: package, arn: <versioned package ARN>}``.
Every rule is a documented SageMaker rule (cited beside it) or a platform rule (said so). Pure data: no CDK, no AWS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ml_platform.core.errors import ConfigError

# Model package group names: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*, at most 63 characters (CreateModelPackageGroup,
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModelPackageGroup.html).
MODEL_PACKAGE_GROUP_NAME = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
# A versioned model package ARN: arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>
# (ModelPackageSummary.ModelPackageArn pattern and the documented examples, e.g. "...:model-package/modeltest/1",
# https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry-deploy.html). Versions are whole numbers from 1,
# counted per group ("Model Registry Models, Model Versions, and Model Groups", SageMaker developer guide).
PACKAGE_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"model-package/(?P<group>[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})/(?P<version>[1-9]\d{0,8})$"
)
_GROUP = re.compile(MODEL_PACKAGE_GROUP_NAME)
# The CDK context key the app reads (ml_platform/app.py) and the delivery pipeline's synth step sets.
PACKAGE_VERSIONS_CONTEXT = "model_package_versions"


def package_reference(data: Any) -> Any:
    """The raw ``{type: package, ...}`` mapping with ``group`` and ``version`` set: from ``arn`` when it is given.

    Raises ``ValueError`` with one line naming the rule (the caller adds environment, endpoint and variant).
    """
    if not isinstance(data, Mapping):
        return data
    result = dict(data)
    arn = result.get("arn")
    if arn is not None:
        if "group" in result or "version" in result:
            raise ValueError("give the model package as arn or as group + version, not both")
        match = PACKAGE_ARN.match(arn) if isinstance(arn, str) else None
        if match is None:
            raise ValueError(
                f"arn {arn!r}: not a versioned model package ARN "
                "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>); a group or an unversioned "
                "package is refused: pin a version"
            )
        result["group"], result["version"] = match["group"], int(match["version"])
        return result
    group, version = result.get("group"), result.get("version")
    if group is None or version is None:
        missing = " and ".join(name for name, value in (("group", group), ("version", version)) if value is None)
        raise ValueError(f"{missing} missing: pin a version of a group (group + version) or give its versioned arn")
    if not isinstance(group, str) or not _GROUP.match(group):
        raise ValueError(
            f"group {group!r}: not a model package group name (letters, digits and single hyphens, at most 63 "
            "characters; CreateModelPackageGroup)"
        )
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(
            f"version {version!r}: a model package version is a whole number from 1 (SageMaker numbers the versions "
            "of each group 1, 2, ...)"
        )
    return result


def arn_part(arn: str, part: str) -> str:
    """``partition``, ``region``, ``account``, ``group`` or ``version`` of a versioned package ARN ("" otherwise)."""
    match = PACKAGE_ARN.match(arn)
    return match[part] if match else ""


# ---------------------------------------------------------------------------------------------------- version pins
def parse_package_versions(value: Any) -> dict[tuple[str, str], int]:
    """The ``model_package_versions`` context: ``{"<environment>/<group>": <version>, ...}`` (a JSON string as the
    CDK CLI passes ``-c`` values, or a mapping) as ``{(environment, group): version}``. ``None``: no pins.

    Raises :class:`ConfigError`, one line per problem, each naming the context key and the rule.
    """
    where = f"context '{PACKAGE_VERSIONS_CONTEXT}'"
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigError(
                [f"{where}: not JSON ({error.msg} at character {error.pos}); expected "
                 "'{\"<environment>/<group>\": <version>, ...}'"]
            ) from None  # fmt: skip
    if not isinstance(value, Mapping):
        raise ConfigError([f'{where}: expected a JSON object {{"<environment>/<group>": <version>}}, got {value!r}'])
    pins: dict[tuple[str, str], int] = {}
    problems: list[str] = []
    for key, version in value.items():
        environment, slash, group = str(key).partition("/")
        if not slash or not environment or not _GROUP.match(group):
            problems.append(f"{where}: key {key!r}: expected '<environment>/<group>' (e.g. 'prod/churn')")
        elif isinstance(version, bool) or not isinstance(version, int) or version < 1:
            problems.append(
                f"{where}: key {key!r}: version {version!r}: a model package version is a whole number from 1"
            )
        else:
            pins[(environment, group)] = version
    if problems:
        raise ConfigError(problems)
    return pins


def pin_package_versions(
    declared: Sequence[Mapping[str, Any]], pins: Mapping[tuple[str, str], int]
) -> list[Mapping[str, Any]]:
    """``declared`` (raw environment mappings) with the version of every package variant of a pinned
    (environment, group) replaced; an ARN reference becomes group + version. Nothing else changes."""
    if not pins:
        return list(declared)
    result: list[Mapping[str, Any]] = []
    for environment in declared:
        name = environment.get("name") if isinstance(environment, Mapping) else None
        groups = {group: version for (env, group), version in pins.items() if env == name}
        inference = environment.get("inference") if groups and isinstance(environment, Mapping) else None
        if not isinstance(inference, Mapping) or not isinstance(inference.get("endpoints"), (list, tuple)):
            result.append(environment)
            continue
        endpoints = [_pin_endpoint(endpoint, groups) for endpoint in inference["endpoints"]]
        result.append({**environment, "inference": {**inference, "endpoints": endpoints}})
    return result


def _pin_endpoint(endpoint: Any, groups: Mapping[str, int]) -> Any:
    if not isinstance(endpoint, Mapping):
        return endpoint
    result = dict(endpoint)
    result["model"] = _pin_model(result.get("model"), groups)
    if isinstance(result.get("challengers"), (list, tuple)):
        result["challengers"] = [
            {**v, "model": _pin_model(v.get("model"), groups)} if isinstance(v, Mapping) else v
            for v in result["challengers"]
        ]
    if isinstance(result.get("shadow"), Mapping):
        result["shadow"] = {**result["shadow"], "model": _pin_model(result["shadow"].get("model"), groups)}
    if result["model"] is None:
        del result["model"]
    return result


def _pin_model(model: Any, groups: Mapping[str, int]) -> Any:
    if not isinstance(model, Mapping) or model.get("type") != "package":
        return model
    group = model.get("group") or arn_part(str(model.get("arn") or ""), "group")
    if group not in groups:
        return model
    pinned = {key: value for key, value in model.items() if key != "arn"}
    return {**pinned, "group": group, "version": groups[group]}


def unknown_pins(pins: Mapping[tuple[str, str], int], declared_groups: Mapping[str, Sequence[str]]) -> list[str]:
    """One line per pin whose environment or group is not declared (``declared_groups``: environment → its registry
    groups). A pin of a declared group that no variant deploys changes nothing and is accepted (the pipeline
    resolves every declared group)."""
    where = f"context '{PACKAGE_VERSIONS_CONTEXT}'"
    problems = []
    for environment, group in sorted(pins):
        if environment not in declared_groups:
            problems.append(
                f"{where}: key '{environment}/{group}': unknown environment {environment!r}; declared environments "
                f"are {', '.join(declared_groups)}"
            )
        elif group not in declared_groups[environment]:
            declared = ", ".join(declared_groups[environment]) or "none"
            problems.append(
                f"{where}: key '{environment}/{group}': environment {environment!r} declares no registry group "
                f"{group!r} (inference.registry.groups: {declared})"
            )
    return problems
