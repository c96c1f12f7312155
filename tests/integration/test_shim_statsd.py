"""test_shim_statsd: statsd through a real shim to a real ingest peer (mbsink: REP + the bus
codec): Python's statsd package (c, g, ms, s) as the COMMAND, raw datagrams for tags, h, d,
rates and bad lines, the unix: socket, identity and resource metrics; values asserted exactly."""
import os
import random
import re
import socket
import time

import mbharness as mb
import shimlib

PY = "/usr/bin/python3"

PY_CLIENT = r'''
import os, random
import statsd
random.random = lambda: 0.0   # sampled calls are always sent, so scaled values are exact
c = statsd.StatsClient(os.environ["STATSD_UDP_HOST"], int(os.environ["STATSD_UDP_PORT"]),
                       prefix="py", maxudpsize=60000)
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
    for u in ["alice", "bob", "carol", "alice", "dave", "bob"]:
        p.set("users", u)
    for i in range(1, 1001):
        p.timing("latency", i)
c.incr("separate")
'''


def one(batches, name, kind, tags=None):
    rs = [r for r in shimlib.records(batches, name, kind) if tags is None or r["tags"] == tags]
    assert len(rs) == 1, (name, rs)
    return rs[0]


class ShimStatsdTest(mb.StackTest):
    def test_python_statsd_client_exact(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        # A long interval: everything lands in the final flush when the client exits.
        p = self.stack.shim("--flush-interval", "60s", cmd=[PY, "-c", PY_CLIENT])
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0, self.stack.log_of(p))
        b = sink.batches()
        self.assertTrue(shimlib.stopped(b))
        self.assertEqual(shimlib.total(b, "py.hits"), 10)
        self.assertEqual(shimlib.total(b, "py.down"), -4)
        self.assertEqual(shimlib.total(b, "py.sampled"), 8, "4 at @0.5")
        self.assertEqual(shimlib.total(b, "py.separate"), 1)
        self.assertEqual(one(b, "py.temp", "gauge")["value"], 12)
        self.assertEqual(one(b, "py.users", "set")["value"], 4)
        t = one(b, "py.latency", "timer")
        self.assertEqual(t["count"], 1000)
        self.assertEqual(t["sum"], 500500)
        self.assertEqual(t["min"], 1)
        self.assertEqual(t["max"], 1000)
        self.assertEqual(t["samples"], 1000)
        self.assertLessEqual(abs(t["p99"] - 990) / 990, 0.01, t["p99"])
        self.assertLessEqual(abs(t["p50"] - 500) / 500, 0.01, t["p50"])

    def test_raw_datagrams_tags_rates_hist_dist_bad_lines(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        p = self.stack.shim("--flush-interval", "60s")
        port = shimlib.shim_port(self.stack, p)
        vals = [random.uniform(1, 10000) for _ in range(2000)]
        lines = ["raw.c:2|c|#b:2,a:1", "raw.c:3|c|@0.5|#a:1,b:2", "raw.c:1|c|#canary",
                 "raw.h:7|h|#a:1,b", "raw.d:0.5|d|@0.5", "raw.g:5|g", "raw.g:+3|g",
                 "raw.g:-1|g", "_e{5,4}:title|text", "_sc|check|0", "bad line", ":1|c",
                 "x:1|zz", "y:NaN|g", "z:1|c|@2", "raw.after:1|c"]
        shimlib.send(port, *lines)
        # 2000 distribution values in datagrams of 100 lines
        for i in range(0, len(vals), 100):
            shimlib.send(port, *["raw.dist:%r|d|#k:v" % v for v in vals[i:i + 100]])
        shimlib.send(port, "sync:1|c")
        p.send_signal(15)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)
        b = sink.batches()
        self.assertEqual(shimlib.total(b, "raw.c", {"a": "1", "b": "2"}), 8)
        self.assertEqual(shimlib.total(b, "raw.c", {"canary": ""}), 1)
        self.assertEqual(shimlib.total(b, "raw.after"), 1)
        self.assertEqual(one(b, "raw.g", "gauge")["value"], 7)
        h = one(b, "raw.h", "histogram", {"a": "1", "b": ""})
        self.assertEqual((h["count"], h["sum"], h["min"], h["max"]), (1, 7, 7, 7))
        d = one(b, "raw.d", "distribution")
        self.assertEqual((d["count"], d["min"], d["max"], d["samples"]), (2, 0.5, 0.5, 1))
        d = one(b, "raw.dist", "distribution", {"k": "v"})
        self.assertEqual(d["count"], 2000)
        s = sorted(vals)
        for q, key in ((0.5, "p50"), (0.99, "p99"), (0.999, "p999")):
            exact = s[int(q * (len(s) - 1))]
            self.assertLessEqual(abs(d[key] - exact) / exact, 0.0101, (key, d[key], exact))
        self.assertEqual(shimlib.total(b, "metricsbus.shim.bad_lines"), 5)
        self.assertEqual(shimlib.total(b, "metricsbus.shim.events"), 1)
        self.assertEqual(shimlib.total(b, "metricsbus.shim.service_checks"), 1)
        self.assertEqual(shimlib.total(b, "metricsbus.shim.packets"), 22)
        names = {r["name"] for r in shimlib.records(b) if r["kind"] != "resource"}
        self.assertFalse({"x", "y", "z"} & names, names)

    def test_unix_socket(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        path = os.path.join(self.stack.dir, "statsd.sock")
        client = ("import os, socket\n"
                  "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
                  "s.sendto(b'ux:4|c\\nux:1|c', os.environ['STATSD_SOCKET'])\n"
                  "assert 'STATSD_UDP_PORT' not in os.environ\n")
        p = self.stack.shim("--listen", "unix:" + path, "--flush-interval", "60s",
                            cmd=[PY, "-c", client])
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0, self.stack.log_of(p))
        self.assertEqual(shimlib.total(sink.batches(), "ux"), 5)
        self.assertFalse(os.path.exists(path), "the socket file is removed at exit")

    def test_listen_address_is_the_same_whatever_the_libc(self):
        # glibc and musl (the static shim) order a name's addresses differently: the shim
        # binds the first IPv4 one, and "localhost" is the loopback without a resolver.
        show = [PY, "-c", "import os; print('ENV', os.environ['STATSD_UDP_HOST'], flush=True)"]
        for spec, want in (("localhost:0", "127.0.0.1"), ("LocalHost:0", "127.0.0.1"),
                           ("[::1]:0", "::1")):
            p = self.stack.shim("--listen", spec, "--flush-interval", "60s",
                                "--drain-timeout", "100ms", cmd=show)
            self.assertEqual(shimlib.wait_exit(self.stack, p), 0, self.stack.log_of(p))
            log = self.stack.log_of(p)
            self.assertIn("ENV %s\n" % want, log, spec)
            self.assertRegex(log, r"statsd on \[?%s\]?:\d+" % re.escape(want), spec)

    def test_identity_and_dimensions(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        env = {"MESOS_CONTAINER_NAME": "mesos-c-1", "MESOS_TASK_ID": "web.42",
               "MARATHON_APP_ID": "/prod/web", "MESOS_FRAMEWORK_ID": "fw-9"}
        p = self.stack.shim("--flush-interval", "60s", "--dimension", "team=core",
                            cmd=["/bin/true"], env=env)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)
        b = sink.batches()
        self.assertTrue(b)
        for x in b:
            self.assertEqual(x["cid"], "c-1")  # the ContainerID in the Docker name
            self.assertEqual(x["dims"]["task_id"], "web.42")
            self.assertEqual(x["dims"]["task_name"], "web.prod")  # Marathon: id.toHostname
            self.assertEqual(x["dims"]["framework_id"], "fw-9")
            self.assertEqual(x["dims"]["team"], "core")
        p = self.stack.shim("--flush-interval", "60s", "--container-id", "flagged",
                            cmd=["/bin/true"], env=env)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)
        self.assertEqual(sink.batches()[-1]["cid"], "flagged")

    def test_resource_metrics_sent(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        p = self.stack.shim("--flush-interval", "100ms", cmd=["/bin/sleep", "30"])
        mb.poll(lambda: any(shimlib.records(sink.batches(), "cpus.user.time", "resource")),
                what="resource metrics")
        names = {r["name"] for r in shimlib.records(sink.batches(), kind="resource")}
        for n in ("cpus.user.time", "cpus.system.time", "cpus.limit", "mem.total", "threads"):
            self.assertIn(n, names)
        p.send_signal(15)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 128 + 15)


