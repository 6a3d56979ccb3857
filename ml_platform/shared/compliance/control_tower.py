"""AWS Control Tower proactive controls (cfn-guard rules, ``cdklabs.cdk-validator-cfnguard``): the plugin, the
acknowledgment of a control, and the plugin's report.

The plugin reads the synthesized templates; CDK applies acknowledgments to its report and writes it to
``validation-report.json`` in the cloud assembly, which :func:`control_tower_findings` reads. Outside a synth,
:func:`run_control_tower` runs the plugin on template files and :func:`control_tower_unacknowledged` applies the
app's acknowledgments the way CDK does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    CfnElement,
    CfnResource,
    IAspect,
    IPolicyValidationContextBeta1,
    PolicyValidationPluginReportBeta1,
    Reference,
    Stack,
    Stage,
    Tokenization,
    Validations,
)
from aws_cdk import aws_athena as athena
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from cdklabs.cdk_validator_cfnguard import CfnGuardValidator
from constructs import IConstruct, IValidation

from ml_platform.shared.compliance.nag import Finding, acknowledge

# The Control Tower plugin's name (CfnGuardValidator.name): the namespace of its acknowledgment ids.
CONTROL_TOWER_PLUGIN = "cdk-validator-cfnguard"

# Control Tower control id → the cfn-guard rule name the plugin reports and an acknowledgment names
# ("cdk-validator-cfnguard::<rule name>"). Only the controls this app acknowledges somewhere are listed; the
# plugin runs every bundled rule.
CONTROL_TOWER_RULES: dict[str, str] = {
    "CT.ATHENA.PR.2": "athena_workgroup_results_encrypted_at_rest_kms_check",
    "CT.CLOUDWATCH.PR.3": "cloudwatch_log_group_encrypted_check",
    "CT.KINESIS.PR.1": "kinesis_stream_encrypted_check",
    "CT.LAMBDA.PR.3": "lambda_inside_vpc_check",
    "CT.S3.PR.2": "s3_bucket_logging_enabled_check",
    "CT.S3.PR.9": "s3_bucket_object_lock_enabled_check",
    "CT.S3.PR.10": "s3_bucket_default_encryption_kms_check",
    "CT.SQS.PR.2": "sqs_queue_encrypted_check",
}

# cfn-guard prints one JSON result per template; Node's default 1 MiB pipe buffer is too small for a full app.
_GUARD_OUTPUT_BUFFER_BYTES = 64 * 1024 * 1024


def control_tower_validator() -> CfnGuardValidator:
    """The plugin with every bundled Control Tower proactive control on and none disabled: a finding is fixed
    or acknowledged on its resource (:func:`acknowledge_control`), never switched off for the whole app."""
    return CfnGuardValidator(control_tower_rules_enabled=True, max_buffer=_GUARD_OUTPUT_BUFFER_BYTES)


def control_tower_rule_id(control_id: str) -> str:
    """The acknowledgment id of a Control Tower control, e.g. ``CT.S3.PR.9`` →
    ``cdk-validator-cfnguard::s3_bucket_object_lock_enabled_check``."""
    try:
        return f"{CONTROL_TOWER_PLUGIN}::{CONTROL_TOWER_RULES[control_id]}"
    except KeyError:
        raise ValueError(f"{control_id}: not in CONTROL_TOWER_RULES (add its cfn-guard rule name)") from None


def acknowledge_control(scope: IConstruct, control_id: str, reason: str) -> None:
    """Acknowledge one Control Tower control (e.g. ``CT.S3.PR.9``) on ``scope`` and below. ``reason`` must say
    why AWS forces the configuration or why the rule cannot read the valid template; it is recorded with the
    control id in front."""
    acknowledge(scope, control_tower_rule_id(control_id), f"{control_id}: {reason}")


@dataclass(frozen=True)
class _ReferenceCheck:
    """A Control Tower rule that accepts a property only as a literal or a same-template Ref/Fn::GetAtt."""

    control_id: str
    resource_type: type
    property_path: str
    # The property's values, each with the CloudFormation type it must reference; None when it is unset or
    # not the configuration the rule wants apart from the reference (then the rule's finding stands).
    values: Callable[[Any], list[tuple[object, str]] | None]


def _kms(value: object) -> list[tuple[object, str]] | None:
    return [(value, "AWS::KMS::Key")] if value is not None else None


def _athena_results_key(workgroup: athena.CfnWorkGroup) -> list[tuple[object, str]] | None:
    encryption = getattr(
        getattr(workgroup.work_group_configuration, "result_configuration", None), "encryption_configuration", None
    )
    if getattr(encryption, "encryption_option", None) not in ("SSE_KMS", "CSE_KMS"):
        return None
    return _kms(getattr(encryption, "kms_key", None))


def _stream_key(stream: kinesis.CfnStream) -> list[tuple[object, str]] | None:
    encryption = stream.stream_encryption
    if getattr(encryption, "encryption_type", None) != "KMS":
        return None
    return _kms(getattr(encryption, "key_id", None))


def _function_vpc(function: lambda_.CfnFunction) -> list[tuple[object, str]] | None:
    subnets = list(getattr(function.vpc_config, "subnet_ids", None) or [])
    groups = list(getattr(function.vpc_config, "security_group_ids", None) or [])
    if not subnets or not groups:
        return None
    return [(s, "AWS::EC2::Subnet") for s in subnets] + [(g, "AWS::EC2::SecurityGroup") for g in groups]


_REFERENCE_CHECKS: tuple[_ReferenceCheck, ...] = (
    _ReferenceCheck(
        "CT.ATHENA.PR.2",
        athena.CfnWorkGroup,
        "WorkGroupConfiguration.ResultConfiguration.EncryptionConfiguration.KmsKey",
        _athena_results_key,
    ),
    _ReferenceCheck("CT.CLOUDWATCH.PR.3", logs.CfnLogGroup, "KmsKeyId", lambda r: _kms(r.kms_key_id)),
    _ReferenceCheck("CT.KINESIS.PR.1", kinesis.CfnStream, "StreamEncryption.KeyId", _stream_key),
    _ReferenceCheck("CT.LAMBDA.PR.3", lambda_.CfnFunction, "VpcConfig.SubnetIds/SecurityGroupIds", _function_vpc),
    _ReferenceCheck("CT.SQS.PR.2", sqs.CfnQueue, "KmsMasterKeyId", lambda r: _kms(r.kms_master_key_id)),
)


def _path_in_stage(construct: IConstruct) -> str:
    stage_path = Stage.of(construct).node.path if Stage.of(construct) else ""
    return construct.node.path[len(stage_path) + 1 :] if stage_path else construct.node.path


@jsii.implements(IValidation)
class _CrossStackReferenceAcknowledgment:
    """Acknowledges one Control Tower control on one resource when, and only when, every value the rule reads
    is a reference to a resource of the required type in another stack. It runs as a construct validation,
    after CDK has rendered cross-stack references (``Fn::GetStackOutput`` or ``Fn::ImportValue``)."""

    def __init__(self, resource: CfnResource, check: _ReferenceCheck) -> None:
        self._resource = resource
        self._check = check

    def validate(self) -> list[str]:
        values = self._check.values(self._resource)
        if not values:
            return []
        stack = Stack.of(self._resource)
        targets: list[str] = []
        forms: set[str] = set()
        for value, required_type in values:
            reference = Tokenization.reverse(value) if isinstance(value, str) else None
            if not isinstance(reference, Reference) or not isinstance(reference.target, CfnResource):
                return []
            target = reference.target
            if target.cfn_resource_type != required_type or Stack.of(target).node.path == stack.node.path:
                return []
            rendered = stack.resolve(value)
            form = next(iter(rendered)) if isinstance(rendered, dict) and len(rendered) == 1 else None
            if form not in ("Fn::GetStackOutput", "Fn::ImportValue"):
                return []
            forms.add(form)
            targets.append(f"{_path_in_stage(target)} ({required_type})")
        named = ", ".join(dict.fromkeys(targets))
        acknowledge_control(
            self._resource,
            self._check.control_id,
            f"{self._check.property_path} references {named} in another stack ({' and '.join(sorted(forms))}); "
            "the rule accepts only a literal value or a Ref/Fn::GetAtt to a resource in the same template, so it "
            "cannot read a cross-stack reference (neither the weak nor the strong form). The referenced resource "
            "is of the required type, so the configuration is the one the control asks for.",
        )
        return []


@jsii.implements(IAspect)
class CrossStackReferenceAcknowledgments:
    """Adds :class:`_CrossStackReferenceAcknowledgment` to every resource a reference-reading Control Tower rule
    checks (KMS keys of log groups, queues, streams and Athena workgroups; subnets and security groups of Lambda
    functions). Nothing is acknowledged for a literal, a same-stack reference, a missing value or a reference
    to a resource of another type: the rule's own verdict stands there."""

    def visit(self, node: IConstruct) -> None:
        for check in _REFERENCE_CHECKS:
            if isinstance(node, check.resource_type):
                node.node.add_validation(_CrossStackReferenceAcknowledgment(node, check))


