"""The malformed-definition corpus: each file and the problems it declares (see README.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Expected:
    path: str
    fragment: str | None = None

    def __str__(self) -> str:
        return f"{self.path} {self.fragment}" if self.fragment else self.path


@dataclass(frozen=True)
class Case:
    file: Path
    expected: tuple[Expected, ...]
    xfail: str | None = None
    xfail_http: str | None = None

    @property
    def name(self) -> str:
        return self.file.name

    @property
    def media_type(self) -> str:
        return "application/json" if self.file.suffix == ".json" else "application/yaml"

    @property
    def body(self) -> bytes:
        return self.file.read_bytes()


def _header(file: Path) -> list[str]:
    """The declaration lines: a JSON file's sibling ``.expect`` file, or a YAML file's leading comments."""
    if file.suffix == ".json":
        lines = file.with_name(file.name + ".expect").read_text().splitlines()
    else:
        # latin-1 never fails, so a corpus file that is deliberately not UTF-8 still declares itself.
        lines = []
        for line in file.read_bytes().decode("latin-1").splitlines():
            if not line.startswith("#"):
                break
            lines.append(line)
    return [line[1:].strip() for line in lines if line.startswith("#")]


def load(file: Path) -> Case:
    expected: list[Expected] = []
    xfail = xfail_http = None
    for line in _header(file):
        key, _, value = line.partition(":")
        value = value.strip()
        if key == "expect":
            path, _, fragment = value.partition(" ")
            expected.append(Expected(path, fragment.strip() or None))
        elif key == "xfail":
            xfail = value
        elif key == "xfail-http":
            xfail_http = value
    return Case(file, tuple(expected), xfail, xfail_http)


def cases() -> list[Case]:
    return [load(f) for f in sorted(HERE.iterdir()) if f.suffix in SUFFIXES]


def normalise(path: str) -> str:
    """The API writes the document root as ``/``; the language as ``""``."""
    return path or "/"


def mismatch(case: Case, reported: Iterable[tuple[str, str]]) -> str | None:
    """Why ``reported`` (path, message) pairs differ from what ``case`` declares, or None."""
    actual = [(normalise(path), message) for path, message in reported]
    want = sorted(e.path for e in case.expected)
    got = sorted(path for path, _ in actual)
    lines = [f"- {path}: {message}" for path, message in actual]
    if want != got:
        missing = _minus(want, got)
        extra = _minus(got, want)
        return (
            f"{case.name}: reported paths differ from the declared ones\n"
            f"  missing: {missing}\n  unexpected: {extra}\n  reported:\n    " + "\n    ".join(lines)
        )
    for path in sorted(set(want)):
        fragments = [e.fragment for e in case.expected if e.path == path]
        messages = [m for p, m in actual if p == path]
        if not _match(fragments, messages):
            return f"{case.name}: at {path}, messages {messages} do not contain {fragments} (one each)"
    return None


def _minus(a: list[str], b: list[str]) -> list[str]:
    rest = list(b)
    out = []
    for item in a:
        if item in rest:
            rest.remove(item)
        else:
            out.append(item)
    return out


def _match(fragments: list[str | None], messages: list[str]) -> bool:
    """Each fragment matched by a different message (small lists: try every assignment)."""
    if not fragments:
        return True
    head, tail = fragments[0], fragments[1:]
    for index, message in enumerate(messages):
        fits = head is None or head.lower() in message.lower()
        if fits and _match(tail, messages[:index] + messages[index + 1 :]):
            return True
    return False
