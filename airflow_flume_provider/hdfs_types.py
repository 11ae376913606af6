"""What the HDFS layer returns and raises: :class:`FileStatus` and the :class:`HdfsError` kinds.

Kept apart from :mod:`airflow_flume_provider.hdfs_client` (which re-exports them) so the client stays small.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

__all__ = [
    "FileStatus",
    "HdfsError",
    "HdfsNotFound",
    "HdfsPermissionError",
    "HdfsTransientError",
    "page_tail",
    "parse_page",
    "read_paged_listing",
]


class HdfsError(Exception):
    """A WebHDFS call failed; ``kind`` is ``missing``, ``permission``, ``transient`` or ``error``."""

    kind = "error"

    def __init__(self, message: str, *, path: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.status = status


class HdfsNotFound(HdfsError):
    """The path does not exist (HTTP 404 / FileNotFoundException)."""

    kind = "missing"


class HdfsPermissionError(HdfsError):
    """The user may not access the path (HTTP 401/403, AccessControlException): retrying will not help."""

    kind = "permission"


class HdfsTransientError(HdfsError):
    """The cluster is not answering properly right now (refused, timeout, 5xx, standby, safe mode)."""

    kind = "transient"


class FileStatus(NamedTuple):
    """One WebHDFS ``FileStatus``: ``name`` (pathSuffix), ``type``, ``length``, ``modification_time`` (ms).

    A named tuple, not a dataclass: a 100,000-file listing builds 100,000 of them, and a tuple is built about
    4x faster than a frozen dataclass. It compares equal only to another ``FileStatus``, as the dataclass did.
    """

    name: str
    type: str
    length: int
    modification_time: int
    replication: int = 0
    owner: str = ""

    @property
    def is_file(self) -> bool:
        """True for regular files (not directories or symlinks)."""
        return self.type == "FILE"

    def __eq__(self, other: object) -> bool:
        # False, not NotImplemented: a plain tuple would otherwise compare field by field (tuple.__eq__).
        return other.__class__ is self.__class__ and tuple.__eq__(self, other)  # type: ignore[arg-type]

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], name: str | None = None) -> FileStatus:
        """Build from one WebHDFS ``FileStatus`` JSON object (``name`` when pathSuffix is empty)."""
        return cls.from_listing((obj,), name)[0]

    @classmethod
    def from_listing(cls, objs: Iterable[Mapping[str, Any]], name: str | None = None) -> list[FileStatus]:
        """Build from a listing's ``FileStatus`` JSON objects: :meth:`from_json` for each, in one cheap loop."""
        new, s, i = tuple.__new__, str, int
        return [
            new(
                cls,
                (
                    s(o.get("pathSuffix") or name or ""),
                    s(o.get("type", "FILE")),
                    i(o.get("length", 0)),
                    i(o.get("modificationTime", 0)),
                    i(o.get("replication", 0)),
                    s(o.get("owner", "")),
                ),
            )
            for o in objs
        ]


_SUFFIX_KEY = b'"pathSuffix":"'
_REMAINING_KEY = b'"remainingEntries":'


def page_tail(body: bytes) -> tuple[str, int] | None:
    """The last name and ``remainingEntries`` of a raw ``LISTSTATUS_BATCH`` body, found without parsing it.

    None when the body is not in the plain form Hadoop writes (e.g. a name with a JSON escape): parse it then.
    A ``"`` inside a JSON string is always escaped, so the last ``"pathSuffix":"`` is the last entry's key.
    """
    i, j = body.rfind(_SUFFIX_KEY), body.rfind(_REMAINING_KEY)
    end = body.find(b'"', i + len(_SUFFIX_KEY)) if i >= 0 else -1
    digits = body[j + len(_REMAINING_KEY) : j + len(_REMAINING_KEY) + 20].split(b"}", 1)[0] if j >= 0 else b""
    name = body[i + len(_SUFFIX_KEY) : end] if end >= 0 else b""
    if not name or b"\\" in name or not digits.isdigit():
        return None
    return name.decode("utf-8"), int(digits)


def parse_page(body: bytes) -> tuple[list[FileStatus], int]:
    """The entries and ``remainingEntries`` of one raw ``LISTSTATUS_BATCH`` body."""
    import orjson

    listing = orjson.loads(body)["DirectoryListing"]
    page = FileStatus.from_listing(listing["partialListing"]["FileStatuses"]["FileStatus"])
    return page, int(listing.get("remainingEntries", 0))


def read_paged_listing(fetch: Callable[[str | None], bytes | None]) -> list[FileStatus] | None:
    """Walk ``LISTSTATUS_BATCH`` pages: ``fetch(start_after)`` returns a raw body (None: no paged listing).

    Each next page is requested as soon as the current body's last name is scanned (:func:`page_tail`), while
    one helper thread parses the bodies already received: parsing (GIL-bound) overlaps the NameNode's time.
    A one-page directory is parsed inline, without the thread.
    """
    items: list[Future[tuple[list[FileStatus], int]] | tuple[list[FileStatus], int]] = []
    expected: dict[int, str] = {}
    start_after: str | None = None
    with ThreadPoolExecutor(1, thread_name_prefix="webhdfs-listing") as parser:
        while True:
            body = fetch(start_after)
            if body is None:
                return None
            tail = page_tail(body)
            if tail is None or (start_after is None and tail[1] == 0):
                page, remaining = parse_page(body)
                items.append((page, remaining))
                name = page[-1].name if page else ""
            else:
                (name, remaining), expected[len(items)] = tail, tail[0]
                items.append(parser.submit(parse_page, body))
            if not name or remaining == 0:
                break
            start_after = name
        pages = [item.result()[0] if isinstance(item, Future) else item[0] for item in items]
    for k, name in expected.items():
        if not pages[k] or pages[k][-1].name != name:
            raise HdfsError(f"WebHDFS listing page {k}: scanned last name {name!r} is not the parsed one")
    return [st for page in pages for st in page]