def control_tower_findings(outdir: str | Path) -> list[Finding]:
    """Every unacknowledged Control Tower finding of the synth that wrote the cloud assembly ``outdir``, read
    from the validation report CDK writes there (``validation-report.json``) after applying acknowledgments.
    A plugin that failed to run is one finding too."""
    return _control_tower_entries(outdir, "violations")


def control_tower_acknowledged(outdir: str | Path) -> list[Finding]:
    """The Control Tower findings of that synth that an acknowledgment suppressed (same report)."""
    return _control_tower_entries(outdir, "suppressedViolations")


def control_tower_report_present(outdir: str | Path) -> bool:
    """Whether the plugin ran and reported anything (a finding or an acknowledged finding) in that synth."""
    return _control_tower_report(outdir) is not None


def _control_tower_report(outdir: str | Path) -> dict[str, Any] | None:
    report = json.loads((Path(outdir) / "validation-report.json").read_text())
    return next((r for r in report["pluginReports"] if r["pluginName"] == CONTROL_TOWER_PLUGIN), None)


def _control_tower_entries(outdir: str | Path, key: str) -> list[Finding]:
    report = _control_tower_report(outdir)
    if report is None:
        return []
    result = []
    if key == "violations" and report.get("conclusion") == "failure" and not report.get("violations"):
        error = (report.get("metadata") or {}).get("error", "the plugin failed without a finding")
        result.append(Finding("ControlTower", CONTROL_TOWER_PLUGIN, "error", "?", str(error)))
    for violation in report.get(key) or []:
        for construct in violation["violatingConstructs"]:
            resource = construct.get("cloudFormationResource") or {}
            where = construct.get("constructPath") or f"{resource.get('templatePath', '?')}#{resource.get('logicalId')}"
            result.append(
                Finding(
                    pack="ControlTower",
                    rule=violation["ruleName"],
                    severity=violation.get("severity", "error"),
                    construct_path=where,
                    description=violation["description"],
                )
            )
    return result


