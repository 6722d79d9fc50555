"""Cold import of each built Lambda handler: a measurement, not a test (``make sam-coldstart``).

Each run is a fresh interpreter of the Lambda runtime's Python version, isolated
(``-I -S``: no site-packages, no user site, no PYTHON* variables) with only the built
artifact directory on ``sys.path``, as in Lambda where ``/var/task`` comes first:

- ``import``: importing the handler module;
- ``init``: what a cold start does before the first event is handled: the import, plus
  building the object graph (the API's Connexion app from openapi/sedo.yaml, which
  Lambda does during its init phase; the processor's adapters, on its first event).

No AWS call is made: settings name a local endpoint and invented tables.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from build import ROOT, find_python, runtime_and_arch

BUILD_DIR = ROOT / ".aws-sam" / "build"

PROBE = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
kind, stage = sys.argv[2], sys.argv[3]
start, cpu = time.perf_counter(), time.process_time()
if kind == "api":
    import sedo.entrypoints.api.lambda_handler as module
    if stage == "init":
        module._handler = module._build()
else:
    import processor.handler as module
    if stage == "init":
        try:
            module.handler({"Records": []}, None)
        except Exception:
            pass  # an empty batch is not a valid SQS event; the object graph is built by then
print((time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000)
"""

HANDLERS = {"api": "ApiFunction", "processor": "ProcessorFunction"}

ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "SEDO_ENDPOINT_URL": "http://127.0.0.1:9",
    "SEDO_QUEUE_URL": "http://127.0.0.1:9/123456789012/sedo-coldstart",
    "SEDO_JWT_ISSUER": "https://issuer.example",
    "SEDO_JWT_AUDIENCE": "sedo",
    "POWERTOOLS_SERVICE_NAME": "sedo",
    "POWERTOOLS_METRICS_NAMESPACE": "sedo",
}


def measure(python: str, kind: str, stage: str, runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of ``runs`` cold starts (CPU time hardly moves when other
    processes compete for the cores; wall-clock time does)."""
    artifact = BUILD_DIR / HANDLERS[kind]
    if not artifact.is_dir():
        raise SystemExit(f"{artifact} is missing: run 'make sam-build' first")
    env = {**os.environ, **ENVIRONMENT}
    wall, cpu = [], []
    for _ in range(runs):
        out = subprocess.run(  # noqa: S603 - the runtime's interpreter on our probe
            [python, "-I", "-S", "-c", PROBE, str(artifact), kind, stage],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if out.returncode != 0:
            raise SystemExit(f"{kind} {stage} failed in {artifact}:\n{out.stderr}")
        figures = out.stdout.strip().splitlines()[-1].split()
        wall.append(float(figures[0]))
        cpu.append(float(figures[1]))
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    version, _ = runtime_and_arch()
    python = find_python(version)
    results: dict[str, dict[str, float]] = {}
    for kind in HANDLERS:
        for stage in ("import", "init"):
            wall, cpu = measure(python, kind, stage, args.runs)
            results[f"{kind} {stage}"] = {
                "wall_median_ms": round(statistics.median(wall), 1),
                "wall_min_ms": round(min(wall), 1),
                "wall_max_ms": round(max(wall), 1),
                "cpu_median_ms": round(statistics.median(cpu), 1),
            }
    if args.json:
        print(json.dumps({"python": version, "runs": args.runs, "load": os.getloadavg(), "results": results}, indent=2))
    else:
        print(f"cold start, python{version}, {args.runs} fresh interpreters each (ms; load {os.getloadavg()[0]:.1f}):")
        for name, f in results.items():
            print(
                f"  {name:<17} wall median {f['wall_median_ms']:7.1f}  min {f['wall_min_ms']:7.1f}  "
                f"max {f['wall_max_ms']:7.1f}   cpu median {f['cpu_median_ms']:7.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
