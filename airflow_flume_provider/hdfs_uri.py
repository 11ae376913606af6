"""HDFS URIs and paths: the one owner of ``hdfs://namenode/path`` splitting and joining. No Airflow imports."""

from __future__ import annotations

import posixpath
import re

__all__ = ["is_hdfs_uri", "join_hdfs_uri", "split_hdfs_uri", "static_prefix"]

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def split_hdfs_uri(path: str) -> tuple[str | None, str]:
    """Split ``hdfs://host:8020/flume/x`` into ``("host:8020", "/flume/x")``; a bare path gives ``(None, path)``.

    :raises ValueError: the scheme is not a valid URI scheme (names the input).
    """
    if "://" not in path:
        return None, path
    scheme, rest = path.split("://", 1)
    if not scheme or not _SCHEME_RE.fullmatch(scheme):
        raise ValueError(f"invalid URI scheme in {path!r}")
    slash = rest.find("/")
    authority, rest_path = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
    return (authority or None), rest_path


def is_hdfs_uri(path: str) -> bool:
    """True for ``hdfs://`` and ``webhdfs://`` URIs (read through the HDFS layer), False for local paths."""
    return path.startswith(("hdfs://", "webhdfs://"))


def join_hdfs_uri(namenode: str | None, path: str) -> str:
    """``("nn:8020", "/a/b")`` -> ``hdfs://nn:8020/a/b``; without a NameNode, the normalised path."""
    path = posixpath.normpath("/" + path.lstrip("/")) if path else "/"
    return f"hdfs://{namenode}{path}" if namenode else path


def static_prefix(template: str) -> str:
    """The directories of a path template before its first escape: ``/flume/events/%Y-%m-%d`` ->
    ``/flume/events`` (what every partition shares; the sensor's default Asset is named after it)."""
    parts = []
    for segment in template.split("/"):
        if "%" in segment:
            break
        parts.append(segment)
    return "/".join(parts).rstrip("/") or "/"
