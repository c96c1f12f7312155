"""test_api_prometheus: /metrics against promtool and a real Prometheus server: names and labels
metricsbus chooses pass `promtool check metrics`; odd user names and colliding tags never make
an invalid exposition; Prometheus scrapes the bridge and rate(), summary quantiles and
histogram_quantile() give the values that were sent."""
import json
import os
import re
import shutil
import subprocess
import threading
import unittest
import urllib.parse
import urllib.request

import apilib as al
import mbharness as mb

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")

# Names a user's statsd client chose, each odd in its own way: promtool may lint these (and only
# these), but the exposition must always parse.
ODD = [
    "Weird.Name-X:1|c", "lat_ms:5|ms", "9start:1|g", "a.b:1|g", "a_b:2|g", "dup:1|g",
    "dup:3|ms", "x.total:4|g", "x:1|c",
    "tagz:1|c|#le:1,quantile:2,instance:3,job:4,container_id:5,Container.ID:6,__name__:7,"
    "q:a\"b\\c",
]
ODD_FAMILIES = {"weird_name_x_total", "lat_ms", "_9start", "a_b", "dup", "x_total_value",
                "x_total", "tagz_total"}


def promtool_problems(text):
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(), capture_output=True,
                       timeout=60)
    out = (r.stdout + r.stderr).decode()
    return r.returncode, [ln for ln in out.splitlines() if ln.strip()]


def families(text):
    return {m.group(1): m.group(2) for m in re.finditer(r"^# TYPE (\S+) (\S+)$", text, re.M)}


@unittest.skipUnless(PROMTOOL, "promtool not installed")
class Exposition(mb.StackTest):
    def test_promtool_finds_nothing_in_metricsbus_names(self):
        for hist in (False, True):
            with self.subTest(histograms=hist):
                self.stack.close()
                self.stack = mb.Stack()
                self.addCleanup(self.stack.close)
                s = self.stack
                al.start(s, api_args=["--prometheus-histograms"] if hist else [])
                st, hdr, raw = s.http("/metrics")
                self.assertEqual(st, 200)
                text = raw.decode()
                rc, problems = promtool_problems(text)
                self.assertEqual((rc, problems), (0, []))
                fam = families(text)
                self.assertEqual(fam["req_total"], "counter")
                self.assertEqual(fam["memory_total_bytes"], "gauge")
                self.assertEqual(fam["cpu_total_percent"], "gauge")
                self.assertEqual(fam["filesystem_inode_total_value"], "gauge")
                self.assertEqual(fam["lat"], "histogram" if hist else "summary")
                self.assertEqual(fam["metricsbus_api_requests_total"], "counter")
                self.assertTrue(any(f.startswith("agentd_") for f in fam), "agentd's own metrics")
                self.assertIn("temp", fam)
                # every family has exactly one HELP and one TYPE line
                self.assertEqual(len(re.findall(r"^# TYPE ", text, re.M)), len(fam))
                self.assertEqual(len(re.findall(r"^# HELP ", text, re.M)), len(fam))
                # statsd counters are running totals: 6 were sent
                self.assertRegex(text, r'\nreq_total\{[^}]*container_id="web-1"[^}]*\} 6\n')
                self.assertRegex(text, r'\ntagged_total\{[^}]*tag_le="x"[^}]*region="us"[^}]*\} 5\n')
        self.stack.close()

    def test_counter_total_survives_restarts_of_every_process(self):
        s = self.stack
        a, api, shim, port = al.start(s)
        def total():
            st, _, raw = s.http("/metrics")
            m = re.search(r'\nreq_total\{[^}]*container_id="web-1"[^}]*\} (\S+)\n', raw.decode())
            return float(m.group(1)) if st == 200 and m else None
        self.assertEqual(total(), 6)
        s.stop(shim)
        s.stop(api)
        s.stop(a)
        a = s.agentd("--node-id", "node-7", "--cluster-id", "k1", "--node-interval", "1s")
        s.api()
        shim = s.shim("--container-id", al.CID, "--flush-interval", "1s")
        port = al.shim_port(s, shim)
        al.send(port, ["req:4|c"])
        mb.poll(lambda: total() == 10, what="req_total 6 + 4 after restarts")

    def test_odd_user_names_never_break_the_exposition(self):
        a, api, shim, port = al.start(self.stack)
        al.send(port, ODD)
        al.wait_app(self.stack, "tagz")
        st, hdr, raw = self.stack.http("/metrics")
        text = raw.decode()
        rc, problems = promtool_problems(text)
        self.assertIn(rc, (0, 3), problems)  # 1 would be a parse error
        for p in problems:
            self.assertIn(p.split()[0], ODD_FAMILIES, p)
        fam = families(text)
        # the same name as two types: one family, one type, the other series skipped and counted
        self.assertIn(fam["dup"], ("gauge", "summary"))
        self.assertRegex(text, r"\nmetricsbus_api_export_skipped_total [1-9]")
        self.assertEqual(fam["weird_name_x_total"], "counter")
        self.assertEqual(fam["_9start"], "gauge")
        self.assertEqual(fam["x_total_value"], "gauge")
        self.assertEqual(fam["x_total"], "counter")
        line = [ln for ln in text.splitlines() if ln.startswith("tagz_total{")][0]
        labels = re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', line)
        self.assertEqual(len(labels), len(set(labels)), line)
        for want in ('tag_le="1"', 'tag_quantile="2"', 'tag_instance="3"', 'tag_job="4"',
                     'tag_container_id="6"', 'tag_container_id_2="5"', 'tag___name__="7"',
                     'q="a\\"b\\\\c"', 'container_id="web-1"'):
            self.assertIn(want, line)


