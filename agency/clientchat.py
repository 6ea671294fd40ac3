"""Chat, saved-query and alert methods of ``AgencyClient`` and ``AsyncAgencyClient``.

Mixed into both clients (``agency/client.py``); lists and query results come back as pandas
DataFrames. A query result's DataFrame carries ``attrs`` ``truncated``, ``duration_ms`` and
``run_id``; ``arrow=True`` fetches it as an Arrow IPC stream, which keeps DuckDB's column
types (timestamps, decimals) instead of their JSON forms.
"""

from __future__ import annotations

import io
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx
import pandas as pd
import pyarrow as pa

from agency.chatsocket import AsyncChatSocket, ChatSocket
from agency.clientwire import Call, error_from_response, model_frame, query, transport_error
from agency.models import (
    Alert,
    ChatMessage,
    ChatSession,
    ChatSessionCreated,
    QueryResultOut,
    QueryRun,
    SavedQuery,
    SavedQueryRevision,
)

T = TypeVar("T")
V1 = "/api/v1"
ARROW = "application/vnd.apache.arrow.stream"


def _q(ref: str) -> str:
    return quote(ref, safe="")


def result_frame(result: QueryResultOut) -> pd.DataFrame:
    df = pd.DataFrame(result.rows, columns=result.columns)
    df.attrs.update(
        truncated=result.truncated, duration_ms=result.duration_ms, run_id=result.run_id
    )
    return df


def arrow_frame(response: httpx.Response) -> pd.DataFrame:
    table = pa.ipc.open_stream(io.BytesIO(response.content)).read_all()
    meta = table.schema.metadata or {}
    df = table.to_pandas()
    df.attrs.update(
        truncated=meta.get(b"agency.truncated") == b"true",
        duration_ms=float(meta.get(b"agency.duration_ms", b"0")),
        run_id=response.headers.get("x-agency-run-id"),
    )
    return df


# --- call builders ------------------------------------------------------------------------------


def _create_session(title: str) -> Call[ChatSessionCreated]:
    return Call(
        "POST", f"{V1}/chat/session", ChatSessionCreated.model_validate, json={"title": title}
    )


def _sessions(owner: str | None, limit: int) -> Call[pd.DataFrame]:
    return Call(
        "GET",
        f"{V1}/chat/sessions",
        lambda d: model_frame(ChatSession, d),
        params=query(owner=owner, limit=limit),
    )


def _messages(session_id: str, after: int, limit: int) -> Call[pd.DataFrame]:
    return Call(
        "GET",
        f"{V1}/chat/session/{_q(session_id)}/messages",
        lambda d: model_frame(ChatMessage, d),
        params=query(after=after, limit=limit),
    )


def _create_query(
    name: str, sql: str, description: str, parameters: dict[str, Any] | None
) -> Call[SavedQuery]:
    body = {"name": name, "sql": sql, "description": description, "parameters": parameters or {}}
    return Call("POST", f"{V1}/queries", SavedQuery.model_validate, json=body)


def _update_query(ref: str, changes: dict[str, Any]) -> Call[SavedQuery]:
    body = {k: v for k, v in changes.items() if v is not None}
    return Call("PATCH", f"{V1}/queries/{_q(ref)}", SavedQuery.model_validate, json=body)


def _query_result(path: str, body: dict[str, Any]) -> Call[QueryResultOut]:
    return Call("POST", path, QueryResultOut.model_validate, json=body)


def _alert_move(alert_id: str, verb: str, reason: str | None) -> Call[Alert]:
    return Call(
        "POST", f"{V1}/alerts/{_q(alert_id)}/{verb}", Alert.model_validate, json={"reason": reason}
    )


def _run_path(ref: str | None) -> str:
    return f"{V1}/query" if ref is None else f"{V1}/queries/{_q(ref)}/run"


def _run_body(ref: str | None, sql: str | None, params: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"parameters": params or {}}
    if ref is None:
        body["sql"] = sql
    return body


# --- the mixins ---------------------------------------------------------------------------------


class _SyncHost(Protocol):
    url: str
    token: str | None
    _http: httpx.Client

    def _do(self, call: Call[T]) -> T: ...


class _AsyncHost(Protocol):
    url: str
    token: str | None
    _http: httpx.AsyncClient

    async def _do(self, call: Call[T]) -> T: ...


