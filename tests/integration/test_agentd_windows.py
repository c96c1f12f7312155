"""test_agentd_windows: what the store keeps, seen through agentd's sockets: exact counter
totals and 1% quantiles over a range that spans window levels (batches stamped over hours, as
a shim's backlog would be), and disk that stays bounded for a series written far past its
retention."""
import os
import time
import unittest

import mbharness as mb
from agentd_util import mbsend, query, range_sum, send_batch


def percentile(vals, q):
    s = sorted(vals)
    return s[min(len(s) - 1, max(0, int(q * len(s) + 0.999999) - 1))]


class AgentdWindows(mb.StackTest):
    def test_totals_and_quantiles_across_levels(self):
        st = self.stack
        st.agentd("--node-interval", "1h")
        now = int(time.time() * 1000)
        # before the 6 h of the 10 s level: the 1 m level only; on a minute, for the step below
        start = (now - 9 * 3600 * 1000) // 60000 * 60000
        values = []
        batches = 0
        t = start
        seq = 1
        while t < now - 60000:
            vals = [1 + (seq * 37 + k * 11) % 400 for k in range(20)]
            values += vals
            a = send_batch(st, "c:hits:3", "t:lat:" + ",".join(map(str, vals)), cid="lv",
                           inst=12, seq=seq, time=t, iv=10000)
            self.assertEqual(a["st"], 0, a)
            batches += 1
            seq += 1
            t += 7 * 60 * 1000  # every 7 minutes
        span = ["--src", "lv", "--name", "hits", "--from", start - 3600000, "--to", now]
        r = query(st, "range", *span, "--stat", "sum")
        self.assertEqual(r["st"], 200, r)
        self.assertEqual(sum(v for _, v in r["pts"] if v is not None), 3 * batches)
        self.assertLessEqual(len(r["pts"]), 11000)
        # quantiles over the whole span: one point per step. Steps are aligned to the epoch, so
        # a fixed step (12 h) would split the 9 h of data at 00:00 or 12:00 UTC most hours of
        # the day. A step of one minute before `start` (a batch's points belong to the interval
        # that ends at its time) gives the buckets [0, step) and [step, 2 step), the second
        # holding all the data whatever the hour.
        step = start - 60000
        wide = ["--src", "lv", "--name", "lat", "--from", start - 3600000, "--to", now + 3600000,
                "--step", step]
        for stat, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
            r = query(st, "range", *wide, "--stat", stat)
            self.assertEqual(r["st"], 200, r)
            got = [v for _, v in r["pts"] if v is not None]
            self.assertEqual(len(got), 1, r)
            want = percentile(values, q)
            self.assertLessEqual(abs(got[0] - want), 0.01 * want + 1e-9, (stat, got, want))
        r = query(st, "range", *wide, "--stat", "count")
        self.assertEqual(sum(v for _, v in r["pts"] if v is not None), len(values))
        # a range inside the last 6 h reads the 10 s level and agrees with the 1 m level
        recent = now - 5 * 3600 * 1000
        expect = 3 * sum(1 for k in range(batches) if start + k * 420000 >= recent)
        r = query(st, "range", "--src", "lv", "--name", "hits", "--from", recent, "--to", now,
                  "--stat", "sum")
        self.assertEqual(sum(v for _, v in r["pts"] if v is not None), expect)

    def test_disk_bounded_past_retention(self):
        st = self.stack
        st.agentd("--retention", "1s:1m,10s:10m", "--node-interval", "1h")
        data = os.path.join(st.data_dir, "data.mdb")
        # 2,600 one-second intervals ending about now, so the newest are inside the finest
        # window as seen from now
        start = (int(time.time()) - 2600) * 1000

        def write(first, n):
            a = send_batch(st, "c:hits:1", "g:temp:5", cid="ring", inst=44, seq=first,
                           time=start + (first - 1) * 1000, iv=1000, repeat=n)
            self.assertEqual(a["ok"], n, a)
        # both rings full (span + one chunk: 1,240 s at the coarse level), then written past
        # them as far again
        write(1, 1300)
        size1 = os.path.getsize(data)
        write(1301, 1300)
        size2 = os.path.getsize(data)
        # freed pages are reused: once the rings were full, more points cost no more file
        self.assertLessEqual(size2, size1 + 64 * 1024, (size1, size2))
        # the first points have rolled out of every window (a ring keeps its span, rounded up
        # to whole chunks of 64 slots: at most 1,240 s here); the newest are there
        r = query(st, "range", "--src", "ring", "--name", "hits", "--from", start,
                  "--to", start + 400 * 1000, "--stat", "sum")
        self.assertEqual(r["st"], 200, r)
        self.assertEqual([v for _, v in r["pts"] if v is not None], [])
        r = query(st, "range", "--src", "ring", "--name", "hits", "--from",
                  start + 2575 * 1000, "--to", start + 2600 * 1000, "--stat", "sum",
                  "--step", 1000)
        got = [v for _, v in r["pts"] if v is not None]
        self.assertEqual(r["step"], 1000, r)
        self.assertGreaterEqual(len(got), 10, r)
        self.assertTrue(all(v == 1 for v in got), r)

if __name__ == "__main__":
    unittest.main()
