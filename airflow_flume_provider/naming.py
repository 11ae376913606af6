"""How Flume 1.11's HDFS sink names its files: the one owner of the naming defaults. No Airflow imports.

Defaults are Flume 1.11.0's (``HDFSEventSink``/``BucketWriter``): ``hdfs.filePrefix`` ``FlumeData``,
``hdfs.fileSuffix`` "", ``hdfs.inUsePrefix`` "", ``hdfs.inUseSuffix`` ``.tmp``, ``hdfs.fileType``
``SequenceFile``, ``serializer`` ``TEXT``. An open file is ``<inUsePrefix><filePrefix>.<counter><fileSuffix>
<inUseSuffix>`` and is renamed to ``<filePrefix>.<counter><fileSuffix>`` on close.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

__all__ = [
    "DEFAULT_FILE_PREFIX",
    "DEFAULT_FILE_SUFFIX",
    "DEFAULT_FILE_TYPE",
    "DEFAULT_IN_USE_PREFIX",
    "DEFAULT_IN_USE_SUFFIX",
    "DEFAULT_SERIALIZER",
    "FileNaming",
]

DEFAULT_FILE_PREFIX = "FlumeData"
DEFAULT_FILE_SUFFIX = ""
DEFAULT_IN_USE_PREFIX = ""
DEFAULT_IN_USE_SUFFIX = ".tmp"
DEFAULT_FILE_TYPE = "SequenceFile"
DEFAULT_SERIALIZER = "TEXT"


@dataclass(frozen=True)
class FileNaming:
    """How the Flume HDFS sink names files, plus what is needed to count events in them."""

    file_prefix: str = DEFAULT_FILE_PREFIX
    file_suffix: str = DEFAULT_FILE_SUFFIX
    in_use_prefix: str = DEFAULT_IN_USE_PREFIX
    in_use_suffix: str = DEFAULT_IN_USE_SUFFIX
    file_type: str = DEFAULT_FILE_TYPE
    serializer: str = DEFAULT_SERIALIZER
    codec: str | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> FileNaming:
        """Take the naming fields from an ``HdfsSinkSettings``-like object."""
        kw = {
            f: getattr(settings, f)
            for f in cls.__dataclass_fields__
            if getattr(settings, f, None) is not None
        }
        return cls(**kw)

    @cached_property
    def _prefix(self) -> str:
        # A prefix with an escape (%{host}) is matched up to the escape only.
        return self.file_prefix.split("%", 1)[0]

    def classify(self, name: str) -> str:
        """Return ``finished``, ``in_use`` or ``other`` (markers such as ``_SUCCESS``, foreign files).

        Called once per listed file (100,000 times for a big partition), hence the locals.
        """
        prefix, in_pre, in_suf = self._prefix, self.in_use_prefix, self.in_use_suffix
        if (
            (in_pre or in_suf)
            and name.startswith(in_pre)
            and name.endswith(in_suf)
            and name[len(in_pre) : len(name) - len(in_suf)].startswith(prefix)
        ):
            return "in_use"
        # Without a file prefix, _SUCCESS and .hidden names are markers, not Flume's files.
        if name.startswith(prefix) and name.endswith(self.file_suffix) and (prefix or not name.startswith(("_", "."))):
            return "finished"
        return "other"
