"""The processor's observer seam: one report per wake-up, for benchmarks and metrics.

``WakeUpProcessor(..., observer=...)`` (or ``bootstrap.processor(..., observer=...)``)
calls ``observer.wake_up(report)`` once per ``process`` call, after it returned or
raised, on the thread that processed the wake-up. Without an observer nothing is timed.

What a :class:`WakeReport` holds:

- ``body``, ``kind``: the message body as received and its ``kind`` (``"?"`` if none);
- ``result``: what ``process`` returned (``committed``, ``stale``, ...), or ``error`` if
  it raised (``error`` then holds the exception, which still propagates);
- ``decision``: the engine's :data:`~sedo.domain.engine.Decision`, or None when the
  wake-up never reached the engine (fan-out, sweep, missing execution, poison);
- ``timings`` (seconds): ``total`` (the whole ``process`` call), ``engine`` (inside
  ``advance``, minus synchronous invokes: pure compute) and ``invoke`` (inside the
  invoker, when it is a :class:`TimedInvoker`; compose one into the adapters to get it) and
  ``cpu`` (the processing thread's CPU time, ``time.thread_time``);
- ``lateness`` (seconds): for a ``timer`` wake-up the engine committed on, the clock
  when it ran minus the timer's due time; None otherwise.
- ``usage``: what the wake-up's AWS requests cost, when a meter counts them
  (:func:`count_usage`, called by sedo/entrypoints/metering.py's botocore hook on the
  thread that makes the request): ``requests.<service>.<Operation>``, capacity units,
  SQS billed requests. Empty without a meter.

Nothing here changes what the processor does; it only measures around it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar

from sedo.domain.engine import Commit, Decision
from sedo.domain.execution import WakeUp
from sedo.domain.steps.base import Invoker, InvokeRequest, InvokeResult
from sedo.domain.timefmt import parse_ts

#: ``WakeReport.result`` when ``process`` raised.
ERROR = "error"
T = TypeVar("T")


@dataclass(frozen=True)
class WakeTimings:
    total: float
    engine: float
    invoke: float
    #: CPU time of the processing thread (``time.thread_time``): what the wake-up computed
    #: itself, without the time it waited on AWS or another thread held the interpreter.
    cpu: float = 0.0


@dataclass(frozen=True)
class WakeReport:
    body: Any
    kind: str
    result: str
    decision: Decision | None
    timings: WakeTimings
    lateness: float | None = None
    error: BaseException | None = None
    usage: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FlushReport:
    """One Lambda batch's flush: what its requests used (when a meter counts them,
    sedo/entrypoints/metering.py), the batch's executions per tenant, its wall time (seconds),
    and whether it failed part way."""

    usage: dict[str, float]
    heads: Mapping[str, int]
    seconds: float
    failed: bool = False

    @property
    def calls(self) -> int:
        return round(sum(amount for name, amount in self.usage.items() if name.startswith("requests.")))


class WakeObserver(Protocol):
    def wake_up(self, report: WakeReport) -> None: ...


class Observers:
    """Several observers as one; each is also told when a Lambda batch ends (``batch_done``), if it listens."""

    def __init__(self, *observers: WakeObserver | None) -> None:
        self.observers = [o for o in observers if o is not None]

    def wake_up(self, report: WakeReport) -> None:
        for observer in self.observers:
            observer.wake_up(report)

    def segment_ran(self, commit: Commit) -> None:
        """An iteration of a map in mode inline ran a segment inside another wake-up (no wake-up
        of its own): the observers that count transitions count its, if they listen."""
        for observer in self.observers:
            ran = getattr(observer, "segment_ran", None)
            if ran is not None:
                ran(commit)

    def batch_began(self) -> None:
        for observer in self.observers:
            began = getattr(observer, "batch_began", None)
            if began is not None:
                began()

    def flush_ran(self, report: FlushReport) -> None:
        """The batch's flush ran (sedo/service_layer/batchflush.py): the observers that meter
        share what it used, the benchmark times it, if they listen."""
        for observer in self.observers:
            ran = getattr(observer, "flush_ran", None)
            if ran is not None:
                ran(report)

    def batch_done(self, records: int, seconds: float) -> None:
        for observer in self.observers:
            done = getattr(observer, "batch_done", None)
            if done is not None:
                done(records, seconds)


class PerTenant(Generic[T]):
    """What the wake-ups of one Lambda batch add up to, per tenant; :meth:`take` when the batch
    ends. One per invocation (a context variable, set by :meth:`begin` when the batch begins):
    the batch's executions may run on pool threads, which carry the invocation's context
    (sedo/entrypoints/batch.py), so they add into the same totals, under :attr:`lock`. Outside
    a batch (a caller of ``process`` on its own thread) the thread's context holds them."""

    def __init__(self, fresh: Callable[[], T]) -> None:
        self._fresh = fresh
        self._current: ContextVar[dict[str, T] | None] = ContextVar(f"sedo-per-tenant-{id(self)}", default=None)
        #: Held while adding to the totals: a batch's executions may run side by side.
        self.lock = threading.RLock()

    def begin(self) -> None:
        """A batch begins: fresh totals for this invocation."""
        self._current.set({})

    def _batch(self) -> dict[str, T]:
        batch = self._current.get()
        if batch is None:
            batch = {}
            self._current.set(batch)
        return batch

    def of(self, report: WakeReport) -> T | None:
        """The running totals of the report's tenant; None for a message without one."""
        tenant = report.body.get("tenantId") if isinstance(report.body, dict) else None
        if not isinstance(tenant, str):
            return None
        return self.of_tenant(tenant)

    def of_tenant(self, tenant: str) -> T:
        with self.lock:
            return self._batch().setdefault(tenant, self._fresh())

    def take(self) -> dict[str, T]:
        with self.lock:
            batch = self._batch()
            self._current.set({})
            return batch


