"""Security baseline: customer-managed keys with rotation and exact service grants; the alarm topic."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from tests.conftest import one_resource

KEY_ALIASES = ("data-lake", "streaming", "ml", "logs", "alarms")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_one_rotating_key_per_purpose_with_alias(platform, env):
    # Given the security stack, Then each purpose has a rotating CMK and an alias naming environment + purpose
    template = platform.template(env, "Security")
    template.resource_count_is("AWS::KMS::Key", len(KEY_ALIASES))
    template.all_resources_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    aliases = {r["Properties"]["AliasName"] for r in platform.resources(env, "Security", "AWS::KMS::Alias").values()}
    assert aliases == {f"alias/ml-platform/{env}/{purpose}" for purpose in KEY_ALIASES}


def _key_policy(platform, env, construct_prefix):
    keys = platform.resources(env, "Security", "AWS::KMS::Key")
    _, key = one_resource(keys, prefix=construct_prefix)
    return key["Properties"]["KeyPolicy"]["Statement"]


def test_logs_key_grants_cloudwatch_logs_only_for_log_groups_of_this_account_and_region(platform):
    statements = _key_policy(platform, "dev", "LogsKey")
    (grant,) = [s for s in statements if s.get("Sid") == "AllowCloudWatchLogsOfThisAccountAndRegion"]
    assert grant["Principal"] == {"Service": "logs.eu-west-1.amazonaws.com"}
    arn = grant["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
    assert arn["Fn::Join"][1][-1] == ":log-group:*"


@pytest.mark.parametrize("purpose", ["DataLakeKey", "StreamingKey", "MlKey", "AlarmsKey"])
def test_other_keys_do_not_grant_cloudwatch_logs(platform, purpose):
    statements = _key_policy(platform, "dev", purpose)
    assert not [s for s in statements if "logs" in str(s.get("Principal", ""))]


def _service_grants(statements: list[dict], service: str) -> list[dict]:
    def services(statement: dict) -> list[str]:
        principal = statement.get("Principal", {})
        value = principal.get("Service", []) if isinstance(principal, dict) else []
        return value if isinstance(value, list) else [value]

    return [s for s in statements if s["Effect"] == "Allow" and service in services(s)]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_alarm_key_grants_each_publisher_once_scoped_where_aws_supports_it(platform, env):
    statements = _key_policy(platform, env, "AlarmsKey")
    # CloudWatch alarms of this account only
    (scoped,) = [s for s in statements if s.get("Sid") == "AllowCloudWatchAlarmsOfThisAccountToUseDataKeys"]
    assert scoped["Principal"]["Service"] == "cloudwatch.amazonaws.com"
    assert scoped["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert scoped["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    # SNS, only where the topic has an e-mail dead-letter queue (prod), and only for that topic
    sns_grants = _service_grants(statements, "sns.amazonaws.com")
    assert len(sns_grants) == (1 if platform.environments[env].security.alarm_emails else 0)
    for grant in sns_grants:
        assert set(grant["Condition"]) == {"StringEquals", "ArnEquals"}
    # EventBridge exactly once and without a condition (AWS supports none for EventBridge-to-encrypted topics);
    # regression: rule targets used to add their own unconditioned statements beside the scoped one
    (events,) = _service_grants(statements, "events.amazonaws.com")
    assert events["Sid"] == "AllowEventBridgeRulesToUseDataKeys" and "Condition" not in events
    assert events["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert len(_service_grants(statements, "cloudwatch.amazonaws.com")) == 1


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_alarm_topic_policy_scopes_cloudwatch_and_admits_eventbridge_once(platform, env):
    (policy,) = platform.resources(env, "Security", "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (alarms,) = _service_grants(statements, "cloudwatch.amazonaws.com")
    assert alarms["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source_arn = alarms["Condition"]["ArnLike"]["aws:SourceArn"]
    assert ":cloudwatch:" in str(source_arn) and ":alarm:*" in str(source_arn)
    (events,) = _service_grants(statements, "events.amazonaws.com")
    assert events["Sid"] == "AllowEventBridgeRules" and events["Action"] == "sns:Publish" and "Condition" not in events
    # No other service principal may publish
    services = {str(s["Principal"].get("Service")) for s in statements if isinstance(s.get("Principal"), dict)}
    assert services - {"None"} == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_alarm_topic_is_encrypted_with_the_alarms_key_and_tls_only(platform, env):
    template = platform.template(env, "Security")
    topics = platform.resources(env, "Security", "AWS::SNS::Topic")
    (topic,) = topics.values()
    assert topic["Properties"]["TopicName"] == f"ml-platform-{env}-alarms"
    assert topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0].startswith("AlarmsKey")
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
                        Match.object_like({"Effect": "Allow", "Action": "sns:Publish", "Sid": Match.any_value()}),
                    ]
                )
            }
        },
    )


def test_prod_subscribes_oncall_email_with_an_encrypted_dead_letter_queue(platform):
    template = platform.template("prod", "Security")
    template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": "ml-platform-oncall@example.com", "RedrivePolicy": Match.any_value()},
    )
    template.has_resource_properties("AWS::SQS::Queue", {"KmsMasterKeyId": Match.any_value()})
    platform.template("dev", "Security").resource_count_is("AWS::SNS::Subscription", 0)


@pytest.mark.parametrize(("env", "policy"), [("dev", "Delete"), ("prod", "Retain")])
def test_key_removal_follows_the_stage(platform, env, policy):
    for key in platform.resources(env, "Security", "AWS::KMS::Key").values():
        assert key["DeletionPolicy"] == policy and key["UpdateReplacePolicy"] == policy
