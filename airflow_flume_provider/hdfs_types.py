"""What the HDFS layer returns and raises: :class:`FileStatus` and the :class:`HdfsError` kinds.

Kept apart from :mod:`airflow_flume_provider.hdfs_client` (which re-exports them) so the client stays small.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FileStatus", "HdfsError", "HdfsNotFound", "HdfsPermissionError", "HdfsTransientError"]


class HdfsError(Exception):
    """A WebHDFS call failed; ``kind`` is ``missing``, ``permission``, ``transient`` or ``error``."""

    kind = "error"

    def __init__(self, message: str, *, path: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.status = status


class HdfsNotFound(HdfsError):
    """The path does not exist (HTTP 404 / FileNotFoundException)."""

    kind = "missing"


class HdfsPermissionError(HdfsError):
    """The user may not access the path (HTTP 401/403, AccessControlException): retrying will not help."""

    kind = "permission"


class HdfsTransientError(HdfsError):
    """The cluster is not answering properly right now (refused, timeout, 5xx, standby, safe mode)."""

    kind = "transient"


@dataclass(frozen=True)
class FileStatus:
    """One WebHDFS ``FileStatus``: ``name`` (pathSuffix), ``type``, ``length``, ``modification_time`` (ms)."""

    name: str
    type: str
    length: int
    modification_time: int
    replication: int = 0
    owner: str = ""

    @property
    def is_file(self) -> bool:
        """True for regular files (not directories or symlinks)."""
        return self.type == "FILE"

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], name: str | None = None) -> FileStatus:
        """Build from one WebHDFS ``FileStatus`` JSON object (``name`` when pathSuffix is empty)."""
        return cls(
            name=str(obj.get("pathSuffix") or name or ""),
            type=str(obj.get("type", "FILE")),
            length=int(obj.get("length", 0)),
            modification_time=int(obj.get("modificationTime", 0)),
            replication=int(obj.get("replication", 0)),
            owner=str(obj.get("owner", "")),
        )
