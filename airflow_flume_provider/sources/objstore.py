"""Input files behind a URI scheme other than ``hdfs://`` (``file://``, ``memory://``, ``s3://``...), through fsspec.

Airflow's ``ObjectStoragePath`` is an fsspec path; the replay operator turns one into its URI string and the
core reads it here with an fsspec filesystem: by default the one :func:`fsspec.core.url_to_fs` builds for the URI
(so any fsspec implementation the user installs works), or one the caller resolves (``resolver``). fsspec is
imported only when such a URI is read. No Airflow imports here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

#: ``uri -> (fsspec-like filesystem, path inside it)``; the filesystem needs ``glob``, ``info`` and ``open``.
ObjectFsResolver = Callable[[str], tuple[Any, str]]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_GLOB_CHARS = "*?["


def uri_scheme(path: str) -> str | None:
    """The scheme of ``scheme://...`` (lower case), None for a plain local path."""
    m = _SCHEME.match(path)
    return m.group(1).lower() if m else None


def _fsspec_resolver(uri: str) -> tuple[Any, str]:
    """fsspec's own filesystem for ``uri`` (storage options from fsspec's configuration and the environment)."""
    try:
        import fsspec.core
    except ImportError:  # pragma: no cover - fsspec comes with Airflow
        raise ValueError(f"source {uri!r} needs fsspec (pip install fsspec) to read its scheme") from None
    try:
        return fsspec.core.url_to_fs(uri)
    except (ImportError, ValueError) as exc:  # unknown protocol, or its implementation is not installed
        raise ValueError(f"cannot read source {uri!r}: {exc}") from None


class ObjectStore:
    """Lists and opens files of URIs with a scheme, each through its fsspec filesystem."""

    def __init__(self, resolver: ObjectFsResolver | None = None) -> None:
        self.resolver = resolver or _fsspec_resolver

    def expand(self, pattern: str) -> list[tuple[str, int]]:
        """``(uri, size)`` of the files a URI (a glob when it holds ``*?[``) names; the caller sorts them."""
        fs, path = self.resolver(pattern)
        if not any(c in path for c in _GLOB_CHARS):
            try:
                info = fs.info(path)
            except FileNotFoundError:
                return []
            return [(pattern, int(info["size"]))] if info.get("type") == "file" else []
        found = []
        for name, info in fs.glob(path, detail=True).items():
            if info.get("type") == "file":
                found.append((fs.unstrip_protocol(name), int(info["size"])))
        return found

    def open(self, uri: str, offset: int = 0) -> Any:
        """A seekable binary file positioned at ``offset``; the caller closes it."""
        fs, path = self.resolver(uri)
        fh = fs.open(path, "rb")
        if offset:
            fh.seek(offset)
        return fh
