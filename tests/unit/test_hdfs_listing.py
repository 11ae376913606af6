"""Listing parse: the fast :class:`FileStatus` against the dataclass parse it replaced on real Hadoop 3.4.1 WebHDFS
bodies, and the paged listing that parses one page while the next is fetched."""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import test_hdfs_client
from test_hdfs_client import FakeWebHdfs

from airflow_flume_provider.hdfs_client import FileStatus, HdfsClient, HdfsError
from airflow_flume_provider.hdfs_types import page_tail, parse_page, read_paged_listing

fake = test_hdfs_client.fake  # fixture: the in-process fake NameNode/DataNode

REAL_BODIES = Path(__file__).parent / "data" / "webhdfs_listings.json"  # from the stack's Hadoop 3.4.1


def _old_from_json(obj: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """The previous ``FileStatus.from_json`` (a frozen dataclass), as a field dict: the reference."""
    return {
        "name": str(obj.get("pathSuffix") or name or ""),
        "type": str(obj.get("type", "FILE")),
        "length": int(obj.get("length", 0)),
        "modification_time": int(obj.get("modificationTime", 0)),
        "replication": int(obj.get("replication", 0)),
        "owner": str(obj.get("owner", "")),
    }


def _real_status_objects() -> Iterator[tuple[list[dict[str, Any]], str | None]]:
    raw = REAL_BODIES.read_text(encoding="utf-8")
    for doc in (json.loads(raw), orjson.loads(raw.encode())):  # the stdlib parse and the client's parse
        yield doc["LISTSTATUS"]["FileStatuses"]["FileStatus"], None
        yield (
            doc["LISTSTATUS_BATCH"]["DirectoryListing"]["partialListing"]["FileStatuses"]["FileStatus"],
            None,
        )
        yield [doc["GETFILESTATUS"]["FileStatus"]], "FlumeData.1700000000001"
        yield doc["LISTSTATUS_of_a_file"]["FileStatuses"]["FileStatus"], "FlumeData.1700000000001"


def test_fast_filestatus_parse_equals_the_old_one_on_real_bodies() -> None:
    seen = 0
    for objs, name in _real_status_objects():
        fast = FileStatus.from_listing(objs, name)
        assert [f._asdict() for f in fast] == [_old_from_json(o, name) for o in objs]
        assert [FileStatus.from_json(o, name) for o in objs] == fast
        for f in fast:
            assert all(type(v) is type(getattr(f, k)) for k, v in _old_from_json({}, "").items())
        seen += len(fast)
    names = {f.name for objs, n in _real_status_objects() for f in FileStatus.from_listing(objs, n)}
    assert seen == 24 and {"ünï.json", "name with space.avro", "sub", "_FlumeData.1700000000002.tmp"} <= names


def test_filestatus_equality_and_immutability_as_the_dataclass() -> None:
    a = FileStatus("a", "FILE", 1, 2)
    assert a == FileStatus(name="a", type="FILE", length=1, modification_time=2, replication=0, owner="")
    assert hash(a) == hash(FileStatus("a", "FILE", 1, 2)) and a.is_file
    bare = ("a", "FILE", 1, 2, 0, "")
    assert {operator.eq(a, bare), operator.eq(bare, a)} == {False}  # never equal to a bare tuple, either side
    assert {operator.ne(a, bare), operator.ne(bare, a)} == {True} and a != FileStatus("a", "FILE", 1, 3)
    assert not FileStatus("d", "DIRECTORY", 0, 0).is_file
    with pytest.raises(AttributeError):
        a.name = "b"  # type: ignore[misc]


def test_list_status_parses_real_pages_through_the_client(fake: FakeWebHdfs) -> None:
    for i in range(2500):
        fake.put(f"/big/FlumeData.{1_000_000_000_000 + i}", b"", 1000 + i)
    got = HdfsClient([fake.url]).list_status("/big")
    assert len(got) == 2500 and got[0] == FileStatus("FlumeData.1000000000000", "FILE", 0, 1000)
    assert [g.name for g in got] == sorted(g.name for g in got) and got[-1].modification_time == 3499


def _hadoop_page(names: list[str], remaining: int) -> bytes:
    """A LISTSTATUS_BATCH body in Hadoop's compact form (Jackson: no spaces, keys sorted)."""
    entries = [
        {
            "length": 0,
            "modificationTime": 1000 + i,
            "owner": "root",
            "pathSuffix": n,
            "replication": 1,
            "type": "FILE",
        }
        for i, n in enumerate(names)
    ]
    listing = {"partialListing": {"FileStatuses": {"FileStatus": entries}}, "remainingEntries": remaining}
    return json.dumps({"DirectoryListing": listing}, separators=(",", ":"), ensure_ascii=False).encode()


def test_page_tail_reads_the_real_hadoop_body_without_parsing() -> None:
    raw = (Path(__file__).parent / "data" / "webhdfs_liststatus_batch_raw.json").read_bytes()
    assert page_tail(raw) == ("sub", 0)
    page, remaining = parse_page(raw)
    assert (page[-1].name, remaining) == page_tail(raw) and len(page) == 5
    assert page_tail(_hadoop_page(["a", "ünï"], 7)) == ("ünï", 7)
    assert page_tail(_hadoop_page(['say "hi"'], 7)) is None  # an escaped name: parse the body instead
    assert page_tail(_hadoop_page([], 0)) is None and page_tail(b"not json") is None


def test_read_paged_listing_overlaps_pages_and_keeps_their_order() -> None:
    names = [f"FlumeData.{1_000_000_000_000 + i}" for i in range(2500)] + ['x "quoted"', "y"]
    names.sort()
    asked: list[str | None] = []

    def fetch(start_after: str | None) -> bytes:
        asked.append(start_after)
        rest = [n for n in names if start_after is None or n > start_after]
        return _hadoop_page(rest[:1000], len(rest) - len(rest[:1000]))

    got = read_paged_listing(fetch)
    assert got is not None and [g.name for g in got] == names
    assert asked == [None, names[999], names[1999]]
    assert read_paged_listing(lambda _s: None) is None  # no paged listing on this server
    assert [g.name for g in read_paged_listing(lambda _s: _hadoop_page(["a"], 0)) or []] == ["a"]


def test_read_paged_listing_refuses_a_scan_that_disagrees_with_the_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_flume_provider import hdfs_types

    pages = {None: _hadoop_page(["a", "b"], 1), "wrong": _hadoop_page(["c"], 0)}
    monkeypatch.setattr(hdfs_types, "page_tail", lambda body: ("wrong", 1) if b'"b"' in body else None)
    with pytest.raises(HdfsError, match="scanned last name 'wrong'"):
        read_paged_listing(lambda s: pages[s])
