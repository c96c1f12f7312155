"""test_remote_write: agentd ships every series over Prometheus remote-write 1.0 to Debian's
real Prometheus (with its remote-write receiver): counters read back exactly through PromQL,
external labels, job and instance, staleness markers when a container ends, timers as histograms
(--remote-write-histograms) read back with histogram_quantile, a receiver outage
and agentd killed -9 (during it and during the backfill) without a hole or a conflicting
sample. test_remote_write_faults.py has the receiver that misbehaves on purpose."""
import time
import unittest

import apilib as al
import mbharness as mb
import rwlib
from rwlib import FAST, JOB, RES, Feeder, contiguous, shim


@unittest.skipUnless(rwlib.PROMETHEUS, "prometheus not installed")
class RealPrometheus(mb.StackTest):
    def ship(self, lines, times, *flags):
        """A real Prometheus, agentd shipping to it with flags, and a container's shim that
        is sent lines times over: the Prometheus."""
        prom = rwlib.Prometheus(self.stack)
        self.stack.agentd("--remote-write", prom.url, *flags, *FAST)
        p, port = shim(self.stack)
        for _ in range(times):
            al.send(port, lines)
            time.sleep(0.3)
        return prom

    def test_counters_exact_labels_and_staleness_through_promql(self):
        s = self.stack
        prom = self.ship(["req:3|c", "temp:21.5|g", "lat:40|ms"], 5, "--remote-write-label", "cluster=east")
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

    def test_timers_as_histograms_read_back_with_histogram_quantile(self):
        prom = self.ship(["lat:40|ms", "lat:40|ms", "lat:400|ms"], 4, "--remote-write-histograms")
        mb.poll(lambda: rwlib.value(prom.query('lat_count{container_id="web-1"}')) == 12,
                timeout=40, interval=0.5, what="lat_count == 12 in Prometheus")
        # the buckets of /metrics with --prometheus-histograms: cumulative, fixed le bounds
        self.assertEqual(rwlib.value(prom.query('lat_bucket{le="25"}')), 0)
        self.assertEqual(rwlib.value(prom.query('lat_bucket{le="50"}')), 8)
        self.assertEqual(rwlib.value(prom.query('lat_bucket{le="250"}')), 8)
        self.assertEqual(rwlib.value(prom.query('lat_bucket{le="500"}')), 12)
        self.assertEqual(rwlib.value(prom.query('lat_bucket{le="+Inf"}')), 12)
        self.assertEqual(len(prom.query('lat_bucket')), 31)
        self.assertAlmostEqual(rwlib.value(prom.query('lat_sum')), 8 * 40 + 4 * 400, delta=1e-6)
        self.assertEqual(prom.query('lat{quantile="0.5"}'), [])  # no summary beside it
        # PromQL's own interpolation over them: rank 6 of 12 in (25, 50] holding 8,
        # rank 10.8 in (250, 500] holding 4 above 8
        q50 = rwlib.value(prom.query('histogram_quantile(0.5, sum by (le) (lat_bucket))'))
        self.assertAlmostEqual(q50, 25 + 25 * 6 / 8, delta=1e-9)
        q90 = rwlib.value(prom.query('histogram_quantile(0.9, sum by (le) (lat_bucket))'))
        self.assertAlmostEqual(q90, 250 + 250 * (10.8 - 8) / 4, delta=1e-9)
        # a timer that goes quiet keeps its buckets' totals, sent every slot while live
        mb.poll(lambda: len(prom.raw('lat_bucket{le="50"}', "5m")[0][1]) >= 3, timeout=40,
                interval=0.5, what="the buckets sent again in the next slots")
        vals = [v for _, v in prom.raw('lat_bucket{le="50"}', "5m")[0][1]]
        self.assertEqual(vals, sorted(vals))
        self.assertEqual(vals[-1], 8)

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


if __name__ == "__main__":
    unittest.main()
