"""A pytest plugin that prints the fault matrix (faults x execution outcomes) at the end.

Each fault test attaches its row to its report (``record_property("fault_matrix", row)``);
reports travel from xdist workers to the controller, so this works with ``-n`` too.
It is registered by tests/faults/conftest.py in a plain run, and with
``-p tests.faults.matrix`` where the controller collects nothing (``make test``, xdist).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

PROPERTY = "fault_matrix"
COLUMNS = [
    ("fault", "fault"),
    ("executions", "executions"),
    ("finished once", "ok"),
    ("lost", "lost"),
    ("forked", "forked"),
    ("bad history", "bad_history"),
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
        terminalreporter.write_sep("=", "fault matrix: executions x faults (tests/faults)")
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
        terminalreporter.write_line(f"fault matrix: {verdict}")


NAME = "sedo-fault-matrix"


def register(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(NAME):
        config.pluginmanager.register(FaultMatrix(), NAME)


def pytest_configure(config: pytest.Config) -> None:
    """Loaded with ``-p tests.faults.matrix``."""
    register(config)
