"""Pure, dependency-free core of the Firehose transform: schema rules in, one record's bytes in, normalized bytes out.

The rules are the JSON that ``platform_constructs.schema.EventSchema.validation_rules_json()`` produces; the CDK
construct passes it to the function in the ``EVENT_SCHEMA`` environment variable. Everything that depends on the
rules (column order, per-column checkers, the partition-key plan) is compiled once in :class:`RecordTransformer`, so
the per-record path is a dict lookup and a handful of ``type(...) is`` checks per column.

This module deliberately has no Powertools import: ``handler.py`` owns the Lambda plumbing (event/response data
classes, logging, metrics) and this module owns the data contract, which keeps it fast and trivially unit-testable.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "DATE_PARTITION_KEYS",
    "REASONS",
    "ColumnRule",
    "InvalidRulesError",
    "RecordRejected",
    "RecordTransformer",
    "Rules",
    "decode_base64",
    "normalize_field_name",
]

# Must match platform_constructs.schema.DATE_PARTITION_KEYS (a test pins them together); duplicated because the
# Lambda asset cannot import the CDK app's packages.
DATE_PARTITION_KEYS: tuple[str, ...] = ("year", "month", "day")
COLUMN_TYPES: frozenset[str] = frozenset({"string", "int", "bigint", "double", "boolean", "timestamp"})

# Reason classes: the first part of every rejection, a metric name suffix and a log field. Details never contain
# payload values, only schema column names and positions.
INVALID_BASE64 = "invalid_base64"
INVALID_UTF8 = "invalid_utf8"
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
AMBIGUOUS_FIELD = "ambiguous_field"
INVALID_TYPE = "invalid_type"
OUT_OF_RANGE = "out_of_range"
TOO_LONG = "too_long"
INVALID_TIMESTAMP = "invalid_timestamp"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
# Decided by the handler, not by this module: the Ok output would not fit into the Lambda response / an unexpected
# exception escaped the checks for one record (a bug; the record is failed instead of failing the whole batch).
RESPONSE_SIZE_LIMIT = "response_size_limit"
INTERNAL_ERROR = "internal_error"
REASONS: tuple[str, ...] = (
    INVALID_BASE64,
    INVALID_UTF8,
    INVALID_JSON,
    NOT_AN_OBJECT,
    MISSING_FIELD,
    AMBIGUOUS_FIELD,
    INVALID_TYPE,
    OUT_OF_RANGE,
    TOO_LONG,
    INVALID_TIMESTAMP,
    UNKNOWN_EVENT_TYPE,
    RESPONSE_SIZE_LIMIT,
    INTERNAL_ERROR,
)

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DOUBLE_MAX = 1.7976931348623157e308
# Epoch numbers with an absolute value below this are seconds (1e11 s is the year 5138), above it milliseconds.
_EPOCH_MS_THRESHOLD = 100_000_000_000
_EPOCH = datetime(1970, 1, 1)  # naive UTC: the whole pipeline works in naive UTC datetimes
# The special string column whose object/list input is stored as a compact JSON string.
_ATTRIBUTES_COLUMN = "attributes"


class InvalidRulesError(ValueError):
    """The ``EVENT_SCHEMA`` rules are missing or malformed: a deployment error, raised at cold start."""


class RecordRejected(Exception):
    """One record violates the contract. ``reason`` is a class from :data:`REASONS`; ``detail`` is payload-free."""

    __slots__ = ("detail", "reason")

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# --------------------------------------------------------------------------------------------------- rules
@dataclass(frozen=True, slots=True)
class ColumnRule:
    name: str
    type: str
    required: bool
    max_length: int | None = None


@dataclass(frozen=True, slots=True)
class Rules:
    """Parsed, checked form of ``EventSchema.validation_rules()``."""

    name: str
    version: int
    columns: tuple[ColumnRule, ...]
    event_time_column: str
    event_type_column: str | None
    event_types: tuple[str, ...]
    partition_keys: tuple[str, ...]

    @classmethod
    def from_json(cls, raw: str | None) -> Rules:
        if raw is None or not raw.strip():
            raise InvalidRulesError("schema rules are empty")
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise InvalidRulesError(f"schema rules are not valid JSON: {exc}") from exc
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Any) -> Rules:  # noqa: C901 - one linear list of deployment-time checks
        if not isinstance(data, Mapping):
            raise InvalidRulesError("schema rules must be a JSON object")
        try:
            raw_columns = data["columns"]
            event_time_column = data["event_time_column"]
            partition_keys = tuple(data["partition_keys"])
        except (KeyError, TypeError) as exc:
            raise InvalidRulesError(f"schema rules lack {exc}") from exc
        event_type_column = data.get("event_type_column")
        event_types = tuple(data.get("event_types") or ())
        if not isinstance(raw_columns, list) or not raw_columns:
            raise InvalidRulesError("schema rules need a non-empty 'columns' list")
        columns: list[ColumnRule] = []
        for raw_col in raw_columns:
            if not isinstance(raw_col, Mapping) or not isinstance(raw_col.get("name"), str):
                raise InvalidRulesError(f"malformed column rule {raw_col!r}")
            col_type = raw_col.get("type")
            if col_type not in COLUMN_TYPES:
                raise InvalidRulesError(f"column {raw_col['name']!r}: unsupported type {col_type!r}")
            max_length = raw_col.get("max_length")
            if max_length is not None and (type(max_length) is not int or max_length < 1 or col_type != "string"):
                raise InvalidRulesError(f"column {raw_col['name']!r}: bad max_length {max_length!r}")
            columns.append(
                ColumnRule(
                    name=raw_col["name"],
                    type=col_type,
                    required=bool(raw_col.get("required", True)),
                    max_length=max_length,
                )
            )
        by_name = {c.name: c for c in columns}
        if len(by_name) != len(columns):
            raise InvalidRulesError("duplicate column names in schema rules")
        for col in columns:
            if normalize_field_name(col.name) != col.name:
                raise InvalidRulesError(f"column {col.name!r} is not a normalized snake_case name")
        time_col = by_name.get(event_time_column)
        if time_col is None or time_col.type != "timestamp" or not time_col.required:
            raise InvalidRulesError(f"event_time_column {event_time_column!r} must be a required timestamp column")
        if event_type_column is not None:
            type_col = by_name.get(event_type_column)
            if type_col is None or type_col.type != "string" or not type_col.required:
                raise InvalidRulesError(f"event_type_column {event_type_column!r} must be a required string column")
        if event_types and event_type_column is None:
            raise InvalidRulesError("event_types given without event_type_column")
        if partition_keys[:3] != DATE_PARTITION_KEYS:
            raise InvalidRulesError(f"partition_keys must start with {DATE_PARTITION_KEYS}, got {partition_keys}")
        for key in partition_keys[3:]:
            if key != event_type_column or not event_types:
                raise InvalidRulesError(
                    f"partition key {key!r} cannot be derived (only the event-type column with a closed list of "
                    "event_types can partition)"
                )
        return cls(
            name=str(data.get("name", "")),
            version=int(data.get("version", 0)),
            columns=tuple(columns),
            event_time_column=event_time_column,
            event_type_column=event_type_column,
            event_types=event_types,
            partition_keys=partition_keys,
        )


# ------------------------------------------------------------------------------------------ field names
_SEPARATOR_RUN = re.compile(r"[\s\-]+")
_CAMEL_ACRONYM = re.compile(r"(?<=[A-Z])(?=[A-Z][a-z])")  # HTTPStatus -> HTTP_Status
_CAMEL_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")  # eventTime -> event_Time
_NAME_CACHE: dict[str, str] = {}
_NAME_CACHE_LIMIT = 4096  # producers use a handful of spellings; a hostile stream must not grow memory forever


def normalize_field_name(name: str) -> str:
    """``eventTime``/``Event-Time``/`` event time `` -> ``event_time``; ``userID`` -> ``user_id``."""
    cached = _NAME_CACHE.get(name)
    if cached is not None:
        return cached
    normalized = _SEPARATOR_RUN.sub("_", name.strip())
    normalized = _CAMEL_WORD.sub("_", _CAMEL_ACRONYM.sub("_", normalized)).lower()
    if len(_NAME_CACHE) < _NAME_CACHE_LIMIT:
        _NAME_CACHE[name] = normalized
    return normalized


# ------------------------------------------------------------------------------------------ JSON codec
def _reject_constant(name: str) -> float:
    # json accepts NaN/Infinity/-Infinity by default; they are not JSON (RFC 8259) and no column can hold them.
    raise ValueError(f"non-standard JSON constant {name}")


_DECODE = json.JSONDecoder(parse_constant=_reject_constant).decode
# Compact, UTF-8 (not \\u-escaped, so Ok output is never much bigger than the input), and strict about NaN/inf.
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


# ------------------------------------------------------------------------------------------ value checks
Checker = Callable[[Any], Any]


def _timestamp(name: str) -> Checker:
    iso = datetime.fromisoformat
    epoch = _EPOCH
    utc = UTC

    def check(value: Any) -> str:
        kind = type(value)
        try:
            if kind is str:
                if len(value) < 11:  # every ISO-8601 form with a time of day is at least 11 characters
                    raise RecordRejected(INVALID_TIMESTAMP, f"{name}: ISO-8601 value needs a date and a time")
                moment = iso(value)
                if moment.tzinfo is not None:
                    moment = moment.astimezone(utc).replace(tzinfo=None)
            elif kind is int:
                if -_EPOCH_MS_THRESHOLD < value < _EPOCH_MS_THRESHOLD:
                    moment = epoch + timedelta(seconds=value)
                else:
                    moment = epoch + timedelta(milliseconds=value)
            elif kind is float:
                if not math.isfinite(value):
                    raise RecordRejected(INVALID_TIMESTAMP, f"{name}: epoch value is not finite")
                if -_EPOCH_MS_THRESHOLD < value < _EPOCH_MS_THRESHOLD:
                    moment = epoch + timedelta(seconds=value)
                else:
                    moment = epoch + timedelta(milliseconds=value)
            else:
                raise RecordRejected(INVALID_TYPE, f"{name}: expected an ISO-8601 string or epoch seconds/milliseconds")
        except (ValueError, OverflowError) as exc:
            raise RecordRejected(INVALID_TIMESTAMP, f"{name}: not a valid ISO-8601 or epoch timestamp") from exc
        # Naive UTC; isoformat truncates (does not round) to milliseconds and zero-pads the year to four digits.
        return moment.isoformat(" ", "milliseconds")

    return check


def _string(name: str, max_length: int | None, allowed: frozenset[str] | None) -> Checker:
    serialise_containers = name == _ATTRIBUTES_COLUMN

    def check(value: Any) -> str:
        kind = type(value)
        if kind is not str:
            if serialise_containers and (kind is dict or kind is list):
                try:
                    value = _ENCODE(value)
                except ValueError as exc:  # e.g. 1e999 (inf) nested somewhere inside
                    raise RecordRejected(OUT_OF_RANGE, f"{name}: contains a non-finite number") from exc
            else:
                raise RecordRejected(INVALID_TYPE, f"{name}: expected a string")
        if max_length is not None and len(value) > max_length:
            raise RecordRejected(TOO_LONG, f"{name}: longer than {max_length} characters")
        if allowed is not None and value not in allowed:
            raise RecordRejected(UNKNOWN_EVENT_TYPE, f"{name}: not one of the declared event types")
        return value

    return check


def _integer(name: str, low: int, high: int, sql_type: str) -> Checker:
    def check(value: Any) -> int:
        if type(value) is not int:  # bool is a subclass of int; type() excludes it
            raise RecordRejected(INVALID_TYPE, f"{name}: expected an integer ({sql_type})")
        if value < low or value > high:
            raise RecordRejected(OUT_OF_RANGE, f"{name}: outside the {sql_type} range")
        return value

    return check


def _double(name: str) -> Checker:
    isfinite = math.isfinite

    def check(value: Any) -> float | int:
        kind = type(value)
        if kind is float:
            if not isfinite(value):
                raise RecordRejected(OUT_OF_RANGE, f"{name}: not a finite number")
            return value
        if kind is int:
            if -_DOUBLE_MAX <= value <= _DOUBLE_MAX:
                return value
            raise RecordRejected(OUT_OF_RANGE, f"{name}: outside the double range")
        raise RecordRejected(INVALID_TYPE, f"{name}: expected a number (double)")

    return check


def _boolean(name: str) -> Checker:
    def check(value: Any) -> bool:
        if type(value) is not bool:
            raise RecordRejected(INVALID_TYPE, f"{name}: expected true or false")
        return value

    return check


def _checker(col: ColumnRule, rules: Rules) -> Checker:
    if col.type == "string":
        allowed = frozenset(rules.event_types) if col.name == rules.event_type_column and rules.event_types else None
        return _string(col.name, col.max_length, allowed)
    if col.type == "int":
        return _integer(col.name, _INT32_MIN, _INT32_MAX, "int")
    if col.type == "bigint":
        return _integer(col.name, _INT64_MIN, _INT64_MAX, "bigint")
    if col.type == "double":
        return _double(col.name)
    if col.type == "boolean":
        return _boolean(col.name)
    return _timestamp(col.name)


# ------------------------------------------------------------------------------------------ transformer
def decode_base64(data: Any) -> bytes:
    """Strict base64 decoding of a Firehose record's ``data``.

    Powertools' ``KinesisFirehoseRecord.data_as_bytes`` uses ``base64.b64decode`` without ``validate``, which silently
    discards characters outside the alphabet; a corrupted payload could then decode to something else and be
    accepted. Strict mode rejects such data (and whitespace/newlines, which Firehose never sends).
    """
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise RecordRejected(INVALID_BASE64, "data is not strict base64") from exc


class RecordTransformer:
    """Validates and normalizes one record at a time against compiled :class:`Rules`.

    :meth:`transform_bytes` takes a record's decoded bytes and returns the normalized JSON line (newline-terminated)
    plus its partition keys, or raises :class:`RecordRejected`; :meth:`transform` does the same from base64 data.
    """

    __slots__ = ("_known", "_plan", "_time_column", "_type_partition", "rules")

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self._plan: tuple[tuple[str, bool, Checker], ...] = tuple(
            (c.name, c.required, _checker(c, rules)) for c in rules.columns
        )
        self._known: frozenset[str] = frozenset(c.name for c in rules.columns)
        self._time_column = rules.event_time_column
        self._type_partition = rules.event_type_column if rules.event_type_column in rules.partition_keys else None

    @classmethod
    def from_rules_json(cls, raw: str | None) -> RecordTransformer:
        return cls(Rules.from_json(raw))

    @classmethod
    def from_rules(cls, data: Mapping[str, Any]) -> RecordTransformer:
        return cls(Rules.from_dict(data))

    def transform(self, data: str) -> tuple[str, dict[str, str]]:
        """Base64 record data in; normalized JSON line and partition keys out. Raises RecordRejected."""
        return self.transform_bytes(decode_base64(data))

    def transform_bytes(self, raw: bytes) -> tuple[str, dict[str, str]]:
        """Decoded record bytes in; normalized, newline-terminated JSON line and partition keys out."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordRejected(INVALID_UTF8, f"{exc.reason} at byte {exc.start}") from exc
        try:
            obj = _DECODE(text)
        except ValueError as exc:  # JSONDecodeError, non-standard constants, recursion-free by the C scanner
            message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise RecordRejected(INVALID_JSON, message) from exc
        except RecursionError as exc:
            raise RecordRejected(INVALID_JSON, "nested too deeply") from exc
        if type(obj) is not dict:
            raise RecordRejected(NOT_AN_OBJECT, f"top-level JSON value is {type(obj).__name__}, not an object")

        known = self._known
        if obj.keys() <= known:  # fast path: producer already uses the column names
            values = obj
        else:
            values = {}
            for key, value in obj.items():
                name = key if key in known else normalize_field_name(key)
                if name in known:
                    if name in values:
                        raise RecordRejected(AMBIGUOUS_FIELD, f"{name}: given more than once under different spellings")
                    values[name] = value
                # anything else is not part of the contract and is dropped

        out: dict[str, Any] = {}
        get = values.get
        for name, required, check in self._plan:
            value = get(name)
            if value is None:
                if required:
                    raise RecordRejected(MISSING_FIELD, f"{name}: required field is missing or null")
                out[name] = None
            else:
                out[name] = check(value)

        event_time: str = out[self._time_column]
        partition_keys = {"year": event_time[0:4], "month": event_time[5:7], "day": event_time[8:10]}
        if self._type_partition is not None:
            partition_keys[self._type_partition] = out[self._type_partition]
        return _ENCODE(out) + "\n", partition_keys
