"""Sensor that holds downstream tasks until a Flume-written HDFS partition is complete."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseSensorOperator, PokeReturnValue

from airflow_flume_provider.hdfs_client import HdfsClient, HdfsError
from airflow_flume_provider.hdfs_formats import FormatError
from airflow_flume_provider.hdfs_uri import split_hdfs_uri, static_prefix
from airflow_flume_provider.hooks.flume_hdfs import FlumeHdfsHook
from airflow_flume_provider.partition_assets import asset_name
from airflow_flume_provider.partition_check import (
    ALL_CHECKS,
    DEFAULT_CHECKS,
    PartitionCheckFailed,
    PartitionSpec,
    PartitionState,
    ReadinessReport,
    expected_counts_from,
    poke_partition,
    resolve_partitions,
)
from airflow_flume_provider.partition_faults import stale_repair_commands
from airflow_flume_provider.partition_model import ON_STALE_IN_USE
from airflow_flume_provider.sensors.partition_kafka import (
    consumed_fields,
    count_free,
    materialized,
    open_kafka_admin,
    timeout_message,
)
from airflow_flume_provider.sensors.partition_window import template_and_naming, window
from airflow_flume_provider.sensors.reschedule_state import RescheduleUnsupported, restore, save_state
from airflow_flume_provider.triggers.partition import FlumePartitionTrigger

try:  # Airflow >= 3.2 keeps task exceptions in the SDK
    from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout  # type: ignore

try:
    from airflow.sdk.configuration import conf
except ImportError:  # pragma: no cover - Airflow 3.0
    from airflow.configuration import conf  # type: ignore

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["FlumePartitionSensor"]


def _seconds(value: float | str | timedelta) -> float | str:
    """Seconds from a timedelta; numbers and (templated) strings as given."""
    return value.total_seconds() if isinstance(value, timedelta) else value


class FlumePartitionSensor(BaseSensorOperator):
    """Wait until the Flume HDFS sink's partition for this run is complete, then report it.

    The partition comes from ``path_template`` (+ ``time_zone`` and rounding, as in the sink's ``hdfs.path``,
    ``hdfs.timeZone``, ``hdfs.round*``), or from ``flume_conf`` + ``agent`` + ``sink`` (the sink's settings
    also give the file naming and type). The instant is ``partition_date`` (templated; a bare date means that
    day in the template's zone), else the run's data interval (every partition in it), else the logical date.

    Checks (see :mod:`airflow_flume_provider.partition_check`): default ``exists``, ``no_in_use``, ``quiet``,
    ``watermark``, plus ``count`` when ``expected_count`` or ``manifest`` (templated; the replay operator's
    XCom, merged across mapped tasks) is given. Each poke lists each partition (LISTSTATUS_BATCH, one request per
    1,000 entries; the next partition too while the watermark is undecided) and streams only new files.

    WebHDFS outages are "not ready" (logged) until they last ``max_transient_failure_s``; permission errors,
    corrupt files and an exceeded ``exact_count`` fail at once. When ready: optional empty ``_SUCCESS`` in each
    partition directory, an Asset event (``asset_uri``; default ``hdfs://<namenode>/<template prefix>`` for a
    literal ``path_template``; with ``flume_conf``, which is read only at execute, pass ``asset_uri``) with
    extras ``partition``, ``files``, ``bytes``, ``event_count``, ``newest_mtime``, and the readiness report
    returned to XCom.

    ``consumed`` (opt-in, in ``checks``): Flume's consumer group read everything written for the partition
    (:mod:`~airflow_flume_provider.partition_consumed`): the manifest's ``kafka_offsets``, else a snapshot of the
    topics' log ends after partition end + ``allowed_lateness``. Group and topics from ``flume_conf`` or
    ``kafka_topic`` + ``kafka_group_id`` (+ ``kafka_topology``, default ``kafka_source``), Kafka through
    ``kafka_conn_id`` or the config's bootstrap servers. On a KafkaSource, ``no_in_use`` and ``quiet`` are added.
    An in-use file unchanged for ``stale_in_use_after`` (2 h) is stale: ``on_stale_in_use`` ``"wait"`` (logs the
    repair commands), ``"fail"``, or ``"finalize"`` (lease recovery + rename). With a count or manifest, the
    timeout error names the missing events and the command that replays the window. With ``deferrable=True`` (default ``[operators] default_deferrable``) the waiting runs in
    :class:`~airflow_flume_provider.triggers.partition.FlumePartitionTrigger` after one synchronous poke.
    In ``mode="reschedule"`` the poll state survives reschedules in Airflow's ``task_state_store`` (Airflow
    >= 3.3); without one, settings that cannot work that way (``quiet`` with ``trust_mtime=False``) fail
    with an error naming ``mode``.
    """

    template_fields: Sequence[str] = (
        "path_template",
        "flume_conf",
        "agent",
        "sink",
        "partition_date",
        "partition_end",
        "expected_count",
        "manifest",
        "quiet_period",
        "allowed_lateness",
        "webhdfs_conn_id",
        "kafka_topic",
        "kafka_group_id",
        "kafka_conn_id",
    )
    ui_color = "#cde8f6"

    def __init__(
        self,
        *,
        path_template: str | None = None,
        time_zone: str = "UTC",
        need_rounding: bool = False,
        round_unit: str = "second",
        round_value: int = 1,
        flume_conf: str | None = None,
        agent: str | None = None,
        sink: str | None = None,
        namenode: str | None = None,
        file_prefix: str | None = None,
        file_suffix: str | None = None,
        in_use_prefix: str | None = None,
        in_use_suffix: str | None = None,
        file_type: str | None = None,
        serializer: str | None = None,
        codec: str | None = None,
        partition_date: str | datetime | date | None = None,
        partition_end: str | datetime | date | None = None,
        checks: Sequence[str] | None = None,
        min_files: int = 1,
        quiet_period: float | timedelta = 60.0,
        allowed_lateness: float | timedelta = 3600.0,
        trust_mtime: bool = True,
        expected_count: int | str | None = None,
        manifest: Any = None,
        exact_count: bool = False,
        webhdfs_conn_id: str = "webhdfs_default",
        write_success_marker: bool = False,
        asset_uri: str | None = None,
        emit_asset: bool = True,
        max_transient_failure_s: float = 600.0,
        log_every_n_pokes: int = 10,
        batched_listing: bool = False,
        kafka_topic: str | list[str] | None = None,
        kafka_group_id: str | None = None,
        kafka_conn_id: str | None = None,
        kafka_topology: str | None = None,
        consumed_require_members: bool = True,
        stale_in_use_after: float | timedelta = 7200.0,
        on_stale_in_use: str = "wait",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        # One attribute per templated/keyword parameter, as Airflow operators keep them: long, but flat.
        if (path_template is None) == (flume_conf is None):
            raise ValueError("FlumePartitionSensor needs exactly one of path_template or flume_conf")
        if flume_conf is not None and not (agent and sink):
            raise ValueError("FlumePartitionSensor: flume_conf needs agent and sink")
        if checks is not None and set(checks) - set(ALL_CHECKS):
            raise ValueError(f"FlumePartitionSensor: unknown checks {sorted(set(checks) - set(ALL_CHECKS))}")
        if on_stale_in_use not in ON_STALE_IN_USE:
            raise ValueError(f"FlumePartitionSensor: on_stale_in_use must be one of {ON_STALE_IN_USE}")
        self.path_template = path_template
        self.time_zone = time_zone
        self.need_rounding = need_rounding
        self.round_unit = round_unit
        self.round_value = round_value
        self.flume_conf = flume_conf
        self.agent = agent
        self.sink = sink
        self.namenode = namenode
        self.naming_overrides = {
            k: v
            for k, v in dict(
                file_prefix=file_prefix,
                file_suffix=file_suffix,
                in_use_prefix=in_use_prefix,
                in_use_suffix=in_use_suffix,
                file_type=file_type,
                serializer=serializer,
                codec=codec,
            ).items()
            if v is not None
        }
        self.partition_date = partition_date
        self.partition_end = partition_end
        self.checks = tuple(checks) if checks is not None else None
        self.min_files = min_files
        self.quiet_period = _seconds(quiet_period)
        self.allowed_lateness = _seconds(allowed_lateness)
        self.trust_mtime = trust_mtime
        self.expected_count = expected_count
        self.manifest = manifest
        self.exact_count = exact_count
        self.webhdfs_conn_id = webhdfs_conn_id
        self.write_success_marker = write_success_marker
        self.emit_asset = emit_asset
        self.max_transient_failure_s = max_transient_failure_s
        self.log_every_n_pokes = log_every_n_pokes
        self.batched_listing = batched_listing
        self.kafka_topic, self.kafka_group_id, self.kafka_conn_id = kafka_topic, kafka_group_id, kafka_conn_id
        self.kafka_topology, self.consumed_require_members = kafka_topology, consumed_require_members
        self.stale_in_use_after, self.on_stale_in_use = float(_seconds(stale_in_use_after)), on_stale_in_use
        self.deferrable = deferrable
        self.asset_uri = asset_uri or (self._default_asset_uri() if emit_asset else None)
        if self.asset_uri and emit_asset:
            outlets = list(kwargs.pop("outlets", None) or [])
            if not any(getattr(o, "uri", None) == self.asset_uri for o in outlets):
                # the name the gate and the audit use: Airflow keeps one active asset per URI
                outlets.append(Asset(uri=self.asset_uri, name=asset_name(self.asset_uri)))
            kwargs["outlets"] = outlets
        super().__init__(**kwargs)
        self._spec: PartitionSpec | None = None
        self._state = PartitionState()
        self._store: Any = None
        self._admin: Any = None
        self._report: ReadinessReport | None = None

    # -- configuration ------------------------------------------------------------------------------------
    def _default_asset_uri(self) -> str | None:
        """``hdfs://<namenode>/<static prefix>`` of a literal ``path_template`` with a namenode, else None."""
        if self.path_template and "{{" not in self.path_template:
            nn, path = split_hdfs_uri(self.path_template)
        else:  # a Flume config is read at execute only, never at DAG parse: its asset is opt-in (asset_uri)
            return None
        nn = nn or self.namenode
        return f"hdfs://{nn}{static_prefix(path)}" if nn else None

    def build_spec(self, context: Context) -> PartitionSpec:
        """Resolve the partition(s) and checks for this run (once per task attempt)."""
        self.manifest = materialized(self.manifest)
        template, naming, namenode = template_and_naming(self)
        self._namenode = namenode
        zone = getattr(template, "time_zone", None) or self.time_zone
        start, end = window(self, context, str(zone))
        paths, next_paths, end_ts = resolve_partitions(template, start, end)
        self._window_start = start.isoformat()
        expected = int(self.expected_count) if self.expected_count not in (None, "") else None
        manifest = expected_counts_from(self.manifest) if self.manifest not in (None, "") else None
        if manifest == {} and count_free(self.manifest):  # Kafka offsets only: no count to expect
            manifest = None
        checks = self.checks or DEFAULT_CHECKS + (
            ("count",) if expected is not None or manifest is not None else ()
        )
        return PartitionSpec(
            paths=paths,
            next_paths=next_paths,
            end_ts=end_ts,
            naming=naming,
            **consumed_fields(self, checks),
            consumed_require_members=self.consumed_require_members,
            stale_in_use_after=self.stale_in_use_after,
            on_stale_in_use=self.on_stale_in_use,
            min_files=self.min_files,
            quiet_period=float(self.quiet_period),
            allowed_lateness=float(self.allowed_lateness),
            expected_count=expected,
            manifest=manifest,
            exact_count=self.exact_count,
            trust_mtime=self.trust_mtime,
            max_transient_failure_s=self.max_transient_failure_s,
            batched_listing=self.batched_listing,
        )

    def _client(self) -> HdfsClient:
        return FlumeHdfsHook(self.webhdfs_conn_id).get_client()

    # -- sensing --------------------------------------------------------------------------------------------
    def poke(self, context: Context) -> bool | PokeReturnValue:
        """One check of the partition; True (with the report as XCom) when it is complete."""
        if self._spec is None:
            self._spec = self.build_spec(context)
            self.log.info(
                "Watching %s with checks %s", ", ".join(self._spec.paths), ", ".join(self._spec.checks)
            )
            self._restore_state(context)
        spec = self._spec
        try:
            if "consumed" in spec.checks and self._admin is None:
                self._admin = open_kafka_admin(self.kafka_conn_id, spec)
            with self._client() as client:
                report, self._state = poke_partition(client, spec, self._state, admin=self._admin)
            self._report = report
            if self._store is not None:
                save_state(self._store, spec, self._state)
        except (PartitionCheckFailed, FormatError) as exc:
            raise AirflowFailException(f"{', '.join(spec.paths)}: {exc}") from exc
        except HdfsError as exc:  # permission, or a request WebHDFS rejects: waiting cannot help
            raise AirflowFailException(f"{', '.join(spec.paths)}: {exc}") from exc
        if report.ready:
            self.log.info(
                "Partition %s (%d WebHDFS requests, %.3f s)",
                report.summary(),
                report.requests,
                report.elapsed_s,
            )
            return PokeReturnValue(is_done=True, xcom_value=self._finish(context, report))
        if self._state.should_log(report, self.log_every_n_pokes):
            self.log.info("Partition %s: %s", ", ".join(spec.paths), report.summary())
            if report.stale_in_use:
                self.log.warning(
                    "Stale in-use files; to repair: %s",
                    "; ".join(stale_repair_commands(report.stale_in_use, spec.naming)),
                )
        return False

    def _restore_state(self, context: Context) -> None:
        """In reschedule mode, continue from the state the previous poke saved (Airflow >= 3.3)."""
        if self.mode != "reschedule" or self.deferrable:
            return
        try:
            self._store, saved = restore(context, self._spec, self.task_id)  # type: ignore[arg-type]
        except RescheduleUnsupported as exc:
            raise AirflowFailException(str(exc)) from exc
        if saved is not None:
            self._state = saved
            self.log.info("Continuing from the state of poke %d (task_state_store)", saved.polls)

    def execute(self, context: Context) -> Any:
        """Poke (or, when deferrable, poke once and defer to the trigger)."""
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as exc:
                message = timeout_message(self, context, self._spec, self._report) if self._spec else None
                if message is None:
                    raise
                raise AirflowSensorTimeout(message) from exc
        first = self.poke(context)
        if first:
            return first.xcom_value if isinstance(first, PokeReturnValue) else None
        assert self._spec is not None
        timeout = (
            float(self.timeout) if not isinstance(self.timeout, timedelta) else self.timeout.total_seconds()
        )
        self.defer(
            trigger=FlumePartitionTrigger(
                spec=self._spec.to_dict(),
                state=self._state.to_dict(),
                webhdfs_conn_id=self.webhdfs_conn_id,
                kafka_conn_id=self.kafka_conn_id,
                poke_interval=self._poke_seconds(),
                deadline=time.time() + timeout,
                log_every_n_pokes=self.log_every_n_pokes,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=timeout + max(60.0, self._poke_seconds() * 2)),
        )

    def _poke_seconds(self) -> float:
        pi = self.poke_interval
        return pi.total_seconds() if isinstance(pi, timedelta) else float(pi)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger: finish on success, fail / time out otherwise."""
        status = event.get("status")
        if status == "success":
            if self._spec is None:
                self._spec = self.build_spec(context)
            report = ReadinessReport.from_dict(event["report"])
            self.log.info("Partition %s", report.summary())
            return self._finish(context, report)
        if status == "timeout":
            if self._spec is None:
                self._spec = self.build_spec(context)
            report = ReadinessReport.from_dict(event["report"]) if event.get("report") else None
            message = timeout_message(self, context, self._spec, report)
            raise AirflowSensorTimeout(message or event.get("message", "Partition sensor timed out"))
        if status == "error":
            message = event.get("message", f"Partition trigger failed: {event}")
            if event.get("retryable"):
                raise AirflowException(message)
            raise AirflowFailException(message)
        raise AirflowException(f"Unexpected event from FlumePartitionTrigger: {event}")

    # -- when ready ---------------------------------------------------------------------------------------
    def _finish(self, context: Context, report: ReadinessReport) -> dict[str, Any]:
        """Write the JSON ``_SUCCESS`` markers, emit the partition-keyed asset event, return the report for XCom."""
        from airflow_flume_provider.sensors.partition_finish import announce_partitions, write_markers

        if self.write_success_marker:
            with self._client() as client:
                write_markers(self, client, context, report)
        if self.emit_asset and self.asset_uri:
            announce_partitions(self, context, report)
        return report.to_dict()
