"""``make fuzz``: the long schemathesis run against a local API backed by moto.

Everything binds to 127.0.0.1 and stops with the run. ``FUZZ_EXAMPLES`` (default 200)
sets the examples per operation, ``FUZZ_SEED`` the seed; the JUnit report is written
to .local/fuzz/. Exit status: schemathesis's (0 when every check passed).
"""

from __future__ import annotations

import logging
import os
import sys

from sedo.config import REPO_ROOT
from sedo.entrypoints.local.moto import MotoServer, provision, use_local_credentials
from tests.fuzz import runner


def main() -> int:
    examples = int(os.environ.get("FUZZ_EXAMPLES", "200"))
    seed = int(os.environ.get("FUZZ_SEED", "7"))
    directory = REPO_ROOT / ".local" / "fuzz"
    directory.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.CRITICAL)  # the API's own request logs would drown the report
    use_local_credentials()
    with MotoServer() as moto:
        settings = provision(moto.endpoint, stage="fuzz", parameters={"QueueVisibilityTimeoutSeconds": "5"})
        with runner.fuzz_target(settings) as target:
            print(f"fuzzing {target.base_url} with {examples} examples per operation (seed {seed})", flush=True)
            result = runner.run(
                target,
                directory,
                max_examples=examples,
                seed=seed,
                checks=runner.FULL_CHECKS,
                deterministic=False,
                capture=False,
            )
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
