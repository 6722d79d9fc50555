"""What a redriven map or parallel step takes over from its failed attempt (sedo/domain/operate.py)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from sedo.service_layer.ports import IterationCounter, IterationStore

#: Failed attempts whose results a processor keeps at hand for redriven map steps.
REPLAY_CACHE = 4


class Replays:
    """The succeeded results of redriven steps' failed attempts (immutable once failed), cached."""

    def __init__(self, store: IterationStore) -> None:
        self.store = store
        self._cache: OrderedDict[tuple[str, str, int], dict[int, dict[str, Any]]] = OrderedDict()

    def __call__(
        self, tenant_id: str, parent_key: str, counter: IterationCounter, indices: Iterable[int]
    ) -> dict[int, dict[str, Any]]:
        """For a redriven map or parallel step: the results of the failed attempt's iterations
        among ``indices`` that succeeded, which the new attempt takes over instead of running
        them again."""
        old = (counter.meta or {}).get("replay")
        if old is None:
            return {}
        cache_key = (tenant_id, parent_key, int(old))
        if cache_key not in self._cache:
            results = self.store.results(tenant_id, parent_key, int(old))
            self._cache[cache_key] = {int(r["index"]): r for r in results if r.get("succeeded")}
            while len(self._cache) > REPLAY_CACHE:
                self._cache.popitem(last=False)
        succeeded = self._cache[cache_key]
        return {i: succeeded[i] for i in indices if i in succeeded}
