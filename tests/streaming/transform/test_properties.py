"""Property-based test of the transform over >= 10,000 generated records (valid and malformed, mixed in batches).

Every generated record carries its own oracle: valid records know their exact normalized output and partition keys
(computed here from the generating ``datetime``, not by the code under test); malformed records must come back
``ProcessingFailed`` with their original data. On top, invariants hold for every batch: each record id exactly once,
in order, results only ``Ok``/``ProcessingFailed``, and every ``Ok`` output re-parses and conforms to the schema rules
(checked by :func:`assert_conforms`, written independently of the Lambda code).
"""

from __future__ import annotations

import base64
import json
import math
import random
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from ml_platform.core.event_schema import INGEST_EVENT_SCHEMA

RULES = INGEST_EVENT_SCHEMA.validation_rules()
COLUMNS = {c["name"]: c for c in RULES["columns"]}
REQUIRED = [c["name"] for c in RULES["columns"] if c["required"]]
EVENT_TYPES = RULES["event_types"]
MIN_RECORDS = 10_000
TIMESTAMP_TEXT = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}")


# ------------------------------------------------------------------------------------ independent oracle
def assert_conforms(line: str, partition_keys: dict[str, str]) -> dict[str, Any]:
    """The Ok contract, straight from the rules dict: exact columns, types, ranges, lengths, enum, partitions."""
    assert line.endswith("\n")
    out = json.loads(line)
    assert isinstance(out, dict)
    assert list(out) == [c["name"] for c in RULES["columns"]]
    for name, col in COLUMNS.items():
        value = out[name]
        if value is None:
            assert not col["required"], name
            continue
        kind = col["type"]
        if kind == "string":
            assert isinstance(value, str), name
            assert len(value) <= col.get("max_length", math.inf), name
        elif kind in ("int", "bigint"):
            bits = 31 if kind == "int" else 63
            assert type(value) is int and -(2**bits) <= value < 2**bits, name
        elif kind == "double":
            assert type(value) in (int, float) and math.isfinite(value), name
        elif kind == "boolean":
            assert type(value) is bool, name
        else:
            assert TIMESTAMP_TEXT.fullmatch(value), name
            datetime.strptime(value, "%Y-%m-%d %H:%M:%S.%f")  # a real calendar date and time
    if EVENT_TYPES:
        assert out[RULES["event_type_column"]] in EVENT_TYPES
    stamp = out[RULES["event_time_column"]]
    expected = {"year": stamp[0:4], "month": stamp[5:7], "day": stamp[8:10]}
    for key in RULES["partition_keys"][3:]:
        expected[key] = out[key]
    assert partition_keys == expected
    return out


# ------------------------------------------------------------------------------------ generators
# Hypothesis draws the values (unicode text, floats, big ints, nested JSON, instants: the expensive, interesting
# part) and a seed for a plain Random; each drawn value set is then amplified into several records (spellings, timestamp
# styles, optional-column presence, malformations) so that 325 examples cover > 10,000 records in seconds.
@dataclass(frozen=True)
class Values:
    instant: datetime
    event_id: str
    event_type: str
    source: str
    user_id: str
    value: float | int
    quantity: int
    is_test: bool
    attributes: Any
    extra: Any
    junk: str


@dataclass(frozen=True)
class Case:
    kind: str
    data: str  # base64 as Firehose sends it (or deliberately broken)
    expected: dict[str, Any] | None = None  # exact Ok output for valid cases
    partition: dict[str, str] | None = None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


SPELLINGS = (
    lambda n: n,
    _camel,
    lambda n: _camel(n)[0].upper() + _camel(n)[1:],
    lambda n: n.upper(),
    lambda n: "-".join(p.title() for p in n.split("_")),
    lambda n: " " + n.replace("_", " ") + " ",
)
SPELLED = {name: tuple(spell(name) for spell in SPELLINGS) for name in COLUMNS}
EXTRA_FIELDS = ("sdkVersion", "client ip", "x_debug", "trace-id", "payload_bytes")
JSON_SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=5,
)
# Not before 1973-03-04: epoch milliseconds below 1e11 are read as seconds by contract (documented ambiguity).
INSTANTS = st.datetimes(
    # The raw table projects partitions for 2024-2099 only (INGEST_EVENT_SCHEMA); the handler rejects other years.
    min_value=datetime(2024, 1, 1),
    max_value=datetime(2099, 12, 31, 23, 59, 59),
    timezones=st.just(UTC),
)
VALUES = st.builds(
    Values,
    instant=INSTANTS,
    event_id=st.text(min_size=1, max_size=16),
    event_type=st.sampled_from(EVENT_TYPES),
    source=st.text(max_size=16),
    user_id=st.text(max_size=16),
    value=st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**70), 2**70),
    quantity=st.integers(-(2**63), 2**63 - 1),
    is_test=st.booleans(),
    attributes=st.text(max_size=12)
    | st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=3)
    | st.lists(JSON_VALUES, max_size=3),
    extra=JSON_VALUES,
    junk=st.text(max_size=12),
)
TIME_STYLES = ("iso_z", "iso_offset", "iso_naive", "epoch_s", "epoch_ms", "epoch_float")
MALFORMED_KINDS = (
    "bad_base64",
    "bad_utf8",
    "bad_json",
    "not_object",
    "missing",
    "null_required",
    "wrong_type",
    "bool_as_int",
    "bigint_range",
    "oversized",
    "unknown_event_type",
    "empty",
    "nan",
)
WRONG_TYPES = {
    "string": [0, -7, 1.5, True, False, [1], {"a": 1}],
    "bigint": ["1", "", 1.0, -2.5, True, False, [1], {"n": 1}],
    "double": ["1.5", "", True, False, [1.0], {"v": 1}],
    "boolean": [0, 1, "true", "", 1.0, [True]],
    "timestamp": [True, False, [1714521600], {"s": 1}],
}


