"""Flume 1.11.0's ``BucketPath`` escape grammar: a path template split into literal, header and time segments.

No Airflow imports. :mod:`bucketpath` renders the compiled segments. Escapes are found with Flume's pattern
``%(\\w|%)|%\\{([\\w.-]+)\\}|%\\[(\\w+)\\]`` (ASCII ``\\w``); anything else stays literal. Host escapes
(``%[localhost]``, ``%[IP]``, ``%[FQDN]``) become literals at compile time; unknown time letters become "" but still
need the ``timestamp`` header, as in Flume.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from airflow_flume_provider.java_time import DAY_MS

__all__ = ["HDR", "LIT", "TIME", "TIME_ESCAPES", "Compiled", "compile_template"]

_TAG_RE = re.compile(r"%(\w|%)|%\{([\w.-]+)\}|%\[(\w+)\]", re.ASCII)

# Letters Flume formats from the timestamp, with the finest granularity (ms) their text depends on.
GRANULARITY = {
    **dict.fromkeys("sSc", 1000),
    "M": 60_000,
    **dict.fromkeys("HIklp", 3_600_000),
    **dict.fromkeys("aAbBdeDjmnyY", DAY_MS),
    "z": DAY_MS,  # depends on the offset only; windows never span an offset change
    "t": 1,
}
TIME_ESCAPES = frozenset(GRANULARITY)


@lru_cache(maxsize=1)
def _local_host_values() -> dict[str, str]:
    host = socket.gethostname()
    try:
        ip = socket.gethostbyname(host)
    except OSError:
        ip = "127.0.0.1"
    return {"localhost": host, "ip": ip, "fqdn": socket.getfqdn(host)}


# Segment kinds of a compiled template.
LIT, HDR, TIME = 0, 1, 2


@dataclass(frozen=True)
class Compiled:
    """A template as segments ``(kind, text)`` plus what rendering it needs."""

    segments: tuple[tuple[int, str], ...]
    header_names: frozenset[str]
    needs_timestamp: bool
    granularity: int  # finest time granularity in ms; 0 = no time-dependent text


def compile_template(template: str, host_values: Mapping[str, str] | None) -> Compiled:
    """Segments of ``template``; ``host_values`` overrides this machine's names for ``%[...]`` escapes."""
    segments: list[tuple[int, str]] = []
    pos, names, needs_ts, gran = 0, set(), False, 0
    for m in _TAG_RE.finditer(template):
        if m.start() > pos:
            segments.append((LIT, template[pos : m.start()]))
        pos = m.end()
        letter, header, static = m.group(1), m.group(2), m.group(3)
        if header is not None:
            segments.append((HDR, header))
            names.add(header)
        elif static is not None:
            key = static.lower()
            values = host_values if host_values is not None else _local_host_values()
            if key not in ("localhost", "ip", "fqdn"):
                raise ValueError(
                    f"path template {template!r}: the static escape string '{static}' was provided but does "
                    "not match any of (localhost,IP,FQDN)"
                )
            segments.append((LIT, values[key]))
        else:
            needs_ts = True
            g = GRANULARITY.get(letter)
            if letter == "%":
                segments.append((LIT, "%"))
            elif g is None:
                segments.append((LIT, ""))  # unknown letter: empty, but still needs a timestamp
            else:
                segments.append((TIME, letter))
                gran = g if gran == 0 else min(gran, g)
    if pos < len(template):
        segments.append((LIT, template[pos:]))
    merged: list[tuple[int, str]] = []
    for kind, text in segments:  # join adjacent literals
        if kind == LIT and merged and merged[-1][0] == LIT:
            merged[-1] = (LIT, merged[-1][1] + text)
        elif not (kind == LIT and not text):
            merged.append((kind, text))
    return Compiled(tuple(merged), frozenset(names), needs_ts, gran)
