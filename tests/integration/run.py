"""Runs every tests/integration/test_*.py (unittest), prints one line per test and the
closing line "N passed, N failed". MB_MODE=soak runs only tests marked soak; otherwise those
are skipped. Usage: run.py [pattern]"""
import os
import sys
import time
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)


class Result(unittest.TextTestResult):
    """Also records each test's wall time, so the slow ones are named at the end."""
    times = []

    def startTest(self, test):
        self._t0 = time.monotonic()
        super().startTest(test)

    def stopTest(self, test):
        Result.times.append((time.monotonic() - self._t0, test.id()))
        super().stopTest(test)


def main():
    pattern = sys.argv[1] if len(sys.argv) > 1 else "test_*.py"
    suite = unittest.defaultTestLoader.discover(here, pattern=pattern, top_level_dir=here)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=Result)
    res = runner.run(suite)
    print("slowest:")
    for t, name in sorted(Result.times, reverse=True)[:8]:
        print(f"  {t:6.1f}s {name}")
    failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
    passed = res.testsRun - failed - len(res.skipped)
    print(f"{passed} passed, {failed} failed, {len(res.skipped)} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
