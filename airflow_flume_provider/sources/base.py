"""Reader base: the bad-input policy, dead letters, progress and resume bookkeeping, and the file loop.

A reader resumes from ``resume = {"units": {unit: token}, "done": [unit, ...]}`` as a checkpoint saved it;
``completed_units`` grows as units (files, topic partitions) are read to their end.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from airflow_flume_provider.dead_letter import DeadLetterWriter
from airflow_flume_provider.sources.fs import CountingReader, FileSystem
from airflow_flume_provider.sources.record import BadInputError, SourceRecord

BAD_INPUT_POLICIES = ("fail", "skip")


class Reader:
    """Base of the readers: bad-input policy, dead letters, progress and resume bookkeeping."""

    def __init__(
        self,
        *,
        on_bad_input: str = "fail",
        dead_letter: DeadLetterWriter | None = None,
        resume: dict[str, Any] | None = None,
    ) -> None:
        if on_bad_input not in BAD_INPUT_POLICIES:
            raise ValueError(f"on_bad_input must be one of {BAD_INPUT_POLICIES} (got {on_bad_input!r})")
        if on_bad_input == "skip" and dead_letter is None:
            raise ValueError("on_bad_input='skip' needs a dead-letter file")
        self.on_bad_input = on_bad_input
        self.dead_letter = dead_letter
        self.resume_units: dict[str, Any] = dict((resume or {}).get("units", {}))
        self.completed_units: list[str] = list((resume or {}).get("done", []))
        self.bad_input = 0
        self.total_bytes: int | None = None
        self._done_bytes = 0
        self._current: CountingReader | None = None

    def bad(self, position: str, reason: str, body: bytes = b"") -> None:
        """Apply the bad-input policy: raise, or dead-letter and count."""
        if self.on_bad_input == "fail":
            raise BadInputError(f"{position}: {reason}")
        assert self.dead_letter is not None
        self.dead_letter.write(position, reason, body)
        self.bad_input += 1

    def fraction_done(self) -> float | None:
        """Share of input bytes read so far (None when unknown)."""
        if not self.total_bytes:
            return None
        current = self._current.count if self._current is not None else 0
        return min(1.0, (self._done_bytes + current) / self.total_bytes)

    def __iter__(self) -> Iterator[SourceRecord]:
        raise NotImplementedError


class FileReader(Reader):
    """A reader of the files matched by ``pattern`` (local or hdfs://), in name order, skipping completed ones."""

    def __init__(self, pattern: str, *, fs: FileSystem | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pattern = pattern
        self.fs = fs or FileSystem()

    def __iter__(self) -> Iterator[SourceRecord]:
        try:
            files = self.fs.expand(self.pattern)
            self.total_bytes = sum(size for _, size in files)
            for path, size in files:
                if path in self.completed_units:
                    self._done_bytes += size
                    continue
                yield from self._read_file(path)
                self._done_bytes += size
                self._current = None
                self.completed_units.append(path)
        finally:
            self.fs.close()

    def _read_file(self, path: str) -> Iterator[SourceRecord]:
        raise NotImplementedError
