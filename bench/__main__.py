"""``python -m bench`` (``make bench``)."""

import sys

from bench.runs import main

sys.exit(main())
