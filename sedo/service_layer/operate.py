"""Operating executions (issue 18): aliases, pause, resume, redrive, search by attribute.

The control operations commit the head the way cancel does: read it, compute the commit
with the pure functions of sedo/domain/operate.py, write it with one conditional write
guarded by ``seq`` (again on a race), then flush its history and outbox.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sedo.domain import limits, operate
from sedo.domain.errors import BadRequest, Conflict, NotFound, Unavailable
from sedo.domain.execution import FAILED, Execution
from sedo.domain.segment import Commit
from sedo.domain.timefmt import format_ts, parse_ts
from sedo.service_layer.executions import ExecutionService
from sedo.service_layer.flush import flush, put_history
from sedo.service_layer.operate_ports import Alias, OperateStores
from sedo.service_layer.ports import Page

#: Index entries read per query while filling a page of search results.
SEARCH_BATCH = 50
#: What a bulk operation's filter may name, besides ``attr.<name>``.
FILTER_KEYS = ("definitionId", "state", "startedBefore", "startedAfter")


@dataclass(frozen=True)
class Filter:
    """Which executions a search or a bulk operation matches (every given part must hold)."""

    states: Sequence[str] = ()
    definition_id: str | None = None
    attrs: Mapping[str, str] = field(default_factory=dict)
    started_before: str | None = None
    started_after: str | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Filter:
        """The ``filter`` of a bulk operation: definitionId, state, attr.<name>, startedBefore/After."""
        unknown = sorted(k for k in body if k not in FILTER_KEYS and not k.startswith("attr."))
        if unknown:
            allowed = ", ".join([*FILTER_KEYS, "attr.<name>"])
            raise BadRequest(f"the filter has unknown fields {', '.join(unknown)} (it takes {allowed})")
        attrs = {k[len("attr.") :]: str(v) for k, v in body.items() if k.startswith("attr.")}
        if len(attrs) > limits.MAX_BULK_FILTER_ATTRIBUTES:
            raise BadRequest(f"a filter names at most {limits.MAX_BULK_FILTER_ATTRIBUTES} search attributes")
        state = body.get("state")
        states = [state] if isinstance(state, str) else list(state or [])
        for moment in ("startedBefore", "startedAfter"):
            if body.get(moment) is not None:
                try:
                    parse_ts(str(body[moment]))
                except ValueError:
                    raise BadRequest(f"filter {moment} must be an RFC 3339 time, not {body[moment]!r}") from None
        return cls(states, body.get("definitionId"), attrs, body.get("startedBefore"), body.get("startedAfter"))

    def matches(self, head: Execution) -> bool:
        if head.parent_key is not None:
            return False
        if (self.states and head.state not in self.states) or (
            self.definition_id is not None and head.definition_id != self.definition_id
        ):
            return False
        search = head.search or {}
        if any(search.get(name) != value for name, value in self.attrs.items()):
            return False
        started = parse_ts(head.created_at)
        if self.started_before is not None and not started < parse_ts(self.started_before):
            return False
        return self.started_after is None or started > parse_ts(self.started_after)


class OperationsService:
    def __init__(self, executions: ExecutionService, stores: OperateStores) -> None:
        self.service = executions
        self.executions = executions.executions
        self.definitions = executions.definition_service
        self.clock = executions.clock
        self.queue = executions.queue
        self.stores = stores

    # -- aliases ------------------------------------------------------------------------

    def put_alias(self, tenant_id: str, definition_id: str, name: str, body: Mapping[str, Any]) -> tuple[Any, bool]:
        try:
            routing = operate.check_routing(body.get("routing"))
        except (KeyError, TypeError, ValueError):
            raise BadRequest("routing must be a list of {version, weight} objects with integers") from None
        latest = self.definitions.get(tenant_id, definition_id)["latestVersion"]  # 404 for no definition
        for route in routing:
            if not 1 <= route["version"] <= latest:
                raise BadRequest(f"definition {definition_id!r} has no version {route['version']} (latest is {latest})")
        existing = self.stores.aliases.get(tenant_id, definition_id, name)
        if existing is None and len(self.stores.aliases.list(tenant_id, definition_id)) >= limits.MAX_ALIASES:
            raise Conflict(f"definition {definition_id!r} has {limits.MAX_ALIASES} aliases, the most it may have")
        now = format_ts(self.clock.now())
        alias = Alias(
            tenant_id,
            definition_id,
            name,
            routing,
            existing.created_at if existing is not None else now,
            now,
            body.get("description"),
        )
        self.stores.aliases.put(alias)
        return alias.describe(), existing is None

    def _alias(self, tenant_id: str, definition_id: str, name: str) -> Alias:
        alias = self.stores.aliases.get(tenant_id, definition_id, name)
        if alias is None:
            raise NotFound(f"definition {definition_id!r} has no alias {name!r}")
        return alias

    def get_alias(self, tenant_id: str, definition_id: str, name: str) -> dict[str, Any]:
        return self._alias(tenant_id, definition_id, name).describe()

    def list_aliases(self, tenant_id: str, definition_id: str) -> list[dict[str, Any]]:
        self.definitions.get(tenant_id, definition_id)  # 404 for no definition
        return [alias.describe() for alias in self.stores.aliases.list(tenant_id, definition_id)]

    def delete_alias(self, tenant_id: str, definition_id: str, name: str) -> None:
        if not self.stores.aliases.delete(tenant_id, definition_id, name):
            raise NotFound(f"definition {definition_id!r} has no alias {name!r}")

    def check_deletable(self, tenant_id: str, definition_id: str) -> None:
        """A definition whose versions an alias routes to is not deleted (409)."""
        aliases = self.stores.aliases.list(tenant_id, definition_id)
        if aliases:
            names = ", ".join(repr(a.name) for a in aliases)
            raise Conflict(
                f"aliases {names} route to versions of {definition_id!r}: delete them first "
                f"(DELETE .../definitions/{definition_id}/aliases/NAME)"
            )

    def start(
        self, tenant_id: str, definition_id: str, alias_name: str, input: Any, name: str | None
    ) -> tuple[dict[str, Any], bool]:
        """Start through an alias: its routing picks the version (the same one for a name)."""
        alias = self._alias(tenant_id, definition_id, alias_name)
        version = operate.pick_version(alias.routing, f"{tenant_id}/{definition_id}/{alias_name}", name)
        return self.service.start(tenant_id, definition_id, input, name, version=version, alias=alias_name)

    def index(self, head: Execution) -> None:
        """The search-attribute index entries of a new execution (ExecutionService's indexer)."""
        self.stores.search.put(head.tenant_id, head.key, head.definition_id, head.search or {})

    # -- pause, resume, redrive ------------------------------------------------------------

    def _control(
        self, tenant_id: str, execution_id: str, what: str, change: Callable[[Execution], Commit | None]
    ) -> dict[str, Any]:
        for _ in range(10):
            head = self.service._head(tenant_id, execution_id)
            if head.parent_key is not None:
                parent = head.iteration()["parentId"]
                raise Conflict(f"execution {execution_id!r} is an iteration of {parent!r}: {what} that execution")
            commit = change(head)
            if commit is None:
                return self.service._describe(head)  # already so: nothing to do
            put_history(head, self.executions)  # its segment, should its own flush be still to come
            if self.executions.commit(commit.head, commit.expected_seq):
                flush(commit.head, self.executions, self.queue)
                return self.service._describe(commit.head)
        raise Unavailable(f"execution {execution_id!r} is changing too fast to {what}; retry")

    def pause(self, tenant_id: str, execution_id: str) -> dict[str, Any]:
        def change(head: Execution) -> Commit | None:
            if head.finished:
                raise Conflict(f"execution {execution_id!r} already ended as {head.state}: nothing to pause")
            return None if head.paused else operate.pause(head, self.clock.now())

        return self._control(tenant_id, execution_id, "pause", change)

    def resume(self, tenant_id: str, execution_id: str) -> dict[str, Any]:
        def change(head: Execution) -> Commit | None:
            if head.finished:
                raise Conflict(f"execution {execution_id!r} already ended as {head.state}: nothing to resume")
            if not head.paused:
                return None
            definition = self.definitions.pinned(tenant_id, head.definition_id, head.definition_version, head.scope)
            return operate.resume(head, definition, self.clock.now())

        return self._control(tenant_id, execution_id, "resume", change)

    def redrive(self, tenant_id: str, execution_id: str) -> dict[str, Any]:
        def change(head: Execution) -> Commit | None:
            if head.state != FAILED:
                now = "is still running" if not head.finished else f"ended as {head.state}"
                raise Conflict(f"execution {execution_id!r} {now}: only a failed or timed-out one can be redriven")
            definition = self.definitions.pinned(tenant_id, head.definition_id, head.definition_version, head.scope)
            return operate.redrive(head, definition, self.clock.now())

        return self._control(tenant_id, execution_id, "redrive", change)

    # -- search --------------------------------------------------------------------------

    def search(self, tenant_id: str, limit: int, token: str | None, where: Filter) -> Page:
        if not where.attrs:
            return self.service.list(tenant_id, limit, token, where.states, where.definition_id)
        heads, following = self.find(tenant_id, where, limit, token)
        return Page([head.summary() for head in heads], following)

    def find(self, tenant_id: str, where: Filter, limit: int, token: str | None) -> tuple[list[Execution], str | None]:
        """Up to ``limit`` top-level executions that ``where`` matches, newest first, and the
        token of the next page. With search attributes: the index of the first one, each
        entry's head checked against the whole filter; without: the executions listing."""
        if not where.attrs:
            page = self.executions.list_executions(tenant_id, limit, token, where.states, where.definition_id)
            return [head for head in page.items if where.matches(head)], page.next_token
        index = self.stores.search
        after = index.position(tenant_id, token)
        name, value = next(iter(where.attrs.items()))
        found: list[Execution] = []
        while True:
            keys, more = index.query(tenant_id, name, value, SEARCH_BATCH, after)
            for n, key in enumerate(keys):
                head = self.executions.get(tenant_id, key)
                if head is not None and where.matches(head):
                    found.append(head)
                    if len(found) == limit:
                        following = more is not None or n < len(keys) - 1
                        return found, index.token(tenant_id, key) if following else None
            if more is None:
                return found, None
            after = more
