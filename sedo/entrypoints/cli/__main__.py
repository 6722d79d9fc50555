import sys

from sedo.entrypoints.cli import main

sys.exit(main())
