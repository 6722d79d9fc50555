"""The local stack as users run it: `sedo local` in a subprocess, driven over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sedo.entrypoints.local.moto import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LocalStack:
    base_url: str
    process: subprocess.Popen[bytes]
    state_dir: Path
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@contextmanager
def running_stack(state: Path, drop_env: tuple[str, ...] = (), **extra_env: str) -> Iterator[LocalStack]:
    """`sedo local` in a subprocess on free ports; stopped with SIGINT (Ctrl-C) afterwards.

    AWS's limits are on as in `make run` (the function timeout, partition throughput;
    README: Settings) unless ``extra_env`` switches them (SEDO_LOCAL_FUNCTION_TIMEOUT=0...).

    ``drop_env`` names variables of this process the stack must not inherit."""
    port = free_port()
    log = state / "stack.log"
    env = {
        **os.environ,
        "SEDO_LOCAL_DIR": str(state),
        "SEDO_PORT": str(port),
        "SEDO_LOG_LEVEL": "WARNING",
        **extra_env,
    }
    for name in drop_env:
        env.pop(name, None)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "sedo.entrypoints.cli", "local"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    stack = LocalStack(f"http://127.0.0.1:{port}", process, state, log)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{stack.base_url}/sedo/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"sedo local did not start:\n{stack.output()}")
        time.sleep(0.2)
    children = _children(process.pid)
    try:
        yield stack
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl-C does
        process.wait(timeout=30)
    for child in children:  # the moto server is gone with it
        assert not Path(f"/proc/{child}").exists() or "zombie" in Path(f"/proc/{child}/status").read_text().lower()


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("sedo-local")) as stack:
        yield stack


@pytest.fixture(scope="module")
def duplicating_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A local stack whose event source mapping hands every batch to the processor twice."""
    with running_stack(tmp_path_factory.mktemp("sedo-local-dup"), SEDO_LOCAL_DUPLICATE_DELIVERY="1") as stack:
        yield stack
