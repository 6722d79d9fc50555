"""Lambda's function timeout on the local stack.

Lambda kills an invocation that outlives its timeout: nothing it would do afterwards
happens. A Python thread cannot be killed, so the local stack draws the line where the
invocation could still change anything, at its AWS calls: :func:`run_with_deadline` gives
the invocation's thread a deadline and :func:`guard` makes every AWS request that thread
sends after the deadline raise :class:`FunctionTimedOut` before it leaves the process (a
request already on the wire completes, as one would on AWS when the function is killed).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sedo.config import REPO_ROOT
from sedo.template import load_template

T = TypeVar("T")
_local = threading.local()


class FunctionTimedOut(BaseException):
    """The invocation ran past its function timeout: Lambda would have killed it.

    A BaseException, like the kill it stands for: the processor's ``except Exception``
    handlers (per-record error handling) must not carry on as if one call had failed."""


def current_deadline() -> float | None:
    """The calling thread's deadline (``time.monotonic()`` seconds), if it runs an invocation."""
    value: float | None = getattr(_local, "deadline", None)
    return value


@contextmanager
def deadline(at: float | None) -> Iterator[None]:
    """Run the block with ``at`` as this thread's deadline (``None``: no deadline)."""
    previous = current_deadline()
    _local.deadline = at
    try:
        yield
    finally:
        _local.deadline = previous


def check() -> None:
    at = current_deadline()
    if at is not None and time.monotonic() >= at:
        raise FunctionTimedOut("the function's timeout has passed; this AWS call is not sent")


def guard(client: Any) -> Any:
    """Make ``client`` refuse requests from a thread whose deadline has passed: before it
    builds one (so nothing else on the client acts on it) and before each attempt is sent
    (botocore's retries included)."""

    def refuse(**_: Any) -> None:
        check()

    client.meta.events.register("before-parameter-build", refuse)
    client.meta.events.register("before-send", refuse)
    return client


def run_with_deadline(call: Callable[[], T], timeout: float | None) -> tuple[bool, T | None, BaseException | None]:
    """Run ``call`` in its own thread with a deadline ``timeout`` seconds away.

    Returns (finished in time, its result, the exception it raised). When the timeout
    passes first this returns at once, as Lambda does; the thread is left to finish on its
    own, unable to reach AWS. ``timeout`` None or 0: run in this thread, without a deadline.
    """
    if not timeout:
        try:
            return True, call(), None
        except Exception as exc:
            return True, None, exc
    done = threading.Event()
    outcome: dict[str, Any] = {}
    at = time.monotonic() + timeout

    def target() -> None:
        with deadline(at):
            try:
                outcome["result"] = call()
            except BaseException as exc:  # the kill (FunctionTimedOut) included
                outcome["error"] = exc
            finally:
                done.set()

    threading.Thread(target=target, name="sedo-invocation", daemon=True).start()
    if not done.wait(timeout) or time.monotonic() >= at:
        return False, None, None
    return True, outcome.get("result"), outcome.get("error")


# -- how long -----------------------------------------------------------------------------


TIMEOUT_PARAMETER = "ProcessorTimeoutSeconds"
TIMEOUT_VARIABLE = "SEDO_LOCAL_FUNCTION_TIMEOUT"


def template_timeout(
    parameters: Mapping[str, str] | None = None, template: Path = REPO_ROOT / "template.yaml"
) -> float:
    """The processor's function timeout as the stack is deployed: the parameter's value or default."""
    if parameters and TIMEOUT_PARAMETER in parameters:
        return float(parameters[TIMEOUT_PARAMETER])
    document = load_template(template)
    return float(document["Parameters"][TIMEOUT_PARAMETER]["Default"])


def function_timeout(parameters: Mapping[str, str] | None = None) -> float:
    """The timeout the local stack gives each processor invocation, in seconds.

    ``SEDO_LOCAL_FUNCTION_TIMEOUT`` overrides the template's value; 0 switches it off."""
    configured = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if configured:
        try:
            value = float(configured)
        except ValueError:
            raise ValueError(
                f"{TIMEOUT_VARIABLE} must be a number of seconds (0: no timeout), not {configured!r}"
            ) from None
        if value < 0:
            raise ValueError(f"{TIMEOUT_VARIABLE} must not be negative, not {configured!r}")
        return value
    return template_timeout(parameters)