def control_tower_unacknowledged(app: IConstruct, report: PolicyValidationPluginReportBeta1) -> list[Finding]:
    """The findings of ``report`` (:func:`run_control_tower` on ``app``'s synthesized templates) that no
    acknowledgment in ``app`` covers, matched as CDK core matches them at synth: the violating resource's
    construct (found by template and logical id) or its closest ancestor carries the acknowledgment id
    ``cdk-validator-cfnguard::<rule name>``."""
    templates = {Path(r.template_path or "?").name for v in report.violations for r in v.violating_resources}
    by_logical_id = construct_paths_by_logical_id(app, templates)
    acknowledged: dict[str, set[str]] = {}
    for construct in _stacks_with_ancestors(app, templates):
        for entry in construct.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule_id in dict(entry.data):
                    acknowledged.setdefault(rule_id, set()).add(construct.node.path)
    result = []
    for violation in report.violations:
        paths = acknowledged.get(f"{CONTROL_TOWER_PLUGIN}::{violation.rule_name.replace(' ', '-')}", set())
        for resource in violation.violating_resources:
            template = Path(resource.template_path or "?").name
            path = by_logical_id.get((template, resource.resource_logical_id), "")
            if not _closest_ancestor_in(path, paths):
                result.append(
                    Finding(
                        pack="ControlTower",
                        rule=violation.rule_name,
                        severity=str(violation.severity or "error"),
                        construct_path=path or f"{template}#{resource.resource_logical_id}",
                        description=violation.description,
                    )
                )
    return result


