"""Flume ``AvroFlumeEvent`` envelope codec.

Flume's KafkaSource (``useFlumeEventFormat=true``) and KafkaChannel (``parseAsFlumeEvent=true``) read each
Kafka value as one raw Avro binary datum of ``record AvroFlumeEvent { map<string> headers; bytes body; }``:
no magic byte, no schema-registry prefix, no container. This module writes and reads exactly those bytes.
The output is byte-identical to ``fastavro.schemaless_writer`` with :data:`FLUME_EVENT_SCHEMA` (the
reference the tests compare against); a map is written as one block of all entries followed by the
zero-count terminator, like fastavro and Avro's Java ``GenericDatumWriter``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = [
    "FLUME_EVENT_SCHEMA",
    "EnvelopeEncoder",
    "FlumeEvent",
    "decode_event",
    "encode_event",
]

FLUME_EVENT_SCHEMA: dict = {
    "type": "record",
    "name": "AvroFlumeEvent",
    "namespace": "org.apache.flume.source.avro",
    "fields": [
        {"name": "headers", "type": {"type": "map", "values": "string"}},
        {"name": "body", "type": "bytes"},
    ],
}

TIMESTAMP_HEADER = "timestamp"


@dataclass(frozen=True)
class FlumeEvent:
    """A decoded Flume event: string headers and a byte body."""

    headers: dict[str, str]
    body: bytes


def _zigzag_varint(n: int) -> bytes:
    """Avro ``long`` encoding: zig-zag then little-endian base-128 varint."""
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


# Pre-encoded lengths: most header strings and many bodies are short.
_SMALL = tuple(_zigzag_varint(i) for i in range(1 << 14))
_SMALL_LIMIT = len(_SMALL)


def _long(n: int) -> bytes:
    return _SMALL[n] if 0 <= n < _SMALL_LIMIT else _zigzag_varint(n)


def _utf8(text: object, what: str) -> bytes:
    if type(text) is not str and not isinstance(text, str):
        raise TypeError(f"Flume header {what} must be str, got {type(text).__name__}: {text!r}")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"Flume header {what} is not encodable as UTF-8: {text!r} ({exc})") from None


def _encode_pairs(headers: Mapping[str, str]) -> bytes:
    """Encode header entries (without the block count / terminator)."""
    parts: list[bytes] = []
    for key, value in headers.items():
        kb = _utf8(key, f"key {key!r}")
        vb = _utf8(value, f"value of {key!r}")
        parts += (_long(len(kb)), kb, _long(len(vb)), vb)
    return b"".join(parts)


def _body_bytes(body: object) -> bytes:
    if type(body) is bytes:
        return body  # type: ignore[return-value]
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise TypeError(f"Flume event body must be bytes, got {type(body).__name__}")


def encode_event(headers: Mapping[str, str], body: bytes) -> bytes:
    """Encode one event as a raw Avro ``AvroFlumeEvent`` datum (what Flume reads from Kafka).

    Headers are written in the mapping's iteration order. A non-``str`` header key or value raises
    ``TypeError`` naming the header; a non-bytes body raises ``TypeError``.
    """
    if not isinstance(headers, Mapping):
        raise TypeError(f"Flume event headers must be a mapping, got {type(headers).__name__}")
    body = _body_bytes(body)
    n = len(headers)
    head = b"".join((_long(n), _encode_pairs(headers), b"\x00")) if n else b"\x00"
    return b"".join((head, _long(len(body)), body))


class EnvelopeEncoder:
    """Fast per-event encoder for a fixed set of constant headers plus a per-event ``timestamp``.

    Header order in the output is the order of ``{**static_headers, **extra, "timestamp": timestamp}``:
    the static headers in their given order (an ``extra`` value replaces a static value in place), then
    new ``extra`` keys in their order, then ``timestamp`` last. The output equals
    ``encode_event`` of that dict. ``timestamp`` may not appear in ``static_headers`` or ``extra``.
    """

    __slots__ = ("_prefix", "_static", "_static_pairs", "_ts_key")

    def __init__(self, static_headers: Mapping[str, str] | None = None) -> None:
        static = dict(static_headers or {})
        if TIMESTAMP_HEADER in static:
            raise ValueError("static_headers must not contain 'timestamp': it is set per event")
        self._static = static
        self._static_pairs = _encode_pairs(static)
        ts_key = TIMESTAMP_HEADER.encode()
        self._ts_key = _long(len(ts_key)) + ts_key
        self._prefix = _long(len(static) + 1) + self._static_pairs + self._ts_key

    @property
    def static_headers(self) -> dict[str, str]:
        """A copy of the constant headers."""
        return dict(self._static)

    def encode(self, body: bytes, timestamp: str, extra: Mapping[str, str] | None = None) -> bytes:
        """Encode one event; ``timestamp`` is the header value (epoch ms as a decimal string)."""
        if type(timestamp) is not str and not isinstance(timestamp, str):
            raise TypeError(
                f"Flume header value of 'timestamp' must be str, got {type(timestamp).__name__}: {timestamp!r}"
            )
        if type(body) is not bytes:
            body = _body_bytes(body)
        if extra:
            return self._encode_extra(body, timestamp, extra)
        try:
            tsb = timestamp.encode("utf-8")
        except UnicodeEncodeError:
            tsb = _utf8(timestamp, "value of 'timestamp'")
        return b"".join((self._prefix, _long(len(tsb)), tsb, b"\x00", _long(len(body)), body))

    def encoder_with(self, name: str) -> Callable[[bytes, str, str], bytes]:
        """``encode(body, timestamp, value)`` for events with one more header ``name`` (e.g. an event id).

        Returns exactly ``self.encode(body, timestamp, {name: value})`` (same bytes, same errors), with the
        header name pre-encoded; unusual input (non-str values, non-bytes bodies, long strings, characters
        UTF-8 cannot encode) goes through :meth:`encode`.
        """
        general = self.encode

        def via_encode(body: bytes, timestamp: str, value: str) -> bytes:
            return general(body, timestamp, {name: value})

        if type(name) is not str or name == TIMESTAMP_HEADER or name in self._static:
            return via_encode
        try:
            kb = name.encode("utf-8")
        except UnicodeEncodeError:
            return via_encode
        head = _long(len(self._static) + 2) + self._static_pairs + _long(len(kb)) + kb
        ts_key = self._ts_key
        small = _SMALL
        join = b"".join
        str_, bytes_ = str, bytes

        def encode(body: bytes, timestamp: str, value: str) -> bytes:
            if type(value) is str_ and type(timestamp) is str_ and type(body) is bytes_:
                try:
                    vb = value.encode()
                    tsb = timestamp.encode()
                    return join(
                        (
                            head,
                            small[len(vb)],
                            vb,
                            ts_key,
                            small[len(tsb)],
                            tsb,
                            b"\x00",
                            small[len(body)],
                            body,
                        )
                    )
                except (UnicodeEncodeError, IndexError):  # surrogates, or a length past the table
                    pass
            return via_encode(body, timestamp, value)

        return encode

    def _encode_extra(self, body: bytes, timestamp: str, extra: Mapping[str, str]) -> bytes:
        if TIMESTAMP_HEADER in extra:
            raise ValueError("extra headers must not contain 'timestamp': pass it as the timestamp argument")
        if any(k in self._static for k in extra):
            merged = {**self._static, **extra, TIMESTAMP_HEADER: timestamp}
            return encode_event(merged, body)
        tsb = _utf8(timestamp, "value of 'timestamp'")
        return b"".join(
            (
                _long(len(self._static) + len(extra) + 1),
                self._static_pairs,
                _encode_pairs(extra),
                self._ts_key,
                _long(len(tsb)),
                tsb,
                b"\x00",
                _long(len(body)),
                body,
            )
        )


class _Reader:
    """Bounds-checked reader over one Avro datum."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def long(self, what: str) -> int:
        data, pos, shift, acc = self.data, self.pos, 0, 0
        start = pos
        while True:
            if pos >= len(data):
                raise ValueError(f"truncated Flume envelope: {what} varint at byte {start} runs past the end")
            b = data[pos]
            pos += 1
            acc |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
            if shift >= 70:
                raise ValueError(
                    f"corrupt Flume envelope: {what} varint at byte {start} is longer than 10 bytes"
                )
        self.pos = pos
        return (acc >> 1) ^ -(acc & 1)

    def raw(self, what: str) -> bytes:
        start = self.pos
        n = self.long(f"{what} length")
        if n < 0:
            raise ValueError(f"corrupt Flume envelope: negative {what} length {n} at byte {start}")
        end = self.pos + n
        if end > len(self.data):
            raise ValueError(
                f"truncated Flume envelope: {what} at byte {self.pos} needs {n} bytes, "
                f"only {len(self.data) - self.pos} left"
            )
        out = bytes(self.data[self.pos : end])
        self.pos = end
        return out

    def text(self, what: str) -> str:
        start = self.pos
        raw = self.raw(what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"corrupt Flume envelope: {what} at byte {start} is not UTF-8 ({exc})") from None


def decode_event(data: bytes) -> FlumeEvent:
    """Decode one raw ``AvroFlumeEvent`` datum; truncated or trailing bytes raise ``ValueError``."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"Flume envelope must be bytes, got {type(data).__name__}")
    r = _Reader(bytes(data))
    headers: dict[str, str] = {}
    while True:
        count = r.long("header block count")
        if count == 0:
            break
        if count < 0:  # Avro: negative count is followed by the block's byte size
            count = -count
            r.long("header block size")
        for _ in range(count):
            key = r.text(f"header key #{len(headers) + 1}")
            headers[key] = r.text(f"header value of {key!r}")
    body = r.raw("body")
    if r.pos != len(r.data):
        raise ValueError(
            f"trailing bytes after Flume envelope: datum ends at byte {r.pos}, input has {len(r.data)} bytes"
        )
    return FlumeEvent(headers=headers, body=body)
