"""A task's output: live from its worker while it runs, from the stored chunks once it ended.

The orchestrator stores every chunk of a shell or agent attempt when the attempt ends, so
finished output survives the worker. Reading stored output joins the chunks from ``offset``.
"""

from __future__ import annotations

from typing import Literal, cast

from agency.control.tasks.book import Book
from agency.errors import AgencyError, BadRequest
from agency.fleet import Registry
from agency.models import Task, WorkerOutput

Stream = Literal["stdout", "stderr"]


async def read_output(
    book: Book, registry: Registry, task: Task, stream: str, offset: int
) -> WorkerOutput:
    """``stream`` of ``task``'s current attempt from byte ``offset`` on."""
    if stream not in ("stdout", "stderr"):
        raise BadRequest(f"stream must be stdout or stderr, not {stream!r}")
    if offset < 0:
        raise BadRequest("offset must be >= 0")
    name = cast(Stream, stream)
    if task.state.in_flight and task.worker_id:
        try:
            return await registry.client(task.worker_id).output(task.id, name, offset)
        except AgencyError:
            pass  # the worker is gone or busy: fall back to what is stored
    return await stored_output(book, task, name, offset)


async def stored_output(book: Book, task: Task, stream: Stream, offset: int) -> WorkerOutput:
    # offsets count bytes, as the worker counts them in its output files
    chunks = await book.repos.tasks.output_chunks(task.id, task.attempt, stream)
    parts: list[bytes] = []
    end = offset
    for start, text in chunks:
        data = text.encode()
        stop = start + len(data)
        if stop <= offset:
            continue
        parts.append(data[max(0, offset - start) :])
        end = max(end, stop)
    text = b"".join(parts).decode(errors="replace")
    return WorkerOutput(
        task_id=task.id,
        stream=stream,
        offset=offset,
        next_offset=end,
        data=text,
        eof=task.state.terminal or not task.state.in_flight,
    )
