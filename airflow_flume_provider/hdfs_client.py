"""The project's one HDFS access layer: a WebHDFS client over ``requests`` with classified errors.

Everything that touches HDFS (sensor, trigger, sources, CLI, DAGs, demo) goes through :class:`HdfsClient`;
this is the only module that builds a WebHDFS URL. :func:`client_from_connection` reads an Airflow
``webhdfs`` connection exactly as the hdfs provider's ``WebHDFSHook`` does: comma-separated NameNodes (HA),
``port`` (no port when empty), ``schema`` as a URL path prefix (``http://nn:port/<schema>/webhdfs/v1``, e.g.
a gateway), ``login`` as ``user.name``, a password as HTTP basic auth, extras ``use_ssl``, ``verify``
(default False under TLS, as in the hook), ``cert`` + ``key`` (mTLS), ``cookies``, ``headers``, and
SPNEGO (Kerberos, via ``requests_kerberos`` with OPTIONAL mutual auth, as HdfsCLI's ``KerberosClient``)
when ``[core] security = kerberos``. Beyond the hook: request timeouts (extras ``timeout``,
``connect_timeout``, ``read_timeout``), per-request NameNode failover, and DataNode redirects pinned to
loopback when the NameNode is loopback.

Why HdfsCLI (the ``hdfs`` package behind ``WebHDFSHook``) is not the transport, read in its 2.7.3 source:

* listing: ``Client.list`` sends only ``LISTSTATUS`` (no ``LISTSTATUS_BATCH`` paging), and for a directory
  with exactly one entry it sends an extra ``GETFILESTATUS`` (client.py ``list``): 2 requests per poke of
  a one-file partition, and one unbounded response for a 100,000-file partition;
* errors: ``HdfsError`` carries only the message and the Java exception name, no HTTP status; a 401 is a
  bare "Authentication failure"; connection errors and timeouts escape as raw ``requests`` exceptions
  after the last host; Hadoop's 403 ``EOFException`` (NameNode restarting) looks like a permission error.
  The sensor needs missing / permission / transient;
* redirects: ``read`` lets ``requests`` follow the NameNode's 307 to the DataNode's advertised host, so
  a DataNode known only by an internal name (the local stack) cannot be reached; we follow it ourselves;
* streaming and timeouts it does have (``read`` yields ``res.raw``; ``timeout=``), and its Kerberos
  support is ``requests_kerberos.HTTPKerberosAuth``, which we use directly.
So the small client below keeps the connection semantics of the hook and the project's needs in one place.
"""

from __future__ import annotations

import io
import ipaddress
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO
from urllib.parse import quote, urlsplit, urlunsplit

import orjson

from airflow_flume_provider.hdfs_connection import (
    DEFAULT_TIMEOUT,
    as_bool,
    session_from_connection,
    timeout_from_extra,
    urls_from_connection,
)
from airflow_flume_provider.hdfs_types import (
    FileStatus,
    HdfsError,
    HdfsNotFound,
    HdfsPermissionError,
    HdfsTransientError,
    read_paged_listing,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "FileStatus",
    "HdfsClient",
    "HdfsError",
    "HdfsNotFound",
    "HdfsPermissionError",
    "HdfsTransientError",
    "client_from_connection",
    "urls_from_connection",
]

READ_CHUNK = 1 << 16
_TRANSIENT_EXCEPTIONS = (
    "StandbyException",
    "RetriableException",
    "SafeModeException",
    "ObserverRetryOnActiveException",
)
_PERMISSION_EXCEPTIONS = ("AccessControlException", "SecurityException", "AuthorizationException")
_REDIRECTS = (301, 302, 303, 307, 308)


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _ResponseStream(io.RawIOBase):
    """A streamed HTTP body as a raw binary stream; counts bytes and classifies mid-read failures."""

    def __init__(self, resp: Any, client: HdfsClient, path: str) -> None:
        self._resp = resp
        self._client = client
        self._path = path

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        import requests
        import urllib3

        try:
            chunk = self._resp.raw.read(len(b), decode_content=True)
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            raise HdfsTransientError(
                f"WebHDFS OPEN {self._path}: read failed: {type(exc).__name__}: {exc}", path=self._path
            ) from exc
        n = len(chunk)
        b[:n] = chunk
        self._client.bytes_read += n
        return n

    def close(self) -> None:
        if not self.closed:
            self._resp.close()
        super().close()


