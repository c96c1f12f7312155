"""test_remote_write: agentd ships every series over Prometheus remote-write 1.0, to Debian's
real Prometheus (with its remote-write receiver) and to a small real receiver of our own that
refuses, fails, throttles, hangs or redirects on purpose: counters read back exactly through
PromQL, external labels, job and instance, the token file, staleness markers when a container
ends, a receiver outage and agentd restarts (kill -9 too) without a hole or a conflicting
sample, slots past --remote-write-max-behind dropped and counted, only refused samples lost."""
import os
import threading
import time
import unittest

import agentd_util as au
import apilib as al
import mbharness as mb
import rwlib

RES = 10.0  # the finest window's slots: samples land on 10 s boundaries
FAST = ["--node-interval", "1s", "--remote-write-interval", "1s",
        "--remote-write-settle", "2s"]
JOB = "import os,socket,time\n" \
      "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n" \
      "a=(os.environ['STATSD_UDP_HOST'],int(os.environ['STATSD_UDP_PORT']))\n" \
      "for i in range(3):\n" \
      "    s.sendto(b'batch.temp:7|g\\nbatch.done:1|c',a)\n" \
      "    time.sleep(1)\n"


def shim(stack, cid="web-1", cmd=None):
    p = stack.shim("--container-id", cid, "--flush-interval", "1s", cmd=cmd)
    return p, (None if cmd else al.shim_port(stack, p))


class Feeder:
    """Sends a counter increment and a gauge every 0.5 s from a thread; counts what it sent."""

    def __init__(self, port, lines_fn):
        self.port, self.lines_fn, self.sent = port, lines_fn, 0
        self.stop_ev = threading.Event()
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        while not self.stop_ev.wait(0.5):
            al.send(self.port, self.lines_fn(self.sent))
            self.sent += 1

    def stop(self):
        self.stop_ev.set()
        self.th.join()


def contiguous(ts, step=RES * 1000):
    """True when the sorted sample times (ms; seconds with step=RES) step by one slot."""
    ts = sorted(ts)
    return len(ts) > 0 and all(abs((b - a) - step) < 1e-6 for a, b in zip(ts, ts[1:]))


