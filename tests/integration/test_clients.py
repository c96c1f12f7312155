"""test_clients: statsd clients nobody here wrote (Python's statsd package, Node's hot-shots from
the npm registry, raw `nc -u`), each run as the COMMAND of a real metricsbus-shim, through
agentd and the HTTP bridge; every type, tags and sample rates asserted by value."""
import os
import re
import shutil
import subprocess
import unittest
import urllib.parse

import mbharness as mb

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
NPM_DIR = os.path.join(mb.ROOT, "build", "npm")
HOT_SHOTS = "hot-shots@17"
FLUSH = "1s"

# Each client sends everything in ONE datagram, so all of it lands in one flush interval and
# /app's "latest interval with data" holds exactly what was sent. Sampled calls are forced to
# be sent (the clients draw a random number per call), so scaled values are exact too.
PY_CLIENT = r'''
import os, random, signal, sys
import statsd
random.random = lambda: 0.0
c = statsd.StatsClient(os.environ["STATSD_UDP_HOST"], int(os.environ["STATSD_UDP_PORT"]),
                       prefix="pyclient", maxudpsize=60000)
with c.pipeline() as p:
    for _ in range(7):
        p.incr("hits")
    p.incr("hits", 3)
    p.decr("down", 4)
    for _ in range(4):
        p.incr("sampled", rate=0.5)
    p.gauge("temp", 10)
    p.gauge("temp", 5, delta=True)
    p.gauge("temp", -3, delta=True)
    p.gauge("neg", -7)
    for u in ["alice", "bob", "carol", "alice", "dave", "bob", "erin", "alice"]:
        p.set("users", u)
    for _ in range(95):
        p.timing("latency", 10)
    for _ in range(5):
        p.timing("latency", 500)
print("CLIENT-SENT", flush=True)
signal.sigwait([signal.SIGTERM, signal.SIGINT])
'''

NODE_CLIENT = r'''
const StatsD = require('hot-shots');
Math.random = () => 0;
const c = new StatsD({
  host: process.env.STATSD_UDP_HOST, port: Number(process.env.STATSD_UDP_PORT),
  prefix: 'nodeclient.', maxBufferSize: 60000, bufferFlushInterval: 600000,
  errorHandler: (e) => { console.error('hot-shots error', e); process.exit(3); },
});
for (let i = 0; i < 5; i++) c.increment('reqs', 1, ['route:/a', 'canary']);
for (let i = 0; i < 3; i++) c.increment('reqs', 1, { route: '/b' });
for (let i = 0; i < 4; i++) c.increment('sampled', 1, 0.25, ['env:test']);
c.decrement('down', 2);
c.gauge('queue', 42, ['env:test']);
for (let i = 0; i < 95; i++) c.histogram('size', 10, ['env:test']);
for (let i = 0; i < 5; i++) c.histogram('size', 500, ['env:test']);
for (let i = 0; i < 50; i++) c.distribution('dur', 2);
for (let i = 0; i < 50; i++) c.distribution('dur', 4);
for (let i = 0; i < 10; i++) c.timing('t', 5, 0.5);
for (const u of ['a', 'b', 'a', 'c']) c.set('ids', u, ['env:test']);
c.close(() => {
  console.log('CLIENT-SENT');
  process.on('SIGTERM', () => process.exit(0));
  setInterval(() => {}, 1 << 30);
});
'''

NC_LINES = "\n".join([
    "nc.c:2|c",
    "nc.c:3|c|@0.5",
    "nc.c:1|c|#k:v",
    "nc.g:5|g",
    "nc.g:+3|g",
    "nc.g:-1|g",
    "nc.s:a|s",
    "nc.s:b|s",
    "nc.s:a|s",
    "nc.ms:100|ms",
    "nc.ms:300|ms",
    "nc.h:7|h|#a:1,b",
    "nc.d:0.5|d|@0.5",
    "_e{5,4}:title|text",
    "_sc|check|0",
    "bad line no value",
    ":1|c",
    "x:1|zz",
    "y:NaN|g",
    "z:1|c|@2",
    "nc.after:1|c",
])


