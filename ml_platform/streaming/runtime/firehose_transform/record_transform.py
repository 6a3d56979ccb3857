"""Pure, dependency-free core of the Firehose transform: schema rules in, one record's bytes in, normalized bytes out.

The rules are the JSON that ``ml_platform.core.schema.EventSchema.validation_rules_json()`` produces; the CDK
construct passes it to the function in the ``EVENT_SCHEMA`` environment variable. Everything that depends on the
rules (column order, per-column checkers, the partition-key plan) is compiled once in :class:`RecordTransformer`, so
the per-record path is a dict lookup and a handful of ``type(...) is`` checks per column.

This module deliberately has no Powertools import: ``handler.py`` owns the Lambda plumbing (event/response data
classes, logging, metrics) and this module owns the data contract, which keeps it fast and trivially unit-testable.
It is one module of ~560 lines on purpose: the rule compiler and the per-record path share private helpers that are
tuned together, and every extra module would be one more top-level import in the Lambda asset.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

__all__ = [
    "DATE_PARTITION_KEYS",
    "REASONS",
    "ColumnRule",
    "InvalidRecordError",
    "InvalidRulesError",
    "RecordTransformer",
    "Rules",
    "decode_base64",
    "normalize_field_name",
]

# Must match ml_platform.core.schema.DATE_PARTITION_KEYS (a test pins them together); duplicated because the
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
_EPOCH_DAY = date(1970, 1, 1)
# The special string column whose object/list input is stored as a compact JSON string.
_ATTRIBUTES_COLUMN = "attributes"


class InvalidRulesError(ValueError):
    """The ``EVENT_SCHEMA`` rules are missing or malformed: a deployment error, raised at cold start."""


class InvalidRecordError(Exception):
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
    partition_years: tuple[int, int] | None = None

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
    def from_dict(cls, data: Any) -> Rules:
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
        years = data.get("partition_years")
        if years is not None:
            if (
                not isinstance(years, list)
                or len(years) != 2
                or not all(type(y) is int for y in years)
                or years[0] > years[1]
            ):
                raise InvalidRulesError(f"partition_years must be [first, last] years, got {years!r}")
            years = (years[0], years[1])
        return cls(
            partition_years=years,
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


def _unserialisable(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_SCAN_ONCE = _DECODER.scan_once  # the C scanner when the accelerator is present
_JSON_WHITESPACE = " \t\n\r"


def _decode_json(text: str) -> Any:
    """``json.loads`` without its per-call Python overhead (regex whitespace skipping); same errors."""
    try:
        value, end = _SCAN_ONCE(text, 0)
    except StopIteration:  # leading whitespace or not JSON at all: let the full decoder explain
        return _DECODER.decode(text)
    if end != len(text) and text[end:].strip(_JSON_WHITESPACE):
        raise json.JSONDecodeError("Extra data", text, end)
    return value


# Compact, UTF-8 (not \u-escaped, so Ok output is never much bigger than the input) and strict about NaN/inf.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _build_fast_encoder() -> Callable[[Any], str]:
    """Reuse one C encoder instead of building a new one per ``encode()`` call (~20 % of the encoding cost).

    ``json.encoder.c_make_encoder`` is CPython's accelerator behind ``JSONEncoder.iterencode`` (same arguments in
    3.11-3.13). It is created once, with circular-reference checks off, which is safe because every value encoded here
    is a tree built by the JSON parser. If the accelerator is missing or behaves differently from the public encoder
    on a probe, fall back to ``JSONEncoder.encode``.
    """
    public = _ENCODER.encode
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return public
    join = "".join
    try:
        c_encode = make(None, _unserialisable, json.encoder.encode_basestring, None, ":", ",", False, False, False)

        def encode(value: Any) -> str:
            return join(c_encode(value, 0))

        probe = {"a": [1, -2.5, None, True, 'é\n"x'], "b": {"c": ""}, "d": 2**70}
        if encode(probe) != public(probe):
            return public
    except Exception:  # any surprise means: use the public API
        return public
    try:
        encode(float("nan"))
    except ValueError:  # allow_nan=False is honoured as well: equivalent
        return encode
    return public


_ENCODE = _build_fast_encoder()


# ------------------------------------------------------------------------------------------ value checks
Checker = Callable[[Any], Any]


# Output layout of every timestamp: what the Hive/OpenX JSON SerDe reads as a TIMESTAMP.
_TIMESTAMP_LAYOUT = "%04d-%02d-%02d %02d:%02d:%02d.%03d"
_EPOCH_LAYOUT = "%s %02d:%02d:%02d.%03d"
_TWO_DIGITS = tuple(f"{n:02d}" for n in range(24))
_DAY_CACHE: dict[int, str] = {}
_DAY_CACHE_LIMIT = 20_000  # distinct UTC days seen by one warm container; bounded against hostile input
_PARTITION_CACHE_LIMIT = 20_000


def _day(days_since_epoch: int) -> str:
    """``YYYY-MM-DD`` of a UTC day number (cached; raises OverflowError outside years 1..9999)."""
    text = _DAY_CACHE.get(days_since_epoch)
    if text is None:
        text = (_EPOCH_DAY + timedelta(days=days_since_epoch)).isoformat()
        if len(_DAY_CACHE) < _DAY_CACHE_LIMIT:
            _DAY_CACHE[days_since_epoch] = text
    return text


def _from_epoch_micros(micros: int) -> str:
    seconds, micro = divmod(micros, 1_000_000)
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    return _EPOCH_LAYOUT % (_day(days), hours, minutes, seconds, micro // 1_000)


def _timestamp(name: str) -> Checker:
    """ISO-8601 (``Z``/offset/naive = UTC) or epoch seconds/milliseconds -> ``YYYY-MM-DD HH:MM:SS.mmm`` in UTC.

    Sub-millisecond digits are truncated, never rounded, so a value never moves into the next second/day/partition.
    """
    iso = datetime.fromisoformat
    utc = UTC
    two_digits = _TWO_DIGITS

    def check(value: Any) -> str:
        kind = type(value)
        try:
            if kind is str:
                if len(value) < 11:  # every ISO-8601 form with a time of day is at least 11 characters
                    raise InvalidRecordError(INVALID_TIMESTAMP, f"{name}: ISO-8601 value needs a date and a time")
                moment = iso(value)
                zone = moment.tzinfo
                if zone is not None and zone is not utc:  # a zero offset parses to the utc singleton
                    moment = moment.astimezone(utc)
                elif (
                    len(value) >= 19
                    and value[4] == "-"
                    and value[7] == "-"
                    and value[13] == ":"
                    and value[16] == ":"
                    and value[11:13] == two_digits[moment.hour]
                ):
                    # Extended format already in UTC: the validated text is the output; only the fraction changes.
                    return f"{value[:10]} {value[11:19]}.{moment.microsecond // 1000:03d}"
                return _TIMESTAMP_LAYOUT % (
                    moment.year,
                    moment.month,
                    moment.day,
                    moment.hour,
                    moment.minute,
                    moment.second,
                    moment.microsecond // 1000,
                )
            if kind is int:
                if -_EPOCH_MS_THRESHOLD < value < _EPOCH_MS_THRESHOLD:
                    return _from_epoch_micros(value * 1_000_000)
                return _from_epoch_micros(value * 1_000)
            if kind is float:
                if not math.isfinite(value):
                    raise InvalidRecordError(INVALID_TIMESTAMP, f"{name}: epoch value is not finite")
                # Round to whole microseconds first (as datetime does) so 1714521600.123 is .123, not .122999.
                if -_EPOCH_MS_THRESHOLD < value < _EPOCH_MS_THRESHOLD:
                    return _from_epoch_micros(round(value * 1_000_000))
                return _from_epoch_micros(round(value * 1_000))
        except (ValueError, OverflowError) as exc:
            raise InvalidRecordError(INVALID_TIMESTAMP, f"{name}: not a valid ISO-8601 or epoch timestamp") from exc
        raise InvalidRecordError(INVALID_TYPE, f"{name}: expected an ISO-8601 string or epoch seconds/milliseconds")

    return check


def _string(name: str, max_length: int | None, allowed: frozenset[str] | None) -> Checker:
    serialise_containers = name == _ATTRIBUTES_COLUMN

    def check(value: Any) -> str:
        kind = type(value)
        if kind is not str:
            if serialise_containers and (kind is dict or kind is list):
                try:
                    value = _ENCODE(value)
                except (ValueError, RecursionError) as exc:  # 1e999 (inf) nested inside, absurd nesting
                    raise InvalidRecordError(OUT_OF_RANGE, f"{name}: cannot be stored as JSON text") from exc
            else:
                raise InvalidRecordError(INVALID_TYPE, f"{name}: expected a string")
        if max_length is not None and len(value) > max_length:
            raise InvalidRecordError(TOO_LONG, f"{name}: longer than {max_length} characters")
        if allowed is not None and value not in allowed:
            raise InvalidRecordError(UNKNOWN_EVENT_TYPE, f"{name}: not one of the declared event types")
        return value

    return check


def _integer(name: str, low: int, high: int, sql_type: str) -> Checker:
    def check(value: Any) -> int:
        if type(value) is not int:  # bool is a subclass of int; type() excludes it
            raise InvalidRecordError(INVALID_TYPE, f"{name}: expected an integer ({sql_type})")
        if value < low or value > high:
            raise InvalidRecordError(OUT_OF_RANGE, f"{name}: outside the {sql_type} range")
        return value

    return check


def _double(name: str) -> Checker:
    isfinite = math.isfinite

    def check(value: Any) -> float | int:
        kind = type(value)
        if kind is float:
            if not isfinite(value):
                raise InvalidRecordError(OUT_OF_RANGE, f"{name}: not a finite number")
            return value
        if kind is int:
            if -_DOUBLE_MAX <= value <= _DOUBLE_MAX:
                return value
            raise InvalidRecordError(OUT_OF_RANGE, f"{name}: outside the double range")
        raise InvalidRecordError(INVALID_TYPE, f"{name}: expected a number (double)")

    return check


def _boolean(name: str) -> Checker:
    def check(value: Any) -> bool:
        if type(value) is not bool:
            raise InvalidRecordError(INVALID_TYPE, f"{name}: expected true or false")
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
        raise InvalidRecordError(INVALID_BASE64, "data is not strict base64") from exc


class RecordTransformer:
    """Validates and normalizes one record at a time against compiled :class:`Rules`.

    :meth:`transform_bytes` takes a record's decoded bytes and returns the normalized JSON line (newline-terminated)
    plus its partition keys, or raises :class:`InvalidRecordError`; :meth:`transform` does the same from base64 data.
    Records of the same partition get the same (cached) partition-keys dict: treat it as read-only.
    """

    __slots__ = ("_known", "_partitions", "_plan", "_time_column", "_type_partition", "rules")

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self._plan: tuple[tuple[str, bool, Checker], ...] = tuple(
            (c.name, c.required, _checker(c, rules)) for c in rules.columns
        )
        self._known: frozenset[str] = frozenset(c.name for c in rules.columns)
        self._time_column = rules.event_time_column
        self._type_partition = rules.event_type_column if rules.event_type_column in rules.partition_keys else None
        # One shared partition-keys dict per (UTC day, event type): callers must treat returned dicts as read-only.
        self._partitions: dict[tuple[str, str | None], dict[str, str]] = {}

    @classmethod
    def from_rules_json(cls, raw: str | None) -> RecordTransformer:
        return cls(Rules.from_json(raw))

    @classmethod
    def from_rules(cls, data: Mapping[str, Any]) -> RecordTransformer:
        return cls(Rules.from_dict(data))

    def transform(self, data: str) -> tuple[str, dict[str, str]]:
        """Base64 record data in; normalized JSON line and partition keys out. Raises InvalidRecordError."""
        return self.transform_bytes(decode_base64(data))

    def transform_bytes(self, raw: bytes) -> tuple[str, dict[str, str]]:
        """Decoded record bytes in; normalized, newline-terminated JSON line and partition keys out."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidRecordError(INVALID_UTF8, f"{exc.reason} at byte {exc.start}") from exc
        try:
            obj = _decode_json(text)
        except ValueError as exc:  # JSONDecodeError, or NaN/Infinity rejected by _reject_constant
            message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise InvalidRecordError(INVALID_JSON, message) from exc
        except RecursionError as exc:
            raise InvalidRecordError(INVALID_JSON, "nested too deeply") from exc
        if type(obj) is not dict:
            raise InvalidRecordError(NOT_AN_OBJECT, f"top-level JSON value is {type(obj).__name__}, not an object")

        known = self._known
        if obj.keys() <= known:  # fast path: producer already uses the column names
            values = obj
        else:
            values = {}
            for key, value in obj.items():
                name = key if key in known else normalize_field_name(key)
                if name in known:
                    if name in values:
                        raise InvalidRecordError(
                            AMBIGUOUS_FIELD, f"{name}: given more than once under different spellings"
                        )
                    values[name] = value
                # anything else is not part of the contract and is dropped

        out: dict[str, Any] = {}
        get = values.get
        for name, required, check in self._plan:
            value = get(name)
            if value is None:
                if required:
                    raise InvalidRecordError(MISSING_FIELD, f"{name}: required field is missing or null")
                out[name] = None
            else:
                out[name] = check(value)

        event_time: str = out[self._time_column]
        type_value = None if self._type_partition is None else out[self._type_partition]
        partition = (event_time[0:10], type_value)
        partition_keys = self._partitions.get(partition)
        if partition_keys is None:
            years = self.rules.partition_years
            if years is not None and not years[0] <= int(event_time[0:4]) <= years[1]:
                raise InvalidRecordError(
                    OUT_OF_RANGE,
                    f"{self._time_column}: year {event_time[0:4]} is outside the table's partition range "
                    f"{years[0]}-{years[1]}",
                )
            partition_keys = {"year": event_time[0:4], "month": event_time[5:7], "day": event_time[8:10]}
            if type_value is not None:
                partition_keys[self._type_partition] = type_value
            if len(self._partitions) < _PARTITION_CACHE_LIMIT:
                self._partitions[partition] = partition_keys
        return _ENCODE(out) + "\n", partition_keys
