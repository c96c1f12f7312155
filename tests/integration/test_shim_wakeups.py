"""test_shim_wakeups: the shim's receive loop coalesces wakeups at a steady UDP rate (one
wakeup reads about a millisecond of datagrams rather than each alone), loses nothing doing
so, and still flushes on time and answers a signal at once while datagrams keep coming."""
import socket
import time

import mbharness as mb
import shimlib

SLACK = mb.SLOW if mb.TSAN else 1  # ThreadSanitizer slows every step several times over


def ctxt_switches(pid):
    """Voluntary context switches of the main thread: the one that polls the socket."""
    with open(f"/proc/{pid}/task/{pid}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches")


def paced(port, n, gap, stop=None):
    """n one-line datagrams, one every gap seconds (busy-waiting: no sleep is that fine)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        t = time.perf_counter()
        for i in range(n):
            while time.perf_counter() < t:
                pass
            s.sendto(b"wake:1|c", ("127.0.0.1", port))
            t += gap
            if stop and stop():
                return i + 1
        return n
    finally:
        s.close()


class ShimWakeupTest(mb.StackTest):
    def test_steady_rate_wakes_far_less_than_once_per_datagram(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        p = self.stack.shim("--flush-interval", "60s")
        port = shimlib.shim_port(self.stack, p)
        before = ctxt_switches(p.pid)
        n = 12000  # over ~1 s: one small datagram every 83 us, the case coalescing is for
        paced(port, n, 1 / n)
        woke = ctxt_switches(p.pid) - before
        # Waking for each datagram (or each few) is thousands; coalescing bounds it near
        # 1000/s.
        self.assertLess(woke, n // 6, f"{woke} wakeups for {n} datagrams")
        p.send_signal(15)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)
        self.assertEqual(shimlib.total(sink.batches(), "wake"), n, "nothing lost")

    def test_flush_and_signal_not_delayed_under_traffic(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        p = self.stack.shim("--flush-interval", "200ms")
        port = shimlib.shim_port(self.stack, p)

        def flushed():
            return sum(1 for b in sink.batches() if not b.get("stop")) >= 4
        t0 = time.monotonic()
        sent = paced(port, 100000, 0.0005, stop=flushed)
        # four 200 ms intervals: well under two seconds even on a busy machine
        self.assertLess(time.monotonic() - t0, 2.0 * SLACK)
        t1 = time.monotonic()
        p.send_signal(15)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)
        self.assertLess(time.monotonic() - t1, 1.0 * SLACK)
        self.assertEqual(shimlib.total(sink.batches(), "wake"), sent)
