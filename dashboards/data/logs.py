"""A task's log: stdout and stderr as one list of lines, each with its time and stream.

The API serves the two streams apart, by byte offset, without times (the worker's process
writes straight into its output files). The dashboard reads both at every poll while the
task runs, so each line is stamped with the time the poll saw it (to the poll's period, half
a second) and the two streams interleave in that order. Output read only after the attempt
ended has no better time than the attempt's end: it is stamped with that and shown stdout
first. Partial lines wait for their newline (or the end of the stream).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

STREAMS = ("stdout", "stderr")
MAX_LINES = 20_000  # kept (and downloadable); older lines are dropped first
SHOWN_LINES = 2_000  # rendered in the page: the tail, or the matches of a search


@dataclass(frozen=True)
class LogLine:
    """One line of output."""

    ts: datetime
    stream: str
    text: str


@dataclass
class LogBuffer:
    """Both streams' lines in arrival order; ``add`` takes raw chunks, ``close`` flushes."""

    lines: list[LogLine] = field(default_factory=list)
    partial: dict[str, tuple[datetime, str]] = field(default_factory=dict)
    version: int = 0  # moves on every change, so the view re-renders only when needed

    def add(self, stream: str, chunk: str, ts: datetime) -> None:
        if not chunk:
            return
        start, held = self.partial.pop(stream, (ts, ""))
        parts = (held + chunk).split("\n")
        if parts[-1]:
            self.partial[stream] = (start, parts[-1])
        for i, text in enumerate(parts[:-1]):
            self.lines.append(LogLine(start if i == 0 else ts, stream, text.rstrip("\r")))
        del self.lines[:-MAX_LINES]
        self.version += 1

    def close(self, stream: str) -> None:
        """The stream ended: its unfinished last line is a line too."""
        if stream in self.partial:
            ts, text = self.partial.pop(stream)
            self.lines.append(LogLine(ts, stream, text))
            self.version += 1

    def matching(self, search: str = "") -> list[LogLine]:
        needle = search.strip().lower()
        pending = [LogLine(ts, s, t) for s, (ts, t) in self.partial.items()]
        every = [*self.lines, *sorted(pending, key=lambda line: line.ts)]
        return [line for line in every if needle in line.text.lower()] if needle else every

    def text(self, search: str = "") -> str:
        """The download: one line each, ``<ISO time> <stream> <text>``."""
        return "".join(
            f"{line.ts.isoformat(timespec='milliseconds')} {line.stream} {line.text}\n"
            for line in self.matching(search)
        )

    def rows(self, search: str = "") -> list[list[str]]:
        """The view: the last ``SHOWN_LINES`` matching lines as ``[clock, iso, stream, text]``."""
        return [
            [line.ts.strftime("%H:%M:%S.%f")[:-3], line.ts.isoformat(), line.stream, line.text]
            for line in self.matching(search)[-SHOWN_LINES:]
        ]