class ChatQueryAlertMethods:
    """Chat sessions and socket, saved queries and their runs, alerts (sync)."""

    # --- chat ---
    def create_session(self: _SyncHost, title: str = "") -> ChatSessionCreated:
        """Open a chat session owned by this token's name."""
        return self._do(_create_session(title))

    def chat_sessions(self: _SyncHost, owner: str | None = None, limit: int = 200) -> pd.DataFrame:
        """This token's sessions, newest first (admins: everyone's, or ``owner``'s)."""
        return self._do(_sessions(owner, limit))

    sessions = chat_sessions

    def chat_messages(
        self: _SyncHost, session_id: str, after: int = 0, limit: int = 500
    ) -> pd.DataFrame:
        """A session's messages with ``seq > after``, in order."""
        return self._do(_messages(session_id, after, limit))

    messages = chat_messages

    def chat(self: _SyncHost, session_id: str, after: int | None = None) -> ChatSocket:
        """The session's WebSocket as a context manager (``send``, ``receive``, ``ask``, iterate)."""
        return ChatSocket(self.url, self.token, session_id, after)

    # --- saved queries ---
    def create_query(
        self: _SyncHost,
        name: str,
        sql: str,
        description: str = "",
        parameters: dict[str, Any] | None = None,
    ) -> SavedQuery:
        """Save a query; ``parameters`` are the defaults of its ``$name`` parameters."""
        return self._do(_create_query(name, sql, description, parameters))

    def saved_queries(self: _SyncHost) -> pd.DataFrame:
        return self._do(Call("GET", f"{V1}/queries", lambda d: model_frame(SavedQuery, d)))

    def get_query(self: _SyncHost, ref: str) -> SavedQuery:
        """A saved query by id or name."""
        return self._do(Call("GET", f"{V1}/queries/{_q(ref)}", SavedQuery.model_validate))

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
            _update_query(
                ref, dict(name=name, sql=sql, description=description, parameters=parameters)
            )
        )

    def delete_query(self: _SyncHost, ref: str) -> None:
        """Delete a saved query (admin); its revisions and runs stay."""
        self._do(Call("DELETE", f"{V1}/queries/{_q(ref)}", lambda d: None, text=True))

    def query_revisions(self: _SyncHost, ref: str) -> pd.DataFrame:
        return self._do(
            Call(
                "GET",
                f"{V1}/queries/{_q(ref)}/revisions",
                lambda d: model_frame(SavedQueryRevision, d),
            )
        )

    def query_runs(self: _SyncHost, ref: str, limit: int = 100) -> pd.DataFrame:
        """Recorded runs of a saved query, newest first."""
        return self._do(
            Call(
                "GET",
                f"{V1}/queries/{_q(ref)}/runs",
                lambda d: model_frame(QueryRun, d),
                params=query(limit=limit),
            )
        )

    def run_query_result(
        self: _SyncHost, ref: str, params: dict[str, Any] | None = None
    ) -> QueryResultOut:
        """A saved query's JSON answer as it came."""
        return self._do(_query_result(_run_path(ref), _run_body(ref, None, params)))

    def sql_result(
        self: _SyncHost, sql: str, params: dict[str, Any] | None = None
    ) -> QueryResultOut:
        """An ad-hoc query's JSON answer as it came."""
        return self._do(_query_result(_run_path(None), _run_body(None, sql, params)))

    def run_query(
        self: _SyncHost, ref: str, params: dict[str, Any] | None = None, *, arrow: bool = False
    ) -> pd.DataFrame:
        """Run a saved query (recorded) and return its rows."""
        if arrow:
            return arrow_frame(_arrow_sync(self, _run_path(ref), _run_body(ref, None, params)))
        return result_frame(self._do(_query_result(_run_path(ref), _run_body(ref, None, params))))

    def query(
        self: _SyncHost, sql: str, params: dict[str, Any] | None = None, *, arrow: bool = False
    ) -> pd.DataFrame:
        """Run one read-only statement with ``$name`` parameters (recorded) and return its rows."""
        if arrow:
            return arrow_frame(_arrow_sync(self, _run_path(None), _run_body(None, sql, params)))
        return result_frame(self._do(_query_result(_run_path(None), _run_body(None, sql, params))))

    # --- alerts ---
    def alerts(
        self: _SyncHost, state: str | None = None, kind: str | None = None, limit: int = 200
    ) -> pd.DataFrame:
        """Alerts, newest first; ``state`` is open, acknowledged or dismissed."""
        return self._do(
            Call(
                "GET",
                f"{V1}/alerts",
                lambda d: model_frame(Alert, d),
                params=query(state=state, kind=kind, limit=limit),
            )
        )

    def acknowledge_alert(self: _SyncHost, alert_id: str, reason: str | None = None) -> Alert:
        return self._do(_alert_move(alert_id, "acknowledge", reason))

    def dismiss_alert(self: _SyncHost, alert_id: str, reason: str | None = None) -> Alert:
        return self._do(_alert_move(alert_id, "dismiss", reason))