class ShimSocketTest(mb.StackTest):
    def test_receive_buffer_large(self):
        import shutil
        import subprocess
        if not shutil.which("ss"):
            self.skipTest("ss (iproute2) not installed")
        p = self.stack.shim("--flush-interval", "60s")
        port = shimlib.shim_port(self.stack, p)
        out = subprocess.run(["ss", "-uamn", "sport", "=", f":{port}"], capture_output=True,
                             text=True, timeout=10).stdout
        import re
        rb = int(re.search(r"rb(\d+)", out).group(1))
        want = 8 << 20 if os.geteuid() == 0 else 200 << 10
        self.assertGreaterEqual(rb, want, out)

    def test_64k_datagrams(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        p = self.stack.shim("--flush-interval", "60s")
        port = shimlib.shim_port(self.stack, p)
        line = "big.datagram.counter:1|c"
        n = 65507 // (len(line) + 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        payload = "\n".join([line] * n).encode()
        self.assertGreater(len(payload), 65000)
        s.sendto(payload, ("127.0.0.1", port))
        # a single 64 KiB set member, in a datagram of its own
        s.sendto(b"big.set:" + b"m" * 65000 + b"|s", ("127.0.0.1", port))
        s.close()
        p.send_signal(15)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)
        b = sink.batches()
        self.assertEqual(shimlib.total(b, "big.datagram.counter"), n)
        self.assertEqual(one(b, "big.set", "set")["value"], 1)
        self.assertEqual(shimlib.total(b, "metricsbus.shim.bad_lines"), 0)

    def test_kernel_drops_counted(self):
        """A stopped shim cannot read: the kernel drops what overflows its buffer, and the
        shim reports exactly how many (SO_RXQ_OVFL): received + dropped = sent."""
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        p = self.stack.shim("--flush-interval", "60s")
        port = shimlib.shim_port(self.stack, p)
        p.send_signal(19)  # SIGSTOP
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        sent = 0
        name = "drop." + "d" * 200
        payload = (name + ":1|c").encode()
        try:
            for _ in range(40000):
                s.sendto(payload, ("127.0.0.1", port))
                sent += 1
        finally:
            s.close()
            p.send_signal(18)  # SIGCONT
        p.send_signal(15)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)
        b = sink.batches()
        got = shimlib.total(b, name)
        drops = shimlib.total(b, "metricsbus.shim.udp_drops")
        self.assertGreater(drops, 0, "the buffer overflowed (%d of %d received)" % (got, sent))
        self.assertEqual(got + drops, sent)


class ShimIdleSoak(mb.StackTest):
    @mb.soak
    def test_gauge_repeats_until_idle_5min_then_forgotten(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        p = self.stack.shim("--flush-interval", "5s")
        port = shimlib.shim_port(self.stack, p)
        shimlib.send(port, "idle.g:42|g", "idle.c:1|c")
        t0 = time.monotonic()

        def gone():
            b = sink.batches()
            last = [x for x in b if any(r["name"] == "idle.g" for r in x["records"])]
            return last and b[-1]["seq"] > last[-1]["seq"] + 1 and last
        last = mb.poll(gone, timeout=400, interval=1, what="the gauge forgotten")
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 295)
        self.assertLess(took, 330)
        gs = [r["value"] for r in shimlib.records(last, "idle.g", "gauge")]
        self.assertGreater(len(gs), 55, "reported every interval while alive")
        self.assertEqual(set(gs), {42})
        self.assertEqual(shimlib.total(sink.batches(), "idle.c"), 1, "a counter only once")
        p.send_signal(15)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)