def construct_paths_by_logical_id(app: IConstruct, templates: set[str] | None = None) -> dict[tuple[str, str], str]:
    """(template file name, logical id) → construct path, for every CloudFormation element under ``app`` (only
    in the stacks whose template file name is in ``templates``, if given)."""
    paths = {}
    for stack in _stacks(app, templates):
        for construct in _constructs_of(stack):
            if isinstance(construct, CfnElement) and Stack.of(construct).node.path == stack.node.path:
                paths[(stack.template_file, stack.resolve(construct.logical_id))] = construct.node.path
    return paths


def _stacks(app: IConstruct, templates: set[str] | None) -> list[Stack]:
    return [
        c for c in app.node.find_all() if isinstance(c, Stack) and (templates is None or c.template_file in templates)
    ]


def _constructs_of(stack: Stack) -> list[IConstruct]:
    """The constructs of ``stack``, without those of stages nested in it (e.g. the stages a pipeline deploys)."""
    everything = stack.node.find_all()
    nested = tuple(f"{c.node.path}/" for c in everything if isinstance(c, Stage))
    if not nested:
        return everything
    return [c for c in everything if not isinstance(c, Stage) and not c.node.path.startswith(nested)]


def _stacks_with_ancestors(app: IConstruct, templates: set[str]) -> list[IConstruct]:
    """Every construct of the stacks writing ``templates``, and every ancestor of those stacks."""
    found: dict[str, IConstruct] = {}
    for stack in _stacks(app, templates):
        for construct in _constructs_of(stack):
            found[construct.node.path] = construct
        for ancestor in stack.node.scopes:
            found.setdefault(ancestor.node.path, ancestor)
    return list(found.values())


def _closest_ancestor_in(path: str, acknowledged_at: set[str]) -> bool:
    while True:
        if path in acknowledged_at:
            return True
        if not path:
            return False
        path = path.rpartition("/")[0]


@jsii.implements(IPolicyValidationContextBeta1)
class _TemplatePaths:
    def __init__(self, paths: Sequence[str]) -> None:
        self._paths = list(paths)

    @property
    def template_paths(self) -> list[str]:
        return self._paths


def run_control_tower(template_paths: Sequence[str | Path]) -> PolicyValidationPluginReportBeta1:
    """The plugin's own report on ``template_paths`` (no acknowledgment applied: see
    :func:`control_tower_unacknowledged`), for templates of an app the plugin is not registered on."""
    try:
        return control_tower_validator().validate(_TemplatePaths([str(p) for p in template_paths]))
    except RuntimeError as error:
        if "resourceLogicalId" not in str(error):
            raise
        # jsii cannot hand Python a finding the plugin could not attribute to a resource.
        raise RuntimeError(
            "the Control Tower plugin reported a finding without a resource (e.g. CT.KMS.PR.3 on a key policy "
            "statement it cannot locate); `make synth` prints it"
        ) from error
