"""Airflow glue for the HDFS layer: read the ``webhdfs`` connection and ``[core] security``, build a client."""

from __future__ import annotations

from typing import Any

from airflow_flume_provider.hdfs_client import HdfsClient, client_from_connection

try:  # Airflow >= 3.1
    from airflow.sdk import BaseHook
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.hooks.base import BaseHook  # type: ignore[no-redef]

try:
    from airflow.sdk.configuration import conf
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.configuration import conf  # type: ignore[no-redef]

__all__ = ["FlumeHdfsHook", "kerberos_enabled"]


def kerberos_enabled() -> bool:
    """True when Airflow's ``[core] security`` is ``kerberos`` (as the hdfs provider's WebHDFSHook checks)."""
    return str(conf.get("core", "security", fallback="")).strip().lower() == "kerberos"


class FlumeHdfsHook(BaseHook):
    """Builds an :class:`~airflow_flume_provider.hdfs_client.HdfsClient` from a ``webhdfs`` connection.

    The connection is read as the hdfs provider's ``WebHDFSHook`` reads it (HA NameNodes, ``schema``,
    ``use_ssl``, ``verify``, ``cert``/``key``, Kerberos when ``[core] security = kerberos``).

    :param webhdfs_conn_id: Airflow connection of type ``webhdfs``.
    :param proxy_user: user to act as (``user.name``, or ``doas`` under Kerberos); default the login.
    """

    conn_name_attr = "webhdfs_conn_id"
    default_conn_name = "webhdfs_default"
    conn_type = "webhdfs"
    hook_name = "Flume WebHDFS"

    def __init__(self, webhdfs_conn_id: str = default_conn_name, proxy_user: str | None = None) -> None:
        super().__init__()
        self.webhdfs_conn_id = webhdfs_conn_id
        self.proxy_user = proxy_user

    def get_client(self, *, timeout: float | tuple[float, float] | None = None) -> HdfsClient:
        """A new client (close it, or use it in ``with``)."""
        return self.client_for(self.get_connection(self.webhdfs_conn_id), timeout=timeout)

    def get_conn(self) -> HdfsClient:
        """Same as :meth:`get_client` (Airflow's hook convention)."""
        return self.get_client()

    def client_for(self, conn: Any, *, timeout: float | tuple[float, float] | None = None) -> HdfsClient:
        """A client for an already fetched connection (the trigger fetches it asynchronously)."""
        return client_from_connection(
            conn, kerberos=kerberos_enabled(), timeout=timeout, proxy_user=self.proxy_user
        )
