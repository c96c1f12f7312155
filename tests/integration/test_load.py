"""test_load (soak, `make soak`): 200 shims at once, each fed 1,000 counters by its own blast
for minutes, every line counted at agentd; 1,000,000 series in one agentd at the finest level
(ten minutes of 10 s slots), its disk and memory reported; the per-source series limit holding
while it is full. Figures are printed (and copied into docs/security.md by hand)."""
import json
import os
import signal
import subprocess
import time
import unittest

import mbharness as mb
from agentd_util import mbsend, query, range_sum, self_total

SHIMS = int(os.environ.get("MB_LOAD_SHIMS", "200"))
SECONDS = int(os.environ.get("MB_LOAD_SECONDS", "120"))
ROUNDS = int(os.environ.get("MB_LOAD_ROUNDS", "60"))   # 60 x 10 s = ten minutes of slots


def status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith(key + ":"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return 0


def du(path):
    total = 0
    for d, _, files in os.walk(path):
        for f in files:
            total += os.stat(os.path.join(d, f)).st_blocks * 512
    return total


def export(stack):
    r = mbsend("query", stack.query, "export", "--timeout", 120000, timeout=200)
    return r[0]


def report(*lines):
    print("\n  " + "\n  ".join(lines), end=" ", flush=True)


class Load(mb.StackTest):
    @mb.soak
    def test_200_shims_1000_series_each_nothing_lost(self):
        st = self.stack
        agentd = st.agentd("--node-interval", "10s")
        shims, blasts = [], []
        for i in range(SHIMS):
            port = mb.free_port()
            p = st.shim("--listen", "127.0.0.1:%d" % port, "--container-id", "load-%d" % i,
                        "--flush-interval", "1s", "--drain-timeout", "60s")
            shims.append((p, port))
        # every shim delivering before the load starts
        for i, (p, port) in enumerate(shims):
            mb.poll(lambda: mb.send_udp(port, "up:1|c") or
                    self.in_export_quick(st, "load-%d" % i), timeout=120, interval=0.5,
                    what="shim %d delivering" % i)
        t0 = time.monotonic()
        for i, (p, port) in enumerate(shims):
            b = subprocess.Popen([mb.tool("blast"), "--port", str(port), "--mix", "counters",
                                  "--lines", "20", "--series", "1000", "--rate", "1000",
                                  "--duration", str(SECONDS), "--tags", "none",
                                  "--prefix", "ld"], stdout=subprocess.PIPE, text=True)
            blasts.append(b)
        sent = 0
        peak_shim = 0
        while any(b.poll() is None for b in blasts):
            peak_shim = max([peak_shim] + [status_kb(p.pid, "VmRSS") for p, _ in shims])
            time.sleep(1)   # sampling memory, not synchronising
        for b in blasts:
            out = json.loads(b.stdout.read())
            b.stdout.close()
            sent += out["lines"]
        hwm_shim = max(status_kb(p.pid, "VmHWM") for p, _ in shims)
        for p, _ in shims:
            p.send_signal(signal.SIGTERM)
        for p, _ in shims:
            p.wait(timeout=180)
            self.assertEqual(p.returncode, 0, st.log_of(p))
        took = time.monotonic() - t0
        ex = export(st)
        srcs = [s["src"] for s in ex["srcs"]]
        got = drops = 0
        series = set()
        for it in ex["items"]:
            src = srcs[it["src"]]
            if not src.startswith("load-"):
                continue
            if it["name"].startswith("ld."):
                got += it["total"]
                series.add((src, it["name"]))
            elif it["name"] == "metricsbus.shim.udp_drops":
                drops += it["total"]
        hwm_agentd = status_kb(agentd.pid, "VmHWM")
        report("%d shims x 1000 series for %ds: %d lines sent, %d counted at agentd, "
               "%d datagrams dropped by the kernel (counted by the shims), %d series"
               % (SHIMS, SECONDS, sent, got, drops, len(series)),
               "peak RSS: shim %d KiB (VmHWM %d KiB), agentd %d KiB; disk %d MiB; %.0fs"
               % (peak_shim, hwm_shim, hwm_agentd, du(st.data_dir) >> 20, took))
        self.assertEqual(len(series), SHIMS * 1000)
        # nothing the shims took in was lost: what the kernel dropped is counted by them
        self.assertEqual(got + 20 * drops, sent)
        self.assertLess(drops, sent / 20 / 100, "under 1% of datagrams dropped")
        self.assertLess(hwm_shim, 64 * 1024)
        self.assertIsNone(agentd.poll())

    def in_export_quick(self, st, cid):
        r = mbsend("query", st.query, "containers", "--timeout", 30000, check=False)
        return r and cid in r[0].get("ids", [])

    @mb.soak
    def test_million_series_finest_level_and_source_limit(self):
        st = self.stack
        agentd = st.agentd("--node-interval", "10s", "--max-series-per-source", "10000")
        start = (int(time.time() * 1000) // 10000) * 10000 - ROUNDS * 10000
        t0 = time.monotonic()
        r = subprocess.run([mb.tool("mbload"), "push", "--ingest", st.ingest, "--kind", "counter",
                            "--series", "1000000", "--sources", "100", "--rounds", str(ROUNDS),
                            "--threads", "4", "--per-batch", "10000", "--start-ms", str(start),
                            "--step-ms", "10000", "--prefix", "m"],
                           capture_output=True, text=True, timeout=3600)
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["points"], 1000000 * ROUNDS, out)
        self.assertEqual(out["rejected"], 0, out)
        # one source over its limit while the store is full of others: 10,000 held, the rest
        # refused and counted, the first 10,000 go on
        r2 = subprocess.run([mb.tool("mbload"), "push", "--ingest", st.ingest, "--kind", "counter",
                             "--series", "15000", "--sources", "1", "--rounds", "2",
                             "--threads", "1", "--per-batch", "5000", "--start-ms", str(start),
                             "--step-ms", "10000", "--prefix", "over"],
                            capture_output=True, text=True, timeout=600)
        out2 = json.loads(r2.stdout)
        # the data ends minutes ago when the push is long, so it is no longer in an export
        # (live series only): count each source's series, and sum a sample of them
        held = {}
        for src in ["m-src%d" % k for k in range(100)] + ["over-src0"]:
            r = query(st, "series", "--src", src, timeout=120)
            held[src] = len(r["series"]) if r and r.get("st") == 200 else 0
        self.assertEqual(sum(v for k, v in held.items() if k.startswith("m-src")), 1000000)
        for k in range(0, 100, 7):
            for i in (0, 4999, 9999):
                v = range_sum(st, "m-src%d" % k, "m.%d" % i)
                self.assertEqual(v, ROUNDS, ("m-src%d" % k, i))
        self.assertEqual(held["over-src0"], 10000)
        mb.poll(lambda: self_total(st, "agentd.series.refused", tags="reason:series_limit")
                >= 5000, timeout=60, what="refused series counted")
        hwm = status_kb(agentd.pid, "VmHWM")
        st.stop(agentd)
        disk = du(st.data_dir)
        report("1,000,000 series x %d slots of 10 s (%d points) in %.0fs: %.0f points/s, "
               "ack p99 %.1f ms" % (ROUNDS, out["points"], took, out["points_per_s"],
                                     out["ack_p99_ms"]),
               "agentd peak RSS %d MiB; store on disk %d MiB (%.1f bytes a point)"
               % (hwm >> 10, disk >> 20, disk / out["points"]),
               "source over its limit: %s" % out2)


if __name__ == "__main__":
    unittest.main()
