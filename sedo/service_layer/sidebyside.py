"""Independent AWS calls side by side, on one shared pool of threads, in the caller's context.

A Lambda batch's flush (sedo/service_layer/batchflush.py) ends with calls that depend on
nothing but the history written before them: the outbox sends, the status-change events, the
running slots given back (one write per home shard, sedo/service_layer/quotas.py). Each waits
on the network; made one after another they add up, side by side they take about the longest.

:func:`side_by_side` runs the first call on the calling thread and the rest on the pool, each
in a copy of the caller's context (so the usage meter's count of the requests, a context
variable, sedo/service_layer/observe.py, goes where it would have gone); it returns once all
of them ended, and raises the first failure after all ended. A call made from a pool thread
runs its calls one after another instead (a pool waiting on itself could run out of threads).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
#: Threads of the shared pool: as many calls as a flush makes at once.
WORKERS = 8

_lock = threading.Lock()
_pool: list[ThreadPoolExecutor] = []
_local = threading.local()


def _shared() -> ThreadPoolExecutor:
    with _lock:
        if not _pool:
            _pool.append(ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="sedo-io", initializer=_mark))
        return _pool[0]


def _mark() -> None:
    _local.in_pool = True


def side_by_side(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Every call's result, in order; the calls made at once (see the module's docstring)."""
    if len(calls) <= 1 or getattr(_local, "in_pool", False):
        return [call() for call in calls]
    pool = _shared()
    context = contextvars.copy_context()
    futures: list[Future[T]] = [pool.submit(context.copy().run, call) for call in calls[1:]]
    results: list[T] = []
    error: BaseException | None = None
    try:
        results.append(calls[0]())
    except BaseException as exc:
        error = exc
    for future in futures:
        try:
            results.append(future.result())
        except BaseException as exc:
            error = error or exc
    if error is not None:
        raise error
    return results


__all__ = ["WORKERS", "side_by_side"]
