"""Environment-wide monitoring: one dashboard built from the components' sections, a composite
"platform health" alarm over their critical alarms, and EventBridge forwarding of Glue failures."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from ml_platform.shared.alarm_topic import AlarmTopicTarget
from ml_platform.shared.dashboard import DashboardSection


class PlatformDashboard(Construct):
    """A CloudWatch dashboard with one header and block per section, in the order given."""

    def __init__(
        self, scope: Construct, construct_id: str, *, dashboard_name: str, sections: Sequence[DashboardSection]
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=dashboard_name)
        self.section_titles = [section.title for section in sections]
        for section in sections:
            self.dashboard.add_widgets(cloudwatch.TextWidget(markdown=f"## {section.title}", width=24, height=1))
            for row in section.rows:
                self.dashboard.add_widgets(*row)


class PlatformHealthAlarm(Construct):
    """A composite alarm that is in ALARM when any critical alarm is, notifying the alarm topic.

    Operators can page on this one alarm and read the component alarms for the cause.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        composite_alarm_name: str,
        critical_alarms: Sequence[cloudwatch.IAlarm],
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        if not critical_alarms:
            raise ValueError("a platform health alarm needs at least one critical alarm")
        self.critical_alarms = list(critical_alarms)
        self.alarm = cloudwatch.CompositeAlarm(
            self,
            "Alarm",
            composite_alarm_name=composite_alarm_name,
            alarm_rule=cloudwatch.AlarmRule.any_of(*self.critical_alarms),
            alarm_description=(
                "Platform health: at least one critical alarm (ingestion lag or loss, endpoint errors or "
                "latency) is in ALARM. Open the environment dashboard and the named component alarm's runbook."
            ),
        )
        self.alarm.add_alarm_action(actions.SnsAction(topic))
        self.alarm.add_ok_action(actions.SnsAction(topic))


class GlueFailureEvents(Construct):
    """EventBridge rules that forward Glue crawler and job failures of this account to the alarm topic."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        dead_letter_queue: sqs.IQueue,
        crawler_names: Sequence[str] = (),
    ) -> None:
        """
        :param dead_letter_queue: where events go that EventBridge could not deliver within 24 hours.
        :param crawler_names: crawlers to watch. Default: none, and no crawler rule.
        """
        super().__init__(scope, construct_id)
        target = AlarmTopicTarget(topic, dead_letter_queue=dead_letter_queue)
        self.rules: list[events.Rule] = []
        if crawler_names:
            self.rules.append(
                events.Rule(
                    self,
                    "CrawlerFailed",
                    description="Glue crawler failures → alarm topic",
                    event_pattern=events.EventPattern(
                        source=["aws.glue"],
                        detail_type=["Glue Crawler State Change"],
                        detail={"state": ["Failed"], "crawlerName": list(crawler_names)},
                    ),
                    targets=[target],
                )
            )
        self.rules.append(
            events.Rule(
                self,
                "JobFailed",
                description="Glue job failures and timeouts → alarm topic",
                event_pattern=events.EventPattern(
                    source=["aws.glue"],
                    detail_type=["Glue Job State Change"],
                    detail={"state": ["FAILED", "TIMEOUT", "ERROR"]},
                ),
                targets=[target],
            )
        )
