"""Alarms, EventBridge rules and SNS delivering to the alarm topic and its dead-letter queues, the keys of
both, and CloudWatch Logs using the logs key for every encrypted log group.

Service requests carry ``aws:SourceAccount`` and ``aws:SourceArn`` of the alarm, rule or topic they act for
(CloudWatch User Guide, "Setting up Amazon SNS notifications"; SNS Developer Guide, "Key management" and
"Configuring an Amazon SNS dead-letter queue"; EventBridge User Guide, "Using dead-letter queues"). EventBridge
publishing to SNS is the documented exception: AWS supports no condition keys on that path (see
ml_platform/shared/alarm_topic.py), and rules of other accounts deliver through their own execution role.
"""

from __future__ import annotations

from scripts.flows.catalogue.base import OTHER_ACCOUNT, Environment
from scripts.flows.templates import PARTITION


def _topic_actions(env: Environment) -> list[tuple[str, str, str]]:
    """(stack id, alarm logical id, alarm ARN) of every alarm whose actions notify the alarm topic."""
    topic = env.alarm_topic
    found = []
    for view in env.deployment.views(env.name):
        for kind in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
            for logical_id, resource in view.of_type(kind).items():
                actions = view.resolve(resource["Properties"].get("AlarmActions", []))
                if topic in actions:
                    found.append((view.stack.stack_id, logical_id, view.resolve({"Fn::GetAtt": [logical_id, "Arn"]})))
    return found


def add(env: Environment) -> None:
    topic = env.alarm_topic
    alarms_key = env.key_arn("AlarmsKey")
    component = "notifications"

    # ------------------------------------------------------------------ CloudWatch alarms → topic
    alarms = _topic_actions(env)
    for stack_id, logical_id, alarm_arn in alarms:
        env.service_request(
            component,
            f"alarm-publishes/{stack_id}/{logical_id}",
            "cloudwatch.amazonaws.com",
            "sns:Publish",
            topic,
            expected="allow",
            description=f"alarm {logical_id} ({stack_id}) notifies the alarm topic",
            source_arn=alarm_arn,
            source_account=env.account,
        )
    first_alarm = alarms[0][2]
    for action in ("kms:GenerateDataKey", "kms:Decrypt"):
        env.service_request(
            component,
            f"alarm-uses-topic-key/{action}",
            "cloudwatch.amazonaws.com",
            action,
            alarms_key,
            expected="allow",
            description="CloudWatch encrypts the alarm notification with the topic's key",
            source_arn=first_alarm,
            source_account=env.account,
        )
    other_alarm = f"arn:{PARTITION}:cloudwatch:{env.region}:{OTHER_ACCOUNT}:alarm:not-ours"
    env.service_request(
        component,
        "alarm-of-another-account-publishes",
        "cloudwatch.amazonaws.com",
        "sns:Publish",
        topic,
        expected="deny",
        description="an alarm of another account cannot use CloudWatch to publish to the topic",
        source_arn=other_alarm,
        source_account=OTHER_ACCOUNT,
    )
    env.service_request(
        component,
        "alarm-of-another-account-uses-topic-key",
        "cloudwatch.amazonaws.com",
        "kms:GenerateDataKey",
        alarms_key,
        expected="deny",
        description="CloudWatch acting for another account cannot use the topic's key",
        source_arn=other_alarm,
        source_account=OTHER_ACCOUNT,
    )

    # ------------------------------------------------------------------ EventBridge rules → topic, dead letters
    rules = 0
    for view in env.deployment.views(env.name):
        for logical_id, resource in view.of_type("AWS::Events::Rule").items():
            rule_arn = view.resolve({"Fn::GetAtt": [logical_id, "Arn"]})
            for target in resource["Properties"].get("Targets", []):
                if view.resolve(target["Arn"]) != topic:
                    continue
                rules += 1
                where = f"{view.stack.stack_id}/{logical_id}"
                env.service_request(
                    component,
                    f"rule-publishes/{where}",
                    "events.amazonaws.com",
                    "sns:Publish",
                    topic,
                    expected="allow",
                    description=f"rule {logical_id} forwards matched events to the alarm topic",
                    source_arn=rule_arn,
                    source_account=env.account,
                )
                env.service_request(
                    component,
                    f"rule-uses-topic-key/{where}",
                    "events.amazonaws.com",
                    "kms:GenerateDataKey",
                    alarms_key,
                    expected="allow",
                    description="EventBridge encrypts the event with the topic's key",
                    source_arn=rule_arn,
                    source_account=env.account,
                )
                dead_letter = target.get("DeadLetterConfig")
                if dead_letter:
                    queue = view.resolve(dead_letter["Arn"])
                    env.service_request(
                        component,
                        f"rule-dead-letters/{where}",
                        "events.amazonaws.com",
                        "sqs:SendMessage",
                        queue,
                        expected="allow",
                        description=f"undeliverable events of {logical_id} go to its dead-letter queue",
                        source_arn=rule_arn,
                        source_account=env.account,
                    )
                    env.service_request(
                        component,
                        f"rule-uses-queue-key/{where}",
                        "events.amazonaws.com",
                        "kms:GenerateDataKey",
                        _queue_key(env, queue),
                        expected="allow",
                        description="EventBridge encrypts the dead letter with the queue's key",
                        source_arn=rule_arn,
                        source_account=env.account,
                    )
                    env.service_request(
                        component,
                        f"other-rule-dead-letters/{where}",
                        "events.amazonaws.com",
                        "sqs:SendMessage",
                        queue,
                        expected="deny",
                        description="a rule of another account cannot fill the queue",
                        source_arn=f"arn:{PARTITION}:events:{env.region}:{OTHER_ACCOUNT}:rule/not-ours",
                        source_account=OTHER_ACCOUNT,
                    )
    assert rules, f"{env.name}: no EventBridge rule targets the alarm topic"
    # A rule of another account reaches a cross-account SNS target only through an execution role of its own
    # account (EventBridge User Guide, "Sending events to an AWS service in another account": "Specify an execution
    # role"); the topic and its key must refuse that role.
    for action, resource in (("sns:Publish", topic), ("kms:GenerateDataKey", alarms_key), ("kms:Decrypt", alarms_key)):
        env.workload_request(
            component,
            f"rule-of-another-account/{action}",
            action,
            resource,
            expected="deny",
            principal_account=OTHER_ACCOUNT,
            resource_side="templates",
            description="a rule of another account, through its execution role, cannot publish to or use the key",
        )

    # ------------------------------------------------------------------ SNS subscriptions' dead-letter queue
    security = env.view("Security")
    for logical_id, resource in security.of_type("AWS::SNS::Subscription").items():
        redrive = resource["Properties"].get("RedrivePolicy")
        if not redrive:
            continue
        queue = security.resolve(redrive["deadLetterTargetArn"])
        env.service_request(
            component,
            f"subscription-dead-letters/{logical_id}",
            "sns.amazonaws.com",
            "sqs:SendMessage",
            queue,
            expected="allow",
            description="SNS moves an undeliverable e-mail notification to the dead-letter queue",
            source_arn=topic,
            source_account=env.account,
        )
        env.service_request(
            component,
            f"subscription-uses-queue-key/{logical_id}",
            "sns.amazonaws.com",
            "kms:GenerateDataKey",
            _queue_key(env, queue),
            expected="allow",
            description="SNS encrypts the dead letter with the queue's key",
            source_arn=topic,
            source_account=env.account,
        )
        env.service_request(
            component,
            f"other-topic-dead-letters/{logical_id}",
            "sns.amazonaws.com",
            "sqs:SendMessage",
            queue,
            expected="deny",
            description="another topic cannot write into the dead-letter queue",
            source_arn=f"arn:{PARTITION}:sns:{env.region}:{OTHER_ACCOUNT}:not-ours",
            source_account=OTHER_ACCOUNT,
        )

    # ------------------------------------------------------------------ the topic refuses the rest
    env.anonymous_request(component, "anonymous-publishes", "sns:Publish", topic, description="unsigned publish")
    env.workload_request(
        component,
        "publish-without-tls",
        "sns:Publish",
        topic,
        expected="deny",
        description="a role of the account allowed to publish, over plain HTTP: the topic refuses it",
        context={"aws:SecureTransport": "false"},
        resource_side="templates",
    )


