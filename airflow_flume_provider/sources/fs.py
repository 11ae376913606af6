"""Input files for the file sources: local paths/globs, ``hdfs://`` URIs read through an HDFS client, or other
``scheme://`` URIs (``file://``, ``memory://``, any fsspec filesystem) read through :mod:`.objstore`.

The HDFS client is the project's :class:`~airflow_flume_provider.hdfs_client.HdfsClient` (or anything with its
``list_status``/``status``/``open``), passed in by the caller, directly or as a zero-argument factory called on
first use (the replay operator passes ``FlumeHdfsHook(webhdfs_conn_id).get_client``). No Airflow imports here.
"""

from __future__ import annotations

import fnmatch
import glob as globmod
import io
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Union

from airflow_flume_provider.hdfs_uri import is_hdfs_uri, split_hdfs_uri
from airflow_flume_provider.sources.objstore import ObjectFsResolver, ObjectStore, uri_scheme

if TYPE_CHECKING:
    from airflow_flume_provider.hdfs_client import HdfsClient

#: An HDFS client, or a zero-argument factory returning one.
HdfsClientArg = Union["HdfsClient", Callable[[], "HdfsClient"]]

_GLOB_CHARS = "*?["


class CountingReader(io.RawIOBase):
    """Raw stream wrapper counting the bytes read (the % of input done in progress logs)."""

    def __init__(self, raw: Any, offset: int = 0) -> None:
        self.raw = raw
        self.count = offset

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.raw.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        return n

    def close(self) -> None:
        try:
            self.raw.close()
        finally:
            super().close()


class RangedHdfsFile(io.RawIOBase):
    """Seekable read-only view of an HDFS file: each read is one WebHDFS ``OPEN`` with ``offset`` and ``length``.

    For readers that seek (Parquet's footer, then column chunks): memory is bounded by the largest single read.
    ``requests`` counts the OPEN calls.
    """

    def __init__(self, client: HdfsClient, path: str, size: int | None = None) -> None:
        self.client = client
        self.path = path
        self._size = size
        self._pos = 0
        self.requests = 0

    @property
    def size(self) -> int:
        """The file's length (asked of the NameNode once when not given)."""
        if self._size is None:
            self._size = int(self.client.status(self.path).length)
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"{self.path}: negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def read(self, size: int = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self._pos + size)
        if end <= self._pos:
            return b""
        self.requests += 1
        data = self.client.read(self.path, offset=self._pos, length=end - self._pos)
        self._pos += len(data)
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class FileSystem:
    """Lists and opens input files: local, on HDFS (``hdfs://`` URIs, through ``hdfs_client``) or behind another
    URI scheme (``file://``, ``memory://``... through fsspec, see :mod:`.objstore`).

    :param hdfs_client: an HDFS client or a zero-argument factory of one; needed only for ``hdfs://`` paths.
        A client made by the factory is closed by :meth:`close`; a client passed in stays the caller's.
    :param conn_id: the webhdfs connection the client comes from (named in errors only).
    :param object_fs: ``uri -> (fsspec filesystem, path)`` for the other schemes (default fsspec's own).
    """

    def __init__(
        self,
        hdfs_client: HdfsClientArg | None = None,
        *,
        conn_id: str | None = None,
        object_fs: ObjectFsResolver | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.objects = ObjectStore(object_fs)
        self._client: HdfsClient | None = None
        self._factory: Callable[[], HdfsClient] | None = None
        self._owned = False
        if hdfs_client is None or hasattr(hdfs_client, "list_status"):
            self._client = hdfs_client  # type: ignore[assignment]
        elif callable(hdfs_client):
            self._factory = hdfs_client
        else:
            raise TypeError(f"hdfs_client must be an HDFS client or a factory of one (got {hdfs_client!r})")

    @property
    def client(self) -> HdfsClient:
        """The HDFS client (made by the factory on first use)."""
        if self._client is None:
            if self._factory is None:
                conn = f" (webhdfs connection {self.conn_id!r})" if self.conn_id else ""
                raise ValueError(
                    f"hdfs:// input needs an HDFS client{conn}: pass hdfs_client= (a client or a factory of one)"
                )
            self._client = self._factory()
            self._owned = True
        return self._client

    def close(self) -> None:
        """Close the client if this object made it."""
        if self._owned and self._client is not None:
            client, self._client, self._owned = self._client, None, False
            client.close()

    def expand(self, pattern: str) -> list[tuple[str, int]]:
        """Sorted ``(path, size)`` for a path or glob (``*?[`` in the last component for HDFS).

        :raises FileNotFoundError: nothing matches (names the pattern).
        """
        if is_hdfs_uri(pattern):
            found = self._expand_hdfs(pattern)
        elif uri_scheme(pattern) is not None:
            found = self.objects.expand(pattern)
        else:
            found = self._expand_local(pattern)
        if not found:
            raise FileNotFoundError(f"no input file matches {pattern!r}")
        return sorted(found)

    @staticmethod
    def _expand_local(pattern: str) -> list[tuple[str, int]]:
        paths = globmod.glob(pattern) if any(c in pattern for c in _GLOB_CHARS) else [pattern]
        return [(p, os.path.getsize(p)) for p in paths if os.path.isfile(p)]

    def _expand_hdfs(self, pattern: str) -> list[tuple[str, int]]:
        from airflow_flume_provider.hdfs_client import HdfsNotFound

        hpath = split_hdfs_uri(pattern)[1]
        prefix = pattern[: len(pattern) - len(hpath)]
        parent, _, name = hpath.rpartition("/")
        try:
            if not any(c in name for c in _GLOB_CHARS):
                st = self.client.status(hpath)
                return [(pattern, int(st.length))] if st.type == "FILE" else []
            return [
                (f"{prefix}{parent}/{st.name}", int(st.length))
                for st in self.client.list_status(parent or "/")
                if st.type == "FILE" and fnmatch.fnmatchcase(st.name, name)
            ]
        except HdfsNotFound:
            return []

    def open(self, path: str, offset: int = 0) -> CountingReader:
        """Raw byte stream from ``offset``, counting bytes read; the caller closes it."""
        if is_hdfs_uri(path):
            return CountingReader(self.client.open(split_hdfs_uri(path)[1], offset=offset), offset)
        if uri_scheme(path) is not None:
            return CountingReader(self.objects.open(path, offset), offset)
        fh = open(path, "rb", buffering=0)  # noqa: SIM115 - returned to the caller, closed by it
        if offset:
            fh.seek(offset)
        return CountingReader(fh, offset)

    def open_seekable(self, path: str, size: int | None = None) -> Any:
        """A seekable binary file for readers that seek (Parquet); HDFS files are read by ranges. Caller closes."""
        if is_hdfs_uri(path):
            return RangedHdfsFile(self.client, split_hdfs_uri(path)[1], size)
        if uri_scheme(path) is not None:
            return self.objects.open(path)
        return open(path, "rb")  # noqa: SIM115 - returned to the caller, closed by it
