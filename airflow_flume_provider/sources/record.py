"""What every source yields (:class:`SourceRecord`) and the error for unreadable input (:class:`BadInputError`)."""

from __future__ import annotations

from typing import Any


class BadInputError(ValueError):
    """Unreadable input; the message names the file and line/block (or topic:partition:offset)."""


class SourceRecord:
    """One stored event: the body to publish, its parsed value and where it came from.

    ``unit`` is the file (or ``topic:partition``) and ``where`` the line, block or offset in it; ``token`` is what
    a checkpoint saves to resume just after this record.
    """

    __slots__ = ("body", "kafka_timestamp_ms", "key", "token", "unit", "value", "where")

    def __init__(
        self,
        body: bytes,
        value: Any,
        unit: str,
        where: int | str,
        token: Any,
        kafka_timestamp_ms: int | None = None,
        key: bytes | None = None,
    ) -> None:
        self.body = body
        self.value = value
        self.unit = unit
        self.where = where
        self.token = token
        self.kafka_timestamp_ms = kafka_timestamp_ms
        self.key = key

    @property
    def position(self) -> str:
        """Human-readable position: ``file:line``, ``file:block N:i`` or ``topic:partition:offset``."""
        return f"{self.unit}:{self.where}"

    def __repr__(self) -> str:
        return f"SourceRecord({self.position}, {len(self.body)} bytes)"
