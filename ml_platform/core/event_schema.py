"""The ingest event contract: declared once, consumed by Glue, the Firehose transform and docs/lake.md.

Change a column here and the raw Glue table, the Parquet conversion schema, the transform Lambda's
validation rules and the data contract table of docs/lake.md all change with it (tests pin each of them to
this declaration).
"""

from __future__ import annotations

from ml_platform.core.schema import Column, EventSchema

INGEST_EVENT_SCHEMA = EventSchema(
    name="ingest_events",
    version=1,
    event_time_column="event_time",
    event_id_column="event_id",
    event_type_column="event_type",
    event_types=("click", "view", "purchase", "inference_request", "feedback"),
    partition_by_event_type=False,
    columns=(
        Column(name="event_id", type="string", max_length=128, description="Producer-assigned unique id."),
        Column(
            name="event_time",
            type="timestamp",
            description="When the event happened; ISO-8601 or epoch seconds/ms in, UTC out.",
        ),
        Column(name="event_type", type="string", max_length=64, description="One of the declared event types."),
        Column(name="source", type="string", max_length=256, description="Producing system."),
        Column(name="user_id", type="string", required=False, max_length=128, description="Pseudonymous user id."),
        Column(name="value", type="double", required=False, description="Numeric measurement, if any."),
        Column(name="quantity", type="bigint", required=False, minimum=0, description="Item count, if any."),
        Column(name="is_test", type="boolean", required=False, description="Synthetic/test traffic marker."),
        Column(
            name="attributes",
            type="string",
            required=False,
            max_length=16384,
            description="Free-form JSON object, stored as a JSON string.",
        ),
    ),
)
