"""Glue entry point of the curation job: the thin seam around ``curation_transform``.

Everything here exists only inside AWS Glue (``awsglue``, ``awsgluedq``, the Iceberg runtime, job bookmarks), so it
is imported inside :func:`main` and not run by the test suite; the logic it calls is ``curation_transform``, which
the suite runs under local PySpark. ``curation_transform`` reaches the job as a ``.zip`` in ``--extra-py-files``.

Arguments (the job's DefaultArguments, set by ``ml_platform/lake/curation.py``): ``--raw_path`` (Firehose's data
prefix), ``--warehouse``, ``--database``, ``--table`` (the Iceberg table), ``--quarantine_path``, ``--contract``
(JSON), ``--blocking_ruleset`` and ``--warning_ruleset`` (DQDL, ``-`` for none), ``--metrics_namespace``.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, datetime

ARGUMENTS = (
    "JOB_NAME",
    "raw_path",
    "warehouse",
    "database",
    "table",
    "quarantine_path",
    "contract",
    "blocking_ruleset",
    "warning_ruleset",
    "metrics_namespace",
)
NO_RULESET = "-"


def main() -> None:  # pragma: no cover - runs only in AWS Glue
    import boto3
    import curation_transform as ct
    from awsglue.context import GlueContext
    from awsglue.dynamicframe import DynamicFrame
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions
    from awsgluedq.transforms import EvaluateDataQuality
    from pyspark.conf import SparkConf
    from pyspark.context import SparkContext

    started = time.monotonic()
    started_at = datetime.now(UTC).replace(tzinfo=None)
    args = getResolvedOptions(sys.argv, list(ARGUMENTS))
    # Glue passes the run id as --JOB_RUN_ID (unverified on a documentation page: read it only when present).
    run_id = (
        getResolvedOptions(sys.argv, ["JOB_RUN_ID"])["JOB_RUN_ID"] if "--JOB_RUN_ID" in sys.argv else str(uuid.uuid4())
    )
    contract = ct.Contract.from_json(args["contract"])
    conf = SparkConf()
    for key, value in ct.iceberg_spark_conf(args["warehouse"]).items():
        conf.set(key, value)
    glue_context = GlueContext(SparkContext.getOrCreate(conf=conf))
    spark = glue_context.spark_session
    job = Job(glue_context)
    # job.init/job.commit bracket the run: bookmarks and the security configuration need both ("Using job
    # bookmarks", AWS Glue Developer Guide).
    job.init(args["JOB_NAME"], args)
    cloudwatch = boto3.client("cloudwatch")

    def publish(report: ct.BatchReport, succeeded: bool) -> None:
        data = ct.metric_data(
            report, job_name=args["JOB_NAME"], duration_seconds=time.monotonic() - started, succeeded=succeeded
        )
        for index in range(0, len(data), 20):
            cloudwatch.put_metric_data(Namespace=args["metrics_namespace"], MetricData=data[index : index + 20])

    def evaluate(batch):  # noqa: ANN001, ANN202
        outcomes: list[ct.RuleOutcome] = []
        for name, blocking in (("blocking_ruleset", True), ("warning_ruleset", False)):
            ruleset = args[name]
            if ruleset == NO_RULESET:
                continue
            context = f"{args['JOB_NAME']}-{name.split('_')[0]}"
            result = EvaluateDataQuality.apply(
                frame=DynamicFrame.fromDF(batch, glue_context, context),
                ruleset=ruleset,
                publishing_options={
                    "dataQualityEvaluationContext": context,
                    "enableDataQualityCloudWatchMetrics": True,
                    "enableDataQualityResultsPublishing": False,
                },
            )
            rows = [row.asDict() for row in result.toDF().collect()]
            outcomes += ct.rule_outcomes(rows, blocking=blocking)
        for outcome in outcomes:
            print(json.dumps({"data_quality": outcome.__dict__, "run_id": run_id}))
        return outcomes

    def write_quarantine(rows) -> None:  # noqa: ANN001
        rows.write.mode("append").json(f"{args['quarantine_path']}run_id={run_id}/")

    def merge(batch) -> None:  # noqa: ANN001
        window = ct.time_window(batch, contract)
        batch.createOrReplaceTempView("curation_batch")
        spark.sql(
            ct.merge_statement(
                database=args["database"], table=args["table"], source_view="curation_batch", contract=contract,
                window=window,
            )
        )  # fmt: skip

    # Job bookmarks track the S3 objects already read; they apply to DynamicFrame reads with a transformation_ctx
    # ("Using job bookmarks"). The raw table uses Athena partition projection, so the job reads the prefix, not the
    # catalog's (absent) partitions.
    raw = glue_context.create_dynamic_frame.from_options(
        connection_type="s3",
        connection_options={"paths": [args["raw_path"]], "recurse": True},
        format="parquet",
        transformation_ctx="raw_events",
    ).toDF()
    try:
        report = ct.run_batch(
            raw, contract, run_id=run_id, started_at=started_at, evaluate_quality=evaluate,
            write_quarantine=write_quarantine, merge=merge,
        )  # fmt: skip
    except ct.BlockingQualityError as error:
        publish(error.report, succeeded=False)  # type: ignore[attr-defined]
        raise
    job.commit()
    publish(report, succeeded=True)
    print(json.dumps({"run_id": run_id, "report": {k: v for k, v in report.__dict__.items() if k != "outcomes"}}))


if __name__ == "__main__":
    main()
