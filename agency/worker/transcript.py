"""An agent attempt's transcript: parsed from its stdout as it streams, kept as JSON lines.

The writer is fed the same masked text that goes to the stdout file (so no secret reaches
the transcript either), cuts it into lines, has the runtime's parser turn each line into
items, numbers them (``seq`` from 1) and appends them to ``transcript.jsonl`` beside the
attempt's output, which is how they survive a worker restart. Items are served from that
file a page at a time.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from agency.models import TranscriptItem, TranscriptItemType, TranscriptPage, utcnow
from agency.worker.agents import StreamParser

log = logging.getLogger(__name__)

FILE = "transcript.jsonl"
MAX_LINE = 16 << 20  # one runtime event; past this the line is cut and flagged
PAGE_BYTES = 1 << 20  # a page stops growing past this (always holding at least one item)


class TranscriptWriter:
    """Feeds stdout text to ``parser`` line by line; ``on_items`` runs after each batch."""

    def __init__(
        self,
        path: Path,
        attempt: int,
        parser: StreamParser,
        on_items: Callable[[], None] = lambda: None,
    ) -> None:
        self.path = path
        self.attempt = attempt
        self.parser = parser
        self.on_items = on_items
        self.seq = 0
        self.lines = 0
        self._pending: list[str] = []
        self._pending_len = 0
        self._cut = False  # the current line went over MAX_LINE: drop it up to its newline
        self._out: TextIO | None = None  # opened with the first item

    def feed(self, text: str) -> None:
        """Text as it arrives from the pipe (any chunking)."""
        made: list[TranscriptItem] = []
        *complete, rest = text.split("\n")
        for part in complete:
            if not self._cut:
                self._pending.append(part)
                made += self._line("".join(self._pending))
            self._pending, self._pending_len, self._cut = [], 0, False
        if rest and not self._cut:
            self._pending.append(rest)
            self._pending_len += len(rest)
            if self._pending_len > MAX_LINE:
                made += self._too_long()
        self._write(made)

    def close(self) -> None:
        """End of stdout: a last line without a newline still counts."""
        if self._pending and not self._cut:
            self._write(self._line("".join(self._pending)))
        self._pending, self._pending_len = [], 0
        if self._out is not None:
            self._out.close()

    def _too_long(self) -> list[TranscriptItem]:
        self._cut = True
        self.lines += 1
        head = "".join(self._pending)[:200]
        self._pending, self._pending_len = [], 0
        return self._number(
            [
                TranscriptItem(
                    type=TranscriptItemType.ERROR,
                    kind="malformed",
                    error=f"line over {MAX_LINE} characters: cut",
                    raw=head,
                )
            ]
        )

    def _line(self, line: str) -> list[TranscriptItem]:
        self.lines += 1
        return self._number(self.parser.feed_line(line))

    def _number(self, items: list[TranscriptItem]) -> list[TranscriptItem]:
        now = utcnow()
        for it in items:
            self.seq += 1
            it.seq, it.attempt, it.line, it.time = self.seq, self.attempt, self.lines, now
        return items

    def _write(self, items: list[TranscriptItem]) -> None:
        if not items:
            return
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = self.path.open("a", encoding="utf-8")
        self._out.write("".join(it.model_dump_json() + "\n" for it in items))
        self._out.flush()
        self.on_items()


def read_page(
    task_id: str, attempt: int, path: Path | None, after: int, limit: int, finished: bool
) -> TranscriptPage:
    """Items with ``seq > after``, at most ``limit`` (and about ``PAGE_BYTES``) of them.

    ``seq`` is the line number in the file, so a page skips ``after`` lines without parsing.
    """
    items: list[TranscriptItem] = []
    more = False
    if path is not None and path.exists():
        size = 0
        with path.open(encoding="utf-8") as f:
            for raw in itertools.islice(f, after, None):
                if not raw.endswith("\n"):
                    more = True  # being written: the next read gets it whole
                    break
                if len(items) >= limit or (items and size + len(raw) > PAGE_BYTES):
                    more = True
                    break
                try:
                    items.append(TranscriptItem.model_validate_json(raw))
                except ValueError as exc:  # never written by this worker: skip it, say so
                    log.warning("transcript %s: unreadable line after seq %s: %s", path, after, exc)
                size += len(raw)
    next_after = items[-1].seq if items else after
    return TranscriptPage(
        task_id=task_id,
        attempt=attempt,
        items=items,
        next_after=next_after,
        eof=finished and not more,
    )
