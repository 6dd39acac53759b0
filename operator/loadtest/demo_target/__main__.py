"""`python -m loadtest.demo_target demo-target [...]`: the subcommand without the lead's CLI."""

import sys

from loadtest.demo_target.cli import main

sys.exit(main(sys.argv[1:]))
