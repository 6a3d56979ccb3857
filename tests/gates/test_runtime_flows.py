"""The runtime authorization proof: every request AWS makes for the platform is allowed, every request the
platform must refuse is denied, as @cloud-copilot/iam-simulate evaluates them against the synthesized policies
(identity, resource, VPC endpoint), and every role and service-principal grant of the templates is exercised."""

from __future__ import annotations

import copy
import dataclasses
import json
from collections import Counter
from typing import Any

from scripts.flows.__main__ import render
from scripts.flows.engine import evaluate
from scripts.flows.model import Flow, FlowResult


def _unexpected(results: list[FlowResult]) -> str:
    return render([r for r in results if not r.as_expected])


def test_every_declared_flow_is_authorized_as_expected(declared_results):
    assert all(r.as_expected for r in declared_results), "\n" + _unexpected(declared_results)


ATHENA_ICEBERG_FLOWS = {
    "read-iceberg-table": "allow",
    "read-iceberg-metadata": "allow",
    "read-iceberg-data": "allow",
    "decrypt-iceberg-data": "allow",
    "read-quarantine": "deny",
    "write-iceberg-data": "deny",
    "update-iceberg-table": "deny",
}


def test_every_feature_flow_is_authorized_as_expected(features_results):
    # Asynchronous inference with notifications is declared in no environment: the features app turns it on
    components = {r.flow.component for r in features_results}
    assert any(r.flow.action == "sns:Publish" and "batch" in r.flow.flow_id for r in features_results)
    assert "endpoint-batch" in components
    # The query role reads the curated Iceberg table (definition, metadata, data) and nothing else of the zone
    athena = {
        r.flow.flow_id.rsplit("/", 1)[-1]: r.flow.expected for r in features_results if r.flow.component == "athena"
    }
    assert {name: athena.get(name) for name in ATHENA_ICEBERG_FLOWS} == ATHENA_ICEBERG_FLOWS
    assert all(r.as_expected for r in features_results), "\n" + _unexpected(features_results)


def test_the_catalogue_is_large_enough_to_mean_something(declared_results):
    counts = Counter(r.flow.expected for r in declared_results)
    assert counts["allow"] >= 80 and counts["deny"] >= 40, counts
    # Both scenarios: each environment in its own account, and all in one shared account (isolation flows)
    assert {r.flow.flow_id.split("/")[0] for r in declared_results} == {"separate", "shared"}
    # KMS encryption-context requests go through the engine that evaluates those keys
    assert any(r.flow.engine == "unsafe" and "kms:EncryptionContext:aws:s3:arn" in r.flow.context
               for r in declared_results)  # fmt: skip


def test_every_role_of_the_templates_acts_in_a_flow_and_is_assumed_by_its_principal(app_flows):
    deployment, results = app_flows
    flows = [r.flow for r in results if r.flow.flow_id.startswith("separate/")]
    acting = {f.principal for f in flows}
    assumed = {f.resource for f in flows if f.action == "sts:AssumeRole" and f.expected == "allow"}
    roles = deployment.roles()
    assert roles
    missing = sorted(f"{r.environment}/{r.stack_id}/{r.logical_id}" for r in roles if r.arn not in acting)
    assert missing == [], f"roles without a flow: {missing}"
    unassumed = sorted(f"{r.environment}/{r.stack_id}/{r.logical_id}" for r in roles if r.arn not in assumed)
    assert unassumed == [], f"roles whose trust policy no flow exercises: {unassumed}"


def _service_grants(deployment) -> set[tuple[str, str]]:
    """(policy label as flows name it, service principal) of every Allow statement for a service principal in a
    bucket, key, topic, queue or trust policy of the templates."""
    policies = [(f"{p.environment} {p.name}", p.document) for p in deployment.resource_policies()]
    policies += [(f"{r.environment} trust policy of {r.logical_id}", r.trust_policy) for r in deployment.roles()]
    grants = set()
    for label, document in policies:
        for statement in document.get("Statement", []):
            principal = statement.get("Principal")
            if statement.get("Effect") != "Allow" or not isinstance(principal, dict) or "Service" not in principal:
                continue
            services = principal["Service"] if isinstance(principal["Service"], list) else [principal["Service"]]
            grants |= {(label, service) for service in services}
    return grants


def test_every_service_principal_grant_is_exercised_by_an_allowed_flow(app_flows):
    deployment, results = app_flows
    exercised = {
        (r.flow.resource_policy[0], r.flow.principal)
        for r in results
        if r.flow.resource_policy and r.flow.expected == "allow" and r.actual == "allow"
    }
    grants = _service_grants(deployment)
    assert grants
    assert sorted(grants - exercised) == []


def _flow(results: list[FlowResult], suffix: str) -> Flow:
    (flow,) = [r.flow for r in results if r.flow.flow_id.endswith(suffix)]
    return flow


def _with_statement(flow: Flow, sid: str, change: Any) -> Flow:
    policies = []
    for name, document in flow.identity_policies:
        document = copy.deepcopy(dict(document))
        for statement in document["Statement"]:
            if statement.get("Sid") == sid:
                change(statement)
        policies.append((name, document))
    return dataclasses.replace(flow, flow_id=f"{flow.flow_id}/broken", identity_policies=tuple(policies))


def test_red_path_a_broken_grant_is_reported_as_denied(declared_results):
    # Given Firehose's data-key request, which the raw bucket's S3 Bucket Key makes S3 send with the bucket ARN
    flow = _flow(declared_results, "separate/prod/firehose/data-key-data")
    assert evaluate([flow])[0].actual == "allow"

    # When the grant admits only object ARNs as encryption context (today's main before the fix)
    def objects_only(statement: dict[str, Any]) -> None:
        contexts = statement["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]
        statement["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"] = [c for c in contexts if "/" in c]

    (result,) = evaluate([_with_statement(flow, "RawZoneEncrypt", objects_only)])
    # Then the flow is reported as denied, and the gate would fail
    assert result.actual == "deny" and not result.as_expected


def test_red_path_an_endpoint_without_a_policy_lets_foreign_credentials_through(declared_results):
    # Given another account's credentials used inside the VPC against the KMS endpoint (refused today)
    flow = _flow(declared_results, "separate/prod/network/endpoint-kms-foreign-credentials")
    assert evaluate([flow])[0].actual == "deny"
    # When the endpoint had the default full-access policy
    full_access = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*",
                                                           "Resource": "*"}]}  # fmt: skip
    broken = dataclasses.replace(flow, flow_id="broken", endpoint_policies=(("default policy", full_access),))
    # Then the request would be allowed: the gate sees the endpoint policy
    assert evaluate([broken])[0].actual == "allow"


def test_a_context_key_the_simulator_would_ignore_is_an_error_not_a_silent_pass(declared_results):
    flow = _flow(declared_results, "separate/prod/notifications/publish-without-tls")
    sneaky = dataclasses.replace(flow, flow_id="ignored-key", context={**flow.context, "s3:prefix": "x"})
    (result,) = evaluate([sneaky])
    assert result.actual == "error" and "ignored" in result.errors


def test_flows_are_plain_data_that_render(declared_results):
    table = render(declared_results[:3])
    assert "expected" in table and json.dumps(declared_results[0].flow.simulation())
