"""Each committed event's SSE frame, encoded once for every client of the events stream.

Every subscriber receives the same ``Event`` objects; without this each client paid its own
``model_dump_json`` and frame encoding per event (100 clients: 100 serialisations of one
event). The frames are keyed by ``(seq, hash)``: unique per event of one chain, and an
event's frame depends on nothing else, so one cache serves every app in the process.
"""

from __future__ import annotations

from collections import OrderedDict

from sse_starlette import ServerSentEvent

from agency.models import Event

#: frames kept: enough for clients a few thousand events behind the newest
CAPACITY = 8192


class FrameCache:
    """Encoded SSE frames of recent events (``event: <action>``, ``id: <seq>``, JSON data)."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._frames: OrderedDict[tuple[int, str], bytes] = OrderedDict()

    def frame(self, ev: Event) -> bytes:
        """The event's frame, encoded on its first request."""
        key = (ev.seq, ev.hash)
        cached = self._frames.get(key)
        if cached is not None:
            return cached
        encoded = ServerSentEvent(data=ev.model_dump_json(), event=ev.action, id=str(ev.seq))
        data = encoded.encode()
        self._frames[key] = data
        if len(self._frames) > self.capacity:
            self._frames.popitem(last=False)
        return data

    def __len__(self) -> int:
        return len(self._frames)


FRAMES = FrameCache()
