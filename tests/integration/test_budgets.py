"""test_budgets: "which container blew up cardinality" in one command: /v1/series without a
source, `metricsbus series` and `metricsbus top` rank containers by live series (then refused
series, lines/s), with each shim's drop counters by reason; the shim's own counters are still
stored for a container at --max-series-per-source; per-reason counters in /app?self=1 and
/metrics. Real agentd, bridge, shims and CLI."""
import json

import mbharness as mb
import shimlib


class Budgets(mb.StackTest):
    def start(self):
        st = self.stack
        st.agentd("--max-series-per-source", "40", "--node-interval", "500ms")
        st.api()
        noisy = st.shim("--flush-interval", "200ms", "--container-id", "noisy")
        quiet = st.shim("--flush-interval", "200ms", "--container-id", "quiet")
        return shimlib.shim_port(st, noisy), shimlib.shim_port(st, quiet)

    def send_some(self, pn, pq, k=[0]):
        # noisy: a new user id per line (runaway cardinality), bad values, unknown fields
        k[0] += 1
        shimlib.send(pn, *["noisy.user%d:1|c" % (k[0] * 50 + i) for i in range(50)],
                     "noisy.bad:x|c", "noisy.t:1|c|zz:future")
        shimlib.send(pq, "quiet.hits:1|c")

    def test_ranked_by_live_series_with_drop_reasons(self):
        st = self.stack
        pn, pq = self.start()

        def ranked():
            self.send_some(pn, pq)
            code, _, raw = st.http("/v1/series")
            if code != 200:
                return None
            body = json.loads(raw)
            src = {s["source"]: s for s in body["sources"]}
            n = src.get("noisy")
            if not n or not src.get("quiet") or not n["shim"] or n["lines_per_s"] <= 0:
                return None
            if n["parse_errors_per_s"].get("value", 0) <= 0 or n["unknown_fields_per_s"] <= 0:
                return None
            if n["series_refused"] <= 0:  # agentd's own metrics come every 500ms
                return None
            return body
        body = mb.poll(ranked, timeout=30, what="noisy ranked with its drop counters")
        self.assertEqual(body["sort"], "live_series")
        first, second = body["sources"][0], body["sources"][1]
        self.assertEqual(first["source"], "noisy", body)
        self.assertEqual(second["source"], "quiet", body)
        # at its limit, yet its shim's counters (and resource metrics) are stored
        self.assertGreaterEqual(first["live_series"], 40)
        self.assertLessEqual(first["series"], 40 + 64)
        self.assertGreater(first["live_series"], second["live_series"])
        self.assertTrue(second["shim"])

        self.assertEqual(second["series_refused"], 0)
        # the same count in agentd's own metrics, by source
        code, _, raw = st.http("/metrics")
        self.assertRegex(raw.decode(), r'agentd_source_series_refused\{[^}]*source="noisy"')
        # sort=refused and sort=lines put noisy first too; a bad sort is a 400 with a reason
        for sort, key in (("refused", "series_refused"), ("lines", "lines_per_s")):
            code, _, raw = st.http("/v1/series?sort=" + sort)
            self.assertEqual(code, 200)
            body = json.loads(raw)
            self.assertEqual(body["sort"], key)
            self.assertEqual(body["sources"][0]["source"], "noisy", body)
        code, _, raw = st.http("/v1/series?sort=size")
        self.assertEqual(code, 400)
        self.assertIn("sort", json.loads(raw)["error"])

        # the CLI: `series` without a source, as a table and as the API's JSON; top's first row
        out = st.cli("series")
        self.assertEqual(out.returncode, 0, out.stderr)
        rows = out.stdout.splitlines()
        self.assertTrue(rows[0].startswith("SOURCE"), rows)
        self.assertTrue(rows[1].startswith("noisy"), rows)
        js = json.loads(st.cli("--json", "series").stdout)
        self.assertEqual(js["sources"][0]["source"], "noisy")
        top = st.cli("top", "--iterations", "1").stdout.splitlines()
        hdr = [i for i, ln in enumerate(top) if ln.startswith("CONTAINER")]
        self.assertTrue(hdr, top)
        self.assertIn("REFUSED", top[hdr[0]])
        self.assertTrue(top[hdr[0] + 1].startswith("noisy"), top)

        # per-reason counters: the container's /app?self=1 and /metrics
        code, _, raw = st.http("/system/v1/metrics/v0/containers/noisy/app?self=1")
        self.assertEqual(code, 200)
        pts = json.loads(raw)["datapoints"]
        reasons = {p.get("tags", {}).get("reason") for p in pts
                   if p["name"] == "metricsbus.shim.parse_errors"}
        self.assertIn("value", reasons)
        self.assertIn("metricsbus.shim.unknown_fields", {p["name"] for p in pts})
        # and the one drop the shim cannot see: the series agentd refused it at its limit
        refused = [p["value"] for p in pts if p["name"] == "metricsbus.agentd.series_refused"]
        self.assertEqual(len(refused), 1, pts)
        self.assertGreater(refused[0], 0)
        code, _, raw = st.http("/v1/containers/quiet/app?self=1")
        if code == 404:  # (the /v0 prefix serves the same)
            code, _, raw = st.http("/v0/containers/quiet/app?self=1")
        self.assertEqual(code, 200)
        pts = json.loads(raw)["datapoints"]
        self.assertEqual([p["value"] for p in pts if p["name"] == "metricsbus.agentd.series_refused"],
                         [0])
        # not without self=1
        code, _, raw = st.http("/v0/containers/noisy/app")
        self.assertNotIn(b"metricsbus.agentd.series_refused", raw)
        code, _, raw = st.http("/metrics")
        text = raw.decode()
        self.assertRegex(text, r'metricsbus_shim_parse_errors_total\{[^}]*container_id="noisy"'
                               r'[^}]*reason="value"')
        self.assertIn("metricsbus_shim_unknown_fields_total{", text)
