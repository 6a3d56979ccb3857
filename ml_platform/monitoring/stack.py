"""Stateless: the environment's dashboard, its platform-health composite alarm and Glue failure events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from ml_platform.lake.stack import DataLakeStack
from ml_platform.monitoring.constructs import (
    DashboardSection,
    GlueFailureEvents,
    PlatformDashboard,
    PlatformHealthAlarm,
)
from ml_platform.security.stack import SecurityStack
from ml_platform.shared.dead_letter_queue import NotificationDeadLetterQueue
from ml_platform.shared.stack import PlatformStack


class MonitoredComponent(Protocol):
    """What a component stack contributes: a dashboard section and the alarms that mean the platform is unhealthy."""

    @property
    def critical_alarms(self) -> list[cloudwatch.IAlarm]: ...

    def dashboard_section(self) -> DashboardSection: ...


class MonitoringStack(PlatformStack):
    """One dashboard per environment (a section per component present), one composite alarm over the
    components' critical alarms, and EventBridge forwarding of Glue crawler/job failures; all notify the
    environment's alarm topic."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        security: SecurityStack,
        data_lake: DataLakeStack,
        components: Sequence[MonitoredComponent],
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scope, construct_id, description="Dashboard, platform health alarm, Glue failure events", **kwargs
        )
        sections = [component.dashboard_section() for component in components]
        crawler = data_lake.curated_crawler
        if crawler is not None:
            sections.append(
                DashboardSection(
                    title="Catalog",
                    rows=[
                        [
                            cloudwatch.LogQueryWidget(
                                title="Curated crawler runs and failures",
                                log_group_names=[crawler.log_group.log_group_name],
                                query_lines=[
                                    "fields @timestamp, @message",
                                    "filter @message like /(Crawler has finished|ERROR|Failed)/",
                                    "sort @timestamp desc",
                                    "limit 50",
                                ],
                                width=24,
                                height=6,
                            )
                        ]
                    ],
                )
            )
        self.dashboard = PlatformDashboard(
            self, "Dashboard", dashboard_name=f"{self.name_prefix}-platform", sections=sections
        )
        critical = [alarm for component in components for alarm in component.critical_alarms]
        self.health = PlatformHealthAlarm(
            self,
            "PlatformHealth",
            composite_alarm_name=f"{self.name_prefix}-platform-health",
            critical_alarms=critical,
            topic=security.alarm_topic,
        )
        self.undelivered_events = NotificationDeadLetterQueue(
            self,
            "UndeliveredGlueEvents",
            encryption_key=security.alarms_key,
            source_description="Glue failure events",
            topic=security.alarm_topic,
            alarm_name=f"{self.name_prefix}-undelivered-glue-events",
        )
        self.glue_failures = GlueFailureEvents(
            self,
            "GlueFailures",
            topic=security.alarm_topic,
            dead_letter_queue=self.undelivered_events.queue,
            crawler_names=[crawler.crawler.ref] if crawler is not None else [],
        )
