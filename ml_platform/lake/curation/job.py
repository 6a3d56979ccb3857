"""The curation Glue job: script assets, security configuration, log groups, least-privilege role, the job itself,
its schedule (a Glue trigger) and its Data Quality rulesets."""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy, Stack
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as assets
from constructs import Construct

from ml_platform.core.curation import QualityRule, dqdl, job_contract_json, quality_rules
from ml_platform.core.schema import EventSchema
from ml_platform.lake.config.curation import CurationConfig
from ml_platform.lake.curation.table import IcebergTable
from ml_platform.lake.glue_security import (
    LOG_WRITE_ACTIONS,
    catalog_key_statement,
    glue_service_role,
    log_group_streams_arn,
    logs_key_statement,
    security_configuration,
)
from ml_platform.lake.runtime import CURATION_JOB, CURATION_SCRIPT
from ml_platform.shared.compliance import acknowledge, acknowledge_resource_wildcards
from ml_platform.shared.lake_access import object_read_statements, object_write_statements
from ml_platform.shared.log_retention import retention

# Glue 5.0: Spark 3.5.4, Python 3.11, Iceberg 1.7.1 ("AWS Glue versions", AWS Glue Developer Guide); the tests run the
# transformation on pyspark 3.5.4 (requirements-dev.txt), so a change here changes that pin too.
GLUE_VERSION = "5.0"
METRICS_NAMESPACE = "MlPlatform/Curation"
# Namespaces the job publishes to: its own metrics, Glue's job metrics (--enable-metrics) and the Data Quality
# transform's ("Glue Data Quality", with enableDataQualityCloudWatchMetrics).
PUBLISHED_NAMESPACES: tuple[str, ...] = (METRICS_NAMESPACE, "Glue", "Glue Data Quality")
NO_RULESET = "-"  # the job script's marker for an empty tier (job.py NO_RULESET)


