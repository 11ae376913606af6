"""Operator that audits the last N partitions of a Flume HDFS sink for late data and announces each revision."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator

from airflow_flume_provider.audit import AuditResult, audit_partition, format_table
from airflow_flume_provider.hdfs_uri import split_hdfs_uri, static_prefix
from airflow_flume_provider.hooks.flume_hdfs import FlumeHdfsHook
from airflow_flume_provider.marker import MarkerError, announced, write_marker
from airflow_flume_provider.naming import FileNaming
from airflow_flume_provider.partition_assets import announce, announcer_of, asset_identity, partition_key

try:  # Airflow >= 3.2 keeps task exceptions in the SDK
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.exceptions import AirflowFailException, AirflowSkipException  # type: ignore[no-redef]

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["FlumeLateDataAuditOperator"]


class FlumeLateDataAuditOperator(BaseOperator):
    """Find late events in partitions already declared ready, bump their revision and announce them.

    An operator rather than a mode of :class:`~airflow_flume_provider.sensors.partition.FlumePartitionSensor`:
    the audit is one scan over many partitions that never waits, while the sensor waits for one partition
    (pokes, deferral, timeouts, quiet period, watermark). As a sensor mode, half of either's parameters would
    mean nothing in the other mode.

    Partitions: those of the sink (``flume_conf`` + ``agent`` + ``sink``, or ``path_template`` + ``time_zone``
    + rounding) for event times in ``[audit_end - lookback, audit_end)``; ``lookback`` (templated) is a number
    of days or a ``timedelta``; ``audit_end`` (templated) defaults to the run's data-interval end, else its
    logical date, else now. Each partition with a ``_SUCCESS`` marker is compared with its listing (see
    :mod:`airflow_flume_provider.audit`); new or grown finished files are late; in-use files wait for the next
    audit; with ``count_events`` the late files are read and their events counted.

    For each revised partition: the marker is rewritten atomically with the next ``revision`` (recorded as
    announced by this task), and an asset event is emitted with the partition key (its path under the asset's
    prefix, e.g. ``2019-08-01``) and extras ``revision``, ``late_files``, ``late_events``,
    ``first_late_mtime`` (epoch ms), ``removed_files``, ``event_count``. Unchanged partitions emit nothing;
    when no partition changed the task ends **skipped**, because Airflow registers an event (without partition
    key) for every outlet of a task that succeeds.
    A corrupt or unreadable marker fails the task before anything is written (the error names the marker and
    the fault). Returns the results (one dict per partition) to XCom and logs them as a table.

    :param asset: the asset to announce on; default ``Asset(uri=hdfs://<namenode><prefix>, name=flume:<prefix>)``
        from :func:`~airflow_flume_provider.partition_assets.asset_identity` (the gate must emit the same one).
    :param file_naming: overrides of the sink's file naming (``FileNaming`` fields, e.g.
        ``{"in_use_prefix": "_", "file_type": "DataStream"}``) when not read from ``flume_conf``.
    """

    template_fields: Sequence[str] = (
        "path_template",
        "flume_conf",
        "agent",
        "sink",
        "lookback",
        "audit_end",
        "webhdfs_conn_id",
    )
    ui_color = "#f6e3cd"

    def __init__(
        self,
        *,
        flume_conf: str | None = None,
        agent: str | None = None,
        sink: str | None = None,
        path_template: str | None = None,
        time_zone: str = "UTC",
        need_rounding: bool = False,
        round_unit: str = "second",
        round_value: int = 1,
        namenode: str | None = None,
        file_naming: Mapping[str, Any] | None = None,
        lookback: int | str | timedelta = 7,
        audit_end: str | datetime | None = None,
        count_events: bool = True,
        webhdfs_conn_id: str = "webhdfs_default",
        emit_asset: bool = True,
        asset: Asset | None = None,
        **kwargs: Any,
    ) -> None:
        if (path_template is None) == (flume_conf is None):
            raise ValueError("FlumeLateDataAuditOperator needs exactly one of path_template or flume_conf")
        if flume_conf is not None and not (agent and sink):
            raise ValueError("FlumeLateDataAuditOperator: flume_conf needs agent and sink")
        unknown = set(file_naming or {}) - set(FileNaming.__dataclass_fields__)
        if unknown:
            raise ValueError(f"FlumeLateDataAuditOperator: unknown file_naming keys {sorted(unknown)}")
        self.flume_conf, self.agent, self.sink = flume_conf, agent, sink
        self.path_template = path_template
        self.time_zone = time_zone
        self.rounding = {"need_rounding": need_rounding, "round_unit": round_unit, "round_value": round_value}
        self.namenode = namenode
        self.file_naming = dict(file_naming or {})
        self.lookback = lookback
        self.audit_end = audit_end
        self.count_events = count_events
        self.webhdfs_conn_id = webhdfs_conn_id
        self.emit_asset = emit_asset
        self.asset = (asset or self._parse_time_asset()) if emit_asset else None
        if self.asset is not None:
            outlets = list(kwargs.pop("outlets", None) or [])
            if not any(getattr(o, "uri", None) == self.asset.uri for o in outlets):
                outlets.append(self.asset)
            kwargs["outlets"] = outlets
        super().__init__(**kwargs)

    # -- configuration ------------------------------------------------------------------------------------
    def _parse_time_asset(self) -> Asset | None:
        """The sink's asset when it is known at parse time (no Jinja, config readable), else None."""
        source = self.path_template or self.flume_conf or ""
        if "{{" in source:
            return None
        try:
            _, _, namenode, path = self._sink()
            uri, name = asset_identity(namenode, path)
        except (OSError, ValueError):  # the config may only exist on workers; then no asset
            return None
        return Asset(uri=uri, name=name)

    def _sink(self) -> tuple[Any, FileNaming, str | None, str]:
        """PathTemplate, naming, namenode and the template's path from the Flume config or the parameters."""
        from airflow_flume_provider.bucketpath import PathTemplate

        if self.flume_conf:
            from airflow_flume_provider.flume_config import load_flume_config

            s = load_flume_config(self.flume_conf).hdfs_sink(self.agent, self.sink)  # type: ignore[arg-type]
            naming = FileNaming.from_settings(s)
            template, namenode, path = s.path_template_obj(), s.namenode, s.path_template
        else:
            namenode, path = split_hdfs_uri(self.path_template or "")
            template = PathTemplate(path, time_zone=self.time_zone, **self.rounding)
            naming = FileNaming()
        if self.file_naming:
            naming = FileNaming(**{**naming.__dict__, **self.file_naming})
        return template, naming, namenode or self.namenode, split_hdfs_uri(path)[1]

    def _window(self, context: Context) -> tuple[datetime, datetime]:
        end: Any = self.audit_end
        if end in (None, ""):
            end = (
                context.get("data_interval_end") or context.get("logical_date") or datetime.now(timezone.utc)
            )
        if isinstance(end, str):
            try:
                end = datetime.fromisoformat(end.strip().replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"{self.task_id}: audit_end {self.audit_end!r} is not ISO-8601") from None
        if end.tzinfo is None:
            end = end.replace(tzinfo=timezone.utc)
        lookback = self.lookback
        if not isinstance(lookback, timedelta):
            try:
                lookback = timedelta(days=float(lookback))
            except (TypeError, ValueError):
                raise ValueError(
                    f"{self.task_id}: lookback {self.lookback!r} is not a number of days"
                ) from None
        if lookback <= timedelta(0):
            raise ValueError(f"{self.task_id}: lookback must be positive, got {self.lookback!r}")
        return end - lookback, end

    # -- running ------------------------------------------------------------------------------------------
    def execute(self, context: Context) -> list[dict[str, Any]]:
        """Audit, then write the revised markers and announce them (nothing is written if any marker is bad)."""
        template, naming, _, path = self._sink()
        start, end = self._window(context)
        partitions = [split_hdfs_uri(p)[1] for p in template.partitions_between(start, end)]
        prefix = static_prefix(path)
        announcer = announcer_of(context)
        self.log.info("Auditing %d partitions of %s from %s to %s", len(partitions), path, start, end)
        now_ms = int(time.time() * 1000)
        with FlumeHdfsHook(self.webhdfs_conn_id).get_client() as client:
            results, errors = [], []
            for partition in partitions:
                try:
                    result = audit_partition(
                        client,
                        partition,
                        naming,
                        now_ms=now_ms,
                        count=self.count_events,
                        warn=self.log.warning,
                    )
                except MarkerError as exc:
                    errors.append(str(exc))
                    continue
                results.append(self._retry_of_own_announcement(result, announcer))
            if errors:
                raise AirflowFailException(
                    f"{len(errors)} unreadable partition marker(s), nothing written: " + "; ".join(errors)
                )
            self.log.info("Late-data audit:\n%s", format_table(results, lambda p: partition_key(prefix, p)))
            for r in results:
                if r.revised and r.marker is not None:
                    r.marker = announced(r.marker, announcer)
                    write_marker(client, r.marker)
        self._announce(context, [r for r in results if r.revised], prefix)
        return [self._xcom(r, prefix) for r in results]

    def _retry_of_own_announcement(self, result: AuditResult, announcer: str) -> AuditResult:
        """An unchanged partition whose current revision this task (an earlier try) announced: announce again.

        Airflow registers asset events only when the task succeeds, so a try that wrote the marker and then
        failed announced nothing; without this the revision would never reach downstream.
        """
        marker = result.previous
        if result.status != "unchanged" or marker is None or marker.announced_by != announcer:
            return result
        self.log.info(
            "%s: revision %d was announced by an earlier try of this task; again",
            marker.partition,
            marker.revision,
        )
        return AuditResult(marker.partition, "revised", marker.revision, in_use=result.in_use, marker=marker)

    def _announce(self, context: Context, revised: list[AuditResult], prefix: str) -> None:
        if not revised:
            # Airflow emits an event for every declared outlet of a task that succeeds (extra None, no
            # partition key); only a skipped task emits none.
            raise AirflowSkipException(
                "No late data in the audited partitions: no asset event (task skipped)"
            )
        if self.asset is None:
            self.log.warning(
                "%d revised partitions but no asset to announce them (emit_asset/asset unknown)", len(revised)
            )
            return
        for r in revised:
            mode = announce(context, self.asset, partition_key(prefix, r.partition), r.extra())
            self.log.info("Announced %s revision %s (%s)", r.partition, r.revision, mode)

    @staticmethod
    def _xcom(r: AuditResult, prefix: str) -> dict[str, Any]:
        out = r.extra()
        out.update(status=r.status, partition_key=partition_key(prefix, r.partition), in_use=r.in_use)
        return out