def _arrow_sync(host: _SyncHost, path: str, body: dict[str, Any]) -> httpx.Response:
    try:
        response = host._http.post(path, json=body, headers={"Accept": ARROW})
    except httpx.HTTPError as exc:
        raise transport_error(host.url, exc) from exc
    if response.status_code >= 400:
        raise error_from_response(response)
    return response


async def _arrow_async(host: _AsyncHost, path: str, body: dict[str, Any]) -> httpx.Response:
    try:
        response = await host._http.post(path, json=body, headers={"Accept": ARROW})
    except httpx.HTTPError as exc:
        raise transport_error(host.url, exc) from exc
    if response.status_code >= 400:
        raise error_from_response(response)
    return response


class AsyncChatQueryAlertMethods:
    """The asyncio twins of ``ChatQueryAlertMethods``."""

    async def create_session(self: _AsyncHost, title: str = "") -> ChatSessionCreated:
        return await self._do(_create_session(title))

    async def chat_sessions(
        self: _AsyncHost, owner: str | None = None, limit: int = 200
    ) -> pd.DataFrame:
        return await self._do(_sessions(owner, limit))

    sessions = chat_sessions

    async def chat_messages(
        self: _AsyncHost, session_id: str, after: int = 0, limit: int = 500
    ) -> pd.DataFrame:
        return await self._do(_messages(session_id, after, limit))

    messages = chat_messages

    def chat(self: _AsyncHost, session_id: str, after: int | None = None) -> AsyncChatSocket:
        """``async with client.chat(sid) as chat:`` (``send``, ``receive``, ``ask``, ``async for``)."""
        return AsyncChatSocket(self.url, self.token, session_id, after)

    async def create_query(
        self: _AsyncHost,
        name: str,
        sql: str,
        description: str = "",
        parameters: dict[str, Any] | None = None,
    ) -> SavedQuery:
        return await self._do(_create_query(name, sql, description, parameters))

    async def saved_queries(self: _AsyncHost) -> pd.DataFrame:
        return await self._do(Call("GET", f"{V1}/queries", lambda d: model_frame(SavedQuery, d)))

    async def get_query(self: _AsyncHost, ref: str) -> SavedQuery:
        return await self._do(Call("GET", f"{V1}/queries/{_q(ref)}", SavedQuery.model_validate))

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
            _update_query(
                ref, dict(name=name, sql=sql, description=description, parameters=parameters)
            )
        )

    async def delete_query(self: _AsyncHost, ref: str) -> None:
        await self._do(Call("DELETE", f"{V1}/queries/{_q(ref)}", lambda d: None, text=True))

    async def query_revisions(self: _AsyncHost, ref: str) -> pd.DataFrame:
        return await self._do(
            Call(
                "GET",
                f"{V1}/queries/{_q(ref)}/revisions",
                lambda d: model_frame(SavedQueryRevision, d),
            )
        )

    async def query_runs(self: _AsyncHost, ref: str, limit: int = 100) -> pd.DataFrame:
        return await self._do(
            Call(
                "GET",
                f"{V1}/queries/{_q(ref)}/runs",
                lambda d: model_frame(QueryRun, d),
                params=query(limit=limit),
            )
        )

    async def run_query(
        self: _AsyncHost, ref: str, params: dict[str, Any] | None = None, *, arrow: bool = False
    ) -> pd.DataFrame:
        if arrow:
            return arrow_frame(
                await _arrow_async(self, _run_path(ref), _run_body(ref, None, params))
            )
        return result_frame(
            await self._do(_query_result(_run_path(ref), _run_body(ref, None, params)))
        )

    async def query(
        self: _AsyncHost, sql: str, params: dict[str, Any] | None = None, *, arrow: bool = False
    ) -> pd.DataFrame:
        if arrow:
            return arrow_frame(
                await _arrow_async(self, _run_path(None), _run_body(None, sql, params))
            )
        return result_frame(
            await self._do(_query_result(_run_path(None), _run_body(None, sql, params)))
        )

    async def alerts(
        self: _AsyncHost, state: str | None = None, kind: str | None = None, limit: int = 200
    ) -> pd.DataFrame:
        return await self._do(
            Call(
                "GET",
                f"{V1}/alerts",
                lambda d: model_frame(Alert, d),
                params=query(state=state, kind=kind, limit=limit),
            )
        )

    async def acknowledge_alert(
        self: _AsyncHost, alert_id: str, reason: str | None = None
    ) -> Alert:
        return await self._do(_alert_move(alert_id, "acknowledge", reason))

    async def dismiss_alert(self: _AsyncHost, alert_id: str, reason: str | None = None) -> Alert:
        return await self._do(_alert_move(alert_id, "dismiss", reason))
