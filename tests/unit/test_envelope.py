"""Envelope codec: byte-identical to fastavro, strict decoding."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_flume_provider.envelope import (
    FLUME_EVENT_SCHEMA,
    EnvelopeEncoder,
    FlumeEvent,
    decode_event,
    encode_event,
)

PARSED = fastavro.parse_schema(FLUME_EVENT_SCHEMA)


def fastavro_encode(headers: dict[str, str], body: bytes) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, PARSED, {"headers": headers, "body": body})
    return buf.getvalue()


def fastavro_decode(data: bytes) -> dict:
    return fastavro.schemaless_reader(io.BytesIO(data), PARSED, None)


header_text = st.text(max_size=40)
headers_st = st.dictionaries(header_text, header_text, max_size=12)
# Large bodies (> 16 KiB, multi-byte length varints) built cheaply from a repeated random chunk.
large_bodies = st.builds(
    lambda chunk, n: chunk * n, st.binary(min_size=1, max_size=8), st.integers(9_000, 20_000)
)
bodies = st.one_of(st.binary(max_size=300), large_bodies)
ts_st = st.integers(min_value=0, max_value=4102444800000).map(str)


def test_schema_is_flume_avro_flume_event() -> None:
    assert FLUME_EVENT_SCHEMA["name"] == "AvroFlumeEvent"
    assert FLUME_EVENT_SCHEMA["namespace"] == "org.apache.flume.source.avro"
    assert [f["name"] for f in FLUME_EVENT_SCHEMA["fields"]] == ["headers", "body"]
    assert PARSED["name"] == "org.apache.flume.source.avro.AvroFlumeEvent"


@settings(max_examples=300, deadline=None)
@given(headers=headers_st, body=bodies)
def test_encode_matches_fastavro_and_round_trips(headers: dict[str, str], body: bytes) -> None:
    data = encode_event(headers, body)
    assert data == fastavro_encode(headers, body)
    event = decode_event(data)
    assert event == FlumeEvent(headers=headers, body=body)
    assert list(event.headers) == list(headers)
    assert fastavro_decode(data) == {"headers": headers, "body": body}


def test_known_bytes_empty_and_simple() -> None:
    assert encode_event({}, b"") == b"\x00\x00"
    # 1 entry (zigzag 2), "a" (len 2 -> 1 char), "b", terminator, body len 3 (zigzag 6)
    assert encode_event({"a": "b"}, b"xyz") == b"\x02\x02a\x02b\x00\x06xyz"
    assert decode_event(b"\x00\x00") == FlumeEvent({}, b"")


def test_large_body_and_unicode() -> None:
    headers = {"ключ": "значение", "emoji 🎉": "日本語", "": ""}
    body = bytes(range(256)) * 5000
    data = encode_event(headers, body)
    assert data == fastavro_encode(headers, body)
    assert decode_event(data).body == body


def test_bytearray_and_memoryview_bodies_are_bytes() -> None:
    assert encode_event({}, bytearray(b"ab")) == encode_event({}, b"ab")
    assert EnvelopeEncoder({}).encode(memoryview(b"ab"), "1") == encode_event({"timestamp": "1"}, b"ab")


@pytest.mark.parametrize(
    ("headers", "needle"),
    [({"a": 1}, "value of 'a'"), ({2: "x"}, "key 2"), ({"t": None}, "value of 't'"), ({"b": b"x"}, "'b'")],
)
def test_non_str_headers_raise_type_error_naming_the_header(headers: dict, needle: str) -> None:
    with pytest.raises(TypeError, match=needle):
        encode_event(headers, b"")


def test_non_bytes_body_and_non_mapping_headers_raise() -> None:
    with pytest.raises(TypeError, match="body must be bytes"):
        encode_event({}, "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mapping"):
        encode_event([("a", "b")], b"")  # type: ignore[arg-type]


def test_lone_surrogate_header_raises_value_error_naming_header() -> None:
    with pytest.raises(ValueError, match="value of 'k'"):
        encode_event({"k": "\ud800"}, b"")


@settings(max_examples=200, deadline=None)
@given(static=headers_st, extra=headers_st, ts=ts_st, body=bodies)
def test_encoder_fast_path_matches_fastavro(
    static: dict[str, str], extra: dict[str, str], ts: str, body: bytes
) -> None:
    static.pop("timestamp", None)
    extra.pop("timestamp", None)
    enc = EnvelopeEncoder(static)
    expected_plain = fastavro_encode({**static, "timestamp": ts}, body)
    assert enc.encode(body, ts) == expected_plain
    assert enc.encode(body, ts, {}) == expected_plain
    merged = {**static, **extra, "timestamp": ts}
    assert enc.encode(body, ts, extra) == fastavro_encode(merged, body)
    assert list(decode_event(enc.encode(body, ts, extra)).headers) == list(merged)


def test_encoder_documented_order_and_override() -> None:
    enc = EnvelopeEncoder({"a": "1", "b": "2"})
    event = decode_event(enc.encode(b"x", "1700000000000", {"c": "3", "a": "9"}))
    assert list(event.headers.items()) == [("a", "9"), ("b", "2"), ("c", "3"), ("timestamp", "1700000000000")]


def test_encoder_rejects_timestamp_in_static_or_extra_and_bad_types() -> None:
    with pytest.raises(ValueError, match="static_headers must not contain 'timestamp'"):
        EnvelopeEncoder({"timestamp": "1"})
    enc = EnvelopeEncoder({"src": "x"})
    with pytest.raises(ValueError, match="extra headers must not contain 'timestamp'"):
        enc.encode(b"", "1", {"timestamp": "2"})
    with pytest.raises(TypeError, match="'timestamp' must be str"):
        enc.encode(b"", 1700000000000)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="value of 'n'"):
        enc.encode(b"", "1", {"n": 5})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="value of 'v'"):
        EnvelopeEncoder({"v": 1.5})  # type: ignore[dict-item]
    assert enc.static_headers == {"src": "x"}


def test_decode_rejects_trailing_garbage() -> None:
    data = encode_event({"k": "v"}, b"body")
    with pytest.raises(ValueError, match=r"trailing bytes after Flume envelope: datum ends at byte \d+"):
        decode_event(data + b"\x00")


def test_decode_rejects_every_truncation() -> None:
    data = encode_event({"key": "value", "timestamp": "1700000000000"}, b"some body bytes")
    for cut in range(len(data)):
        with pytest.raises(ValueError, match="truncated Flume envelope"):
            decode_event(data[:cut])


def test_decode_rejects_bad_utf8_negative_length_and_overlong_varint() -> None:
    with pytest.raises(ValueError, match="not UTF-8"):
        decode_event(b"\x02\x02\xff\x00\x00\x00")
    with pytest.raises(ValueError, match="negative body length"):
        decode_event(b"\x00\x01")
    with pytest.raises(ValueError, match="longer than 10 bytes"):
        decode_event(b"\xff" * 11)
    with pytest.raises(TypeError):
        decode_event("text")  # type: ignore[arg-type]


def test_decode_accepts_negative_block_count_form() -> None:
    # Avro allows a block written as -count followed by the block byte size.
    pair = b"\x02k\x02v"
    data = b"\x01" + bytes([len(pair) * 2]) + pair + b"\x00" + b"\x02z"
    assert decode_event(data) == FlumeEvent({"k": "v"}, b"z")
    assert fastavro_decode(data) == {"headers": {"k": "v"}, "body": b"z"}


def _outcome(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception as exc:
        return (type(exc), str(exc))


@settings(max_examples=500, deadline=None)
@given(
    static=headers_st,
    name=st.one_of(header_text, st.sampled_from(["eventId", "timestamp", "\ud800", "a" * 20_000])),
    value=st.one_of(header_text, st.sampled_from(["\udfff", "v" * 16_384, "é" * 9_000]), st.integers()),
    ts=st.one_of(ts_st, st.integers(0, 10), st.sampled_from(["\ud800"])),
    body=st.one_of(bodies, st.builds(bytearray, st.binary(max_size=20)), st.text(max_size=5)),
)
def test_encoder_with_one_header_matches_encode_and_fastavro(
    static: dict[str, str], name: Any, value: Any, ts: Any, body: Any
) -> None:
    static.pop("timestamp", None)
    enc = EnvelopeEncoder(static)
    fast = _outcome(enc.encoder_with(name), body, ts, value)
    assert fast == _outcome(enc.encode, body, ts, {name: value})
    if isinstance(fast, bytes):
        assert fast == fastavro_encode({**static, name: value, "timestamp": ts}, bytes(body))


def test_encoder_with_typical_event_bytes() -> None:
    enc = EnvelopeEncoder({"replay": "true"})
    data = enc.encoder_with("eventId")(b"x" * 200, "1564703999000", "e000000001")
    assert data == fastavro_encode(
        {"replay": "true", "eventId": "e000000001", "timestamp": "1564703999000"}, b"x" * 200
    )
    assert enc.encoder_with("replay")(b"", "1", "false") == enc.encode(b"", "1", {"replay": "false"})