def _truncated_ms(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%d %H:%M:%S.") + f"{instant.microsecond // 1000:03d}"


def _event_time(instant: datetime, rnd: random.Random) -> tuple[Any, str]:
    """(value as a producer sends it, expected normalized UTC text), computed from the instant itself."""
    style = rnd.choice(TIME_STYLES)
    if style == "iso_z":
        return instant.isoformat().replace("+00:00", "Z"), _truncated_ms(instant)
    if style == "iso_offset":
        offset = timezone(timedelta(minutes=rnd.randint(-12 * 60, 14 * 60)))
        return instant.astimezone(offset).isoformat(), _truncated_ms(instant)
    if style == "iso_naive":
        return instant.replace(tzinfo=None).isoformat(sep=rnd.choice("T ")), _truncated_ms(instant)
    whole = instant.replace(microsecond=0)
    epoch_s = int((whole - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())
    if style == "epoch_s":
        return epoch_s, _truncated_ms(whole)
    millis = instant.microsecond // 1000
    at_ms = whole.replace(microsecond=millis * 1000)
    if style == "epoch_ms":
        return epoch_s * 1000 + millis, _truncated_ms(at_ms)
    return (epoch_s * 1000 + millis) / 1000, _truncated_ms(at_ms)


def valid_record(
    v: Values, rnd: random.Random
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str], dict[str, str]]:
    """(input object, expected output, expected partition keys, column -> key spelling used)."""
    raw_time, expected_time = _event_time(v.instant, rnd)
    event_id = v.event_id if rnd.random() < 0.9 else (v.event_id * 128)[:128]  # sometimes exactly max_length
    expected: dict[str, Any] = {
        "event_id": event_id,
        "event_time": expected_time,
        "event_type": v.event_type,
        "source": v.source,
        "user_id": None,
        "value": None,
        "quantity": None,
        "is_test": None,
        "attributes": None,
    }
    given_values: dict[str, Any] = {**expected, "event_time": raw_time}
    absent: set[str] = set()
    for name in ("user_id", "value", "quantity", "is_test", "attributes"):
        presence = rnd.choice(("absent", "null", "value", "value"))
        if presence == "absent":
            absent.add(name)
        elif presence == "value":
            value = getattr(v, name)
            given_values[name] = value
            if name == "attributes" and not isinstance(value, str):
                value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            expected[name] = value
    spelling = {name: rnd.choice(SPELLED[name]) for name in given_values}
    obj = {spelling[name]: value for name, value in given_values.items() if name not in absent}
    for extra in rnd.sample(EXTRA_FIELDS, rnd.randint(0, 2)):
        obj[extra] = v.extra
    keys = list(obj)
    rnd.shuffle(keys)
    stamp = expected["event_time"]
    return (
        {k: obj[k] for k in keys},
        expected,
        {"year": stamp[0:4], "month": stamp[5:7], "day": stamp[8:10]},
        spelling,
    )


def malformed_record(v: Values, rnd: random.Random, kind: str) -> Case:
    """A record that must be rejected: a valid one, broken in one way."""
    obj, _, _, spelling = valid_record(v, rnd)
    raw = _dumps(obj)
    if kind == "bad_base64":
        good = _b64(raw)
        at = rnd.randint(0, len(good))
        return Case(kind, good[:at] + rnd.choice("!*@#$%&() é\n-_") + good[at:])
    if kind == "bad_utf8":
        at = rnd.randint(0, len(raw))
        return Case(kind, _b64(raw[:at] + rnd.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"]) + raw[at:]))
    if kind == "bad_json":
        return Case(kind, _b64(raw[: rnd.randint(0, len(raw) - 1)]))
    if kind == "not_object":
        return Case(kind, _b64(_dumps(rnd.choice([[obj], v.extra if not isinstance(v.extra, dict) else [], v.junk]))))
    if kind == "empty":
        return Case(kind, "")
    if kind == "missing":
        obj.pop(spelling[rnd.choice(REQUIRED)], None)
    elif kind == "null_required":
        obj[spelling[rnd.choice(REQUIRED)]] = None
    elif kind == "wrong_type":
        column = rnd.choice(sorted(COLUMNS))
        if column == "attributes":  # objects/lists are legal there (stored as JSON text)
            wrong: Any = rnd.choice([0, 2.5, True])
        else:
            wrong = rnd.choice(WRONG_TYPES[COLUMNS[column]["type"]])
        obj[spelling[column]] = wrong
    elif kind == "bool_as_int":
        obj[spelling["quantity"]] = rnd.choice([True, False])
    elif kind == "bigint_range":
        obj[spelling["quantity"]] = rnd.choice([2**63, 2**63 + v.quantity % 1000, -(2**63) - 1, -(2**64)])
    elif kind == "oversized":
        column = rnd.choice(["event_id", "source", "user_id", "attributes"])
        filler = (v.junk or "x") + "é😀"
        size = COLUMNS[column]["max_length"] + rnd.randint(1, 20)
        obj[spelling[column]] = (filler * size)[:size]
    elif kind == "unknown_event_type":
        obj[spelling["event_type"]] = v.junk if v.junk not in EVENT_TYPES else v.junk + "-x"
    elif kind == "nan":
        obj[spelling["value"]] = rnd.choice([math.nan, math.inf, -math.inf])
    return Case(kind, _b64(_dumps(obj)))


def build_batch(values: list[Values], rnd: random.Random) -> list[Case]:
    """9 valid and 7 malformed records per drawn value set, shuffled."""
    batch: list[Case] = []
    for v in values:
        for _ in range(9):
            obj, expected, partition, _ = valid_record(v, rnd)
            batch.append(Case("valid", _b64(_dumps(obj)), expected, partition))
        for _ in range(7):
            batch.append(malformed_record(v, rnd, rnd.choice(MALFORMED_KINDS)))
    rnd.shuffle(batch)
    return batch


# ------------------------------------------------------------------------------------ the property
def test_every_record_comes_back_once_with_a_correct_result(handler_module, make_event):
    """Given >= 10,000 generated records in batches of 32 (9/16 valid in every spelling and timestamp style,
    the rest malformed in 13 different ways),
    when each batch goes through the handler's batch transform,
    then every record id comes back exactly once and in order, results are only Ok/ProcessingFailed,
    valid records are Ok with their exact expected output and partitions, every Ok output conforms to the schema,
    and every malformed record is ProcessingFailed with its original data unchanged."""
    seen = {"records": 0, "ok": 0, "failed": 0}
    kinds: dict[str, int] = {}
    transformer = handler_module.TRANSFORMER

    @settings(
        max_examples=325,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(values=st.lists(VALUES, min_size=2, max_size=2), seed=st.integers(0, 2**32 - 1))
    def check(values: list[Values], seed: int) -> None:
        batch = build_batch(values, random.Random(seed))
        event = make_event([case.data for case in batch])
        outcome = handler_module.transform_batch(event, transformer)
        records_out = outcome.response["records"]

        assert [r["recordId"] for r in records_out] == [r["recordId"] for r in event["records"]]
        assert len({r["recordId"] for r in records_out}) == len(batch)
        for case, record_in, record_out in zip(batch, event["records"], records_out, strict=True):
            assert record_out["result"] in ("Ok", "ProcessingFailed")
            if record_out["result"] == "Ok":
                line = base64.b64decode(record_out["data"], validate=True).decode("utf-8")
                out = assert_conforms(line, record_out["metadata"]["partitionKeys"])
                assert case.kind == "valid", f"{case.kind} record was accepted"
                assert out == case.expected
                assert record_out["metadata"]["partitionKeys"] == case.partition
            else:
                assert case.kind != "valid", f"valid record rejected: {outcome.failures}"
                assert record_out["data"] == record_in["data"]
                assert set(record_out) == {"recordId", "result", "data"}
            kinds[case.kind] = kinds.get(case.kind, 0) + 1
        seen["records"] += len(batch)
        seen["ok"] += outcome.ok
        seen["failed"] += outcome.failed

    started, started_cpu = time.monotonic(), time.process_time()
    check()
    elapsed, cpu = time.monotonic() - started, time.process_time() - started_cpu

    assert seen["records"] >= MIN_RECORDS, seen
    assert seen["ok"] > 0.4 * seen["records"] and seen["failed"] > 0.25 * seen["records"], seen
    assert set(kinds) == {"valid", *MALFORMED_KINDS}, kinds  # every malformation was exercised
    print(f"property test: {seen} in {elapsed:.1f}s wall, {cpu:.1f}s CPU; kinds {kinds}")
