"""Stateless: the environment's dashboard, its platform-health composite alarm and Glue failure events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_platform.monitoring.constructs import GlueFailureEvents, PlatformDashboard, PlatformHealthAlarm
from ml_platform.shared.dashboard import DashboardSection
from ml_platform.shared.dead_letter_queue import NotificationDeadLetterQueue
from ml_platform.shared.stack import PlatformStack


class MonitoredComponent(Protocol):
    """What a component stack contributes: a dashboard section (None: nothing to show) and the alarms that mean
    the platform is unhealthy."""

    @property
    def critical_alarms(self) -> list[cloudwatch.IAlarm]: ...

    def dashboard_section(self) -> DashboardSection | None: ...


class MonitoringStack(PlatformStack):
    """One dashboard per environment (a section per component that has one, in the order given), one composite
    alarm over the components' critical alarms, and EventBridge forwarding of Glue crawler/job failures; all
    notify the environment's alarm topic."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        components: Sequence[MonitoredComponent],
        alarm_topic: sns.ITopic,
        alarms_key: kms.IKey,
        glue_crawler_names: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        """
        :param components: the component stacks, in dashboard order.
        :param alarm_topic: where the health alarm and the Glue failure events go.
        :param alarms_key: the alarm topic's key; also encrypts the dead-letter queue of undelivered events.
        :param glue_crawler_names: crawlers whose failed runs are forwarded. Default: none (Glue jobs only).
        """
        super().__init__(
            scope, construct_id, description="Dashboard, platform health alarm, Glue failure events", **kwargs
        )
        sections = [section for component in components if (section := component.dashboard_section()) is not None]
        self.dashboard = PlatformDashboard(
            self, "Dashboard", dashboard_name=f"{self.name_prefix}-platform", sections=sections
        )
        critical = [alarm for component in components for alarm in component.critical_alarms]
        self.health = PlatformHealthAlarm(
            self,
            "PlatformHealth",
            composite_alarm_name=f"{self.name_prefix}-platform-health",
            critical_alarms=critical,
            topic=alarm_topic,
        )
        self.undelivered_events = NotificationDeadLetterQueue(
            self,
            "UndeliveredGlueEvents",
            encryption_key=alarms_key,
            source_description="Glue failure events",
            topic=alarm_topic,
            alarm_name=f"{self.name_prefix}-undelivered-glue-events",
        )
        self.glue_failures = GlueFailureEvents(
            self,
            "GlueFailures",
            topic=alarm_topic,
            dead_letter_queue=self.undelivered_events.queue,
            crawler_names=list(glue_crawler_names),
        )
