"""The compliance harness: which policy gates every stack must pass, and how to read their findings.

Two kinds of CDK policy-validation plugins are registered on the app; each makes ``cdk synth`` fail on any
unacknowledged finding:

* the cdk-nag 3 packs (:data:`COMPLIANCE_PACKS`). Tests read a pack's report (``validate_scope``), because
  cdk-nag 3 writes nothing to ``Annotations``;
* the AWS Control Tower proactive controls (cfn-guard rules, ``cdklabs.cdk-validator-cfnguard``), the gate
  AWS Organizations users run. The plugin reads the synthesized templates; CDK applies acknowledgments to its
  report and writes it to ``validation-report.json`` in the cloud assembly, which
  :func:`control_tower_findings` reads.

Acknowledge a finding with :func:`acknowledge_finding` (cdk-nag: under every pack that reports it),
:func:`acknowledge` (one exact finding id) or :func:`acknowledge_control` (Control Tower) next to the resource,
and only where AWS itself forces the configuration or the rule cannot read a valid template.

The cdk-nag side lives in :mod:`.nag`, the Control Tower side in :mod:`.control_tower`; this module registers
both and re-exports what the app, the scripts and the tests use (``from ml_platform.shared.compliance import …``).
"""

from __future__ import annotations

from aws_cdk import App, AspectPriority, Aspects, Stage, Validations

from ml_platform.shared.compliance.control_tower import (
    CONTROL_TOWER_PLUGIN,
    CONTROL_TOWER_RULES,
    CrossStackReferenceAcknowledgments,
    acknowledge_control,
    construct_paths_by_logical_id,
    control_tower_acknowledged,
    control_tower_findings,
    control_tower_report_present,
    control_tower_rule_id,
    control_tower_unacknowledged,
    control_tower_validator,
    run_control_tower,
)
from ml_platform.shared.compliance.nag import (
    COMPLIANCE_PACKS,
    NAG_RULES,
    Finding,
    acknowledge,
    acknowledge_finding,
    acknowledge_resource_wildcards,
    findings,
    flatten_reference,
    nag_rule_ids,
)

__all__ = [
    "COMPLIANCE_PACKS",
    "CONTROL_TOWER_PLUGIN",
    "CONTROL_TOWER_RULES",
    "NAG_RULES",
    "CrossStackReferenceAcknowledgments",
    "Finding",
    "acknowledge",
    "acknowledge_control",
    "acknowledge_finding",
    "acknowledge_resource_wildcards",
    "construct_paths_by_logical_id",
    "control_tower_acknowledged",
    "control_tower_findings",
    "control_tower_report_present",
    "control_tower_rule_id",
    "control_tower_unacknowledged",
    "control_tower_validator",
    "findings",
    "flatten_reference",
    "nag_rule_ids",
    "register_compliance_packs",
    "run_control_tower",
]


def register_compliance_packs(app: App, *, control_tower: bool = True) -> None:
    """Make synth fail on any unacknowledged finding of any cdk-nag pack or Control Tower control.

    Call it after the stages are built: it also acknowledges, in every stage that exists now, the Control
    Tower findings that only an unreadable cross-stack reference causes (:class:`CrossStackReferenceAcknowledgments`).

    :param control_tower: register the Control Tower plugin too. Default: yes (``cdk synth``). A synth that only
        needs the templates may leave it out: cfn-guard reads the written templates and cannot change them, and
        one run over every environment costs about 12 s (the acknowledgments are recorded either way).
    """
    plugins = [pack(app) for pack in COMPLIANCE_PACKS]
    if control_tower:
        plugins.append(control_tower_validator())
    Validations.of(app).add_plugins(*plugins)
    # Aspects do not cross stage boundaries: add the aspect to the app and to every stage in it.
    for scope in (app, *(c for c in app.node.find_all() if isinstance(c, Stage) and c is not app)):
        Aspects.of(scope).add(CrossStackReferenceAcknowledgments(), priority=AspectPriority.READONLY)
