"""Helpers shared by the scenarios: the demo target's API as validated calls, parameter pickers, validators.

The controller puts `locustfiles/` on PYTHONPATH for the master and every
worker (the Helm chart ships this directory next to the scenarios), so a
scenario imports `from lib import Api, Names`. Nothing here imports Locust at
module level, which keeps the validators unit-testable without gevent's
monkey-patching.
"""

from lib.api import Api, Names
from lib.picking import Picker
from lib.validation import validate

__all__ = ["Api", "Names", "Picker", "validate"]
