"""The claim check's I/O: resolve an execution head's references, store its large values.

The processor hydrates a head before the engine runs it and dehydrates the engine's new
head before the conditional commit; the API dehydrates a new execution before creating
it and resolves references before it shows values. A head without references costs no
read, and a value that did not change since it was read costs no write
(sedo/domain/payloads.py: positions, references, content addressing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sedo.domain import limits, payloads
from sedo.domain.errors import Conflict
from sedo.domain.execution import Execution
from sedo.domain.itemreader import ItemReaderError
from sedo.domain.payloads import Claims, Ref
from sedo.service_layer.itemsource import ObjectError, ObjectStore, read_source
from sedo.service_layer.ports import PayloadStore

#: What a fan-out result item holds besides a child's output (index, flags, keys).
RESULT_OVERHEAD_BYTES = 1024


class PayloadMissing(RuntimeError):
    """A reference whose value is not stored (expired, or a bug): the wake-up cannot run."""


class SourceChanged(PayloadMissing, Conflict):
    """A map-over-S3 child's input cannot be read again from its item source as it was (the
    object was replaced or deleted since the map read it): the child fails, naming why."""


class PayloadService:
    def __init__(self, store: PayloadStore, objects: ObjectStore | None = None) -> None:
        self.store = store
        #: Where the inputs of maps over S3 are read again (references with a source).
        self.objects = objects

    # -- reading -------------------------------------------------------------------

    def _texts(self, tenant_id: str, head_key: str, refs: Sequence[Ref]) -> dict[tuple[str, str], str]:
        if not refs:
            return {}
        sourced = {(r.owner(head_key), r.sha256): r for r in refs if r.source is not None}
        wanted = list(dict.fromkeys((r.owner(head_key), r.sha256, r.bytes) for r in refs if r.source is None))
        found = self.store.get(tenant_id, wanted) if wanted else {}
        missing = [f"{key}/{sha}" for key, sha, _ in wanted if (key, sha) not in found]
        if missing:
            raise PayloadMissing(f"values kept apart are not stored (expired?): {', '.join(missing)}")
        return {**found, **{where: self._from_source(ref) for where, ref in sourced.items()}}

    def _from_source(self, ref: Ref) -> str:
        """The stored text of a value referenced at its item source, read and checked."""
        source = ref.source
        assert source is not None
        if self.objects is None:
            raise SourceChanged(f"{source.where()}: cannot be read, no S3 access is configured")
        try:
            text = payloads.encode(read_source(self.objects, source))
        except ObjectError as exc:  # it names the object
            raise SourceChanged(str(exc)) from None
        except ItemReaderError as exc:
            raise SourceChanged(f"{source.where()}, {exc}") from None
        if len(text) != ref.bytes or payloads.digest(text) != ref.sha256:
            raise SourceChanged(f"{source.where()}: the items changed since the map read them")
        return text

    def hydrate(self, head: Execution) -> tuple[Execution, Claims]:
        """The head with its input, stash and output resolved; what was resolved (for
        :meth:`dehydrate`). No references: the same head, and no read."""
        claims = Claims()
        refs = payloads.head_refs(head)
        if not refs:
            return head, claims
        texts = self._texts(head.tenant_id, head.key, refs)
        return payloads.hydrate(head, texts, claims), claims

    def resolve(self, tenant_id: str, head_key: str, value: Any, claims: Claims | None = None) -> Any:
        """A value at a claim position, resolved if it is a reference (and remembered in
        ``claims``: it is stored already)."""
        ref = payloads.as_ref(value)
        if ref is None:
            return value
        return payloads.hydrate_value(head_key, value, self._texts(tenant_id, head_key, [ref]), claims)

    def resolve_items(self, tenant_id: str, head_key: str, values: list[Any]) -> list[Any]:
        """A list whose elements may be references (a fan-out's results), resolved."""
        refs = [r for v in values if (r := payloads.as_ref(v)) is not None]
        if not refs:
            return values
        texts = self._texts(tenant_id, head_key, refs)
        return [payloads.hydrate_value(head_key, v, texts) for v in values]

    def resolve_events(self, tenant_id: str, head_key: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        refs = payloads.event_refs(events)
        if not refs:
            return events
        return payloads.hydrate_events(head_key, events, self._texts(tenant_id, head_key, refs))

    # -- writing -------------------------------------------------------------------

    def dehydrate(self, head: Execution, claims: Claims | None = None) -> Execution:
        """The head as it is stored: its large values written apart (those the store does
        not hold yet), references in their place."""
        stored, new = payloads.dehydrate(head, claims)
        if new:
            self.store.put(head.tenant_id, head.key, new)
        return stored

    def keep(self, tenant_id: str, key: str, value: Any) -> dict[str, Any]:
        """Store one value of execution ``key`` apart; its reference."""
        text = payloads.encode(value)
        sha = payloads.digest(text)
        self.store.put(tenant_id, key, {sha: text})
        return Ref(sha, len(text)).to_value()

    def finished_child(self, stored: Execution, hydrated: Execution | None = None) -> Execution:
        """A finished child as its fan-out records it: its output itself when that fits the
        fan-out's result item, else a reference to where the child keeps it (naming the
        child, as the parent resolves it)."""
        ref = payloads.as_ref(stored.output)
        if ref is None:
            return stored
        value = hydrated.output if hydrated is not None else None
        too_large = ref.bytes > limits.MAX_ITEM_PAYLOAD_BYTES - RESULT_OVERHEAD_BYTES
        if hydrated is None and not too_large:
            value = self.resolve(stored.tenant_id, stored.key, stored.output)
        if too_large or payloads.looks_like_ref(value):
            return replace(stored, output=replace(ref, key=stored.key).to_value())
        return replace(stored, output=value)
