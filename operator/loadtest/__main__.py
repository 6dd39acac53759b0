"""`python -m loadtest` is the same as the `loadtest` console script."""

import sys

from loadtest.cli import main

sys.exit(main(sys.argv[1:]))
