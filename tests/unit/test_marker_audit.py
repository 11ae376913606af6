"""Unit tests for the JSON ``_SUCCESS`` marker, the audit decision and partition keys (in-process HDFS fake)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import pytest

from airflow_flume_provider.audit import decide, declare_ready, late_candidates, on_ready
from airflow_flume_provider.marker import (
    HdfsNotFound,
    Marker,
    MarkerError,
    MarkerFile,
    announced,
    declare,
    parse_marker,
    read_marker,
    write_marker,
)
from airflow_flume_provider.naming import FileNaming
from airflow_flume_provider.partition_assets import announce, asset_identity, partition_key

P = "/flume/events/2019-08-01"
NAMING = FileNaming(in_use_prefix="_", file_type="DataStream")
NOW = 1_564_800_000_000


@dataclass(frozen=True)
class St:
    name: str
    length: int
    modification_time: int
    type: str = "FILE"


class FakeHdfs:
    """Files in a dict; rename with overwrite replaces in one step, like WebHDFS RENAME + OVERWRITE."""

    def __init__(self, *, rename_overwrite: bool = True) -> None:
        self.files: dict[str, tuple[bytes, int]] = {}
        self.ops: list[str] = []
        self.rename_overwrite = rename_overwrite
        self.clock = NOW

    def put(self, path: str, data: bytes, mtime: int | None = None) -> None:
        self.files[path] = (data, mtime if mtime is not None else self.clock)

    def list_status(self, path: str) -> list[St]:
        prefix = path.rstrip("/") + "/"
        found = [St(p[len(prefix) :], len(d), m) for p, (d, m) in self.files.items() if p.startswith(prefix)]
        if not found:
            raise HdfsNotFound(path)
        return sorted(found, key=lambda s: s.name)

    def read(self, path: str) -> bytes:
        if path not in self.files:
            raise HdfsNotFound(path)
        return self.files[path][0]

    def open(self, path: str) -> io.BytesIO:
        return io.BytesIO(self.read(path))

    def create(self, path: str, data: bytes, overwrite: bool = True) -> None:
        assert overwrite or path not in self.files
        self.ops.append(f"create {path}")
        self.put(path, data)

    def rename(self, src: str, dst: str, **kwargs: Any) -> bool:
        if kwargs and not self.rename_overwrite:
            raise TypeError("rename() got an unexpected keyword argument 'overwrite'")
        self.ops.append(f"rename {src} {dst} {kwargs}")
        if dst in self.files and not kwargs.get("overwrite"):
            return False
        self.files[dst] = self.files.pop(src)
        return True

    def delete(self, path: str, recursive: bool = False) -> bool:
        self.ops.append(f"delete {path}")
        return self.files.pop(path, None) is not None


def _listing(*files: tuple[str, int, int]) -> list[St]:
    return [St(n, length, m) for n, length, m in files]


def _marker(files: list[MarkerFile], revision: int = 1) -> Marker:
    m = declare(P, files, now_ms=NOW, event_count=sum(f.events or 0 for f in files), announced_by="gate")
    return m if revision == 1 else Marker(**{**m.__dict__, "revision": revision})


# -- marker -------------------------------------------------------------------------------------------------
def test_marker_round_trip_through_atomic_write() -> None:
    hdfs = FakeHdfs()
    hdfs.put(f"{P}/FlumeData.1", b"a\nb\n")
    m = declare(P, [MarkerFile("FlumeData.1", 4, NOW, 2)], now_ms=NOW, event_count=2, checks=["exists"])
    assert write_marker(hdfs, m) == f"{P}/_SUCCESS"
    tmp_create, rename = hdfs.ops
    assert tmp_create.startswith(f"create {P}/_SUCCESS.") and tmp_create.endswith(".tmp")
    assert rename.endswith(f"{P}/_SUCCESS {{'overwrite': True}}")
    back = read_marker(hdfs, P)
    assert back is not None and back.revision == 1 and back.event_count == 2 and back.checks == ("exists",)
    assert back.files == (MarkerFile("FlumeData.1", 4, NOW, 2),)
    assert not [p for p in hdfs.files if p.endswith(".tmp")]


def test_rewrite_replaces_in_one_rename_and_falls_back_without_overwrite() -> None:
    hdfs = FakeHdfs()
    m = declare(P, [MarkerFile("FlumeData.1", 4)], now_ms=NOW)
    write_marker(hdfs, m)
    write_marker(hdfs, Marker(**{**m.__dict__, "revision": 2}))
    assert "delete" not in " ".join(hdfs.ops) and read_marker(hdfs, P).revision == 2  # type: ignore[union-attr]
    old = FakeHdfs(rename_overwrite=False)
    write_marker(old, m)
    write_marker(old, Marker(**{**m.__dict__, "revision": 3}))
    assert f"delete {P}/_SUCCESS" in old.ops and read_marker(old, P).revision == 3  # type: ignore[union-attr]


def test_refused_rename_is_an_error_and_cleans_the_temp_file() -> None:
    hdfs = FakeHdfs()
    hdfs.rename = lambda src, dst, **kw: False  # type: ignore[method-assign]
    with pytest.raises(MarkerError, match=r"RENAME .* refused"):
        write_marker(hdfs, declare(P, [], now_ms=NOW))
    assert hdfs.files == {}


def test_empty_marker_is_revision_zero_with_unknown_files() -> None:
    hdfs = FakeHdfs()
    hdfs.put(f"{P}/_SUCCESS", b"", mtime=NOW - 5)
    m = read_marker(hdfs, P)
    assert m is not None and m.legacy and m.revision == 0 and m.declared_mtime == NOW - 5
    assert read_marker(hdfs, "/flume/events/1999-01-01") is None


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{revision: 1", "not JSON .* line 1 column 2"),
        (b"[1]", "expected a JSON object"),
        (b'{"format": "x"}', "'format' is 'x'"),
        (
            b'{"format": "airflow-flume-marker", "version": 9, "revision": 1}',
            "marker version 9 is not supported",
        ),
        (b'{"format": "airflow-flume-marker", "version": 1, "revision": "2"}', "'revision' must be"),
        (
            b'{"format": "airflow-flume-marker", "version": 1, "revision": 1, "files": {}}',
            "'files' must be a list",
        ),
        (
            b'{"format": "airflow-flume-marker", "version": 1, "revision": 1, "files": [{"name": "a", "length": -1}]}',
            r"files\[0\].'length'",
        ),
        (
            b'{"format": "airflow-flume-marker", "version": 1, "revision": 1, "announced_revision": 2, "files": []}',
            "revision 1 / announced_revision 2 are inconsistent",
        ),
    ],
)
def test_corrupt_marker_names_path_and_fault(data: bytes, what: str) -> None:
    with pytest.raises(MarkerError, match=f"^{P}/_SUCCESS: invalid partition marker: {what}"):
        parse_marker(data, f"{P}/_SUCCESS")


def test_marker_directory_is_an_error() -> None:
    with pytest.raises(MarkerError, match="is a directory"):
        read_marker(FakeHdfs(), P, [St("_SUCCESS", 0, 0, "DIRECTORY")])


def test_announcement_bookkeeping() -> None:
    m = declare(P, [], now_ms=NOW)
    assert m.announced_revision is None and m.needs_announcement("a")
    a = announced(m, "dag/run/gate")
    assert not a.needs_announcement("dag/run2/other")  # another task: already announced at this revision
    assert a.needs_announcement("dag/run/gate")  # a retry of the announcing task re-announces
    assert parse_marker(a.to_json(), f"{P}/_SUCCESS").announced_by == "dag/run/gate"


# -- audit --------------------------------------------------------------------------------------------------
def test_no_change_is_unchanged_and_in_use_is_not_late() -> None:
    m = _marker([MarkerFile("FlumeData.1", 10, NOW, 3)])
    listing = _listing(("FlumeData.1", 10, NOW), ("_FlumeData.2.tmp", 50, NOW + 9), ("_SUCCESS", 300, NOW))
    r = decide(m, listing, NAMING, {}, now_ms=NOW + 10)
    assert (
        r.status == "unchanged" and r.revision == 1 and r.in_use == ["_FlumeData.2.tmp"] and r.marker is None
    )


def test_new_and_grown_files_give_next_revision_with_counted_late_events() -> None:
    m = _marker([MarkerFile("FlumeData.1", 10, NOW, 3), MarkerFile("FlumeData.2", 20, NOW, 5)])
    listing = _listing(("FlumeData.1", 10, NOW), ("FlumeData.2", 28, NOW + 70), ("FlumeData.3", 4, NOW + 50))
    assert [st.name for st in late_candidates(m, listing, NAMING)] == ["FlumeData.2", "FlumeData.3"]
    r = decide(m, listing, NAMING, {"FlumeData.2": 7, "FlumeData.3": 1}, now_ms=NOW + 100)
    assert r.status == "revised" and r.revision == 2
    assert r.late_files == ["FlumeData.2", "FlumeData.3"] and r.late_events == 2 + 1
    assert r.first_late_mtime == NOW + 50
    assert r.marker is not None and r.marker.revision == 2 and r.marker.event_count == 3 + 7 + 1
    assert [f.events for f in r.marker.files or ()] == [3, 7, 1]
    assert r.marker.announced_revision == 1  # announcing is the caller's step
    assert r.marker.history[-1] == {
        "revision": 2,
        "at": "2019-08-03T02:40:00.100Z",
        "late_files": 2,
        "late_events": 3,
    }
    extra = r.extra()
    assert extra["revision"] == 2 and extra["late_events"] == 3 and extra["first_late_mtime"] == NOW + 50


def test_uncountable_late_file_keeps_revision_but_no_late_events() -> None:
    m = _marker([MarkerFile("FlumeData.1", 10, NOW, None)])
    r = decide(m, _listing(("FlumeData.1", 12, NOW + 1)), NAMING, {"FlumeData.1": 4}, now_ms=NOW)
    assert r.revised and r.late_events is None and r.marker and r.marker.event_count == 4


def test_removed_file_revises_without_late_events() -> None:
    m = _marker([MarkerFile("FlumeData.1", 10, NOW, 3), MarkerFile("FlumeData.2", 10, NOW, 3)])
    r = decide(m, _listing(("FlumeData.1", 10, NOW)), NAMING, {}, now_ms=NOW)
    assert r.revised and r.removed_files == ["FlumeData.2"] and r.late_events == 0 and r.late_files == []


def test_legacy_marker_counts_files_modified_after_it_as_late() -> None:
    m = parse_marker(b"", f"{P}/_SUCCESS", mtime=NOW)
    listing = _listing(("FlumeData.1", 10, NOW - 1), ("FlumeData.2", 5, NOW + 1))
    r = decide(m, listing, NAMING, {"FlumeData.2": 2}, now_ms=NOW + 2)
    assert r.revised and r.revision == 1 and r.late_files == ["FlumeData.2"] and r.late_events == 2
    assert r.marker and r.marker.files and [f.name for f in r.marker.files] == ["FlumeData.1", "FlumeData.2"]
    assert r.marker.event_count is None  # FlumeData.1 was never counted
    assert decide(m, listing[:1], NAMING, {}, now_ms=NOW).status == "unchanged"


def test_gate_announces_each_revision_once() -> None:
    listing = _listing(("FlumeData.1", 10, NOW))
    first = on_ready(None, P, listing, NAMING, {"FlumeData.1": 3}, now_ms=NOW, announcer="replay/r1/wait")
    assert first is not None and first.revision == 1 and first.announced_by == "replay/r1/wait"
    assert first.event_count == 3
    # the daily gate, same files: already announced by the replay's sensor
    assert on_ready(first, P, listing, NAMING, {}, now_ms=NOW, announcer="gate/r2/wait") is None
    # the replay's sensor retried: its first try's event was never registered, so announce again
    assert on_ready(first, P, listing, NAMING, {}, now_ms=NOW, announcer="replay/r1/wait") is not None
    # a gate that sees late files announces the next revision
    later = _listing(("FlumeData.1", 10, NOW), ("FlumeData.2", 4, NOW + 9))
    again = on_ready(first, P, later, NAMING, {"FlumeData.2": 1}, now_ms=NOW, announcer="gate/r2/wait")
    assert again is not None and again.revision == 2 and again.announced_revision == 2


# -- partition keys and announcing --------------------------------------------------------------------------
def test_asset_identity_and_partition_keys() -> None:
    assert asset_identity("nn:8020", "/flume/events/%Y-%m-%d") == (
        "hdfs://nn:8020/flume/events",
        "flume:/flume/events",
    )
    assert asset_identity(None, "hdfs://a:1/flume/tz/%Y/%H%M")[1] == "flume:/flume/tz"
    with pytest.raises(ValueError, match="no NameNode"):
        asset_identity(None, "/x/%Y")
    assert partition_key("/flume/events", P) == "2019-08-01"
    assert partition_key("hdfs://nn/flume/tz", "/flume/tz/2019-08-01/0530/") == "2019-08-01/0530"
    with pytest.raises(ValueError, match="not under"):
        partition_key("/flume/events", "/flume/eventsX/2019-08-01")


class _Accessor:
    def __init__(self) -> None:
        self.extra: dict[str, Any] = {}
        self.partition_keys: set[str] = set()

    def add_partitions(self, keys: str) -> None:
        self.partition_keys.add(keys)


class _OldAccessor:
    def __init__(self) -> None:
        self.extra: dict[str, Any] = {}


def test_announce_with_and_without_partition_support() -> None:
    acc = _Accessor()
    ctx = {"outlet_events": {"A": acc}}
    assert announce(ctx, "A", "2019-08-01", {"revision": 2}) == "partition"
    assert acc.partition_keys == {"2019-08-01"} and acc.extra["revision"] == 2
    announce(ctx, "A", "2019-08-02", {"revision": 1})
    assert "revision" not in acc.extra and acc.extra["partition_keys"] == ["2019-08-01", "2019-08-02"]
    assert acc.extra["partitions"]["2019-08-02"] == {"revision": 1, "partition_key": "2019-08-02"}
    old = _OldAccessor()
    assert announce({"outlet_events": {"A": old}}, "A", "2019-08-01", {"revision": 1}) == "extra"
    assert old.extra["partition_key"] == "2019-08-01"
    json.dumps(acc.extra)


def test_declare_ready_writes_markers_and_skips_an_already_announced_revision() -> None:
    hdfs = FakeHdfs()
    hdfs.put(f"{P}/FlumeData.1", b"a\nb\n")
    first = declare_ready(
        hdfs, [P], NAMING, now_ms=NOW, announcer="replay/r1/wait_0", counts={P: {"FlumeData.1": 2}}
    )
    assert [(m.revision, m.event_count) for m in first] == [(1, 2)]
    assert read_marker(hdfs, P).announced_by == "replay/r1/wait_0"  # type: ignore[union-attr]
    assert (
        declare_ready(hdfs, [P], NAMING, now_ms=NOW, announcer="gate/r2/wait") == []
    )  # the daily gate: nothing
    hdfs.put(f"{P}/FlumeData.2", b"c\n", mtime=NOW + 5)
    [late] = declare_ready(hdfs, [P], NAMING, now_ms=NOW + 9, announcer="gate/r3/wait")
    assert (
        late.revision == 2 and late.announced_revision == 2 and late.event_count is None
    )  # FlumeData.2 uncounted


def test_announce_ready_announces_each_revision_once_across_gates() -> None:
    from airflow_flume_provider.partition_assets import announce_ready

    class Ti:
        def __init__(self, dag_id: str) -> None:
            self.dag_id, self.run_id, self.task_id = dag_id, "r1", "wait"

    class Asset:
        uri = "hdfs://nn:8020/flume/events"

    hdfs = FakeHdfs()
    hdfs.put(f"{P}/FlumeData.1", b"a\n")
    replay, gate = _Accessor(), _Accessor()
    extra = {P: {"files": 1, "bytes": 2}}
    announce_ready(
        {"ti": Ti("replay"), "outlet_events": {Asset: replay}},
        Asset,
        hdfs,
        [P],
        NAMING,
        now_ms=NOW,
        extra=extra,
    )
    assert replay.partition_keys == {"2019-08-01"}
    assert (
        replay.extra["revision"] == 1 and replay.extra["files"] == 1 and replay.extra["event_count"] is None
    )
    got = announce_ready(
        {"ti": Ti("gate"), "outlet_events": {Asset: gate}}, Asset, hdfs, [P], NAMING, now_ms=NOW
    )
    assert got == [] and gate.partition_keys == set() and gate.extra == {}


def test_a_total_without_per_file_counts_is_kept_and_revised() -> None:
    hdfs = FakeHdfs()
    hdfs.put(f"{P}/FlumeData.1", b"a\nb\n")
    [m] = declare_ready(hdfs, [P], NAMING, now_ms=NOW, announcer="gate", event_counts={P: 2})
    assert m.event_count == 2 and m.files and m.files[0].events is None
    hdfs.put(f"{P}/FlumeData.2", b"c\n", mtime=NOW + 5)
    listing = hdfs.list_status(P)
    r = decide(m, listing, NAMING, {"FlumeData.2": 1}, now_ms=NOW + 9)
    assert r.marker is not None and r.marker.event_count == 3 and r.late_events == 1


def test_announce_ready_records_the_gates_total() -> None:
    from airflow_flume_provider.partition_assets import announce_ready

    class Ti:
        dag_id, run_id, task_id = "gate", "r1", "announce"

    class Asset:
        uri = "hdfs://nn:8020/flume/events"

    hdfs, acc = FakeHdfs(), _Accessor()
    hdfs.put(f"{P}/FlumeData.9", b"x\ny\n")
    ctx = {"ti": Ti(), "outlet_events": {Asset: acc}}
    [m] = announce_ready(ctx, Asset, hdfs, [P], NAMING, now_ms=NOW, event_counts={P: 2})
    assert m.event_count == 2 and read_marker(hdfs, P).event_count == 2  # type: ignore[union-attr]
    assert acc.extra["event_count"] == 2 and acc.partition_keys == {"2019-08-01"}
