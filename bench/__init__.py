"""Benchmarks (`make bench`): figures printed side by side with the reference tools, as ratios.

The engine benchmark runs ``builtin.noop`` steps: a test step kind (tests/support/steps.py), not shipped. The
benchmarks register it as the test suite does, through the entry points of the test distribution in
tests/support/plugins/, put on the path here (before any registry is read)."""

import sys
from pathlib import Path

_TEST_PLUGINS = str(Path(__file__).resolve().parent.parent / "tests" / "support" / "plugins")
if _TEST_PLUGINS not in sys.path:
    sys.path.append(_TEST_PLUGINS)
