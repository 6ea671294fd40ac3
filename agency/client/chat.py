"""The endpoints of chat sessions, saved queries (and their runs) and alerts, described
once; and the requests the client methods make of them.

A query result comes back as a DataFrame whose ``attrs`` carry ``truncated``,
``duration_ms`` and ``run_id``; ``arrow=True`` asks for it as an Arrow IPC stream, which keeps
DuckDB's column types (timestamps, decimals) instead of their JSON forms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from agency.client.frames import ARROW, arrow_frame, result_frame, rows
from agency.client.wire import V1, Call, Endpoint, model, query
from agency.models import (
    AdhocQuery,
    Alert,
    AlertAction,
    ChatMessage,
    ChatSession,
    ChatSessionCreated,
    QueryCreate,
    QueryResultOut,
    QueryRun,
    QueryRunRequest,
    QueryUpdate,
    SavedQuery,
    SavedQueryRevision,
    SessionCreate,
)

if TYPE_CHECKING:
    import pandas as pd


def _nothing(_: Any) -> None:
    return None


CREATE_SESSION = Endpoint("POST", f"{V1}/chat/session", model(ChatSessionCreated), SessionCreate)
SESSIONS = Endpoint("GET", f"{V1}/chat/sessions", rows(ChatSession))
MESSAGES = Endpoint("GET", f"{V1}/chat/session/{{}}/messages", rows(ChatMessage))
CHAT_SOCKET = f"{V1}/chat/ws/{{}}"
CREATE_QUERY = Endpoint("POST", f"{V1}/queries", model(SavedQuery), QueryCreate)
SAVED_QUERIES = Endpoint("GET", f"{V1}/queries", rows(SavedQuery))
GET_QUERY = Endpoint("GET", f"{V1}/queries/{{}}", model(SavedQuery))
UPDATE_QUERY = Endpoint("PATCH", f"{V1}/queries/{{}}", model(SavedQuery), QueryUpdate)
DELETE_QUERY = Endpoint("DELETE", f"{V1}/queries/{{}}", _nothing, decode="text")
QUERY_REVISIONS = Endpoint("GET", f"{V1}/queries/{{}}/revisions", rows(SavedQueryRevision))
QUERY_RUNS = Endpoint("GET", f"{V1}/queries/{{}}/runs", rows(QueryRun))
RUN_QUERY = Endpoint("POST", f"{V1}/queries/{{}}/run", model(QueryResultOut), QueryRunRequest)
ADHOC_QUERY = Endpoint("POST", f"{V1}/query", model(QueryResultOut), AdhocQuery)
ALERTS = Endpoint("GET", f"{V1}/alerts", rows(Alert))
ACKNOWLEDGE_ALERT = Endpoint("POST", f"{V1}/alerts/{{}}/acknowledge", model(Alert), AlertAction)
DISMISS_ALERT = Endpoint("POST", f"{V1}/alerts/{{}}/dismiss", model(Alert), AlertAction)


def socket_path(session_id: str) -> str:
    return CHAT_SOCKET.format(quote(session_id, safe=""))


# --- chat ----------------------------------------------------------------------------------
def create_session(title: str) -> Call[ChatSessionCreated]:
    return CREATE_SESSION.call(body={"title": title})


def chat_sessions(owner: str | None, limit: int) -> Call[pd.DataFrame]:
    return SESSIONS.call(params=query(owner=owner, limit=limit))


def chat_messages(session_id: str, after: int, limit: int) -> Call[pd.DataFrame]:
    return MESSAGES.call(session_id, params=query(after=after, limit=limit))


def stored_since(session_id: str, after: int) -> Call[list[dict[str, Any]]]:
    """What the chat socket reads after a reconnect: the messages it may have missed."""
    return MESSAGES.call_as(list, session_id, params=query(after=after, limit=500))


# --- saved queries -------------------------------------------------------------------------
def create_query(
    name: str, sql: str, description: str, parameters: dict[str, Any] | None
) -> Call[SavedQuery]:
    body = {"name": name, "sql": sql, "description": description, "parameters": parameters or {}}
    return CREATE_QUERY.call(body=body)


def saved_queries() -> Call[pd.DataFrame]:
    return SAVED_QUERIES.call()


def get_query(ref: str) -> Call[SavedQuery]:
    return GET_QUERY.call(ref)


def update_query(ref: str, **changes: Any) -> Call[SavedQuery]:
    return UPDATE_QUERY.call(ref, body={k: v for k, v in changes.items() if v is not None})


def delete_query(ref: str) -> Call[None]:
    return DELETE_QUERY.call(ref)


def query_revisions(ref: str) -> Call[pd.DataFrame]:
    return QUERY_REVISIONS.call(ref)


def query_runs(ref: str, limit: int) -> Call[pd.DataFrame]:
    return QUERY_RUNS.call(ref, params=query(limit=limit))


def run_query_result(ref: str, params: dict[str, Any] | None) -> Call[QueryResultOut]:
    return RUN_QUERY.call(ref, body={"parameters": params or {}})


def sql_result(sql: str, params: dict[str, Any] | None) -> Call[QueryResultOut]:
    return ADHOC_QUERY.call(body={"sql": sql, "parameters": params or {}})


def run_query(ref: str, params: dict[str, Any] | None, arrow: bool) -> Call[pd.DataFrame]:
    """A saved query's run (recorded) as a DataFrame, from JSON or from Arrow."""
    body = {"parameters": params or {}}
    if arrow:
        return RUN_QUERY.call_as(
            arrow_frame, ref, body=body, headers={"Accept": ARROW}, decode="response"
        )
    return RUN_QUERY.call_as(result_frame, ref, body=body)


def adhoc_query(sql: str, params: dict[str, Any] | None, arrow: bool) -> Call[pd.DataFrame]:
    """One read-only statement's run (recorded) as a DataFrame, from JSON or from Arrow."""
    body = {"sql": sql, "parameters": params or {}}
    if arrow:
        return ADHOC_QUERY.call_as(
            arrow_frame, body=body, headers={"Accept": ARROW}, decode="response"
        )
    return ADHOC_QUERY.call_as(result_frame, body=body)


# --- alerts --------------------------------------------------------------------------------
def alerts(state: str | None, kind: str | None, limit: int) -> Call[pd.DataFrame]:
    return ALERTS.call(params=query(state=state, kind=kind, limit=limit))


def acknowledge_alert(alert_id: str, reason: str | None) -> Call[Alert]:
    return ACKNOWLEDGE_ALERT.call(alert_id, body={"reason": reason})


def dismiss_alert(alert_id: str, reason: str | None) -> Call[Alert]:
    return DISMISS_ALERT.call(alert_id, body={"reason": reason})
