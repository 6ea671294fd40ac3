"""Capture a task's stdout/stderr to files, masking secrets, and serve them from an offset.

Output is pumped from a pipe (not handed to the child as a file) so resolved secret values
can be masked before anything is written: nothing unmasked ever reaches the disk or a client.
Offsets are byte offsets in the stored UTF-8 file; a read never ends inside a character.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from agency.models import WorkerOutput
from agency.security.redaction import Redactor

CHUNK = 65536
MAX_READ = 1 << 20


async def pump(
    reader: asyncio.StreamReader,
    path: Path,
    redactor: Redactor | None,
    sink: Callable[[str], None] | None = None,
) -> int:
    """Copy ``reader`` to ``path`` until EOF, masking secrets; returns bytes written.

    The stream redactor holds back just enough text to catch a value split across two reads.
    ``sink`` gets the same masked text (an agent's transcript parser).
    """
    written = 0
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    masker = redactor.stream() if redactor is not None else None
    with path.open("ab", buffering=0) as out:
        while True:
            chunk = await reader.read(CHUNK)
            text = decoder.decode(chunk, final=not chunk)
            if masker is not None:
                text = masker.feed(text) + (masker.flush() if not chunk else "")
            if text:
                written += out.write(text.encode())
                if sink is not None:
                    sink(text)
            if not chunk:
                return written


def _char_len(lead: int) -> int:
    """Bytes of the UTF-8 character that starts with byte ``lead``."""
    if lead & 0x80 == 0:
        return 1
    return 2 if lead & 0xE0 == 0xC0 else 3 if lead & 0xF0 == 0xE0 else 4


def _utf8_boundary(data: bytes) -> int:
    """Length of ``data`` without a trailing, incomplete UTF-8 sequence."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # continuation byte: keep looking for the lead byte
            continue
        return len(data) if back >= _char_len(byte) else len(data) - back
    return len(data)


def read_output(
    task_id: str,
    stream: Literal["stdout", "stderr"],
    path: Path | None,
    offset: int,
    limit: int,
    finished: bool,
) -> WorkerOutput:
    """Up to ``limit`` bytes of ``path`` from ``offset``; ``eof`` once finished and all read."""
    limit = max(1, min(limit, MAX_READ))
    data = b""
    size = 0
    if path is not None and path.exists():
        with path.open("rb") as f:
            size = f.seek(0, 2)
            if offset < size:
                f.seek(offset)
                data = f.read(limit + 3)  # up to 3 more bytes to finish a character
    cut = _utf8_boundary(data[:limit])
    if cut == 0 and data and len(data) >= _char_len(data[0]):
        cut = _char_len(data[0])  # one character longer than the limit: still make progress
    if finished and offset + len(data) >= size and len(data) <= limit:
        cut = len(data)  # the end of a finished stream: nothing more will complete it
    data = data[:cut]
    next_offset = offset + len(data)
    return WorkerOutput(
        task_id=task_id,
        stream=stream,
        offset=offset,
        next_offset=next_offset,
        data=data.decode("utf-8", errors="replace"),
        eof=finished and next_offset >= size,
    )
