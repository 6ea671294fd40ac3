"""Chat, saved-query and alert methods of ``AgencyClient`` (``ChatMethods``) and of
``AsyncAgencyClient`` (``AsyncChatMethods``): each one sends the request ``agency.client.chat``
builds, so the two faces cannot drift apart. Lists and query results are DataFrames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from agency.client import chat as ep
from agency.client.socket import AsyncChatSocket, ChatSocket
from agency.client.wire import Call
from agency.models import Alert, ChatSessionCreated, QueryResultOut, SavedQuery

if TYPE_CHECKING:
    import pandas as pd

T = TypeVar("T")


class _SyncHost(Protocol):
    url: str
    token: str | None
    operator: str | None

    def _do(self, call: Call[T]) -> T: ...


class _AsyncHost(Protocol):
    url: str
    token: str | None
    operator: str | None

    async def _do(self, call: Call[T]) -> T: ...


class ChatMethods:
    """Chat sessions and socket, saved queries and their runs, alerts (sync)."""

    # --- chat ---
    def create_session(self: _SyncHost, title: str = "") -> ChatSessionCreated:
        """Open a chat session owned by this token's name."""
        return self._do(ep.create_session(title))

    def chat_sessions(self: _SyncHost, owner: str | None = None, limit: int = 200) -> pd.DataFrame:
        """This token's sessions, newest first (admins: everyone's, or ``owner``'s)."""
        return self._do(ep.chat_sessions(owner, limit))

    sessions = chat_sessions

    def chat_messages(
        self: _SyncHost, session_id: str, after: int = 0, limit: int = 500
    ) -> pd.DataFrame:
        """A session's messages with ``seq > after``, in order."""
        return self._do(ep.chat_messages(session_id, after, limit))

    messages = chat_messages

    def chat(self: _SyncHost, session_id: str, after: int | None = None) -> ChatSocket:
        """The session's WebSocket as a context manager (``send``, ``receive``, ``ask``, iterate)."""
        return ChatSocket(self.url, self.token, session_id, after, self.operator)

    # --- saved queries ---
    def create_query(
        self: _SyncHost,
        name: str,
        sql: str,
        description: str = "",
        parameters: dict[str, Any] | None = None,
    ) -> SavedQuery:
        """Save a query; ``parameters`` are the defaults of its ``$name`` parameters."""
        return self._do(ep.create_query(name, sql, description, parameters))

    def saved_queries(self: _SyncHost) -> pd.DataFrame:
        return self._do(ep.saved_queries())

    def get_query(self: _SyncHost, ref: str) -> SavedQuery:
        """A saved query by id or name."""
        return self._do(ep.get_query(ref))

    def update_query(
        self: _SyncHost,
        ref: str,
        *,
        name: str | None = None,
        sql: str | None = None,
        description: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> SavedQuery:
        """Change a saved query; the answer is its new revision."""
        return self._do(
            ep.update_query(ref, name=name, sql=sql, description=description, parameters=parameters)
        )

    def delete_query(self: _SyncHost, ref: str) -> None:
        """Delete a saved query (admin); its revisions and runs stay."""
        self._do(ep.delete_query(ref))

    def query_revisions(self: _SyncHost, ref: str) -> pd.DataFrame:
        return self._do(ep.query_revisions(ref))

    def query_runs(self: _SyncHost, ref: str, limit: int = 100) -> pd.DataFrame:
        """Recorded runs of a saved query, newest first."""
        return self._do(ep.query_runs(ref, limit))

    def run_query_result(
        self: _SyncHost, ref: str, params: dict[str, Any] | None = None
    ) -> QueryResultOut:
        """A saved query's JSON answer as it came."""
        return self._do(ep.run_query_result(ref, params))

    def sql_result(
        self: _SyncHost, sql: str, params: dict[str, Any] | None = None
    ) -> QueryResultOut:
        """An ad-hoc query's JSON answer as it came."""
        return self._do(ep.sql_result(sql, params))

    def run_query(
        self: _SyncHost, ref: str, params: dict[str, Any] | None = None, *, arrow: bool = False
    ) -> pd.DataFrame:
        """Run a saved query (recorded) and return its rows."""
        return self._do(ep.run_query(ref, params, arrow))

    def query(
        self: _SyncHost, sql: str, params: dict[str, Any] | None = None, *, arrow: bool = False
    ) -> pd.DataFrame:
        """Run one read-only statement with ``$name`` parameters (recorded) and return its rows."""
        return self._do(ep.adhoc_query(sql, params, arrow))

    # --- alerts ---
    def alerts(
        self: _SyncHost, state: str | None = None, kind: str | None = None, limit: int = 200
    ) -> pd.DataFrame:
        """Alerts, newest first; ``state`` is open, acknowledged or dismissed."""
        return self._do(ep.alerts(state, kind, limit))

    def acknowledge_alert(self: _SyncHost, alert_id: str, reason: str | None = None) -> Alert:
        return self._do(ep.acknowledge_alert(alert_id, reason))

    def dismiss_alert(self: _SyncHost, alert_id: str, reason: str | None = None) -> Alert:
        return self._do(ep.dismiss_alert(alert_id, reason))


class AsyncChatMethods:
    """The asyncio twins of ``ChatMethods``."""

    async def create_session(self: _AsyncHost, title: str = "") -> ChatSessionCreated:
        return await self._do(ep.create_session(title))

    async def chat_sessions(
        self: _AsyncHost, owner: str | None = None, limit: int = 200
    ) -> pd.DataFrame:
        return await self._do(ep.chat_sessions(owner, limit))

    sessions = chat_sessions

    async def chat_messages(
        self: _AsyncHost, session_id: str, after: int = 0, limit: int = 500
    ) -> pd.DataFrame:
        return await self._do(ep.chat_messages(session_id, after, limit))

    messages = chat_messages

    def chat(self: _AsyncHost, session_id: str, after: int | None = None) -> AsyncChatSocket:
        """``async with client.chat(sid) as chat:`` (``send``, ``receive``, ``ask``, ``async for``)."""
        return AsyncChatSocket(self.url, self.token, session_id, after, self.operator)

    async def create_query(
        self: _AsyncHost,
        name: str,
        sql: str,
        description: str = "",
        parameters: dict[str, Any] | None = None,
    ) -> SavedQuery:
        return await self._do(ep.create_query(name, sql, description, parameters))

    async def saved_queries(self: _AsyncHost) -> pd.DataFrame:
        return await self._do(ep.saved_queries())

    async def get_query(self: _AsyncHost, ref: str) -> SavedQuery:
        return await self._do(ep.get_query(ref))

    async def update_query(
        self: _AsyncHost,
        ref: str,
        *,
        name: str | None = None,
        sql: str | None = None,
        description: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> SavedQuery:
        return await self._do(
            ep.update_query(ref, name=name, sql=sql, description=description, parameters=parameters)
        )

    async def delete_query(self: _AsyncHost, ref: str) -> None:
        await self._do(ep.delete_query(ref))

    async def query_revisions(self: _AsyncHost, ref: str) -> pd.DataFrame:
        return await self._do(ep.query_revisions(ref))

    async def query_runs(self: _AsyncHost, ref: str, limit: int = 100) -> pd.DataFrame:
        return await self._do(ep.query_runs(ref, limit))

    async def run_query_result(
        self: _AsyncHost, ref: str, params: dict[str, Any] | None = None
    ) -> QueryResultOut:
        return await self._do(ep.run_query_result(ref, params))

    async def sql_result(
        self: _AsyncHost, sql: str, params: dict[str, Any] | None = None
    ) -> QueryResultOut:
        return await self._do(ep.sql_result(sql, params))

    async def run_query(
        self: _AsyncHost, ref: str, params: dict[str, Any] | None = None, *, arrow: bool = False
    ) -> pd.DataFrame:
        return await self._do(ep.run_query(ref, params, arrow))

    async def query(
        self: _AsyncHost, sql: str, params: dict[str, Any] | None = None, *, arrow: bool = False
    ) -> pd.DataFrame:
        return await self._do(ep.adhoc_query(sql, params, arrow))

    async def alerts(
        self: _AsyncHost, state: str | None = None, kind: str | None = None, limit: int = 200
    ) -> pd.DataFrame:
        return await self._do(ep.alerts(state, kind, limit))

    async def acknowledge_alert(
        self: _AsyncHost, alert_id: str, reason: str | None = None
    ) -> Alert:
        return await self._do(ep.acknowledge_alert(alert_id, reason))

    async def dismiss_alert(self: _AsyncHost, alert_id: str, reason: str | None = None) -> Alert:
        return await self._do(ep.dismiss_alert(alert_id, reason))
