"""The chat WebSocket behind ``AgencyClient.chat`` / ``AsyncAgencyClient.chat``.

    with client.chat(session_id) as chat:
        print(chat.ask("/status"))          # send, wait for the assistant's reply
        chat.send("/tasks running")
        for frame in chat:                  # {"type": "message"|"delta", "seq", "role", "content", ...}
            ...

A dropped connection is reopened with ``?after=<last seq seen>``, so the server replays what
was missed and every message is delivered once. Messages sent but not yet echoed wait in an
outbox: a connection that dies can take unread messages with it (a TCP reset discards what
the server had not read), so after reconnecting the socket asks the server which of them it
stored and sends the rest again. Refusals (bad token, unknown session, bad
message) are raised as agency errors; the socket is not reopened after them.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection as AsyncConnection
from websockets.asyncio.client import connect as aconnect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection, connect

from agency.client.chat import socket_path, stored_since
from agency.client.wire import OPERATOR_HEADER
from agency.errors import (
    AgencyError,
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
    all_error_classes,
)

RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0)  # then give up: ServiceUnavailable
MAX_FRAME = 64 * 1024 * 1024  # replies (a /sql table, a long model answer) can be large
_BY_CODE = {cls.code: cls for cls in all_error_classes()}
# close codes that mean "do not come back with the same request"; any other code reconnects
_REFUSALS: dict[int, type[AgencyError]] = {
    1003: BadRequest,
    1007: BadRequest,
    1008: ValidationFailed,
    1009: PayloadTooLarge,
    4401: Unauthorized,
    4403: Forbidden,
    4404: NotFound,
    4429: RateLimited,
}


def chat_url(base: str, session_id: str, after: int) -> str:
    scheme, _, rest = base.partition("://")
    ws = "wss" if scheme == "https" else "ws"
    return f"{ws}://{rest.rstrip('/')}{socket_path(session_id)}?after={after}"


def refusal(exc: ConnectionClosed) -> AgencyError | None:
    """The error a server close stands for, or None when reconnecting may help."""
    rcvd = exc.rcvd
    if rcvd is None or rcvd.code not in _REFUSALS:
        return None
    return _REFUSALS[rcvd.code](
        rcvd.reason or f"chat socket closed with code {rcvd.code}",
        details={"close_code": rcvd.code},
    )


def frame_error(frame: dict[str, Any]) -> AgencyError:
    err = frame.get("error") or {}
    cls = _BY_CODE.get(str(err.get("code")), BadRequest)
    details = dict(err.get("details") or {})
    message = str(err.get("message", "refused"))
    if issubclass(cls, RateLimited):
        return cls(message, retry_after=float(details.get("retry_after", 1.0)), details=details)
    return cls(message, details=details)


class _Tracker:
    """What both sockets share: the last seq seen, and which frames are new."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        session_id: str,
        after: int | None,
        operator: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.session_id = session_id
        self.last_seq = after or 0
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        if operator:
            self.headers[OPERATOR_HEADER] = operator
        self.failures = 0
        self.closed = False
        self.outbox: deque[str] = deque()  # sent, not yet echoed: sent again after a reconnect
        self._echoes: set[int] = set()  # seqs of user messages already matched to the outbox

    @property
    def url(self) -> str:
        return chat_url(self.base_url, self.session_id, self.last_seq)

    def stored_request(self) -> tuple[str, list[tuple[str, Any]]]:
        """URL and query of the messages stored since ``last_seq`` (read after a reconnect)."""
        call = stored_since(self.session_id, self.last_seq)
        return self.base_url.rstrip("/") + call.path, list(call.params)

    def _echoed(self, message: dict[str, Any]) -> None:
        seq = int(message["seq"])
        if (
            message.get("role") == "user"
            and seq not in self._echoes
            and self.outbox
            and message.get("content") == self.outbox[0]
        ):
            self.outbox.popleft()
            self._echoes.add(seq)

    def reconcile(self, stored: list[dict[str, Any]]) -> list[str]:
        """Drop from the outbox what the server stored while we were away; the rest to resend."""
        for message in stored:
            self._echoed(message)
        return list(self.outbox)

    def accept(self, raw: str | bytes) -> dict[str, Any] | None:
        """The frame to hand out, None for a message already seen; raises error frames."""
        frame: dict[str, Any] = json.loads(raw)
        self.failures = 0
        if frame.get("type") == "error":
            raise frame_error(frame)
        if frame.get("type") == "message":
            if int(frame["seq"]) <= self.last_seq:
                return None  # overlap of a replay: already delivered
            self.last_seq = int(frame["seq"])
            self._echoed(frame)
        return frame

    def next_delay(self, cause: BaseException) -> float:
        if self.failures >= len(RECONNECT_DELAYS):
            raise ServiceUnavailable(
                f"chat session {self.session_id}: connection lost, gave up after {self.failures} reconnects: {cause}",
                details={"session_id": self.session_id, "last_seq": self.last_seq},
            ) from cause
        delay = RECONNECT_DELAYS[self.failures]
        self.failures += 1
        return delay


def _payload(content: str) -> str:
    return json.dumps({"content": content})


def _echoes(stored: str, sent: str) -> bool:
    """Whether ``stored`` is ``sent`` as the server keeps it: equal, or with secrets in it
    replaced by ``***`` (the server masks secrets before storing a message)."""
    if stored == sent:
        return True
    if "***" not in stored:
        return False
    pattern = ".+?".join(re.escape(part) for part in stored.split("***"))
    return re.fullmatch(pattern, sent, re.DOTALL) is not None


