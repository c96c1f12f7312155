"""test_api_range: /v1/range and /v1/series on real data: times as unix seconds, RFC3339 and
relative, stats, tag filters and merging, null points, the step, the 11,000-point limit."""
import json
import time
import unittest
import urllib.parse

import apilib as al
import mbharness as mb


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Range(mb.StackTest):
    def setUp(self):
        super().setUp()
        self.agentd, self.api, self.shim, self.port = al.start(self.stack)

    def range(self, expect=200, **params):
        st, body = self.stack.http_json("/v1/range?" + urllib.parse.urlencode(params))
        self.assertEqual(st, expect, body)
        return body

    def total(self, **params):
        body = self.range(**params)
        return sum(v for _, v in body["points"] if v is not None)

    def test_range_shape_and_sum(self):
        body = self.range(source=al.CID, name="req", stat="sum", **{"from": "-5m"})
        self.assertEqual(set(body), {"name", "source", "step", "stat", "points"})
        self.assertEqual((body["name"], body["source"], body["stat"]), ("req", al.CID, "sum"))
        self.assertEqual(body["step"], "10s")
        pts = body["points"]
        self.assertGreaterEqual(len(pts), 30)
        self.assertLessEqual(len(pts), 32)
        self.assertTrue(all(len(p) == 2 and isinstance(p[0], int) for p in pts))
        self.assertTrue(all(b[0] - a[0] == 10 for a, b in zip(pts, pts[1:])))
        self.assertIn(None, [v for _, v in pts], "slots without data are null")
        self.assertEqual(sum(v for _, v in pts if v is not None), 6)

    def test_times_unix_rfc3339_and_relative(self):
        now = time.time()
        self.assertEqual(self.total(source=al.CID, name="req", stat="sum",
                                    **{"from": str(int(now - 300)), "to": rfc3339(now + 60)}), 6)
        self.assertEqual(self.total(source=al.CID, name="req", stat="sum",
                                    **{"from": rfc3339(now - 300), "to": "now"}), 6)
        self.assertEqual(self.total(source=al.CID, name="req", stat="sum",
                                    **{"from": "-1h", "to": "+1m"}), 6)
        body = self.range(source=al.CID, name="req", stat="sum", step="1m", **{"from": "-1h"})
        self.assertEqual(body["step"], "1m")
        self.assertEqual(sum(v for _, v in body["points"] if v is not None), 6)

    def test_window_and_step_do_not_depend_on_milliseconds(self):
        """`from` exactly 7 days (or 6 hours) back, as the bridge and the CLI compute a
        relative time: agentd's clock has moved on by the time it reads the query, which
        must not push it to a coarser window."""
        for _ in range(6):
            now = time.time()
            body = self.range(source="node", name="cpu.total", step="10s",
                              **{"from": "%.3f" % (now - 7 * 86400)})
            self.assertEqual(body["step"], "1m")
            self.assertIn(len(body["points"]), (10080, 10081))
            body = self.range(source="node", name="cpu.total",
                              **{"from": "%.3f" % (now - 6 * 3600)})
            self.assertEqual(body["step"], "50s")
            self.assertEqual(self.range(source="node", name="cpu.total", step="10s",
                                        **{"from": "-7d"})["step"], "1m")
            r = self.stack.cli("range", "node", "cpu.total", "--from", "-7d", "--step", "10s")
            self.assertEqual(r.stdout.splitlines()[0], "node cpu.total mean every 1m", r.stderr)
            r = self.stack.cli("--json", "range", "node", "cpu.total", "--from", "-6h")
            self.assertIn('"step":"50s"', r.stdout)

    def test_plus_may_be_written_unescaped_in_times(self):
        """'+' in a query string is a space (to=+0s, an RFC 3339 offset): where a time is
        expected, a space is read as the '+' it was."""
        st, _, raw = self.stack.http(f"/v1/range?source={al.CID}&name=req&stat=sum&from=-5m"
                                     "&to=+0s")
        self.assertEqual(st, 200, raw)
        now = time.time()
        local = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - 300 + 3600)) + "+01:00"
        for frm in (local, local.replace("+", "%2B")):
            st, _, raw = self.stack.http(f"/v1/range?source={al.CID}&name=req&stat=sum"
                                         f"&from={frm}&to=%2B1m")
            self.assertEqual(st, 200, raw)
            self.assertEqual(sum(v for _, v in json.loads(raw)["points"] if v is not None), 6)
        st, _, raw = self.stack.http(f"/v1/range?source={al.CID}&name=req&from=++5m")
        self.assertEqual(st, 400, raw)

    def test_stats_of_a_timer(self):
        def one(stat):
            body = self.range(source=al.CID, name="lat", stat=stat, **{"from": "-5m"})
            vals = [v for _, v in body["points"] if v is not None]
            self.assertEqual(len(vals), 1, body)
            return vals[0]
        self.assertEqual(one("count"), 4)
        self.assertEqual(one("sum"), 100)
        self.assertEqual(one("mean"), 25)
        self.assertEqual(one("min"), 10)
        self.assertEqual(one("max"), 40)
        # 4 samples: the sketch's rank rule picks the 3rd or 4th (within its 1%)
        p50, p99, p999 = one("p50"), one("p99"), one("p999")
        self.assertTrue(9.8 <= p50 <= 30.5, p50)
        self.assertTrue(29.5 <= p99 <= 40.5, p99)
        self.assertTrue(p50 <= p99 <= p999 <= 40.5, (p50, p99, p999))

    def test_tags_filter_and_merge(self):
        kw = {"from": "-5m"}
        self.assertEqual(self.total(source=al.CID, name="tagged", stat="sum", **kw), 6)
        self.assertEqual(self.total(source=al.CID, name="tagged", stat="sum", tags="region:eu",
                                    **kw), 1)
        self.assertEqual(self.total(source=al.CID, name="tagged", stat="sum",
                                    tags="region:us,Le:x", **kw), 5)
        # percent-encoded by hand, as curl users write it
        st, body = self.stack.http_json(f"/v1/range?source={al.CID}&name=tagged&stat=sum"
                                        "&from=-5m&tags=region%3Aeu")
        self.assertEqual(st, 200)
        self.assertEqual(sum(v for _, v in body["points"] if v is not None), 1)

    def test_node_series(self):
        body = self.range(source="node", name="cpu.total", **{"from": "-2m"})
        vals = [v for _, v in body["points"] if v is not None]
        self.assertTrue(vals)
        self.assertTrue(all(0 <= v <= 100 for v in vals))

    def test_limits_and_unknowns(self):
        # agentd rounds a step to the window it reads (10s over 7 days reads 1m slots: fine);
        # two years of 1h slots is more than 11,000 points
        body = self.range(source="node", name="cpu.total", step="10s", **{"from": "-7d"})
        self.assertIn(body["step"], ("1m", "1h"))  # the 7d window reaches back just about
        self.assertLessEqual(len(body["points"]), 11000)
        body = self.range(expect=400, source="node", name="cpu.total", step="1h",
                          **{"from": "-730d"})
        self.assertIn("step", body["error"])
        body = self.range(expect=404, source=al.CID, name="never.sent")
        self.assertTrue(body["error"])
        body = self.range(expect=404, source="never-seen", name="x")
        self.assertTrue(body["error"])

    def test_series_lists_types_and_tags(self):
        st, body = self.stack.http_json(f"/v1/series?source={al.CID}")
        self.assertEqual(st, 200)
        self.assertEqual(body["source"], al.CID)
        got = {(s["name"], s["type"], tuple(sorted(s["tags"].items()))) for s in body["series"]}
        for want in [("req", "counter", ()), ("temp", "gauge", ()), ("users", "set", ()),
                     ("lat", "timer", ()), ("tagged", "counter", (("region", "eu"),)),
                     ("tagged", "counter", (("Le", "x"), ("region", "us")))]:
            self.assertIn(want, got)
        for s in body["series"]:
            self.assertRegex(s["last"], al.RFC3339)
        st, body = self.stack.http_json("/v1/series?source=node")
        self.assertEqual(st, 200)
        self.assertIn("memory.total", {s["name"] for s in body["series"]})
        st, body = self.stack.http_json("/v1/series?source=never-seen")
        self.assertEqual(st, 404)
        self.assertTrue(body["error"])


if __name__ == "__main__":
    unittest.main()
