"""Java ``Properties.load`` syntax, as Flume reads its agent configuration files. No Airflow imports.

``parse_properties`` keeps each key's line number so every error and lint finding can say ``file:line``.
"""

from __future__ import annotations

import re

__all__ = ["FlumeConfigError", "parse_properties"]

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


class FlumeConfigError(ValueError):
    """The Flume config is malformed or lacks what was asked for."""


def _unescape(text: str, where: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 >= len(text):
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "u":
            hexdigits = text[i + 2 : i + 6]
            if not re.fullmatch(r"[0-9a-fA-F]{4}", hexdigits):
                raise FlumeConfigError(f"{where}: malformed \\uxxxx escape {text[i : i + 6]!r}")
            out.append(chr(int(hexdigits, 16)))
            i += 6
        else:
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
    return "".join(out)


def _split_key_value(line: str) -> tuple[str, str]:
    """Split a logical line at the first unescaped '=', ':' or whitespace (Properties.load rules)."""
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "=: \t\f":
            break
        i += 1
    key = line[:i]
    j = i
    while j < n and line[j] in " \t\f":
        j += 1
    if j < n and line[j] in "=:":
        j += 1
        while j < n and line[j] in " \t\f":
            j += 1
    return key, line[j:]


def parse_properties(text: str, source: str = "<string>") -> dict[str, tuple[str, int]]:
    """Parse Java properties text into ``{key: (value, line_number)}``; the last duplicate wins.

    Handles ``#``/``!`` comments, ``key = value``, ``key:value``, ``key value``, trailing-backslash line
    continuations (leading whitespace of the next line dropped) and ``\\t \\n \\uXXXX`` escapes.
    """
    result: dict[str, tuple[str, int]] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i + 1
        line = lines[i].lstrip(" \t\f")
        i += 1
        if not line or line[0] in "#!":
            continue
        logical = line
        while _continues(logical):
            logical = logical[:-1]
            if i >= len(lines):
                break
            logical += lines[i].lstrip(" \t\f")
            i += 1
        raw_key, raw_value = _split_key_value(logical)
        where = f"{source}:{start}"
        key = _unescape(raw_key, where)
        if not key:
            raise FlumeConfigError(f"{where}: line has no key: {lines[start - 1]!r}")
        result[key] = (_unescape(raw_value, where), start)
    return result


def _continues(line: str) -> bool:
    backslashes = len(line) - len(line.rstrip("\\"))
    return backslashes % 2 == 1
