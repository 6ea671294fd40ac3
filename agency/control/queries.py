"""Saved queries (each change a new revision) and their recorded runs, and ad-hoc queries.

Names are unique and revision numbers grow by one: both are check-then-write, so changes
of saved queries take one lock. A query that could never run is refused when saved.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agency.control.query_runs import SQL_IN_EVENT, QueryRunner
from agency.control.refusals import Refusals
from agency.errors import Conflict, NotFound, QueryRefused
from agency.models import EventIn, QueryRun, SavedQuery, SavedQueryRevision, new_id, utcnow
from agency.security.masking import SecretMasker
from agency.settings import Settings
from agency.storage import QueryRepository, QueryResult

__all__ = ["QueryResult", "QueryService"]


class QueryService:
    """Saved queries, their revisions and runs; running saved and ad-hoc SQL."""

    def __init__(
        self,
        repo: QueryRepository,
        settings: Settings,
        refusals: Refusals,
        masker: SecretMasker | None = None,
    ) -> None:
        self.repo = repo
        #: saved and ad-hoc SQL (and its name, description) is masked before it is stored
        self.masker = masker if masker is not None else SecretMasker()
        self.runner = QueryRunner(repo, settings)
        self.refusals = refusals
        self._changing = asyncio.Lock()

    async def get(self, ref: str) -> SavedQuery:
        """A saved query by id, else by name; ``NotFound`` otherwise."""
        query = await self.repo.find_saved(ref)
        if query is None:
            raise NotFound(f"no saved query {ref!r}", details={"query": ref})
        return query

    async def saved(self) -> list[SavedQuery]:
        """Every saved query, by name."""
        return await self.repo.saved()

    def _check(self, sql: str, actor: str, address: str | None, ref: str) -> None:
        """``QueryRefused`` for SQL that could never run, recorded as ``query.refused``."""
        try:
            self.repo.check(sql)
        except QueryRefused as exc:
            self.refusals.refuse(
                "query.refused",
                actor=actor,
                resource_type="query",
                resource_id=ref,
                address=address,
                reason=exc.message,
                code=exc.code,
                source="save",
                sql=sql[:SQL_IN_EVENT],
            )
            raise

    async def create(
        self,
        actor: str,
        name: str,
        sql: str,
        description: str,
        parameters: dict[str, Any],
        address: str | None = None,
    ) -> SavedQuery:
        """Save a query (revision 1); ``Conflict`` when the name is taken."""
        sql, description = self.masker.text(sql), self.masker.text(description)
        parameters = self.masker.tree(parameters)
        self._check(sql, actor, address, name)
        async with self._changing:
            if await self.repo.name_taken(name):
                raise Conflict(f"a saved query named {name!r} exists", details={"name": name})
            now = utcnow()
            query = SavedQuery(
                id=new_id(),
                name=name,
                sql=sql,
                description=description,
                parameters=parameters,
                revision=1,
                created_by=actor,
                created_at=now,
                updated_at=now,
            )
            await self._save(query, actor, "query.created")
        return query

    async def update(
        self, ref: str, actor: str, changes: dict[str, Any], address: str | None = None
    ) -> SavedQuery:
        """Change fields of a saved query: the result is a new revision, old ones stay."""
        changes = self.masker.tree(changes)
        if "sql" in changes:
            self._check(changes["sql"], actor, address, ref)
        async with self._changing:
            query = await self.get(ref)
            if "name" in changes and await self.repo.name_taken(
                changes["name"], other_than=query.id
            ):
                raise Conflict(
                    f"a saved query named {changes['name']!r} exists",
                    details={"name": changes["name"]},
                )
            query = query.model_copy(
                update={**changes, "revision": query.revision + 1, "updated_at": utcnow()}
            )
            await self._save(query, actor, "query.updated")
        return query

    async def delete(self, ref: str, actor: str) -> None:
        """Delete a saved query; its revisions and runs stay for the audit trail."""
        async with self._changing:
            query = await self.get(ref)
            await self.repo.delete(
                query.id,
                EventIn(
                    actor=actor,
                    action="query.deleted",
                    resource_type="query",
                    resource_id=query.id,
                    details={"name": query.name, "revision": query.revision},
                ),
            )

    async def _save(self, query: SavedQuery, actor: str, action: str) -> None:
        revision = SavedQueryRevision(
            query_id=query.id,
            revision=query.revision,
            name=query.name,
            sql=query.sql,
            description=query.description,
            parameters=query.parameters,
            created_by=actor,
            created_at=query.updated_at,
        )
        await self.repo.save(
            query,
            revision,
            EventIn(
                actor=actor,
                action=action,
                resource_type="query",
                resource_id=query.id,
                details={"name": query.name, "revision": query.revision},
            ),
        )

    async def revisions(self, ref: str) -> list[SavedQueryRevision]:
        """Every revision of a saved query, oldest first."""
        return await self.repo.revisions((await self.get(ref)).id)

    async def runs(self, ref: str, limit: int = 100) -> list[QueryRun]:
        """The most recent runs of a saved query, newest first."""
        return await self.repo.runs((await self.get(ref)).id, limit)

    async def run_saved(
        self, ref: str, actor: str, parameters: dict[str, Any], address: str | None = None
    ) -> tuple[QueryResult, QueryRun]:
        """Run a saved query with its default parameters overridden by ``parameters``."""
        parameters = self.masker.tree(parameters)
        query = await self.get(ref)
        return await self.runner.run(
            actor,
            query.sql,
            {**query.parameters, **parameters},
            source="saved",
            query_id=query.id,
            revision=query.revision,
            address=address,
        )

    async def run_adhoc(
        self, actor: str, sql: str, parameters: dict[str, Any], address: str | None = None
    ) -> tuple[QueryResult, QueryRun]:
        """Run one read-only statement (notebooks); recorded like saved-query runs."""
        sql, parameters = self.masker.text(sql), self.masker.tree(parameters)
        return await self.runner.run(actor, sql, parameters, source="adhoc", address=address)
