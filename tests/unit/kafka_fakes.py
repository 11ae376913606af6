"""In-process stand-ins for a confluent_kafka Consumer over fixed partitions (unit tests only)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

PARTITION_EOF = -191


class FakeError:
    def __init__(self, code: int, text: str = "") -> None:
        self._code, self._text = code, text

    def code(self) -> int:
        return self._code

    def __str__(self) -> str:
        return self._text or f"error {self._code}"


class FakeMessage:
    """A consumed message (or a partition-EOF event when ``error`` is set)."""

    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        value: bytes | None = None,
        ts: int | None = None,
        key: bytes | None = None,
        error: FakeError | None = None,
    ) -> None:
        self._t, self._p, self._o, self._v, self._ts, self._k, self._e = (
            topic,
            partition,
            offset,
            value,
            ts,
            key,
            error,
        )

    def error(self) -> FakeError | None:
        return self._e

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def value(self) -> bytes | None:
        return self._v

    def key(self) -> bytes | None:
        return self._k

    def timestamp(self) -> tuple[int, int]:
        return (1, self._ts) if self._ts is not None else (0, -1)


class FakeConsumer:
    """A consumer of one topic whose partitions hold ``[(value, timestamp_ms), ...]`` from offset 0."""

    def __init__(
        self, topic: str, partitions: dict[int, list[tuple[bytes | None, int]]], config: dict[str, Any]
    ):
        self.topic, self.partitions, self.config = topic, partitions, config
        self.positions: dict[int, int] = {}
        self.eof_sent: set[int] = set()
        self.closed = False

    def list_topics(self, topic: str, timeout: float) -> Any:
        if topic != self.topic:
            return SimpleNamespace(topics={})
        return SimpleNamespace(
            topics={topic: SimpleNamespace(error=None, partitions=dict.fromkeys(self.partitions))}
        )

    def offsets_for_times(self, tps: list[Any], timeout: float) -> list[Any]:
        out = []
        for tp in tps:
            rows = self.partitions[tp.partition]
            found = next((i for i, (_, ts) in enumerate(rows) if ts >= tp.offset), -1)
            out.append(SimpleNamespace(topic=tp.topic, partition=tp.partition, offset=found))
        return out

    def get_watermark_offsets(self, tp: Any, timeout: float) -> tuple[int, int]:
        return 0, len(self.partitions[tp.partition])

    def assign(self, tps: list[Any]) -> None:
        self.positions = {tp.partition: tp.offset for tp in tps}

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        out: list[FakeMessage] = []
        for p in sorted(self.positions):  # one message per partition per call: partitions interleave
            rows, pos = self.partitions[p], self.positions[p]
            if pos < len(rows):
                value, ts = rows[pos]
                out.append(FakeMessage(self.topic, p, pos, value, ts, key=f"k{pos}".encode()))
                self.positions[p] = pos + 1
            elif p not in self.eof_sent:
                self.eof_sent.add(p)
                out.append(FakeMessage(self.topic, p, pos, error=FakeError(PARTITION_EOF)))
        return out

    def position(self, tps: list[Any]) -> list[Any]:
        return [
            SimpleNamespace(partition=tp.partition, offset=self.positions.get(tp.partition, -1)) for tp in tps
        ]

    def close(self) -> None:
        self.closed = True