@unittest.skipUnless(PROMETHEUS and PROMTOOL, "prometheus not installed")
class Scrape(mb.StackTest):
    def query(self, port, q):
        url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.loads(r.read())
        res = body["data"]["result"]
        return [float(x["value"][1]) for x in res]

    def test_real_prometheus_scrapes_rate_and_quantiles(self):
        s = self.stack
        a, api, shim, port = al.start(s)
        summary_port = s.http_port
        s.api("--prometheus-histograms")
        hist_port = s.http_port
        prom_port = mb.free_port()
        cfg = os.path.join(s.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: summary
    static_configs: [{{targets: ['127.0.0.1:{summary_port}']}}]
  - job_name: hist
    static_configs: [{{targets: ['127.0.0.1:{hist_port}']}}]
""")
        s.spawn([PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={s.dir}/tsdb",
                 f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                name="prometheus")
        stop = threading.Event()

        def feed():  # 10 hits per 100 ms: 100/s; every latency 40
            while not stop.wait(0.1):
                al.send(port, ["hits:10|c"] + ["lat2:40|ms"] * 5)
        t = threading.Thread(target=feed)
        t.start()
        try:
            def rate():
                v = self.query(prom_port, 'rate(hits_total{job="summary"}[6s])')
                return v if v and 60 <= v[0] <= 140 else None
            v = mb.poll(rate, timeout=40, interval=0.5, what="rate() near 100/s")
            self.assertAlmostEqual(v[0], 100, delta=40)
            q = mb.poll(lambda: self.query(prom_port, 'lat2{job="summary",quantile="0.99"}'),
                        timeout=20, interval=0.5, what="summary quantile")
            self.assertAlmostEqual(q[0], 40, delta=0.5)
            def hq():
                v = self.query(prom_port, 'histogram_quantile(0.5, '
                               'rate(lat2_bucket{job="hist"}[6s]))')
                return v if v and v[0] == v[0] else None  # not NaN
            v = mb.poll(hq, timeout=30, interval=0.5, what="histogram_quantile")
            self.assertTrue(25 < v[0] <= 50, v)  # inside the (25, 50] bucket that holds 40
            up = self.query(prom_port, 'up')
            self.assertEqual(up, [1.0, 1.0])
        finally:
            stop.set()
            t.join()


if __name__ == "__main__":
    unittest.main()
