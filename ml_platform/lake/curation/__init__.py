"""Curation: the raw zone merged into the curated Apache Iceberg table by a scheduled Glue job, guarded by Glue Data
Quality rules, with its alarms and its dashboard section (docs/lake.md#curation).

The parts build into this construct's scope: ``table`` (the Iceberg table and its optimizers), ``job`` (the job,
its trigger and rulesets), and the alarms below.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from ml_platform.core.schema import EventSchema
from ml_platform.lake.config.curation import CurationConfig
from ml_platform.lake.curation.job import METRICS_NAMESPACE, CurationJob
from ml_platform.lake.curation.table import IcebergTable, TableOptimizers
from ml_platform.shared.alarms import notifying_alarm
from ml_platform.shared.compliance import acknowledge
from ml_platform.shared.dashboard import DashboardSection, graph
from ml_platform.shared.lake_access import TableRef

RUNBOOK = "docs/lake.md#runbook"
# The states of a run that did not finish its work ("Glue Job State Change" events: SUCCEEDED, FAILED, TIMEOUT,
# STOPPED; "Automating AWS Glue with EventBridge", AWS Glue Developer Guide). ERROR is matched as well, as the
# monitoring stack's rule does; a manual STOP is not a failure.
FAILED_STATES: tuple[str, ...] = ("FAILED", "TIMEOUT", "ERROR")


class Curation(Construct):
    """The curated Iceberg table, its optimizers, the curation job and its alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        config: CurationConfig,
        schema: EventSchema,
        database: glue.CfnDatabase,
        database_name: str,
        raw_bucket: s3.IBucket,
        raw_prefix: str,
        curated_bucket: s3.IBucket,
        data_key: kms.IKey,
        logs_key: kms.IKey,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
        alarm_topic: sns.ITopic,
    ) -> None:
        """
        :param name: the job's name (``<project>-<env>-curation``); also the base of its role, security
            configuration, log groups, trigger and rulesets.
        :param config: schedule, size, timeout, quality gate and optimizers.
        :param schema: the curated schema (``ml_platform.core.curation`` derives the table and rules from it).
        :param database: and ``database_name``: the curated zone's Glue database.
        :param raw_bucket: and ``raw_prefix``: where Firehose delivers the raw events (the job reads only there).
        :param curated_bucket: holds the table (``<table>/``) and the quarantine (``quarantine/<table>/``).
        :param data_key: the lake key (buckets, catalog, bookmarks); ``logs_key``: the job's log groups.
        :param removal_policy: of the table and the log groups.
        :param alarm_topic: where the failed-run and failed-rule alarms go.
        """
        super().__init__(scope, construct_id)
        self.table = IcebergTable(
            self,
            "Table",
            database=database,
            database_name=database_name,
            schema=schema,
            bucket=curated_bucket,
            removal_policy=removal_policy,
        )
        self.ref: TableRef = self.table.ref
        self.optimizers = TableOptimizers(
            self,
            "Optimizers",
            name=f"{name}-optimizer",
            table=self.table,
            bucket=curated_bucket,
            data_key=data_key,
            config=config.table_optimizers,
        )
        self.job = CurationJob(
            self,
            "Job",
            name=name,
            config=config,
            schema=schema,
            table=self.table,
            raw_bucket=raw_bucket,
            raw_prefix=raw_prefix,
            curated_bucket=curated_bucket,
            data_key=data_key,
            logs_key=logs_key,
            log_retention_days=log_retention_days,
            removal_policy=removal_policy,
        )
        # A rule without a target: the alarm counts its matches in AWS/Events TriggeredRules (dimension RuleName,
        # "EventBridge metrics", Amazon EventBridge User Guide), as CDK's own Glue Job.metricFailure() does with a
        # target-less rule (that a rule without targets is counted is not stated on the EventBridge page:
        # unverified). The monitoring stack's rule forwards the same events to the alarm topic either way.
        self.failed_runs = events.Rule(
            self,
            "RunFailed",
            description=f"Runs of {name} that failed, timed out or errored (counted for the failed-run alarm)",
            event_pattern=events.EventPattern(
                source=["aws.glue"],
                detail_type=["Glue Job State Change"],
                detail={"jobName": [name], "state": list(FAILED_STATES)},
            ),
        )
        acknowledge(
            self.failed_runs,
            "Serverless-EventBusDLQ",
            "This rule has no target: it only counts this job's failed runs for the failed-run alarm (AWS/Events "
            "TriggeredRules), so no delivery can fail and there is no target to give a dead-letter queue; the check "
            "throws on a rule without Targets. The monitoring stack's Glue failure rule delivers the events, with a "
            "dead-letter queue.",
        )
        self.run_failed_alarm = notifying_alarm(
            self,
            "RunFailedAlarm",
            metric=cloudwatch.Metric(
                namespace="AWS/Events",
                metric_name="TriggeredRules",
                dimensions_map={"RuleName": self.failed_runs.rule_name},
                statistic="Sum",
                period=Duration.minutes(5),
            ),
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            runbook=f"A run of Glue job {name} failed or timed out, so the curated table was not updated (a blocking "
            f"data-quality rule, an error or the timeout). Read the run's error in the Glue console or the log group "
            f"{self.job.log_group_prefix}/error, fix the cause and start the job again; see {RUNBOOK}.",
            topic=alarm_topic,
        )
        self.rules_failed_alarm = notifying_alarm(
            self,
            "RulesFailedAlarm",
            metric=self.metric("RulesFailed", statistic="Maximum"),
            threshold=0,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            runbook=f"A data-quality rule of Glue job {name} failed on the last batch. Blocking rules stopped the run "
            f"(nothing written); others were written. The rule and its reason are in the log group "
            f"{self.job.log_group_prefix}/output (one 'data_quality' line per rule); see {RUNBOOK}.",
            topic=alarm_topic,
        )

    def metric(self, metric_name: str, *, statistic: str = "Sum") -> cloudwatch.Metric:
        """One of the job's metrics (namespace ``MlPlatform/Curation``, dimension ``JobName``), per hour."""
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=metric_name,
            dimensions_map={"JobName": self.job.job_name},
            statistic=statistic,
            period=Duration.hours(1),
        )

    def dashboard_section(self) -> DashboardSection:
        """Rows in, quarantined, duplicates dropped and merged; rules failed; run duration and failed runs."""
        return DashboardSection(
            title="Curation",
            rows=[
                [
                    graph(
                        "Curation rows per hour",
                        [self.metric(m) for m in ("RowsRead", "RowsQuarantined", "DuplicatesDropped", "RowsMerged")],
                    ),
                    graph(
                        "Data-quality rules failed",
                        [self.metric("RulesFailed", statistic="Maximum"), self.metric("BlockingRulesFailed")],
                    ),
                    graph(
                        "Run duration (s) and failed runs",
                        [self.metric("DurationSeconds", statistic="Maximum")],
                        right=[self.run_failed_alarm.metric],
                    ),
                ]
            ],
        )
