"""Progress of ``airflow-flume replay``: a live ``rich`` bar in a terminal, plain periodic lines otherwise.

Why ``rich`` rather than ``tqdm``: Airflow already depends on ``rich`` (so the provider adds no package),
its ``Progress`` renders any number of named fields (acknowledged, dead-lettered) beside the bar, and its
``Live`` display keeps log lines and warnings printed during the replay above the bar instead of tearing it.
``tqdm`` would be a new dependency with one free-text postfix for the extra counts.

Both displays get the engine's :class:`~airflow_flume_provider.replay.ReplayProgress` snapshots; the plain one
writes no control characters (for CI logs and pipes). No Airflow imports.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from airflow_flume_provider.replay import ReplayProgress

PROGRESS_MODES = ("auto", "bar", "log", "off")
#: seconds between bar refreshes (the engine's progress interval when the bar is shown)
BAR_INTERVAL_S = 0.25


def hms(seconds: float) -> str:
    """``H:MM:SS``."""
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def eta_text(p: ReplayProgress) -> str:
    """Time left from the share of input done so far (``H:MM:SS``), ``?`` while unknown."""
    f = p.fraction_done
    if not f or f <= 0 or p.elapsed_s <= 0:
        return "?"
    return hms(p.elapsed_s * (1 - f) / f)


def rate(p: ReplayProgress) -> float:
    """Events produced per second in this attempt."""
    return p.produced / p.elapsed_s if p.elapsed_s > 0 else 0.0


def progress_line(label: str, p: ReplayProgress) -> str:
    """One plain progress line (no control characters)."""
    pct = f"{p.fraction_done:.1%}" if p.fraction_done is not None else "?%"
    return (
        f"replay {label}: {pct} of input, {p.read:,} read, {p.acknowledged:,} acknowledged, "
        f"{p.dead_lettered:,} dead-lettered, {p.out_of_window:,} out of window, "
        f"{rate(p):,.0f} events/s, ETA {eta_text(p)}"
    )


def final_progress(manifest: Mapping[str, Any]) -> ReplayProgress:
    """The last snapshot of a finished replay, from its manifest (the bar's final state)."""
    from airflow_flume_provider.replay import ReplayProgress

    t = manifest["totals"]
    skipped = t["out_of_window"] + t["dead_lettered"]
    produced = (
        t["read"] - skipped if manifest.get("dry_run") else t["acknowledged"] + t["failed"] + t["in_doubt"]
    )
    return ReplayProgress(
        read=t["read"],
        produced=produced,
        acknowledged=t["acknowledged"],
        dead_lettered=t["dead_lettered"],
        out_of_window=t["out_of_window"],
        fraction_done=1.0,
        elapsed_s=float(manifest["timings"]["seconds"]),
    )


class PlainProgress:
    """Progress as plain lines on ``stream`` (the engine calls :meth:`update` every ``interval_s``)."""

    def __init__(self, stream: TextIO, interval_s: float) -> None:
        self.stream, self.interval_s, self.label = stream, interval_s, ""

    def start(self, label: str) -> None:
        self.label = label
        print(f"replay {label}: started", file=self.stream, flush=True)

    def update(self, p: ReplayProgress) -> None:
        print(progress_line(self.label, p), file=self.stream, flush=True)

    def stop(self) -> None:
        """Nothing to tear down."""


class NoProgress(PlainProgress):
    """``--progress off``: nothing printed while replaying."""

    def start(self, label: str) -> None:
        self.label = label

    def update(self, p: ReplayProgress) -> None:
        """Nothing printed."""


class BarProgress:
    """A live ``rich`` progress bar on a terminal: % of input bytes, events/s, ETA, acknowledged, dead-lettered."""

    interval_s = BAR_INTERVAL_S

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console

        self.console = Console(file=stream, force_terminal=True)
        self.progress: Any = None
        self.task: Any = None

    def start(self, label: str) -> None:
        from rich.progress import BarColumn, Progress, TextColumn

        self.stop()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[pct]:>6}"),
            TextColumn("{task.fields[rate]} events/s"),
            TextColumn("ETA {task.fields[eta]}"),
            TextColumn("[green]{task.fields[acked]} acknowledged"),
            TextColumn("[yellow]{task.fields[dead]} dead-lettered"),
            TextColumn("{task.fields[elapsed]}"),
            console=self.console,
            auto_refresh=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(label, total=None, **self._fields(None))
        self.progress.refresh()

    @staticmethod
    def _fields(p: ReplayProgress | None) -> dict[str, str]:
        if p is None:
            return {"pct": "?%", "rate": "0", "eta": "?", "acked": "0", "dead": "0", "elapsed": hms(0)}
        pct = f"{p.fraction_done:.1%}" if p.fraction_done is not None else "?%"
        return {
            "pct": pct,
            "rate": f"{rate(p):,.0f}",
            "eta": eta_text(p),
            "acked": f"{p.acknowledged:,}",
            "dead": f"{p.dead_lettered:,}",
            "elapsed": hms(p.elapsed_s),
        }

    def update(self, p: ReplayProgress) -> None:
        total = 1000 if p.fraction_done is not None else None
        done = round((p.fraction_done or 0.0) * 1000)
        self.progress.update(self.task, total=total, completed=done, **self._fields(p))
        self.progress.refresh()

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def open_progress(mode: str, stream: TextIO, interval_s: float) -> PlainProgress | BarProgress:
    """The display for ``--progress``: ``auto`` is the bar when ``stream`` is a terminal (and TERM not dumb)."""
    if mode == "auto":
        tty = stream.isatty() and os.environ.get("TERM", "") not in ("dumb", "unknown")
        mode = "bar" if tty else "log"
    if mode == "bar":
        return BarProgress(stream)
    if mode == "off":
        return NoProgress(stream, interval_s)
    return PlainProgress(stream, interval_s)
