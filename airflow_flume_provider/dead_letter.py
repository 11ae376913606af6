"""Dead-letter file: records that were not published, each with its position and reason.

Used by the sources (bad input with ``on_bad_input="skip"``) and by the publish path (records the hook rejects).
Core module: no Airflow imports.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any, BinaryIO


class DeadLetterWriter:
    """Append-only JSON Lines file of records that were not published, each with its position and reason.

    Line format: ``{"position": ..., "reason": ..., "body": <utf-8 text>}`` or ``"body_base64"`` when the body
    is not valid UTF-8. The file is opened on the first write; ``count`` is the number of entries written.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.count = 0
        self._fh: BinaryIO | None = None

    def write(self, position: str, reason: str, body: bytes = b"") -> None:
        """Record one rejected record."""
        entry: dict[str, Any] = {"position": position, "reason": reason}
        try:
            entry["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            entry["body_base64"] = base64.b64encode(body).decode("ascii")
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open across writes, closed in close()
        self._fh.write(json.dumps(entry, ensure_ascii=False).encode("utf-8") + b"\n")
        self.count += 1

    def flush(self) -> None:
        """Make written entries durable (called before a checkpoint is saved)."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def size(self) -> int:
        """Current file size in bytes (0 if absent)."""
        self.flush()
        return self.path.stat().st_size if self.path.exists() else 0

    def truncate(self, size: int) -> None:
        """Drop entries written after a checkpoint (a resumed run writes them again)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self.path.exists() and self.path.stat().st_size > size:
            with open(self.path, "r+b") as fh:
                fh.truncate(size)

    def close(self) -> None:
        """Flush and close the file."""
        if self._fh is not None:
            self.flush()
            self._fh.close()
            self._fh = None

    @staticmethod
    def read(path: str | Path) -> list[dict[str, Any]]:
        """All entries of a dead-letter file (for tests and tooling)."""
        p = Path(path)
        if not p.exists():
            return []
        return [json.loads(line) for line in p.read_bytes().splitlines() if line.strip()]
