"""A pytest plugin that prints the fault matrix (faults x execution outcomes) at the end.

Each fault test attaches its row to its report (``record_property("fault_matrix", row)``);
reports travel from xdist workers to the controller, so this works with ``-n`` too.
It is registered by tests/faults/conftest.py in a plain run, and with
``-p tests.faults.matrix`` where the controller collects nothing (``make test``, xdist).

The run's seed comes from ``SEDO_FAULT_SEED`` (random when unset). The plugin picks it
when pytest starts and exports it, so xdist workers (started later, with the
controller's environment) use the same one; the matrix prints it, and
``SEDO_FAULT_SEED=N`` replays the run's fault plans and delivery orders.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from typing import Any

import pytest

PROPERTY = "fault_matrix"
SEED_VARIABLE = "SEDO_FAULT_SEED"


def base_seed() -> int:
    """The run's seed: ``SEDO_FAULT_SEED``, else a fresh one (exported for later readers)."""
    value = os.environ.get(SEED_VARIABLE, "").strip()
    if not value:
        value = str(random.SystemRandom().randrange(1, 2**31))
        os.environ[SEED_VARIABLE] = value
    try:
        return int(value)
    except ValueError:
        raise pytest.UsageError(f"{SEED_VARIABLE} must be an integer, not {value!r}") from None


def scenario_seed(name: str) -> int:
    """A seed per scenario, derived from the run's seed (stable across processes)."""
    digest = hashlib.sha256(f"{base_seed()}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


COLUMNS = [
    ("fault", "fault"),
    ("executions", "executions"),
    ("finished once", "ok"),
    ("lost", "lost"),
    ("forked", "forked"),
    ("bad history", "bad_history"),
    ("stranded", "stranded"),
    ("injected", "injected"),
    ("botocore retries", "retried"),
    ("failed records", "failed_records"),
    ("deliveries", "deliveries"),
    ("seconds", "seconds"),
]


class FaultMatrix:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for name, value in report.user_properties:
            if name == PROPERTY:
                row = json.loads(str(value))
                row["passed"] = report.passed
                self.rows.append(row)

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.rows:
            return
        rows = sorted(self.rows, key=lambda r: r.get("order", 0))
        table = [[h for h, _ in COLUMNS]]
        for row in rows:
            cells = []
            for _, key in COLUMNS:
                value = row.get(key, "")
                if key == "injected" and isinstance(value, dict):
                    value = sum(value.values())
                elif key == "seconds":
                    value = f"{float(value):.1f}"
                cells.append(str(value))
            table.append(cells)
        widths = [max(len(r[i]) for r in table) for i in range(len(COLUMNS))]
        seeds = sorted({str(r["seed"]) for r in rows if "seed" in r})
        title = f"fault matrix: executions x faults (tests/faults), seed {', '.join(seeds) or '?'}"
        terminalreporter.write_sep("=", title)
        for index, cells in enumerate(table):
            terminalreporter.write_line("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
            if index == 0:
                terminalreporter.write_line("  ".join("-" * w for w in widths))
        for row in rows:
            injected = row.get("injected") or {}
            if len(injected) > 1:
                parts = ", ".join(f"{k} {v}" for k, v in sorted(injected.items()))
                terminalreporter.write_line(f"  {row['fault']} injected: {parts}")
        failed = [r["fault"] for r in rows if not r["passed"]]
        verdict = f"FAILED for {', '.join(failed)}" if failed else "every execution finished exactly once"
        terminalreporter.write_line(f"fault matrix: {verdict} (seed {', '.join(seeds)}; replay: {SEED_VARIABLE}=N)")


NAME = "sedo-fault-matrix"


def register(config: pytest.Config) -> None:
    base_seed()  # chosen before xdist starts its workers, which inherit it
    if not config.pluginmanager.has_plugin(NAME):
        config.pluginmanager.register(FaultMatrix(), NAME)


def pytest_configure(config: pytest.Config) -> None:
    """Loaded with ``-p tests.faults.matrix``."""
    register(config)
