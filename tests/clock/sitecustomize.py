"""sitecustomize for the faketime pass (tests/clock.sh puts this directory on PYTHONPATH): with
FAKETIME_DONT_FAKE_MONOTONIC=1, libfaketime 0.9.10 makes clock_nanosleep(CLOCK_MONOTONIC,
TIMER_ABSTIME), which is how Python's time.sleep sleeps, fail with EINVAL. Every Python process
of the pass (the tests and the programs they start) sleeps on a condition variable instead,
which waits on the real monotonic clock."""
import threading
import time


def _sleep(seconds):
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    threading.Event().wait(seconds)


time.sleep = _sleep
