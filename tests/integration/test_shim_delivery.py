"""test_shim_delivery: the shim's acknowledged delivery against a real REP peer (mbsink):
backlog held while the peer is away and delivered in order when it comes, bounded with the
oldest dropped and counted; resend after an unanswered request; retry on status 3; reject on
status 2; the final flush with stop; the drain timeout when nobody answers."""
import os
import signal
import time

import mbharness as mb
import shimlib


def seqs(batches):
    return [b["seq"] for b in batches]


class ShimDeliveryTest(mb.StackTest):
    def pace(self, port, n, name, every=0.05):
        """n datagrams, a little apart so they spread over several 100ms intervals
        (pacing the load, not synchronising on anything)."""
        for _ in range(n):
            shimlib.send(port, f"{name}:1|c")
            time.sleep(every)

    def test_backlog_delivered_in_order_when_peer_comes_late(self):
        p = self.stack.shim("--flush-interval", "100ms")
        port = shimlib.shim_port(self.stack, p)
        self.pace(port, 20, "late")
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        shimlib.send(port, "marker:1|c")
        mb.poll(lambda: shimlib.total(sink.batches(), "marker") == 1, what="marker delivered")
        b = sink.batches()
        s = seqs(b)
        self.assertEqual(s, sorted(set(s)), "in order, no repeats")
        self.assertEqual(s[0], 1, "nothing dropped with the default backlog")
        self.assertEqual(s, list(range(1, len(s) + 1)))
        self.assertEqual(shimlib.total(b, "late"), 20)
        self.assertEqual(shimlib.total(b, "metricsbus.shim.dropped_batches"), 0)
        ts = [x["t"] for x in b]
        self.assertEqual(ts, sorted(ts), "each batch keeps its own interval's time")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)
        self.assertTrue(shimlib.stopped(sink.batches()))

    def test_backlog_bounded_oldest_dropped_and_counted(self):
        p = self.stack.shim("--flush-interval", "50ms", "--backlog", "4KiB")
        port = shimlib.shim_port(self.stack, p)
        self.pace(port, 20, "late")
        sink = shimlib.Sink(self.stack, self.stack.ingest)

        def marker():
            # sent again until one arrives: a marker queued before the dialer reconnects
            # may itself be pushed out of the small backlog
            shimlib.send(port, "marker:1|c")
            return shimlib.total(sink.batches(), "marker") >= 1
        mb.poll(marker, interval=0.2, what="marker delivered")
        shimlib.send(port, "marker2:1|c")
        mb.poll(lambda: shimlib.total(sink.batches(), "marker2") == 1, what="marker2 delivered")
        b = sink.batches()
        s = seqs(b)
        self.assertEqual(s, sorted(set(s)), "in order, no repeats")
        self.assertEqual(s[1:], list(range(s[1], s[-1] + 1)), "none lost once connected")
        # The first batch was on the wire, then the oldest of the rest were dropped:
        # what was held stayed within 4 KiB (a few batches), not the 20+ made.
        self.assertGreater(s[1], 2, "the oldest batches were dropped")
        gap = sum(y - x - 1 for x, y in zip(s, s[1:]))
        self.assertEqual(shimlib.total(b, "metricsbus.shim.dropped_batches"), gap,
                         "every dropped batch is counted")
        self.assertLess(shimlib.total(b, "late"), 20)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)

    def test_resend_after_unanswered_request(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest, "--skip", "1")
        p = self.stack.shim("--flush-interval", "200ms")
        port = shimlib.shim_port(self.stack, p)
        shimlib.send(port, "once:5|c")
        mb.poll(lambda: len(set(seqs(sink.batches()))) >= 3, timeout=15,
                what="delivery going on after the resend")
        b = sink.batches()
        s = seqs(b)
        self.assertEqual(s[0], 1)
        self.assertEqual(s[1], 1, "the unanswered batch is sent again")
        self.assertEqual(b[0], b[1], "the same bytes, decoded")
        self.assertEqual(s[1:], sorted(set(s[1:])), "then in order, once each")
        self.assertEqual(shimlib.total(b[1:], "once"), 5)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)

    def test_resend_on_reconnect_to_a_new_peer(self):
        """The peer dies holding a request (like agentd killed -9 before its commit): the
        batch is sent again to the next peer, and nothing is lost or skipped."""
        dead = shimlib.Sink(self.stack, self.stack.ingest, "--no-ack")
        p = self.stack.shim("--flush-interval", "200ms")
        port = shimlib.shim_port(self.stack, p)
        shimlib.send(port, "rc:7|c")
        mb.poll(lambda: 1 in seqs(dead.batches()), what="first batch at the dead peer")
        dead.stop()
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        mb.poll(lambda: len(sink.batches()) >= 5, timeout=20, what="delivery to the new peer")
        s = seqs(sink.batches())
        self.assertEqual(s[0], 1, "the unanswered batch first")
        self.assertEqual(s, sorted(set(s)))
        self.assertEqual(s, list(range(1, len(s) + 1)), "none skipped")
        self.assertEqual(shimlib.total(sink.batches(), "rc"), 7)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)

    def test_status_3_keeps_and_retries(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest, "--status", "3")
        p = self.stack.shim("--flush-interval", "100ms", "--drain-timeout", "100ms")
        mb.poll(lambda: seqs(sink.batches()).count(1) >= 3, what="retries of batch 1")
        self.assertEqual(set(seqs(sink.batches())), {1}, "nothing after it until it is taken")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)

    def test_status_2_forgotten_and_counted(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest, "--status", "2")
        p = self.stack.shim("--flush-interval", "100ms")
        mb.poll(lambda: shimlib.total(sink.batches(), "metricsbus.shim.rejected_batches") >= 1,
                what="rejections counted")
        s = seqs(sink.batches())
        self.assertEqual(s, sorted(set(s)), "a rejected batch is not sent again")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)
        self.assertIn("rejected by mbsink", self.stack.log_of(p))

    def test_drain_timeout_when_nobody_answers(self):
        p = self.stack.shim("--flush-interval", "10s", "--drain-timeout", "300ms",
                            cmd=["/bin/sh", "-c", "exit 5"])
        t0 = time.monotonic()
        self.assertEqual(shimlib.wait_exit(self.stack, p), 5)
        self.assertLess(time.monotonic() - t0, 5 * (3 if mb.SANITIZED else 1))
        self.assertIn("not acknowledged", self.stack.log_of(p))

    def test_drain_timeout_when_peer_never_answers(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest, "--no-ack")
        p = self.stack.shim("--flush-interval", "10s", "--drain-timeout", "300ms",
                            cmd=["/bin/sh", "-c", "exit 4"])
        t0 = time.monotonic()
        self.assertEqual(shimlib.wait_exit(self.stack, p), 4)
        self.assertLess(time.monotonic() - t0, 3 * (3 if mb.SANITIZED else 1))
        self.assertTrue(shimlib.stopped(sink.batches()), "the stop batch was sent")

    def test_final_flush_waits_for_ack(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        client = ("import os, socket\n"
                  "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                  "s.sendto(b'last:9|c', (os.environ['STATSD_UDP_HOST'], "
                  "int(os.environ['STATSD_UDP_PORT'])))\n")
        p = self.stack.shim("--flush-interval", "60s", cmd=["/usr/bin/python3", "-c", client])
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)
        b = sink.batches()
        self.assertEqual(len(b), 1)
        self.assertTrue(b[0]["stop"])
        self.assertEqual(shimlib.total(b, "last"), 9)

    def test_big_interval_split_under_1mib(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        p = self.stack.shim("--flush-interval", "60s")
        port = shimlib.shim_port(self.stack, p)
        n = 30000
        tag = "t" * 100
        for i in range(0, n, 50):
            shimlib.send(port, *["split.series.%06d:1|c|#k:%s" % (j, tag) for j in range(i, i + 50)])
        p.send_signal(signal.SIGTERM)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)
        b = sink.batches()
        self.assertGreater(len(b), 3, "over 1 MiB of records: several batches")
        self.assertTrue(all(x["bytes"] <= 1 << 20 for x in b))
        self.assertEqual(seqs(b), list(range(1, len(b) + 1)))
        self.assertEqual(len({x["t"] for x in b}), 1, "one interval, one time")
        self.assertEqual([x["stop"] for x in b], [False] * (len(b) - 1) + [True])
        names = [r["name"] for r in shimlib.records(b, kind="counter") if r["name"].startswith("split.")]
        self.assertEqual(len(names), n)
        self.assertEqual(len(set(names)), n)

    def test_instance_ids_differ(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        for _ in range(2):
            p = self.stack.shim("--flush-interval", "60s", cmd=["/bin/true"])
            self.assertEqual(shimlib.wait_exit(self.stack, p), 0)
        b = sink.batches()
        self.assertEqual(len(b), 2)
        self.assertNotEqual(b[0]["inst"], b[1]["inst"])
        self.assertEqual([x["seq"] for x in b], [1, 1])