def key(name, **tags):
    return (name, tuple(sorted(tags.items())))


class ClientTest(mb.StackTest):
    def setUp(self):
        super().setUp()
        self.stack.agentd()
        self.stack.api()

    def run_client(self, cid, cmd, env=None):
        """Starts cmd under a shim as container cid; waits until the client says it sent."""
        p = self.stack.shim("--flush-interval", FLUSH, "--container-id", cid, cmd=cmd, env=env)
        mb.poll(lambda: self._sent(p), timeout=30, what=f"{cid} client to send")
        return p

    def _sent(self, p):
        if p.poll() is not None:
            raise AssertionError(f"shim exited {p.returncode}:\n{self.stack.log_of(p)}")
        return "CLIENT-SENT" in self.stack.log_of(p).split()

    def app(self, cid):
        """{(name, tags): value} from /containers/CID/app, or None before the first data."""
        st, body = self.stack.http_json(f"/system/v1/metrics/v0/containers/{cid}/app")
        if st != 200:
            return None
        out = {}
        for dp in body["datapoints"]:
            k = (dp["name"], tuple(sorted(dp.get("tags", {}).items())))
            self.assertNotIn(k, out, f"duplicate datapoint {k}")
            self.assertIn("unit", dp)
            self.assertRegex(dp["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            out[k] = dp["value"]
        self.assertEqual(cid, body["dimensions"].get("container_id"))
        return out

    def wait_app(self, cid, keys):
        return mb.poll(lambda: (lambda a: a if a and all(k in a for k in keys) else None)(self.app(cid)),
                       timeout=20, what=f"{sorted(keys)} in /app of {cid}")

    def range_points(self, cid, name, stat, tags=None):
        q = {"source": cid, "name": name, "from": "-10m", "to": "now", "step": "10s", "stat": stat}
        if tags:
            q["tags"] = tags
        st, body = self.stack.http_json("/v1/range?" + urllib.parse.urlencode(q))
        self.assertEqual(200, st, body)
        self.assertEqual(name, body["name"])
        self.assertEqual(stat, body["stat"])
        return [v for _, v in body["points"] if v is not None]

    def metrics_lines(self):
        st, _, body = self.stack.http("/metrics")
        self.assertEqual(200, st)
        return body.decode().splitlines()

    def prom_value(self, lines, name, label_re=""):
        pat = re.compile(r"^" + re.escape(name) + r"(\{[^}]*\})? (\S+)")
        for ln in lines:
            m = pat.match(ln)
            if m and re.search(label_re, m.group(1) or ""):
                return float(m.group(2))
        return None

    def assertClose(self, expected, got, rel=1e-9, what=""):
        self.assertIsNotNone(got, what)
        self.assertLessEqual(abs(got - expected), rel * max(abs(expected), 1e-12),
                             f"{what}: expected {expected}, got {got}")

    def assertTimer(self, a, name, count, total, vmin, vmax, tags=(), mean=True):
        t = dict(tags)
        self.assertClose(count, a[key(name + ".count", **t)], what=name + ".count")
        self.assertClose(vmin, a[key(name + ".min", **t)], what=name + ".min")
        self.assertClose(vmax, a[key(name + ".max", **t)], what=name + ".max")
        if mean:
            self.assertClose(total, a[key(name + ".sum", **t)], what=name + ".sum")
            self.assertClose(total / count, a[key(name, **t)], what=name + " (mean)")
        for q in ("p50", "p90", "p95", "p99", "stddev"):
            self.assertIn(key(f"{name}.{q}", **t), a)


class TestPythonStatsd(ClientTest):
    """Debian's python3-statsd: counters (incl. sampled and decrement), gauges (incl. deltas and
    a negative absolute value), sets and timers, all in one pipeline."""

    def test_python_statsd_every_type_by_value(self):
        try:
            import statsd  # noqa: F401
        except ImportError:
            self.skipTest("python3-statsd not installed (make deps)")
        cid = "py-client"
        self.run_client(cid, [PY, "-c", PY_CLIENT])
        a = self.wait_app(cid, [key("pyclient.hits"), key("pyclient.latency.p99"), key("pyclient.users"),
                                key("pyclient.temp"), key("pyclient.neg"), key("pyclient.sampled"),
                                key("pyclient.down")])
        self.assertEqual(10, a[key("pyclient.hits")])
        self.assertGreater(a[key("pyclient.hits.rate")], 0)
        self.assertEqual(-4, a[key("pyclient.down")])
        self.assertEqual(8, a[key("pyclient.sampled")], "4 increments at @0.5 count as 8")
        self.assertEqual(12, a[key("pyclient.temp")], "10, then +5, then -3")
        self.assertEqual(-7, a[key("pyclient.neg")], "a negative gauge is sent as 0 then -7")
        self.assertEqual(5, a[key("pyclient.users")], "5 distinct members")
        self.assertTimer(a, "pyclient.latency", 100, 95 * 10 + 5 * 500, 10, 500)
        self.assertClose(500, a[key("pyclient.latency.p99")], rel=0.01, what="p99")
        self.assertClose(10, a[key("pyclient.latency.p50")], rel=0.01, what="p50")
        # population or sample standard deviation of 95 x 10 and 5 x 500
        sd = a[key("pyclient.latency.stddev")]
        self.assertTrue(abs(sd - 106.7931) < 0.01 or abs(sd - 107.3313) < 0.01, sd)

        # The one-metric path: the timer by its name (its mean), and each derived name by its own.
        base = f"/system/v1/metrics/v0/containers/{cid}/app/"
        st, body = self.stack.http_json(base + "pyclient.latency")
        self.assertEqual(200, st, body)
        dps = {dp["name"]: dp["value"] for dp in body["datapoints"]}
        self.assertClose(34.5, dps["pyclient.latency"], what="/app/NAME mean")
        st, body = self.stack.http_json(base + "pyclient.latency.p99")
        self.assertEqual(200, st, body)
        self.assertClose(500, {dp["name"]: dp["value"] for dp in body["datapoints"]}["pyclient.latency.p99"],
                         rel=0.01, what="/app/NAME.p99")
        st, body = self.stack.http_json(base + "pyclient.nosuchmetric")
        self.assertEqual((204, None), (st, body))  # DC/OS: "no metrics"

        # Range queries read the same interval from the store.
        self.assertClose(500, self.range_points(cid, "pyclient.latency", "p99")[-1], rel=0.01, what="range p99")
        self.assertEqual(100, sum(self.range_points(cid, "pyclient.latency", "count")))
        self.assertEqual(10, sum(self.range_points(cid, "pyclient.hits", "sum")))
        self.assertEqual(10, min(self.range_points(cid, "pyclient.latency", "min")))
        self.assertEqual(500, max(self.range_points(cid, "pyclient.latency", "max")))
        self.assertEqual(12, self.range_points(cid, "pyclient.temp", "last")[-1])

        # Prometheus: the counter as a running _total, the gauge as is.
        lines = self.metrics_lines()
        self.assertEqual(10, self.prom_value(lines, "pyclient_hits_total"), "\n".join(lines[:50]))
        self.assertEqual(12, self.prom_value(lines, "pyclient_temp"))
        # the timer as a summary: running count and sum, the last interval's quantiles
        self.assertEqual(100, self.prom_value(lines, "pyclient_latency_count"))
        self.assertEqual(3450, self.prom_value(lines, "pyclient_latency_sum"))
        self.assertClose(500, self.prom_value(lines, "pyclient_latency", r'quantile="0\.99"'), rel=0.01,
                         what="summary p99")
        self.assertEqual(5, self.prom_value(lines, "pyclient_users"))


class TestHotShots(ClientTest):
    """hot-shots from the npm registry with the machine's Node.js: DogStatsD tags (key:value,
    bare keys, tag objects), h and d, sample rates on counters and timers."""

    @classmethod
    def setUpClass(cls):
        cls.skip_reason = None
        node = shutil.which("node")
        npm = shutil.which("npm")
        if not node or not npm:
            cls.skip_reason = "node/npm not installed"
            return
        if not os.path.isdir(os.path.join(NPM_DIR, "node_modules", "hot-shots")):
            os.makedirs(NPM_DIR, exist_ok=True)
            try:
                r = subprocess.run([npm, "install", "--prefix", NPM_DIR, "--no-audit", "--no-fund",
                                    "--ignore-scripts", "--no-save", "--fetch-retries=1",
                                    "--fetch-timeout=30000", HOT_SHOTS],
                                   capture_output=True, text=True, timeout=180)
            except subprocess.TimeoutExpired:
                cls.skip_reason = "npm registry unreachable (timeout installing hot-shots)"
                return
            if r.returncode != 0:
                cls.skip_reason = "could not install hot-shots from the npm registry: " + r.stderr.strip()[-300:]
                return
        cls.node = node

    def test_hot_shots_tags_histograms_distributions_sample_rates(self):
        if self.skip_reason:
            self.skipTest(self.skip_reason)
        cid = "node-client"
        self.run_client(cid, [self.node, "-e", NODE_CLIENT],
                        env={"NODE_PATH": os.path.join(NPM_DIR, "node_modules")})
        a = self.wait_app(cid, [key("nodeclient.reqs", route="/a", canary=""), key("nodeclient.reqs", route="/b"),
                                key("nodeclient.size.p99", env="test"), key("nodeclient.dur.p99"),
                                key("nodeclient.t.count"), key("nodeclient.ids", env="test"),
                                key("nodeclient.queue", env="test"), key("nodeclient.sampled", env="test"),
                                key("nodeclient.down")])
        self.assertEqual(5, a[key("nodeclient.reqs", route="/a", canary="")], "bare tag = empty value")
        self.assertEqual(3, a[key("nodeclient.reqs", route="/b")])
        self.assertNotIn(key("nodeclient.reqs"), a, "tagged series are not merged into an untagged one")
        self.assertEqual(16, a[key("nodeclient.sampled", env="test")], "4 increments at @0.25 count as 16")
        self.assertEqual(-2, a[key("nodeclient.down")])
        self.assertEqual(42, a[key("nodeclient.queue", env="test")])
        self.assertEqual(3, a[key("nodeclient.ids", env="test")])
        self.assertTimer(a, "nodeclient.size", 100, 95 * 10 + 5 * 500, 10, 500, tags={"env": "test"})
        self.assertClose(500, a[key("nodeclient.size.p99", env="test")], rel=0.01, what="h p99")
        self.assertTimer(a, "nodeclient.dur", 100, 50 * 2 + 50 * 4, 2, 4)
        self.assertClose(4, a[key("nodeclient.dur.p99")], rel=0.01, what="d p99")
        # 10 timings at @0.5: the count is scaled to 20; min and max are what was observed.
        self.assertTimer(a, "nodeclient.t", 20, None, 5, 5, mean=False)
        self.assertClose(5, a[key("nodeclient.t.p99")], rel=0.01, what="sampled timer p99")
        # range with a tag filter and without (every tag set merged: 5 + 3)
        self.assertEqual(5, sum(self.range_points(cid, "nodeclient.reqs", "sum", tags="route:/a,canary:")))
        self.assertEqual(8, sum(self.range_points(cid, "nodeclient.reqs", "sum")))
        self.assertClose(500, self.range_points(cid, "nodeclient.size", "p99")[-1], rel=0.01, what="range h p99")
        # Tags become Prometheus labels; a bare tag a label with an empty value.
        lines = self.metrics_lines()
        self.assertEqual(5, self.prom_value(lines, "nodeclient_reqs_total", r'route="/a"'), "\n".join(lines[:60]))
        self.assertEqual(3, self.prom_value(lines, "nodeclient_reqs_total", r'route="/b"'))
        self.assertRegex("\n".join(lines), r'nodeclient_reqs_total\{[^}]*canary=""[^}]*route="/a"|'
                                           r'nodeclient_reqs_total\{[^}]*route="/a"[^}]*canary=""')
        self.assertEqual(42, self.prom_value(lines, "nodeclient_queue", r'env="test"'))


class TestRawNetcat(ClientTest):
    """Raw lines through `nc -u`: every type, tags, rates, events and service checks skipped,
    bad lines skipped while the good lines of the same datagram are kept."""

    def test_nc_lines_every_type_and_bad_lines_skipped(self):
        nc = shutil.which("nc")
        if not nc:
            self.skipTest("nc not installed (netcat-openbsd)")
        cid = "nc-client"
        script = ('printf "%s" "$LINES" | nc -u -w1 "$STATSD_UDP_HOST" "$STATSD_UDP_PORT" && echo CLIENT-SENT; '
                  'exec sleep 600')
        self.run_client(cid, ["/bin/sh", "-c", script], env={"LINES": NC_LINES})
        a = self.wait_app(cid, [key("nc.c"), key("nc.c", k="v"), key("nc.g"), key("nc.s"), key("nc.ms"),
                                key("nc.h", a="1", b=""), key("nc.d"), key("nc.after")])
        self.assertEqual(8, a[key("nc.c")], "2 + 3 at @0.5")
        self.assertEqual(1, a[key("nc.c", k="v")])
        self.assertEqual(7, a[key("nc.g")], "5, +3, -1")
        self.assertEqual(2, a[key("nc.s")])
        self.assertTimer(a, "nc.ms", 2, 400, 100, 300)
        self.assertTimer(a, "nc.h", 1, 7, 7, 7, tags={"a": "1", "b": ""})
        self.assertClose(7, a[key("nc.h.p99", a="1", b="")], rel=0.01)
        self.assertTimer(a, "nc.d", 2, None, 0.5, 0.5, mean=False)
        self.assertEqual(1, a[key("nc.after")], "a good line after bad ones is kept")
        # Nothing but the good lines (and the shim's own metricsbus.shim.* counters) made series.
        names = {n for n, _ in a if not n.startswith("metricsbus.shim.")}
        self.assertTrue(all(n.startswith("nc.") for n in names), sorted(names))
        # The shim counted what it skipped: 5 bad lines, 1 event, 1 service check (its counters
        # are per interval, so add up the intervals).
        for name, want in (("metricsbus.shim.bad_lines", 5), ("metricsbus.shim.events", 1),
                           ("metricsbus.shim.service_checks", 1)):
            self.assertEqual(want, sum(self.range_points(cid, name, "sum")), name)

    def test_nc_unix_datagram_socket(self):
        # --listen unix:PATH (DogStatsD style): the child gets STATSD_SOCKET; nc -uU sends.
        nc = shutil.which("nc")
        if not nc:
            self.skipTest("nc not installed (netcat-openbsd)")
        cid = "nc-unix"
        path = os.path.join(self.stack.dir, "statsd.sock")
        script = ('[ "$STATSD_SOCKET" = "$WANT" ] || { echo "STATSD_SOCKET=$STATSD_SOCKET"; exit 3; }; '
                  'printf "u.c:4|c\\nu.g:-2.5|g\\nu.t:8|ms|#k:v" | nc -uU -w1 "$STATSD_SOCKET" && echo CLIENT-SENT; '
                  'exec sleep 600')
        p = self.stack.shim("--flush-interval", FLUSH, "--container-id", cid, "--listen", "unix:" + path,
                            cmd=["/bin/sh", "-c", script], env={"WANT": path})
        mb.poll(lambda: self._sent(p), timeout=30, what="nc -uU to send")
        a = self.wait_app(cid, [key("u.c"), key("u.g"), key("u.t.count", k="v")])
        self.assertEqual(4, a[key("u.c")])
        self.assertEqual(-2.5, a[key("u.g")])
        self.assertTimer(a, "u.t", 1, 8, 8, 8, tags={"k": "v"})


if __name__ == "__main__":
    unittest.main()
