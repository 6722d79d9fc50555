"""Build one Lambda artifact for ``sam build`` (BuildMethod: makefile, see deploy/Makefile).

    python3 deploy/build.py {api|processor} ARTIFACTS_DIR

What goes in, and nothing else:

- the runtime dependencies the function needs: ``[project.dependencies]`` of
  pyproject.toml, plus the ``api`` extra for the API, at the exact versions pinned in
  requirements.txt (a dependency without a pin fails the build), as wheels for the
  Lambda platform (runtime and architecture read from template.yaml);
- the ``sedo`` package without the local stack, its signing key and the CLI (the
  processor also without the API and ``sedo/auth``), ``processor/`` for the
  processor (the sweeper, ``sedo.entrypoints.sweeper``, is built as a processor:
  the same code), ``openapi/sedo.yaml`` for the API (found there by sedo.config:
  ``<parent of sedo>/openapi/sedo.yaml``);
- bytecode for all of it, compiled by the runtime's own Python version with
  ``unchecked-hash`` invalidation: Lambda's file system is read-only, so pyc files
  that fail a timestamp check (zip round trips change mtimes) would be recompiled in
  memory on every cold start; unchecked pycs are used as they are.

No tests, no moto, no uvicorn, no dev tools. Standard library only: this runs under
whatever Python ``sam build`` finds first; the runtime's interpreter (python3.13
for ``Runtime: python3.13``) is looked up on PATH, then in pyenv, or taken from
``SEDO_BUILD_PYTHON``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"

# Dependencies that are never imported at run time in Lambda (console scripts, build metadata).
DROP_TOP_LEVEL = ("bin",)
# Directories inside dependencies that hold their own test suites or benchmarks.
DROP_NESTED = ("tests", "benchmarks")

# The command line and what only it uses (the API client, the simulator).
CLI_ONLY = ["sedo/entrypoints/cli", "sedo/client.py", "sedo/simulation.py"]
# The price table: the CLI's estimates and the API's usage ledger (GET .../usage) price with it.
PRICE_TABLE = ["sedo/pricing.py", "sedo/prices.yaml"]

KINDS = {
    # kind: (extras, package dirs, excluded paths relative to the repo root, extra files)
    "api": (
        ["api"],
        ["sedo"],
        ["sedo/entrypoints/local", *CLI_ONLY, "sedo/auth/local.py"],
        ["openapi/sedo.yaml"],
    ),
    "processor": (
        [],
        ["sedo", "processor"],
        ["sedo/entrypoints/local", *CLI_ONLY, *PRICE_TABLE, "sedo/entrypoints/api", "sedo/auth"],
        [],
    ),
}


class BuildError(RuntimeError):
    pass


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_and_arch(template: Path = TEMPLATE) -> tuple[str, str]:
    """``("3.13", "x86_64")`` from template.yaml's Globals (one place says which runtime)."""
    text = template.read_text()
    runtime = re.search(r"^\s+Runtime:\s*python(3\.\d+)\s*$", text, re.MULTILINE)
    arch = re.search(r"^\s+Architectures:\s*\[\s*(x86_64|arm64)\s*\]\s*$", text, re.MULTILINE)
    if not runtime or not arch:
        raise BuildError("template.yaml must declare 'Runtime: python3.X' and 'Architectures: [x86_64|arm64]'")
    return runtime.group(1), arch.group(1)


def find_python(version: str) -> str:
    """An interpreter of exactly ``version`` (bytecode is version-specific)."""
    candidates = [os.environ.get("SEDO_BUILD_PYTHON", ""), f"python{version}"]
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates += sorted(str(p) for p in Path(pyenv_root).glob(f"versions/{version}*/bin/python{version}"))
    for candidate in filter(None, candidates):
        path = shutil.which(candidate) or candidate
        try:
            out = subprocess.run(  # noqa: S603 - an interpreter we looked up
                [path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except OSError:
            continue
        if out.returncode == 0 and out.stdout.strip() == version:
            return path
    raise BuildError(f"no python{version} found (the Lambda runtime's version): install it, or set SEDO_BUILD_PYTHON")


def pins(requirements: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==", 1)
            found[_normalize(name.split("[", 1)[0])] = version.strip()
    return found


def requirements_for(extras: list[str]) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in extras:
        wanted += project["optional-dependencies"][extra]
    return wanted


def install(python: str, version: str, arch: str, wanted: list[str], target: Path) -> None:
    platforms = [f"manylinux2014_{arch}", f"manylinux_2_28_{arch}"]
    command = [
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--target",
        str(target),
        "--implementation",
        "cp",
        "--python-version",
        version,
        "--only-binary=:all:",
        "--upgrade",
        "--constraint",
        str(ROOT / "requirements.txt"),
    ]
    for platform in platforms:
        command += ["--platform", platform]
    subprocess.run([*command, *wanted], check=True)  # noqa: S603 - pip with our arguments


def check_pinned(target: Path, pinned: dict[str, str]) -> None:
    """Every installed distribution is one of requirements.txt's pins, at that version."""
    problems = []
    for dist_info in target.glob("*.dist-info"):
        metadata = (dist_info / "METADATA").read_text(errors="replace")
        name = re.search(r"^Name: (.+)$", metadata, re.MULTILINE)
        version = re.search(r"^Version: (.+)$", metadata, re.MULTILINE)
        if not name or not version:
            continue
        key = _normalize(name.group(1).strip())
        if pinned.get(key) != version.group(1).strip():
            problems.append(f"{name.group(1).strip()}=={version.group(1).strip()} (pinned: {pinned.get(key)})")
    if problems:
        raise BuildError("dependencies not pinned in requirements.txt: " + ", ".join(sorted(problems)))


def copy_sources(packages: list[str], excluded: list[str], files: list[str], target: Path) -> None:
    skip = {(ROOT / e).resolve() for e in excluded}

    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory).resolve()
        return {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".pyo")) or (here / n).resolve() in skip}

    for package in packages:
        shutil.copytree(ROOT / package, target / package, ignore=ignore, dirs_exist_ok=True)
    for file in files:
        (target / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / file, target / file)


def prune(target: Path, own: list[str]) -> None:
    for name in DROP_TOP_LEVEL:
        shutil.rmtree(target / name, ignore_errors=True)
    for top in target.iterdir():
        if not top.is_dir() or top.name in own or top.name.endswith(".dist-info"):
            continue
        for nested in DROP_NESTED:
            for path in list(top.rglob(nested)):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
    for cache in list(target.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)


def compile_all(python: str, version: str, target: Path) -> None:
    """Bytecode for every module; a file the runtime cannot compile fails the build, by name."""
    done = subprocess.run(  # noqa: S603 - the runtime's interpreter on our own files
        [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"python{version} cannot compile:\n{done.stdout}{done.stderr}")


def build(kind: str, target: Path) -> None:
    extras, packages, excluded, files = KINDS[kind]
    version, arch = runtime_and_arch()
    python = find_python(version)
    target.mkdir(parents=True, exist_ok=True)
    install(python, version, arch, requirements_for(extras), target)
    check_pinned(target, pins(ROOT / "requirements.txt"))
    copy_sources(packages, excluded, files, target)
    prune(target, packages)
    compile_all(python, version, target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("artifacts_dir", type=Path)
    args = parser.parse_args(argv)
    try:
        build(args.kind, args.artifacts_dir.resolve())
    except (BuildError, subprocess.CalledProcessError) as exc:
        print(f"deploy/build.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
