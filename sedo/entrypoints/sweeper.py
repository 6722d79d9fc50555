"""The sweeper's entrypoint: a scheduled Lambda on AWS (template.yaml), a thread of ``make run``.

Each run re-sends the wake-ups of executions whose messages are overdue and sends the
deferred timers that came within SQS's reach (sedo/service_layer/sweeper.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sedo import bootstrap
from sedo.config import Settings
from sedo.service_layer.sweeper import Sweeper

log = logging.getLogger("sedo.sweeper")

_sweeper: Sweeper | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entrypoint (an EventBridge schedule); builds its graph once per container."""
    global _sweeper
    if _sweeper is None:
        settings = Settings.from_env()
        _sweeper = bootstrap.sweeper(bootstrap.aws_adapters(settings), settings)
    report = _sweeper.sweep()
    _stranded(len(report.executions))
    return report.as_dict()


def _stranded(count: int) -> None:
    """The StrandedExecutions metric (sedo/entrypoints/metrics.py; template.yaml alarms on it)."""
    from sedo.entrypoints import metrics

    if metrics.metrics_enabled():
        metrics.stranded(metrics.Emitter(), count)


class SweeperThread:
    """``make run``'s sweeper: the same service every ``seconds``, until stopped."""

    def __init__(self, sweep: Callable[[], Any], seconds: float) -> None:
        self._sweep = sweep
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sedo-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self._sweep()
            except Exception:  # a failed sweep is retried at the next tick
                log.exception("sweep failed")
