"""The console's static files: vendored libraries are exactly the pinned, hashed ones, and the
pages load only files that are there and that the API serves."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from sedo.entrypoints.api import static

STATIC = static.STATIC
LOCK = json.loads((STATIC / "vendored.json").read_text())


def test_every_vendored_file_has_its_recorded_hash() -> None:
    for entry in LOCK:
        assert re.fullmatch(r"\d+\.\d+\.\d+", entry["version"]), entry  # an exact version, not a range
        for name, recorded in entry["files"].items():
            path = STATIC / entry["directory"] / name
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            assert digest == recorded["sha256"], (
                f"{path.relative_to(STATIC)} is not {entry['package']}@{entry['version']}"
            )


def test_nothing_unlisted_is_vendored() -> None:
    listed = {f"{entry['directory']}/{name}" for entry in LOCK for name in entry["files"]}
    present = {p.relative_to(STATIC).as_posix() for p in (STATIC / "vendor").rglob("*") if p.is_file()}
    assert present == listed


def test_vendored_md_names_every_package_at_its_version() -> None:
    text = (STATIC / "VENDORED.md").read_text()
    for entry in LOCK:
        assert f"{entry['package']}]" in text and f"| {entry['version']} |" in text, entry["package"]


def _references(page: Path) -> list[str]:
    text = page.read_text()
    refs = re.findall(r'(?:src|href)="([^"#:]+)"', text) if page.suffix == ".html" else []
    refs += re.findall(r'from "(\./[^"]+)"', text) if page.suffix == ".js" else []
    return refs


def test_pages_load_only_files_the_api_serves() -> None:
    for site, (own, _) in static.SITES.items():
        served = static._files(site)
        for page in (STATIC / own).rglob("*"):
            for ref in _references(page):
                target = (page.parent / ref).resolve().relative_to((STATIC / own).resolve()).as_posix()
                if target.startswith("vendor/"):
                    assert target in served, f"{page.name} loads {ref}, which /sedo/{site}/ does not serve"
                else:
                    assert (STATIC / own / target).is_file(), f"{page.name} loads {ref}, which is missing"


def test_pages_have_no_inline_script_or_style() -> None:
    for page in STATIC.rglob("*.html"):
        text = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), page
        assert "<style" not in text and " style=" not in text and "javascript:" not in text, page
        assert not re.search(r"\son[a-z]+=", text), page  # no inline event handlers


def test_the_console_never_writes_html() -> None:
    for source in (STATIC / "console").glob("*.js"):
        text = source.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert sink not in text, f"{source.name} uses {sink}"


def test_the_readmes_console_screenshots_exist() -> None:
    readme = (static.STATIC.parents[3] / "README.md").read_text()
    section = readme.split("## Console", 1)[1].split("\n## ", 1)[0]
    shots = re.findall(r"\]\((docs/console/[^)]+\.png)\)", section)
    assert len(shots) == 4, shots
    for shot in shots:
        assert (static.STATIC.parents[3] / shot).read_bytes().startswith(b"\x89PNG"), shot
