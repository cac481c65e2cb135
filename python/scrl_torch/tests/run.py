"""Runs every test of python/scrl_torch and prints `python: N passed, N failed, N skipped` last
(.ci/run adds these counts to its own line)."""
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
suite = unittest.defaultTestLoader.discover(here, pattern='test_*.py', top_level_dir=here)
result = unittest.TextTestRunner(verbosity=2).run(suite)
failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
skipped = len(result.skipped)
passed = result.testsRun - failed - skipped
print(f'python: {passed} passed, {failed} failed, {skipped} skipped')
sys.exit(1 if failed else 0)