def add_log_groups(env: Environment) -> None:
    """CloudWatch Logs encrypts and decrypts every log group that names the logs key, for this account only."""
    logs_key = env.key_arn("LogsKey")
    service = f"logs.{env.region}.amazonaws.com"
    for view in env.deployment.views(env.name):
        for logical_id, resource in view.of_type("AWS::Logs::LogGroup").items():
            props = resource["Properties"]
            if "KmsKeyId" not in props or view.resolve(props["KmsKeyId"]) != logs_key:
                continue
            group = view.resolve({"Ref": logical_id})
            context_arn = env.log_group_arn(group)
            env.service_request(
                "logs",
                f"encrypts/{view.stack.stack_id}/{logical_id}",
                service,
                "kms:GenerateDataKey",
                logs_key,
                expected="allow",
                description=f"CloudWatch Logs encrypts {group} with the logs key",
                context={"kms:EncryptionContext:aws:logs:arn": context_arn},
            )
    other = f"arn:{PARTITION}:logs:{env.region}:{OTHER_ACCOUNT}:log-group:not-ours"
    env.service_request(
        "logs",
        "encrypts-another-accounts-group",
        service,
        "kms:GenerateDataKey",
        logs_key,
        expected="deny",
        description="CloudWatch Logs cannot use the logs key for another account's log group",
        context={"kms:EncryptionContext:aws:logs:arn": other},
    )


def _queue_key(env: Environment, queue_arn: str) -> str:
    for view in env.deployment.views(env.name):
        for logical_id, resource in view.of_type("AWS::SQS::Queue").items():
            if view.resolve({"Fn::GetAtt": [logical_id, "Arn"]}) == queue_arn:
                return str(view.resolve(resource["Properties"]["KmsMasterKeyId"]))
    raise LookupError(f"{env.name}: queue {queue_arn} not found")