class HdfsClient:
    """Synchronous WebHDFS client with NameNode HA failover and request accounting.

    One client (one ``requests.Session``) serves one poke or one command; ``requests`` and ``bytes_read``
    count what it did. Every failure is an :class:`HdfsError` subclass.

    :param base_urls: NameNode roots, e.g. ``["http://nn1:9870", "https://nn2:9871/gateway"]``.
    :param user: ``user.name`` for simple (pseudo) authentication, or None.
    :param timeout: seconds, or ``(connect, read)``, for every request (a read timeout applies per chunk).
    :param verify: TLS verification (bool or CA bundle path).
    :param auth: a ``requests`` auth object or ``(user, password)`` (basic).
    :param proxy_user: ``doas`` user, or None.
    """

    def __init__(
        self,
        base_urls: Sequence[str],
        *,
        user: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        verify: bool | str = True,
        auth: Any = None,
        proxy_user: str | None = None,
        session: Any = None,
    ) -> None:
        import requests

        if not base_urls:
            raise ValueError("HdfsClient needs at least one NameNode URL")
        self.base_urls = [u.rstrip("/") for u in base_urls]
        self.user = user
        self.proxy_user = proxy_user
        self.timeout = timeout
        self.session = session or requests.Session()
        if session is None:
            self.session.verify = verify
        if auth is not None:
            self.session.auth = auth
        self._active = 0
        self._batch_listing = True
        self.requests = 0
        self.bytes_read = 0

    def __repr__(self) -> str:
        return f"HdfsClient({self.base_urls!r}, user={self.user!r})"

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def __enter__(self) -> HdfsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------------------
    def _url(self, base: str, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"WebHDFS path must be absolute: {path!r}")
        return f"{base}/webhdfs/v1{quote(path)}"

    def _params(self, op: str, extra: Mapping[str, Any] | None) -> dict[str, Any]:
        params: dict[str, Any] = {"op": op}
        if self.user:
            params["user.name"] = self.user
        if self.proxy_user:
            params["doas"] = self.proxy_user
        params.update(extra or {})
        return params

    def _send(self, method: str, url: str, path: str, **kwargs: Any) -> Any:
        """Send one request; network failures become :class:`HdfsTransientError`."""
        import requests

        self.requests += 1
        try:
            return self.session.request(method, url, timeout=self.timeout, allow_redirects=False, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise HdfsTransientError(
                f"WebHDFS {method} {path}: {type(exc).__name__}: {exc}", path=path
            ) from exc
        except requests.RequestException as exc:
            raise HdfsError(f"WebHDFS {method} {path}: {exc}", path=path) from exc

    def _namenode(
        self,
        method: str,
        path: str,
        op: str,
        params: Mapping[str, Any] | None = None,
        *,
        stream: bool = False,
    ) -> Any:
        """Send to the active NameNode, failing over across ``base_urls`` on transient errors."""
        last: HdfsError | None = None
        n = len(self.base_urls)
        for i in range(n):
            idx = (self._active + i) % n
            try:
                resp = self._send(
                    method,
                    self._url(self.base_urls[idx], path),
                    path,
                    params=self._params(op, params),
                    stream=stream,
                )
                if resp.status_code < 300 or resp.status_code in _REDIRECTS:
                    self._active = idx
                    return resp
                raise self._classify(resp, op, path)
            except HdfsTransientError as exc:
                last = exc
        assert last is not None
        raise last

    @staticmethod
    def _classify(resp: Any, op: str, path: str) -> HdfsError:
        """Turn an error response into the matching exception kind (the response is closed)."""
        exc_name, message = "", resp.text[:300]
        try:
            body = resp.json().get("RemoteException", {})
            exc_name = str(body.get("exception", ""))
            message = str(body.get("message", message))
        except (ValueError, AttributeError):
            pass
        resp.close()
        status = resp.status_code
        text = f"WebHDFS {op} {path}: HTTP {status} {exc_name}: {message}".strip()
        definite = exc_name in ("AccessControlException", "FileNotFoundException")
        if exc_name in _TRANSIENT_EXCEPTIONS or (status >= 500 and not definite):
            return HdfsTransientError(text, path=path, status=status)
        if status == 404 or exc_name == "FileNotFoundException":
            return HdfsNotFound(text, path=path, status=status)
        if exc_name in _PERMISSION_EXCEPTIONS or (status in (401, 403) and not exc_name):
            return HdfsPermissionError(text, path=path, status=status)
        if status == 403:
            # Hadoop's WebHDFS maps every other IOException to 403 too: an EOFException while the NameNode
            # restarts, "Failed to find datanode" while DataNodes are gone. Waiting can help: not a permission.
            return HdfsTransientError(text, path=path, status=status)
        return HdfsError(text, path=path, status=status)

    def _datanode_url(self, resp: Any, op: str, path: str) -> str:
        """The DataNode URL of a NameNode redirect, pinned to loopback when the NameNode is loopback."""
        location = resp.headers.get("Location")
        if not location:
            try:
                location = resp.json().get("Location")
            except ValueError:
                location = None
        resp.close()
        if not location:
            raise HdfsError(f"WebHDFS {op} {path}: NameNode sent no DataNode location", path=path)
        nn_host = urlsplit(self.base_urls[self._active]).hostname or ""
        parts = urlsplit(location)
        if _is_loopback(nn_host) and parts.hostname and not _is_loopback(parts.hostname):
            netloc = f"{nn_host}:{parts.port}" if parts.port else nn_host
            location = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        return location

    def _two_step(self, method: str, path: str, op: str, params: Mapping[str, Any], **kwargs: Any) -> Any:
        """NameNode request, then the DataNode it redirects to (OPEN, CREATE, APPEND)."""
        resp = self._namenode(method, path, op, params, stream=method == "GET")
        if resp.status_code in _REDIRECTS:
            resp = self._send(method, self._datanode_url(resp, op, path), path, **kwargs)
            if resp.status_code >= 300:
                raise self._classify(resp, op, path)
        return resp

    # -- operations -------------------------------------------------------------------------------------
    def list_status(self, path: str) -> list[FileStatus]:
        """List a directory in ``LISTSTATUS_BATCH`` pages (``LISTSTATUS`` where the server lacks it), parsed by
        orjson from bytes, each page parsed while the next is fetched (``read_paged_listing``). Raises
        :class:`HdfsNotFound` when the directory is missing."""
        if self._batch_listing:
            listing = read_paged_listing(lambda start_after: self._batch_page(path, start_after))
            if listing is not None:
                return listing
        body = orjson.loads(self._namenode("GET", path, "LISTSTATUS").content)
        return FileStatus.from_listing(body["FileStatuses"]["FileStatus"])

    def _batch_page(self, path: str, start_after: str | None) -> bytes | None:
        """One raw ``LISTSTATUS_BATCH`` body; None when the server has no paged listing (HttpFS, Hadoop < 2.8)."""
        try:
            params = {"startAfter": start_after} if start_after else None
            return self._namenode("GET", path, "LISTSTATUS_BATCH", params).content  # type: ignore[no-any-return]
        except HdfsError as exc:
            if start_after is None and exc.status == 400 and "LISTSTATUS_BATCH" in str(exc):
                self._batch_listing = False
                return None
            raise

    def status(self, path: str) -> FileStatus:
        """``GETFILESTATUS`` of one path (``name`` is the path's last component)."""
        body = self._namenode("GET", path, "GETFILESTATUS").json()
        return FileStatus.from_json(body["FileStatus"], name=path.rstrip("/").rsplit("/", 1)[-1])

    def open(self, path: str, *, offset: int = 0, length: int | None = None) -> BinaryIO:
        """Stream a file: a buffered binary reader over the DataNode's response; close it (``with``)."""
        params: dict[str, Any] = {"offset": offset} if offset else {}
        if length is not None:
            params["length"] = length
        resp = self._two_step("GET", path, "OPEN", params, stream=True)
        return io.BufferedReader(_ResponseStream(resp, self, path), buffer_size=READ_CHUNK)  # type: ignore[return-value]

    def read(self, path: str, *, offset: int = 0, length: int | None = None) -> bytes:
        """Read a small file (or a range) whole; use :meth:`open` for anything large."""
        with self.open(path, offset=offset, length=length) as stream:
            return stream.read()

    def create(self, path: str, data: bytes = b"", *, overwrite: bool = True) -> None:
        """Create a file holding ``data`` (default empty, e.g. a ``_SUCCESS`` marker)."""
        params = {"overwrite": "true" if overwrite else "false"}
        headers = {"Content-Type": "application/octet-stream"}
        resp = self._two_step("PUT", path, "CREATE", params, data=data, headers=headers)
        if resp.status_code >= 300:
            raise self._classify(resp, "CREATE", path)

    def append(self, path: str, data: bytes) -> None:
        """Append ``data`` to an existing file (also how a client asks HDFS to recover a stale lease)."""
        headers = {"Content-Type": "application/octet-stream"}
        resp = self._two_step("POST", path, "APPEND", {}, data=data, headers=headers)
        if resp.status_code >= 300:
            raise self._classify(resp, "APPEND", path)

    def rename(self, src: str, dst: str, *, overwrite: bool = False) -> bool:
        """Rename ``src`` to ``dst``; False when HDFS refuses (e.g. ``dst`` exists or its parent is missing).

        ``overwrite=True`` sends ``renameoptions=OVERWRITE`` (the NameNode's ``rename2``): an existing ``dst``
        file is replaced in one NameNode operation, so readers see the old file or the new one, never neither.
        """
        params = {"destination": dst}
        if overwrite:
            params["renameoptions"] = "OVERWRITE"
        resp = self._namenode("PUT", src, "RENAME", params)
        if overwrite:  # rename2 answers 200 with an empty body; a refusal is an HTTP error, raised above
            return True
        return bool(resp.json().get("boolean"))

    def delete(self, path: str, *, recursive: bool = False) -> bool:
        """Delete a path; False when it did not exist."""
        params = {"recursive": "true" if recursive else "false"}
        return bool(self._namenode("DELETE", path, "DELETE", params).json().get("boolean"))

    def mkdirs(self, path: str) -> bool:
        """Create a directory and its parents."""
        return bool(self._namenode("PUT", path, "MKDIRS").json().get("boolean"))


def client_from_connection(
    conn: Any,
    *,
    kerberos: bool | None = None,
    timeout: float | tuple[float, float] | None = None,
    proxy_user: str | None = None,
) -> HdfsClient:
    """Build a client from an Airflow ``webhdfs`` connection (anything with host, port, login, password,
    schema, extra_dejson).

    ``kerberos``: use SPNEGO; None reads ``AIRFLOW__CORE__SECURITY`` (the hook passes ``[core] security``).
    Under Kerberos no ``user.name`` is sent (``proxy_user`` becomes ``doas``); otherwise ``user.name`` is
    ``proxy_user`` or the login, as in ``WebHDFSHook``.
    """
    extra: Any = getattr(conn, "extra_dejson", None) or {}
    if isinstance(extra, str):
        extra = json.loads(extra or "{}")
    if kerberos is None:
        kerberos = os.environ.get("AIRFLOW__CORE__SECURITY", "").strip().lower() == "kerberos"
    use_ssl = as_bool(extra.get("use_ssl", False))
    session = session_from_connection(conn, extra, use_ssl, kerberos)
    return HdfsClient(
        urls_from_connection(conn.host, conn.port, use_ssl=use_ssl, schema=conn.schema),
        user=None if kerberos else (proxy_user or conn.login or None),
        proxy_user=proxy_user if kerberos else None,
        timeout=timeout_from_extra(extra, timeout),
        session=session,
    )