@unittest.skipUnless(rwlib.PROMETHEUS, "prometheus not installed")
class RealPrometheus(mb.StackTest):
    def test_counters_exact_labels_and_staleness_through_promql(self):
        s = self.stack
        prom = rwlib.Prometheus(s)
        s.agentd("--remote-write", prom.url,
                 "--remote-write-label", "cluster=east", *FAST)
        p, port = shim(s)
        for _ in range(5):
            al.send(port, ["req:3|c", "temp:21.5|g", "lat:40|ms"])
            time.sleep(0.3)
        # the counter's running total, exactly: 5 x 3
        mb.poll(lambda: rwlib.value(prom.query('req_total{container_id="web-1"}')) == 15,
                timeout=40, interval=0.5, what="req_total == 15 in Prometheus")
        res = prom.query('req_total')
        lab = res[0]["metric"]
        self.assertEqual(lab["job"], "metricsbus")
        self.assertEqual(lab["instance"], lab["hostname"])  # the node
        self.assertTrue(lab["instance"])
        self.assertEqual(lab["cluster"], "east")
        self.assertEqual(rwlib.value(prom.query('temp{container_id="web-1"}')), 21.5)
        q = mb.poll(lambda: rwlib.value(prom.query('lat{quantile="0.99"}')), timeout=20,
                    interval=0.5, what="summary quantile")
        self.assertAlmostEqual(q, 40, delta=0.5)
        self.assertEqual(rwlib.value(prom.query('lat_count')), 5)
        # agentd's own metrics travel too, per receiver
        mb.poll(lambda: rwlib.value(prom.query('agentd_remote_write_samples_sent_total')),
                timeout=20, interval=0.5, what="agentd's remote write counters")
        # a sparse counter is sent every slot while live: no gap in its samples
        def two_minutes_of_req():
            return contiguous([t for _, vs in prom.raw('req_total', "5m") for t, _ in vs], RES)
        self.assertTrue(two_minutes_of_req())
        # a container that ends: its series go stale at once (a marker), not after 5 minutes
        job, _ = shim(s, "job-1", cmd=["/usr/bin/python3", "-c", JOB])
        mb.poll(lambda: rwlib.value(prom.query('batch_temp{container_id="job-1"}')) == 7,
                timeout=40, interval=0.5, what="the job's gauge")
        self.assertEqual(job.wait(timeout=30), 0)
        mb.poll(lambda: prom.query('batch_temp{container_id="job-1"}') == [], timeout=60,
                interval=0.5, what="the ended container's gauge marked stale")
        self.assertEqual(prom.query('batch_done_total{container_id="job-1"}'), [])
        # its history stays
        hist = prom.raw('batch_done_total{container_id="job-1"}', "5m")
        self.assertEqual(max(v for _, vs in hist for _, v in vs), 3)
        # while web-1 goes on
        self.assertEqual(rwlib.value(prom.query('req_total{container_id="web-1"}')), 15)

    def test_outage_restart_and_kill_9_leave_no_hole_and_no_conflict(self):
        s = self.stack
        prom = rwlib.Prometheus(s)
        a = s.agentd("--remote-write", prom.url, *FAST)
        p, port = shim(s)
        feed = Feeder(port, lambda i: ["jobs:1|c", "level:%d|g" % i])
        agentds = [a]
        try:
            mb.poll(lambda: rwlib.value(prom.query('jobs_total')), timeout=40, interval=0.5,
                    what="jobs_total in Prometheus")
            # the receiver stops for 40 s while the container keeps sending
            prom.stop()
            t0, wall_down = time.monotonic(), time.time()
            mb.poll(lambda: "connect" in s.log_of(a).lower(), timeout=30,
                    what="agentd retrying the stopped receiver")
            # agentd killed with -9 mid-shipment (a request unanswered), and started again
            s.stop(a, sig=9)
            a = s.agentd("--remote-write", prom.url, *FAST)
            agentds.append(a)
            mb.poll(lambda: time.monotonic() - t0 >= 40, timeout=60, interval=0.5,
                    what="40 s of outage")
            prom.start()
            wall_up = time.time()
            # and killed again while it backfills the outage
            mb.poll(lambda: prom.query('jobs_total') and
                    rwlib.value(prom.query('jobs_total')) is not None, timeout=60,
                    interval=0.2, what="backfill under way")
            s.stop(a, sig=9)
            a = s.agentd("--remote-write", prom.url, *FAST)
            agentds.append(a)
        finally:
            feed.stop()
        # the counter's total is exact, whatever was resent
        mb.poll(lambda: rwlib.value(prom.query('jobs_total')) == feed.sent, timeout=60,
                interval=0.5, what="jobs_total == %d" % feed.sent)
        # every 10 s slot of the gauge is there, before, during and after the outage
        def level():
            r = prom.raw('level{container_id="web-1"}', "10m")
            return r if r and r[0][1][-1][0] >= wall_up + RES else None
        series = mb.poll(level, timeout=60, interval=0.5, what="the gauge after the outage")
        self.assertEqual(len(series), 1)
        ts = [t for t, _ in series[0][1]]
        self.assertTrue(contiguous(ts, RES), ts)
        self.assertLess(ts[0], wall_down)
        self.assertGreaterEqual(len(ts), 5)  # 40 s of outage: 4 slots at least, all there
        vals = [v for _, v in series[0][1]]
        self.assertEqual(vals, sorted(vals))
        # no conflicting sample: nothing was refused by Prometheus, nothing dropped
        for x in agentds:
            log = s.log_of(x)
            self.assertNotIn("refused", log)
            self.assertNotIn("dropped", log)


