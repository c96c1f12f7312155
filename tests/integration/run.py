"""Runs every tests/integration/test_*.py (unittest), a few files at a time (MB_JOBS, default 3:
the tests mostly wait on real processes, not on the CPU), prints each file's output as it
finishes, the slowest tests, and the closing line "N passed, N failed".
MB_MODE=soak runs only tests marked soak; otherwise those are skipped.
MB_CLOCK_AT=EPOCH_SECONDS runs each file under faketime, its wall clock starting at that instant
(only the wall clock: FAKETIME_DONT_FAKE_MONOTONIC=1); tests/clock.sh sets it.
Usage: run.py [pattern...]     (run.py --one FILE runs one file: used by the pool)"""
import concurrent.futures
import glob
import json
import os
import subprocess
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


def run_one(path):
    """Runs one file in this process; the last line is a JSON summary for the pool."""
    suite = unittest.defaultTestLoader.discover(here, pattern=os.path.basename(path),
                                                top_level_dir=here)
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=Result)
    res = runner.run(suite)
    failed = len(res.failures) + len(res.errors) + len(res.unexpectedSuccesses)
    passed = res.testsRun - failed - len(res.skipped)
    sys.stdout.flush()
    print(json.dumps({"passed": passed, "failed": failed, "skipped": len(res.skipped),
                      "times": Result.times}))
    return 1 if failed else 0


def clock_prefix():
    """faketime's command line, when MB_CLOCK_AT asks for one: the offset is taken as the file
    starts, so that every file (and every process it starts) begins at that instant."""
    at = os.environ.get("MB_CLOCK_AT")
    if not at:
        return [], None
    # FORCE_MONOTONIC_FIX=0: with it (libfaketime 0.9.10's default on this glibc) a
    # pthread_cond_timedwait on CLOCK_MONOTONIC returns at once, its deadline shifted by the
    # offset as if it were wall time.
    env = dict(os.environ, FAKETIME_DONT_FAKE_MONOTONIC="1", FAKETIME_FORCE_MONOTONIC_FIX="0",
               PYTHONPATH=os.path.join(os.path.dirname(here), "clock") +
               (":" + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else ""))
    return ["faketime", "-f", "%+d" % round(float(at) - time.time())], env


def run_file(path):
    t0 = time.monotonic()
    prefix, env = clock_prefix()
    p = subprocess.run(prefix + [sys.executable, os.path.abspath(__file__), "--one", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = p.stdout.rstrip("\n").split("\n")
    try:
        summary = json.loads(lines[-1])
        lines = lines[:-1]
    except (ValueError, IndexError):
        summary = {"passed": 0, "failed": 1, "skipped": 0, "times": []}
        lines.append(f"{os.path.basename(path)}: crashed (exit {p.returncode})")
    return path, "\n".join(lines), summary, time.monotonic() - t0


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        return run_one(sys.argv[2])
    patterns = sys.argv[1:] or ["test_*.py"]
    files = sorted({f for p in patterns for f in glob.glob(os.path.join(here, p))})
    jobs = int(os.environ.get("MB_JOBS", "3"))
    passed = failed = skipped = 0
    times = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for path, out, s, took in pool.map(run_file, files):
            print(f"---- {os.path.basename(path)} ({took:.1f}s)")
            print(out, flush=True)
            passed += s["passed"]
            failed += s["failed"]
            skipped += s["skipped"]
            times += s["times"]
    print("slowest:")
    for t, name in sorted(times, reverse=True)[:8]:
        print(f"  {t:6.1f}s {name}")
    print(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
