"""Where the ingest delivery stream writes in the raw bucket: one definition for the CDK construct,
the local pipeline test and the documentation (docs/lake.md, docs/streaming.md).

Firehose expands ``!{...}`` namespaces at delivery time:

* ``!{partitionKeyFromLambda:KEY}``: a dynamic partition key returned by the transform Lambda;
* ``!{firehose:error-output-type}``: ``processing-failed`` (the Lambda returned ProcessingFailed or the
  invocation failed) and ``format-conversion-failed`` (Parquet conversion rejected the record); records
  Firehose cannot partition (missing keys, partition overflow) go to the same error prefix under their own
  error type, so every failure kind lands in its own folder with its original bytes;
* ``!{timestamp:FORMAT}``: the approximate arrival time (UTC).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

DATA_ROOT = "events"
ERROR_ROOT = "errors"
BACKUP_ROOT = "source-backup"

# The documented error kinds of this pipeline under !{firehose:error-output-type}.
ERROR_OUTPUT_TYPES: tuple[str, ...] = ("processing-failed", "format-conversion-failed")

_ARRIVAL_DATE = "year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}"


def data_prefix(partition_keys: Sequence[str]) -> str:
    """S3 prefix for converted records, partitioned by the keys the Lambda returns."""
    keys = "/".join(f"{key}=!{{partitionKeyFromLambda:{key}}}" for key in partition_keys)
    return f"{DATA_ROOT}/{keys}/"


def error_output_prefix() -> str:
    """S3 prefix for records Firehose could not process, convert or partition (original bytes kept)."""
    return f"{ERROR_ROOT}/!{{firehose:error-output-type}}/{_ARRIVAL_DATE}/"


def backup_prefix() -> str:
    """S3 prefix for the untouched source records (source-record backup)."""
    return f"{BACKUP_ROOT}/{_ARRIVAL_DATE}/"


def data_location(table_root: str = DATA_ROOT) -> str:
    """Key prefix (no bucket) under which the raw Glue table's partitions live."""
    return f"{table_root}/"


def render_data_prefix(partition_keys: Sequence[str], values: Mapping[str, str]) -> str:
    """What :func:`data_prefix` expands to for one record's partition key values."""
    keys = "/".join(f"{key}={values[key]}" for key in partition_keys)
    return f"{DATA_ROOT}/{keys}/"


def render_error_prefix(error_type: str, year: str, month: str, day: str) -> str:
    """What :func:`error_output_prefix` expands to for an error kind and arrival date."""
    if error_type not in ERROR_OUTPUT_TYPES:
        raise ValueError(f"unknown Firehose error output type {error_type!r}; expected one of {ERROR_OUTPUT_TYPES}")
    return f"{ERROR_ROOT}/{error_type}/year={year}/month={month}/day={day}/"
