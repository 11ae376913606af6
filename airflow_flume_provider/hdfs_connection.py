"""How an Airflow ``webhdfs`` connection becomes NameNode roots and a ``requests.Session``.

The rules are the hdfs provider's ``WebHDFSHook``'s (see :mod:`airflow_flume_provider.hdfs_client`, whose
:func:`~airflow_flume_provider.hdfs_client.client_from_connection` uses these helpers). No Airflow import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "DEFAULT_TIMEOUT",
    "as_bool",
    "session_from_connection",
    "timeout_from_extra",
    "urls_from_connection",
]

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def urls_from_connection(
    host: str, port: int | None, *, use_ssl: bool, schema: str | None = None
) -> list[str]:
    """NameNode roots for a (comma-separated, HA) connection host: ``scheme://nn[:port][/schema]``."""
    scheme = "https" if use_ssl else "http"
    prefix = f"/{schema.strip('/')}" if schema and schema.strip("/") else ""
    urls = []
    for raw in (h.strip() for h in (host or "").split(",")):
        raw = raw.split("://", 1)[-1].rstrip("/")
        if not raw:
            continue
        has_port = ":" in raw.rsplit("]", 1)[-1]
        urls.append(f"{scheme}://{raw}{'' if has_port or not port else f':{port}'}{prefix}")
    if not urls:
        raise ValueError(f"WebHDFS connection has no host: {host!r}")
    return urls


def timeout_from_extra(extra: Mapping[str, Any], timeout: float | tuple[float, float] | None) -> Any:
    if timeout is not None:
        return timeout
    base = float(extra.get("timeout", 0) or 0)
    return (
        float(extra.get("connect_timeout", base or DEFAULT_TIMEOUT[0])),
        float(extra.get("read_timeout", base or DEFAULT_TIMEOUT[1])),
    )


def session_from_connection(conn: Any, extra: Mapping[str, Any], use_ssl: bool, kerberos: bool) -> Any:
    """A ``requests.Session`` configured as WebHDFSHook configures its one."""
    import requests

    session = requests.Session()
    session.verify = True
    if conn.password and not kerberos:
        session.auth = (conn.login or "", conn.password)
    if use_ssl:
        verify = extra.get("verify", False)
        session.verify = (
            as_bool(verify) if isinstance(verify, str) and verify.lower() in ("true", "false") else verify
        )
        cert, key = extra.get("cert"), extra.get("key")
        if cert:
            session.cert = (cert, key) if key else cert
    if extra.get("cookies"):
        session.cookies.update(extra["cookies"])
    if extra.get("headers"):
        session.headers.update(extra["headers"])
    if kerberos:
        from requests_kerberos import OPTIONAL, HTTPKerberosAuth

        session.auth = HTTPKerberosAuth(mutual_authentication=OPTIONAL)
    return session