class OwnReceiver(mb.StackTest):
    def test_an_outage_past_max_behind_drops_old_slots_and_counts_them(self):
        s = self.stack
        state = {"down": False}
        rcv = rwlib.Receiver(lambda h, series: (503, "down") if state["down"] else None)
        self.addCleanup(rcv.close)
        a = s.agentd("--remote-write", rcv.url, "--remote-write-max-behind", "20s", *FAST)
        p, port = shim(s)
        feed = Feeder(port, lambda i: ["hits:1|c"])
        try:
            mb.poll(lambda: rcv.series("hits_total"), timeout=40, what="first samples")
            state["down"] = True
            t_down = time.time() * 1000
            mb.poll(lambda: "older than --remote-write-max-behind" in s.log_of(a),
                    timeout=90, interval=0.5, what="old slots dropped")
            state["down"] = False
            t_up = time.time() * 1000
            mb.poll(lambda: max(rcv.series("hits_total")) > t_up, timeout=60, interval=0.5,
                    what="shipping again after the outage")
        finally:
            feed.stop()
        times = sorted(rcv.series("hits_total"))
        gap = [t for t in times if t > t_down + RES * 1000 and t < t_up - 40000]
        self.assertEqual(gap, [], "slots older than max-behind were never sent")
        # the running total is still exact: what was dropped is slots, not counts
        mb.poll(lambda: max(rcv.series("hits_total").values()) == feed.sent, timeout=60,
                interval=0.5, what="the total catches up")
        mb.poll(lambda: au.self_total(s, "agentd.remote_write.slots.dropped") >= 1,
                timeout=30, what="dropped slots counted")

    def test_late_points_counted_and_late_counts_folded_into_the_next_sample(self):
        s = self.stack
        rcv = rwlib.Receiver()
        self.addCleanup(rcv.close)
        s.agentd("--remote-write", rcv.url, *FAST)
        mb.poll(lambda: rcv.series("agentd_batches_received_total"), timeout=40,
                what="shipping under way")
        # a batch filed a minute back, in slots already shipped (a shim's late backlog)
        old = int(time.time() * 1000) - 60000
        self.assertEqual(au.send_batch(s, "g:late.gauge:5", "c:late.count:4", cid="old",
                                       time=old)["st"], 0)
        mb.poll(lambda: au.self_total(s, "agentd.remote_write.points.late") >= 1, timeout=30,
                what="the late gauge point counted")
        # the count is not lost: the counter's next sample carries it
        mb.poll(lambda: 4 in rcv.series("late_count_total").values(), timeout=30,
                what="the late count in the next sample")
        self.assertTrue(all(t > old for t in rcv.series("late_count_total")))
        self.assertEqual(rcv.series("late_gauge"), {})  # a shipped slot is not sent again

    def test_token_file_is_sent_and_reread(self):
        s = self.stack
        tok = os.path.join(s.dir, "token")
        with open(tok, "w") as f:
            f.write("first-token\n")
        seen = []

        def behave(h, series):
            seen.append(h.headers.get("Authorization"))
            return None
        rcv = rwlib.Receiver(behave)
        self.addCleanup(rcv.close)
        s.agentd("--remote-write", rcv.url, "--remote-write-token-file", tok, *FAST)
        mb.poll(lambda: "Bearer first-token" in seen, timeout=30, what="the first token")
        h = rcv.headers[-1]
        self.assertEqual(h.get("Content-Encoding"), "snappy")
        self.assertEqual(h.get("X-Prometheus-Remote-Write-Version"), "0.1.0")
        self.assertEqual(h.get("Content-Type"), "application/x-protobuf")
        with open(tok + ".new", "w") as f:
            f.write("second-token")
        os.rename(tok + ".new", tok)
        mb.poll(lambda: "Bearer second-token" in seen, timeout=30, what="the rotated token")

    def test_a_refused_sample_is_the_only_one_lost(self):
        s = self.stack
        bad_times = []

        def behave(h, series):
            # one sample of the poison gauge refused (like a receiver's out-of-bounds sample):
            # the whole request is refused, as Prometheus and Mimir do
            for labels, samples in series:
                if labels.get("__name__") == "poison":
                    for t, v in samples:
                        if v == 13:
                            bad_times.append(t)
                            return (400, "out of bounds: poison at %d" % t)
            return None
        rcv = rwlib.Receiver(behave)
        self.addCleanup(rcv.close)
        a = s.agentd("--remote-write", rcv.url, *FAST)
        p, port = shim(s)
        feed = Feeder(port, lambda i: ["good:1|c", "poison:%d|g" % (13 if i < 25 else 1)])
        try:
            mb.poll(lambda: rcv.series("poison").get(max(rcv.series("poison") or [0])) == 1,
                    timeout=60, interval=0.5, what="shipping past the refused samples")
        finally:
            feed.stop()
        good = rcv.series("good_total")
        self.assertTrue(contiguous(good), sorted(good))
        self.assertTrue(bad_times, "the receiver refused something")
        refused = set(bad_times)
        poison = rcv.series("poison")
        self.assertFalse(refused & set(poison), "no refused sample is stored")
        self.assertTrue(all(v == 1 for v in poison.values()))
        log = s.log_of(a)
        self.assertIn("refused, dropped: out of bounds: poison", log)
        mb.poll(lambda: au.self_total(s, "agentd.remote_write.samples.refused") >= 1,
                timeout=30, what="refused samples counted")

    def test_5xx_that_persists_is_searched_and_429_retried(self):
        s = self.stack
        state = {"n": 0}

        def behave(h, series):
            state["n"] += 1
            if state["n"] <= 3:
                return (429, "slow down")
            for labels, samples in series:
                if labels.get("__name__") == "old" and any(v == 99 for _, v in samples):
                    return (500, "too old")  # Prometheus 2.42 answers 500 for these
            return None
        rcv = rwlib.Receiver(behave)
        self.addCleanup(rcv.close)
        a = s.agentd("--remote-write", rcv.url, *FAST)
        p, port = shim(s)
        feed = Feeder(port, lambda i: ["hits:2|c", "old:%d|g" % (99 if i < 25 else 5)])
        try:
            mb.poll(lambda: 5 in rcv.series("old").values(), timeout=90, interval=0.5,
                    what="shipping past the 500s")
        finally:
            feed.stop()
        self.assertNotIn(99, rcv.series("old").values())
        self.assertTrue(contiguous(rcv.series("hits_total")))
        log = s.log_of(a)
        self.assertIn("HTTP 429 (slow down): retrying", log)
        self.assertIn("refused, dropped: too old", log)

    def test_hung_connection_huge_error_body_and_redirect_loop_do_no_harm(self):
        s = self.stack
        mode = {"m": "hang"}

        def behave(h, series):
            m = mode["m"]
            if m == "hang":
                return "hang"
            if m == "huge":
                return (503, b"x" * (10 << 20))
            if m == "redirect":
                return (302, "see elsewhere")
            return None
        rcv = rwlib.Receiver(behave)
        self.addCleanup(rcv.close)
        a = s.agentd("--remote-write", rcv.url, "--remote-write-timeout", "2s", *FAST)
        p, port = shim(s)
        feed = Feeder(port, lambda i: ["hits:1|c"])
        try:
            for m in ("hang", "huge", "redirect"):
                mode["m"] = m
                n0 = rcv.requests
                mb.poll(lambda: rcv.requests >= n0 + 2, timeout=60, interval=0.2,
                        what=f"two requests answered '{m}'")
                self.assertTrue(s.cli_ok("containers"), "agentd still answers")
            mode["m"] = "ok"
            sent0 = feed.sent
            mb.poll(lambda: rcv.series("hits_total") and
                    max(rcv.series("hits_total").values()) >= sent0, timeout=90, interval=0.5,
                    what="catching up once the receiver behaves")
        finally:
            feed.stop()
        self.assertTrue(contiguous(rcv.series("hits_total")))
        log = s.log_of(a)
        self.assertIn("Timeout was reached", log)
        self.assertIn("HTTP 503 (xxxx", log)
        self.assertIn("HTTP 302", log)
        self.assertIsNone(a.poll())


if __name__ == "__main__":
    unittest.main()
