"""A small WebHDFS client for the partition sensor: list, read, create-empty, with classified errors.

One :class:`WebHdfsClient` (one ``requests.Session``) is meant to be used for one poke: it remembers the
active NameNode of an HA pair, counts HTTP requests and bytes read, and turns every failure into one of
three kinds the sensor acts on: ``missing`` (path absent), ``permission`` (fail at once) and ``transient``
(NameNode restarting, standby, timeout, 5xx, DataNode gone: not ready yet).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests

__all__ = [
    "FileStatus",
    "WebHdfsClient",
    "WebHdfsError",
    "WebHdfsNotFound",
    "WebHdfsPermissionError",
    "WebHdfsTransientError",
    "client_from_connection",
]

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)
_TRANSIENT_EXCEPTIONS = (
    "StandbyException",
    "RetriableException",
    "SafeModeException",
    "ObserverRetryOnActiveException",
)
_PERMISSION_EXCEPTIONS = ("AccessControlException", "SecurityException", "AuthorizationException")


class WebHdfsError(Exception):
    """A WebHDFS call failed; ``kind`` is ``missing``, ``permission``, ``transient`` or ``error``."""

    kind = "error"

    def __init__(self, message: str, *, path: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.status = status


class WebHdfsNotFound(WebHdfsError):
    """The path does not exist (HTTP 404 / FileNotFoundException)."""

    kind = "missing"


class WebHdfsPermissionError(WebHdfsError):
    """The user may not access the path (HTTP 401/403, AccessControlException): retrying will not help."""

    kind = "permission"


class WebHdfsTransientError(WebHdfsError):
    """The cluster is not answering properly right now (refused, timeout, 5xx, standby, safe mode)."""

    kind = "transient"


@dataclass(frozen=True)
class FileStatus:
    """One entry of a directory listing (the fields of WebHDFS ``FileStatus`` the sensor uses)."""

    name: str
    type: str
    length: int
    modification_time: int

    @property
    def is_file(self) -> bool:
        """True for regular files (not directories or symlinks)."""
        return self.type == "FILE"

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> FileStatus:
        """Build from one WebHDFS ``FileStatus`` JSON object."""
        return cls(
            name=str(obj.get("pathSuffix", "")),
            type=str(obj.get("type", "FILE")),
            length=int(obj.get("length", 0)),
            modification_time=int(obj.get("modificationTime", 0)),
        )


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebHdfsClient:
    """Synchronous WebHDFS client over ``requests`` with NameNode HA failover and request accounting.

    :param base_urls: NameNode HTTP(S) roots, e.g. ``["http://nn1:9870", "http://nn2:9870"]``.
    :param user: ``user.name`` for simple (pseudo) authentication, or None.
    :param timeout: ``(connect, read)`` seconds for every request.
    :param verify: TLS verification (bool or CA bundle path) for ``https`` roots.
    :param auth: optional ``requests`` auth object (e.g. Kerberos/SPNEGO).
    """

    def __init__(
        self,
        base_urls: Sequence[str],
        *,
        user: str | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        verify: bool | str = True,
        auth: Any = None,
        session: requests.Session | None = None,
    ) -> None:
        if not base_urls:
            raise ValueError("WebHdfsClient needs at least one NameNode URL")
        self.base_urls = [u.rstrip("/") for u in base_urls]
        self.user = user
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.verify = verify
        if auth is not None:
            self.session.auth = auth
        self._active = 0
        self.requests = 0
        self.bytes_read = 0

    # -- plumbing ---------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def __enter__(self) -> WebHdfsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _url(self, base: str, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError(f"WebHDFS path must be absolute: {path!r}")
        return f"{base}/webhdfs/v1{quote(path)}"

    def _params(self, op: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"op": op}
        if self.user:
            params["user.name"] = self.user
        if extra:
            params.update(extra)
        return params

    def _send(self, method: str, url: str, path: str, **kwargs: Any) -> requests.Response:
        """Send one request, translating network failures into :class:`WebHdfsTransientError`."""
        self.requests += 1
        try:
            return self.session.request(method, url, timeout=self.timeout, allow_redirects=False, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise WebHdfsTransientError(
                f"WebHDFS {method} {path}: {type(exc).__name__}: {exc}", path=path
            ) from exc
        except requests.RequestException as exc:
            raise WebHdfsError(f"WebHDFS {method} {path}: {exc}", path=path) from exc

    def _namenode_request(
        self, method: str, path: str, op: str, params: Mapping[str, Any] | None = None
    ) -> requests.Response:
        """Send to the active NameNode, failing over across ``base_urls`` on transient errors."""
        last: WebHdfsError | None = None
        n = len(self.base_urls)
        for i in range(n):
            idx = (self._active + i) % n
            url = self._url(self.base_urls[idx], path)
            try:
                resp = self._send(method, url, path, params=self._params(op, params))
                if resp.status_code < 300 or resp.status_code in (307, 302, 301):
                    self._active = idx
                    return resp
                raise self._classify(resp, method, op, path)
            except WebHdfsTransientError as exc:
                last = exc
                continue
        assert last is not None
        raise last

    @staticmethod
    def _classify(resp: requests.Response, method: str, op: str, path: str) -> WebHdfsError:
        """Turn an error response into the matching exception kind."""
        exc_name, message = "", resp.text[:300]
        try:
            body = resp.json().get("RemoteException", {})
            exc_name = str(body.get("exception", ""))
            message = str(body.get("message", message))
        except (ValueError, AttributeError):
            pass
        text = f"WebHDFS {op} {path}: HTTP {resp.status_code} {exc_name}: {message}".strip()
        definite = exc_name in ("AccessControlException", "FileNotFoundException")
        if exc_name in _TRANSIENT_EXCEPTIONS or (resp.status_code >= 500 and not definite):
            return WebHdfsTransientError(text, path=path, status=resp.status_code)
        if resp.status_code == 404 or exc_name == "FileNotFoundException":
            return WebHdfsNotFound(text, path=path, status=resp.status_code)
        if exc_name in _PERMISSION_EXCEPTIONS or (resp.status_code in (401, 403) and not exc_name):
            return WebHdfsPermissionError(text, path=path, status=resp.status_code)
        if resp.status_code == 403:
            # Hadoop's WebHDFS maps every other IOException to 403 too: an EOFException while the NameNode
            # restarts, "Failed to find datanode" while DataNodes are gone. Waiting can help: not a permission.
            return WebHdfsTransientError(text, path=path, status=resp.status_code)
        return WebHdfsError(text, path=path, status=resp.status_code)

    def _follow(self, resp: requests.Response, method: str, path: str) -> str:
        """Return the DataNode URL a NameNode redirect points to, pinned to loopback when the NameNode is."""
        location = resp.headers.get("Location")
        if not location:
            try:
                location = resp.json().get("Location")
            except ValueError:
                location = None
        if not location:
            raise WebHdfsError(f"WebHDFS {method} {path}: NameNode sent no DataNode location", path=path)
        nn_host = urlsplit(self.base_urls[self._active]).hostname or ""
        parts = urlsplit(location)
        if _is_loopback(nn_host) and parts.hostname and not _is_loopback(parts.hostname):
            netloc = f"{nn_host}:{parts.port}" if parts.port else nn_host
            location = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        return location

    # -- operations -------------------------------------------------------------------------------------
    def list_status(self, path: str, *, batched: bool = False) -> list[FileStatus]:
        """List a directory: one ``LISTSTATUS`` request, or ``LISTSTATUS_BATCH`` pages when ``batched``.

        Raises :class:`WebHdfsNotFound` when the directory does not exist.
        """
        if not batched:
            resp = self._namenode_request("GET", path, "LISTSTATUS")
            return [FileStatus.from_json(o) for o in resp.json()["FileStatuses"]["FileStatus"]]
        out: list[FileStatus] = []
        start_after: str | None = None
        while True:
            params = {"startAfter": start_after} if start_after else None
            body = self._namenode_request("GET", path, "LISTSTATUS_BATCH", params).json()["DirectoryListing"]
            page = [FileStatus.from_json(o) for o in body["partialListing"]["FileStatuses"]["FileStatus"]]
            out.extend(page)
            if not page or int(body.get("remainingEntries", 0)) == 0:
                return out
            start_after = page[-1].name

    def open(self, path: str, *, offset: int = 0, length: int | None = None) -> bytes:
        """Read a file (NameNode redirect, then the DataNode) and return its bytes."""
        params: dict[str, Any] = {"offset": offset} if offset else {}
        if length is not None:
            params["length"] = length
        resp = self._namenode_request("GET", path, "OPEN", params)
        if resp.is_redirect:
            url = self._follow(resp, "OPEN", path)
            resp = self._send("GET", url, path)
            if resp.status_code >= 300:
                raise self._classify(resp, "GET", "OPEN", path)
        data = resp.content
        self.bytes_read += len(data)
        return data

    def create(self, path: str, data: bytes = b"", *, overwrite: bool = True) -> None:
        """Create a file with ``data`` (default empty, e.g. a ``_SUCCESS`` marker)."""
        params = {"overwrite": "true" if overwrite else "false"}
        resp = self._namenode_request("PUT", path, "CREATE", params)
        if resp.is_redirect:
            url = self._follow(resp, "CREATE", path)
            resp = self._send(
                "PUT", url, path, data=data, headers={"Content-Type": "application/octet-stream"}
            )
        if resp.status_code >= 300:
            raise self._classify(resp, "PUT", "CREATE", path)


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def urls_from_connection(host: str, port: int | None, *, use_ssl: bool) -> list[str]:
    """Build NameNode roots from a (possibly comma-separated, HA) connection host and port."""
    scheme = "https" if use_ssl else "http"
    urls = []
    for raw in (h.strip() for h in (host or "").split(",")):
        if not raw:
            continue
        if "://" in raw:
            raw = raw.split("://", 1)[1]
        raw = raw.rstrip("/")
        if ":" in raw.rsplit("]", 1)[-1]:
            urls.append(f"{scheme}://{raw}")
        else:
            urls.append(f"{scheme}://{raw}:{port or (9871 if use_ssl else 9870)}")
    if not urls:
        raise ValueError(f"WebHDFS connection has no host: {host!r}")
    return urls


def client_from_connection(conn: Any, *, timeout: tuple[float, float] | None = None) -> WebHdfsClient:
    """Build a client from an Airflow ``webhdfs`` connection.

    ``host`` may list several NameNodes (``nn1,nn2``); ``port`` is the HTTP port; ``login`` is
    ``user.name``; extras ``use_ssl`` (or schema ``https``), ``verify``, ``timeout``/``connect_timeout``/
    ``read_timeout`` (seconds) are honoured. A password, if any, is sent as HTTP basic auth.
    """
    extra: Mapping[str, Any] = conn.extra_dejson if hasattr(conn, "extra_dejson") else {}
    if isinstance(extra, str):
        extra = json.loads(extra or "{}")
    use_ssl = _as_bool(extra.get("use_ssl", False)) or (conn.schema or "").lower() in ("https", "swebhdfs")
    verify: bool | str = extra.get("verify", True)
    if isinstance(verify, str) and verify.lower() in ("true", "false"):
        verify = verify.lower() == "true"
    if timeout is None:
        base = float(extra.get("timeout", 0) or 0)
        timeout = (
            float(extra.get("connect_timeout", base or DEFAULT_TIMEOUT[0])),
            float(extra.get("read_timeout", base or DEFAULT_TIMEOUT[1])),
        )
    auth = (conn.login, conn.password) if conn.password else None
    return WebHdfsClient(
        urls_from_connection(conn.host, conn.port, use_ssl=use_ssl),
        user=conn.login or None,
        timeout=timeout,
        verify=verify,
        auth=auth,
    )


def iter_files(statuses: Iterable[FileStatus]) -> Iterable[FileStatus]:
    """Yield only regular files."""
    return (s for s in statuses if s.is_file)
