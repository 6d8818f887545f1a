"""The test suite.

Its modules as pytest rewrites them (assertion rewriting took 10 s of every worker's start) and the platform's
modules are kept as bytecode even where the environment asks for none (``PYTHONDONTWRITEBYTECODE``): the suite's
processes then compile each module once, not once per process and run.
"""

import sys

sys.dont_write_bytecode = False