class CurationJob(Construct):
    """A Glue 5.0 Spark job that merges the raw zone into ``table`` on ``config.schedule``.

    * Reads ``s3://<raw bucket>/<raw_prefix>`` with job bookmarks on (only objects new since the last successful
      run), writes the Iceberg table's prefix and ``quarantine/<table>/`` of the curated bucket, nothing else.
    * Security configuration: S3 SSE-KMS and bookmarks CSE-KMS with the lake key, logs SSE-KMS with the logs key;
      logs in two pre-created groups ``/aws-glue/jobs/<job>/error`` and ``/output`` (``--custom-logGroup-prefix``).
    * One run at a time, a timeout, no retries (a failed quality gate must not run again by itself).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        config: CurationConfig,
        schema: EventSchema,
        table: IcebergTable,
        raw_bucket: s3.IBucket,
        raw_prefix: str,
        curated_bucket: s3.IBucket,
        data_key: kms.IKey,
        logs_key: kms.IKey,
        log_retention_days: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.job_name = name
        self.quarantine_prefix = f"quarantine/{table.name}/"
        rules = quality_rules(schema)
        blocking = [r for r in rules if r.category in config.data_quality.blocking]
        warning = [r for r in rules if r.category not in config.data_quality.blocking]
        self.security_configuration = security_configuration(
            self, "SecurityConfiguration", name=name, data_key=data_key, logs_key=logs_key
        )
        # Glue 5.0 writes to <prefix>/error and <prefix>/output with --custom-logGroup-prefix ("Logging for AWS Glue
        # jobs", AWS Glue Developer Guide, https://docs.aws.amazon.com/glue/latest/dg/monitor-continuous-logging.html);
        # pre-created here with the logs key and a retention.
        self.log_group_prefix = f"/aws-glue/jobs/{name}"
        self.log_groups = {
            kind: logs.LogGroup(
                self,
                f"{kind.capitalize()}Logs",
                log_group_name=f"{self.log_group_prefix}/{kind}",
                encryption_key=logs_key,
                retention=retention(log_retention_days),
                removal_policy=removal_policy,
            )
            for kind in ("error", "output")
        }
        script = assets.Asset(self, "Script", path=str(CURATION_SCRIPT))
        # The transformation module, zipped: --extra-py-files puts the archive on the Python path (Spark's --py-files
        # takes .zip archives, "Submitting Applications", Spark 3.5 docs; that Glue passes it on is unverified).
        modules = assets.Asset(
            self, "Modules", path=str(CURATION_JOB), exclude=[CURATION_SCRIPT.name, "__pycache__", "*.pyc"]
        )
        self.role = glue_service_role(
            self, name=name, description=f"Glue job {name}: raw zone to {table.ref.database_name}.{table.name}"
        )
        log_groups = [log_group_streams_arn(self, f"{self.log_group_prefix}/{kind}*") for kind in ("error", "output")]
        curated, quarantine, keys = curated_bucket, self.quarantine_prefix, [data_key]
        statements = [
            # Glue fetches the script and the module archive with the job's role (CDK's bootstrap bucket, encrypted
            # with the AWS managed aws/s3 key, whose policy admits any principal of the account through S3).
            iam.PolicyStatement(
                sid="ReadTheJobScripts",
                actions=["s3:GetObject"],
                resources=[asset.bucket.arn_for_objects(asset.s3_object_key) for asset in (script, modules)],
            ),
            *object_read_statements(sid="RawEvents", bucket=raw_bucket, keys=keys, prefixes=[raw_prefix]),
            # Iceberg reads its metadata and writes data and metadata files under the table's prefix (never deletes:
            # expiry is the optimizers'); Spark writes the quarantine through a temporary folder it lists and deletes.
            *object_read_statements(sid="CuratedFiles", bucket=curated, keys=keys, prefixes=[table.prefix, quarantine]),
            *object_write_statements(sid="CuratedTable", bucket=curated, keys=keys, prefixes=[table.prefix]),
            *object_write_statements(sid="Quarantine", bucket=curated, keys=keys, prefixes=[quarantine], delete=True),
            # Iceberg's Glue catalog commits a snapshot by updating the table ("Using the Iceberg framework in AWS
            # Glue"); the job reads no other table (the raw zone by its prefix).
            iam.PolicyStatement(
                sid="CommitTheTable",
                actions=["glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"],
                resources=table.ref.arns,
            ),
            catalog_key_statement(data_key=data_key, region=stack.region),
            # Job bookmarks are encrypted client-side (CSE-KMS) with the data key: which service calls KMS, and so the
            # kms:ViaService value, is not documented (unverified), so this grant has no condition.
            iam.PolicyStatement(
                sid="EncryptTheJobBookmarks",
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[data_key.key_arn],
            ),
            iam.PolicyStatement(sid="WriteTheLogGroups", actions=list(LOG_WRITE_ACTIONS), resources=log_groups),
            logs_key_statement(logs_key),
        ]
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description=f"Glue job {name}: read the raw events, write the curated table and quarantine, logs",
            statements=statements,
            roles=[self.role],
        )
        acknowledge_resource_wildcards(
            self.policy,
            suffixes=[f"/{raw_prefix}*", f"/{table.prefix}*", f"/{self.quarantine_prefix}*", "/error*:*", "/output*:*"],
            reason="Firehose names the raw objects, Iceberg its data and metadata files and Spark the quarantine "
            "files, each under the job's own prefix of the zone; CloudWatch Logs authorizes stream writes against the "
            "job's log group ARNs ending in ':*', and the '*' before it admits a suffix Glue may add to the group name "
            "with a security configuration (unverified for Glue 5.0).",
        )
        metrics = iam.ManagedPolicy(
            self,
            "MetricsPolicy",
            description=f"Glue job {name}: publish its metrics (no resource-level permissions)",
            statements=[
                iam.PolicyStatement(
                    sid="PublishCurationMetrics",
                    actions=["cloudwatch:PutMetricData"],
                    resources=["*"],
                    conditions={"StringEquals": {"cloudwatch:namespace": list(PUBLISHED_NAMESPACES)}},
                )
            ],
            roles=[self.role],
        )
        acknowledge(
            metrics,
            "AwsSolutions-IAM5[Resource::*]",
            "cloudwatch:PutMetricData supports no resource-level permissions (IAM service authorization reference); "
            "the cloudwatch:namespace condition limits it to the curation, Glue and Glue Data Quality namespaces.",
        )
        arguments = {
            "--job-bookmark-option": "job-bookmark-enable",
            "--datalake-formats": "iceberg",
            "--enable-metrics": "true",
            "--enable-observability-metrics": "true",
            "--custom-logGroup-prefix": self.log_group_prefix,
            "--extra-py-files": modules.s3_object_url,
            "--raw_path": f"s3://{raw_bucket.bucket_name}/{raw_prefix}",
            "--warehouse": f"s3://{curated_bucket.bucket_name}/",
            "--database": table.ref.database_name,
            "--table": table.name,
            "--quarantine_path": f"s3://{curated_bucket.bucket_name}/{self.quarantine_prefix}",
            "--contract": job_contract_json(schema),
            "--blocking_ruleset": dqdl(blocking) if blocking else NO_RULESET,
            "--warning_ruleset": dqdl(warning) if warning else NO_RULESET,
            "--metrics_namespace": METRICS_NAMESPACE,
        }
        self.job = glue.CfnJob(
            self,
            "Job",
            name=name,
            description=f"Raw events to curated Iceberg table {table.ref.database_name}.{table.name}",
            role=self.role.role_arn,
            command=glue.CfnJob.JobCommandProperty(
                name="glueetl", python_version="3", script_location=script.s3_object_url
            ),
            glue_version=GLUE_VERSION,
            worker_type=config.worker_type,
            number_of_workers=config.number_of_workers,
            timeout=config.timeout_minutes,
            max_retries=0,
            execution_property=glue.CfnJob.ExecutionPropertyProperty(max_concurrent_runs=1),
            security_configuration=self.security_configuration.ref,
            default_arguments=arguments,
        )
        self.job.node.add_dependency(self.policy, metrics, *self.log_groups.values(), table.table)
        self.trigger = glue.CfnTrigger(
            self,
            "Schedule",
            name=f"{name}-schedule",
            description=f"Runs {name} on {config.schedule} (UTC)",
            type="SCHEDULED",
            schedule=config.schedule,
            start_on_creation=True,
            actions=[glue.CfnTrigger.ActionProperty(job_name=self.job.ref)],
        )
        self.rulesets = [
            self._ruleset(tier, tier_rules, table)
            for tier, tier_rules in (("blocking", blocking), ("warning", warning))
            if tier_rules
        ]

    def _ruleset(self, tier: str, rules: list[QualityRule], table: IcebergTable) -> glue.CfnDataQualityRuleset:
        """The tier's rules as a catalog ruleset on the table: the same DQDL the job evaluates, for the console and
        for evaluations outside the job."""
        ruleset = glue.CfnDataQualityRuleset(
            self,
            f"{tier.capitalize()}Ruleset",
            name=f"{self.job_name}-{tier}",
            description=f"{tier} rules of {self.job_name} ({json.dumps(sorted({r.category for r in rules}))})",
            ruleset=dqdl(rules),
            target_table=glue.CfnDataQualityRuleset.DataQualityTargetTableProperty(
                database_name=table.ref.database_name, table_name=table.name
            ),
        )
        ruleset.node.add_dependency(table.table)
        return ruleset