def _reply_to(
    frame: dict[str, Any], mine: int | None, content: str
) -> tuple[int | None, str | None]:
    """Track ``ask``: (our message's seq once echoed, the reply's content once it came)."""
    if frame.get("type") != "message":
        return mine, None
    if mine is None and frame["role"] == "user" and _echoes(str(frame["content"]), content):
        return int(frame["seq"]), None
    if mine is not None and frame["role"] == "assistant" and int(frame["seq"]) == mine + 1:
        return mine, str(frame["content"])
    return mine, None


class ChatSocket(_Tracker):
    """Blocking chat socket (``websockets`` sync client); see the module docstring."""

    _conn: ClientConnection | None = None

    def connect(self) -> ChatSocket:
        while True:
            try:
                # legacy=True: the connection itself, not the auto-reconnecting iterator we replace
                self._conn = connect(
                    self.url,
                    additional_headers=self.headers,
                    proxy=None,
                    open_timeout=10,
                    max_size=MAX_FRAME,
                    legacy=True,
                )
                return self
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                time.sleep(self.next_delay(exc))

    def __enter__(self) -> ChatSocket:
        return self.connect() if self._conn is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True
        if self._conn is not None:
            self._conn.close()

    def _recover(self, exc: ConnectionClosed) -> None:
        """Reconnect, then send again what the server did not store; raises on a refusal."""
        while True:
            err = refusal(exc)
            if err is not None or self.closed:
                raise err or exc
            time.sleep(self.next_delay(exc))
            self.connect()
            resend = self.outbox and self.reconcile(self._stored_since())
            try:
                for content in resend or ():
                    assert self._conn is not None
                    self._conn.send(_payload(content))
                return
            except ConnectionClosed as again:
                exc = again

    def _stored_since(self) -> list[dict[str, Any]]:
        url, params = self.stored_request()
        resp = httpx.get(url, params=params, headers=self.headers, timeout=10.0)
        resp.raise_for_status()
        return list(resp.json())

    def send(self, content: str) -> None:
        """Send one message; the server echoes it with its sequence number."""
        self.outbox.append(content)
        try:
            assert self._conn is not None, "use the socket as a context manager"
            self._conn.send(_payload(content))
        except ConnectionClosed as exc:
            self._recover(exc)  # sends the outbox again, this message included

    def receive(self, timeout: float | None = None) -> dict[str, Any]:
        """The next new frame (``message``, or ``delta`` of a streamed reply)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                assert self._conn is not None, "use the socket as a context manager"
                frame = self.accept(self._conn.recv(timeout=left))
            except TimeoutError:
                raise RequestTimeout(f"no chat frame within {timeout:g} s") from None
            except ConnectionClosed as exc:
                self._recover(exc)
                continue
            if frame is not None:
                return frame

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while not self.closed:
            try:
                yield self.receive()
            except ConnectionClosed:
                return  # closed by us

    def ask(self, content: str, timeout: float = 120.0) -> str:
        """Send ``content`` and return the assistant's whole reply to it."""
        self.send(content)
        deadline = time.monotonic() + timeout
        mine: int | None = None
        while True:
            frame = self.receive(timeout=max(0.0, deadline - time.monotonic()))
            mine, reply = _reply_to(frame, mine, content)
            if reply is not None:
                return reply


class AsyncChatSocket(_Tracker):
    """The asyncio twin of ``ChatSocket``."""

    _conn: AsyncConnection | None = None

    async def connect(self) -> AsyncChatSocket:
        while True:
            try:
                self._conn = await aconnect(
                    self.url,
                    additional_headers=self.headers,
                    proxy=None,
                    open_timeout=10,
                    max_size=MAX_FRAME,
                )
                return self
            except (OSError, TimeoutError, InvalidHandshake) as exc:
                await asyncio.sleep(self.next_delay(exc))

    async def __aenter__(self) -> AsyncChatSocket:
        return await self.connect() if self._conn is None else self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self.closed = True
        if self._conn is not None:
            await self._conn.close()

    async def _recover(self, exc: ConnectionClosed) -> None:
        while True:
            err = refusal(exc)
            if err is not None or self.closed:
                raise err or exc
            await asyncio.sleep(self.next_delay(exc))
            await self.connect()
            resend = self.outbox and self.reconcile(await self._stored_since())
            try:
                for content in resend or ():
                    assert self._conn is not None
                    await self._conn.send(_payload(content))
                return
            except ConnectionClosed as again:
                exc = again

    async def _stored_since(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(headers=self.headers, timeout=10.0) as http:
            url, params = self.stored_request()
            resp = await http.get(url, params=params)
        resp.raise_for_status()
        return list(resp.json())

    async def send(self, content: str) -> None:
        self.outbox.append(content)
        try:
            assert self._conn is not None, "use the socket as an async context manager"
            await self._conn.send(_payload(content))
        except ConnectionClosed as exc:
            await self._recover(exc)

    async def receive(self, timeout: float | None = None) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                assert self._conn is not None, "use the socket as an async context manager"
                frame = self.accept(await asyncio.wait_for(self._conn.recv(), left))
            except TimeoutError:
                raise RequestTimeout(f"no chat frame within {timeout:g} s") from None
            except ConnectionClosed as exc:
                await self._recover(exc)
                continue
            if frame is not None:
                return frame

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        while not self.closed:
            try:
                yield await self.receive()
            except ConnectionClosed:
                return

    async def ask(self, content: str, timeout: float = 120.0) -> str:
        await self.send(content)
        deadline = time.monotonic() + timeout
        mine: int | None = None
        while True:
            frame = await self.receive(timeout=max(0.0, deadline - time.monotonic()))
            mine, reply = _reply_to(frame, mine, content)
            if reply is not None:
                return reply