class _Trace:
    """What one observed wake-up measured so far (one per ``process`` call)."""

    __slots__ = ("began", "decision", "engine", "invoke", "lateness", "usage")

    def __init__(self) -> None:
        self.began = time.perf_counter()
        self.engine = 0.0
        self.invoke = 0.0
        self.decision: Decision | None = None
        self.lateness: float | None = None
        self.usage: dict[str, float] = {}


_current: ContextVar[_Trace | None] = ContextVar("sedo_wake_trace", default=None)
_usage_lock = threading.Lock()


class _Observed(Protocol):
    observer: WakeObserver | None


S = TypeVar("S", bound=_Observed)
P = ParamSpec("P")


def observed(process: Callable[Concatenate[S, Any, P], str]) -> Callable[Concatenate[S, Any, P], str]:
    """Decorates ``process(self, body, ...)``: reports each call to ``self.observer``."""

    @wraps(process)
    def wrapper(self: S, body: Any, /, *args: P.args, **kwargs: P.kwargs) -> str:
        observer = self.observer
        if observer is None:
            return process(self, body, *args, **kwargs)
        trace = _Trace()
        token = _current.set(trace)
        started, cpu_started = time.perf_counter(), time.thread_time()
        result, error = ERROR, None
        try:
            result = process(self, body, *args, **kwargs)
            return result
        except BaseException as exc:
            error = exc
            raise
        finally:
            total, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
            _current.reset(token)
            kind = body.get("kind") if isinstance(body, dict) else None
            observer.wake_up(
                WakeReport(
                    body=body,
                    kind="?" if kind is None else str(kind),
                    result=result,
                    decision=trace.decision,
                    timings=WakeTimings(total, max(0.0, trace.engine - trace.invoke), trace.invoke, cpu),
                    lateness=trace.lateness,
                    error=error,
                    usage=trace.usage,
                )
            )

    return wrapper


def count_usage(amounts: dict[str, float]) -> bool:
    """Add ``amounts`` to the usage of the wake-up (or metered call, :func:`metered`) this thread
    is processing; False when there is none."""
    trace = _current.get()
    if trace is None:
        return False
    with _usage_lock:  # the calls of one flush run side by side (sedo/service_layer/sidebyside.py)
        for name, amount in amounts.items():
            trace.usage[name] = trace.usage.get(name, 0.0) + amount
    return True


@contextmanager
def metered() -> Iterator[dict[str, float]]:
    """Count the usage of the requests made inside the block (the API's start of an execution)."""
    trace = _Trace()
    token = _current.set(trace)
    try:
        yield trace.usage
    finally:
        _current.reset(token)


def metered_so_far() -> tuple[dict[str, float], float] | None:
    """What the enclosing :func:`metered` block (or observed wake-up) counted so far and its time
    so far (seconds); None outside one."""
    trace = _current.get()
    if trace is None:
        return None
    return dict(trace.usage), time.perf_counter() - trace.began


def timed_engine(wake: WakeUp, now: datetime, decide: Callable[[], Decision]) -> Decision:
    """``decide()`` (the engine's ``advance``), timed for the wake-up's observer if any."""
    trace = _current.get()
    if trace is None:
        return decide()
    started = time.perf_counter()
    try:
        decision = decide()
    finally:
        trace.engine += time.perf_counter() - started
    trace.decision = decision
    if wake.kind == "timer" and wake.due and isinstance(decision, Commit):
        trace.lateness = (now - parse_ts(wake.due)).total_seconds()
    return decision


class TimedInvoker:
    """An :class:`Invoker` decorator: time spent in ``inner`` counts as the wake-up's invoke
    time (and not as engine compute) in its report."""

    def __init__(self, inner: Invoker) -> None:
        self.inner = inner

    def invoke(self, request: InvokeRequest) -> InvokeResult:
        trace = _current.get()
        if trace is None:
            return self.inner.invoke(request)
        started = time.perf_counter()
        try:
            return self.inner.invoke(request)
        finally:
            trace.invoke += time.perf_counter() - started
