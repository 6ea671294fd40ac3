"""Capture a task's stdout/stderr to files, masking secrets, and serve them from an offset.

Output is pumped from a pipe (not handed to the child as a file) so resolved secret values
can be masked before anything is written: nothing unmasked ever reaches the disk or a client.
Offsets are byte offsets in the stored UTF-8 file; a read never ends inside a character.
"""

from __future__ import annotations

import asyncio
import codecs
from pathlib import Path
from typing import Literal

from agency.models import WorkerOutput
from agency.security.redaction import Redactor

CHUNK = 65536
MAX_READ = 1 << 20


async def pump(reader: asyncio.StreamReader, path: Path, redactor: Redactor | None) -> int:
    """Copy ``reader`` to ``path`` until EOF, masking secrets; returns bytes written.

    The stream redactor holds back just enough text to catch a value split across two reads.
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
            if not chunk:
                return written


def _utf8_boundary(data: bytes) -> int:
    """Length of ``data`` without a trailing, incomplete UTF-8 sequence."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # continuation byte: keep looking for the lead byte
            continue
        if byte & 0x80 == 0:
            return len(data)
        need = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4
        return len(data) if back >= need else len(data) - back
    return len(data)


def read_output(
    task_id: str, stream: Literal["stdout", "stderr"], path: Path | None, offset: int, limit: int, finished: bool
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
                data = f.read(limit)
    cut = _utf8_boundary(data) if offset + len(data) < size or not finished else len(data)
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
