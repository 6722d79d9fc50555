"""Definition use cases: store, version, read, list and delete."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sedo.domain.definition import Definition, parse_definition, scoped
from sedo.domain.errors import BadRequest, Conflict, NotFound
from sedo.domain.language import load_definition
from sedo.domain.steps.base import LanguageOptions
from sedo.domain.timefmt import format_ts
from sedo.service_layer.ports import Clock, DefinitionHead, DefinitionStore, Page
from sedo.service_layer.quotas import QuotaService


@dataclass
class DefinitionService:
    store: DefinitionStore
    clock: Clock
    options: LanguageOptions = field(default_factory=LanguageOptions)
    #: Tenants' quotas: a create past maxDefinitions is refused (sedo/service_layer/quotas.py).
    quotas: QuotaService | None = None
    #: The trigger index (issue 15; sedo/service_layer/events.py), set by the composition root.
    triggers: Any = field(default=None, init=False)

    def create(self, tenant_id: str, document: Any) -> dict[str, Any]:
        definition = load_definition(document, options=self.options)
        previous = self.store.get_head(tenant_id, definition.id)
        if previous is not None and not previous.deleted:
            raise Conflict(
                f"definition {definition.id!r} already exists (version {previous.latest_version}); "
                f"PUT /sedo/tenants/{tenant_id}/definitions/{definition.id} to add a version"
            )
        now = format_ts(self.clock.now())
        if self.quotas is not None:
            self.quotas.check_definitions(tenant_id, lambda at_most: self._count(tenant_id, at_most))
        # Version numbers are never reused for an id, even across a delete, so an
        # execution's pinned version always names exactly one document.
        version = previous.latest_version + 1 if previous is not None else 1
        head = DefinitionHead(
            tenant_id=tenant_id,
            id=definition.id,
            latest_version=version,
            created_at=now,
            updated_at=now,
            description=document.get("description"),
        )
        self.store.put_version(head, document, previous)
        if self.triggers is not None:
            self.triggers.update(tenant_id, definition.id, version, document, None)
        return {"id": definition.id, "tenantId": tenant_id, "version": version}

    def _count(self, tenant_id: str, at_most: int) -> int:
        """The tenant's live definitions, counted up to ``at_most``."""
        count, token = 0, None
        while True:
            page = self.store.list_heads(tenant_id, 100, token)
            count += len(page.items)
            token = page.next_token
            if token is None or count >= at_most:
                return count

    def update(self, tenant_id: str, definition_id: str, document: Any) -> dict[str, Any]:
        if isinstance(document, dict) and document.setdefault("id", definition_id) != definition_id:
            raise BadRequest(f"the body's id {document['id']!r} does not match the path's {definition_id!r}")
        load_definition(document, options=self.options)
        previous = self._live_head(tenant_id, definition_id)
        head = replace(
            previous,
            latest_version=previous.latest_version + 1,
            updated_at=format_ts(self.clock.now()),
            description=document.get("description"),
        )
        self.store.put_version(head, document, previous)
        if self.triggers is not None:
            self._reindex(head, document, previous)
        return {"id": definition_id, "tenantId": tenant_id, "version": head.latest_version}

    def get(self, tenant_id: str, definition_id: str, version: int | None = None) -> dict[str, Any]:
        head = self._live_head(tenant_id, definition_id)
        wanted = head.latest_version if version is None else version
        stored = self.store.get_version(tenant_id, definition_id, wanted)
        if stored is None or wanted > head.latest_version:
            raise NotFound(f"definition {definition_id!r} has no version {wanted} (latest is {head.latest_version})")
        return {
            "id": definition_id,
            "tenantId": tenant_id,
            "version": stored.version,
            "latestVersion": head.latest_version,
            "createdAt": stored.created_at,
            "definition": stored.document,
        }

    def delete(self, tenant_id: str, definition_id: str) -> None:
        head = self._live_head(tenant_id, definition_id)
        if not self.store.mark_deleted(head, format_ts(self.clock.now())):
            raise NotFound(f"definition {definition_id!r} does not exist")
        if self.triggers is not None:
            self._reindex(head, None, head)

    def _reindex(self, head: DefinitionHead, document: Any, previous: DefinitionHead) -> None:
        """The trigger index follows the latest version (none once deleted)."""
        old = self.store.get_version(head.tenant_id, head.id, previous.latest_version)
        self.triggers.update(head.tenant_id, head.id, head.latest_version, document, old.document if old else None)

    def list(self, tenant_id: str, limit: int, token: str | None) -> Page:
        page = self.store.list_heads(tenant_id, limit, token)
        return Page([head.summary() for head in page.items], page.next_token)

    def latest_for_execution(self, tenant_id: str, definition_id: str, version: int | None = None) -> Definition:
        """The latest version of a live definition (or ``version``, an alias's choice), parsed:
        what a new execution pins. The head is read eventually consistently (half the read
        units of the one item every start of the definition reads): within about a second of
        an update or a delete, a start may still pin the version before, as Step Functions'
        executions may after an update."""
        head = self._live_head(tenant_id, definition_id, consistent=False)
        wanted = head.latest_version if version is None else version
        stored = self.store.get_version(tenant_id, definition_id, wanted) if wanted <= head.latest_version else None
        if stored is None:
            raise NotFound(f"definition {definition_id!r} has no version {wanted} (latest is {head.latest_version})")
        return parse_definition(stored.document, stored.version)

    def pinned(self, tenant_id: str, definition_id: str, version: int, scope: Sequence[str] = ()) -> Definition:
        """The version an execution runs (even if the definition was deleted since), at its nested scope."""
        stored = self.store.get_version(tenant_id, definition_id, version)
        if stored is None:
            raise NotFound(f"definition {definition_id!r} has no version {version}")
        return scoped(parse_definition(stored.document, stored.version), list(scope))

    def _live_head(self, tenant_id: str, definition_id: str, consistent: bool = True) -> DefinitionHead:
        head = self.store.get_head(tenant_id, definition_id, consistent)
        if head is None or head.deleted:
            raise NotFound(f"definition {definition_id!r} does not exist for tenant {tenant_id!r}")
        return head
