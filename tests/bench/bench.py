#!/usr/bin/python3
"""bench.py: drives every benchmark of `make bench` (real processes on temp dirs, loopback
only), prints one table and writes it, with the machine, into docs/benchmarks.md.

Usage: bench.py BUILD [--quick] [--only ingest,shimmem,agentd,disk,queries,mapping,api,e2e,ui,remotewrite]
                [--no-doc] [--baseline OLD_BUILD --baseline-rev REV]
Each figure is the median of REPS runs (3, or 1 with --quick) with its spread (min..max).
With --baseline, the sections in BASELINE_SECTIONS run REPS rounds against both builds'
programs (the load tools are this build's), the order alternating, and the table gets a
before/after section with the ratios."""
import argparse
import glob
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLK = os.sysconf("SC_CLK_TCK")
NPM = os.path.join(ROOT, "build", "bench", "npm")

# ---------------------------------------------------------------------- process metrics


def cpu_s(pid):
    """CPU time of a process, seconds: the scheduler's nanosecond run time summed over its
    threads (utime + stime count 10 ms ticks: too coarse for a one-second run)."""
    ns = 0
    try:
        for st in glob.glob(f"/proc/{pid}/task/*/schedstat"):
            try:
                with open(st) as f:
                    ns += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        pass
    if ns:
        return ns / 1e9
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / CLK


def status_field(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_kib(pid):
    return status_field(pid, "VmRSS")


def threads(pid):
    return status_field(pid, "Threads")


def udp_bound(port):
    hexport = ":%04X" % port
    for fn in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(fn) as f:
                for line in f.readlines()[1:]:
                    if line.split()[1].endswith(hexport):
                        return True
        except OSError:
            pass
    return False


def udp_drops(port):
    """The kernel's drop count of the UDP socket bound to port (datagrams)."""
    hexport = ":%04X" % port
    n = 0
    for fn in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(fn) as f:
                for line in f.readlines()[1:]:
                    p = line.split()
                    if p[1].endswith(hexport):
                        n += int(p[-1])
        except OSError:
            pass
    return n


def free_port(kind=socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def poll(fn, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # not up yet
            last = e
        time.sleep(interval)
    raise RuntimeError(f"timed out waiting for {what}" + (f" ({last!r})" if last else ""))


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class Fig:
    """A figure: the median of runs, with their spread."""

    def __init__(self, runs, unit="", fmt="{:.3g}"):
        self.runs = [r for r in runs if r is not None]
        self.unit = unit
        self.fmt = fmt

    @property
    def value(self):
        return med(self.runs)

    def __str__(self):
        if not self.runs:
            return "n/a"
        v = self.fmt.format(self.value)
        if len(self.runs) > 1 and min(self.runs) != max(self.runs):
            v += " (" + self.fmt.format(min(self.runs)) + "–" + self.fmt.format(max(self.runs)) + ")"
        return v + (" " + self.unit if self.unit else "")

    def merged(self, other):
        return Fig(self.runs + other.runs, self.unit, self.fmt)

    def ratio(self, before):
        if self.value is None or not before.value:
            return "n/a"
        return f"{self.value / before.value:.2f}x"


class Figs:
    """Figures shown in one cell, " / " between them (p50 / p99)."""

    def __init__(self, *figs):
        self.figs = list(figs)

    def __str__(self):
        return " / ".join(str(f) for f in self.figs)

    def merged(self, other):
        return Figs(*[a.merged(b) for a, b in zip(self.figs, other.figs)])

    def ratio(self, before):
        return " / ".join(a.ratio(b) for a, b in zip(self.figs, before.figs))


def met(ok):
    return "met" if ok else "MISSED"


# ---------------------------------------------------------------------- the run context


class Bench:
    def __init__(self, build, quick):
        self.build = os.path.abspath(build)
        self.bin = os.path.join(self.build, "bin")
        self.tools = os.path.join(self.bin, "tools")
        self.quick = quick
        self.reps = 1 if quick else 3
        self.dur = 1.0 if quick else 2.0
        self.fixed_dur = 1.0 if quick else 2.0
        self.dir = tempfile.mkdtemp(prefix="mbbench", dir="/tmp")
        self.procs = []
        self.tmpdirs = []
        self.rows = []      # [section, metric, ours, collectd, etsy, target, verdict, judge]
        self.variant = None  # "before" / "after" while a before/after section runs
        self.vrows = {}      # variant -> its rows, over the rounds
        self.round = 0       # the before/after round (1,000,000 series only in the first)
        self.notes = []
        self.npm = os.path.join(self.build, "npm")
        global NPM
        NPM = self.npm

    def log(self, msg):
        print(f"bench: {msg}", file=sys.stderr, flush=True)

    def spawn(self, argv, name, env=None, **kw):
        e = dict(os.environ)
        if env:
            e.update(env)
        logf = open(os.path.join(self.dir, f"{name}.{len(self.procs)}.log"), "wb")
        p = subprocess.Popen(argv, env=e, stdout=logf, stderr=subprocess.STDOUT, **kw)
        p.logfile = logf.name
        p.name = name
        self.procs.append(p)
        return p

    def logtail(self, p, n=20):
        try:
            with open(p.logfile, "rb") as f:
                return "\n".join(f.read().decode(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self, p, sig=signal.SIGTERM, timeout=10):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
        if not os.environ.get("MB_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
            for d in self.tmpdirs:
                shutil.rmtree(d, ignore_errors=True)

    def api(self, agentd, name):
        """A bridge on a free loopback port in front of agentd, once /healthz answers:
        (process, port)."""
        port = free_port(socket.SOCK_STREAM)
        p = self.spawn([os.path.join(self.bin, "metricsbus-api"), "--listen", f"127.0.0.1:{port}",
                        "--query", agentd.query, "--log-level", "warn"], name)
        poll(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200,
             timeout=20, what=f"{name} up")
        return p, port

    def row(self, section, metric, ours, collectd="", etsy="", target="", verdict="", judge=None):
        """A row of the table. Cells are Fig, Figs or text; judge(ours) gives the verdict when
        the table is written (after the before/after rounds are merged)."""
        if all(str(x) == "n/a" for x in (ours, collectd, etsy)):
            return  # not measured in this mode (QUICK skips some); failures are in the notes
        r = [section, metric, ours, collectd, etsy, target, verdict, judge]
        (self.vrows.setdefault(self.variant, []) if self.variant else self.rows).append(r)

    def have(self, *names):
        return all(os.access(os.path.join(self.bin, n), os.X_OK) for n in names)

    def blast(self, port, mix="counters", lines=1, series=10, rate=0, duration=None,
              count=None, tags="dog", prefix="bench"):
        argv = [os.path.join(self.tools, "blast"), "--port", str(port), "--mix", mix,
                "--lines", str(lines), "--series", str(series), "--rate", str(rate),
                "--tags", tags, "--prefix", prefix]
        if count:
            argv += ["--count", str(count)]
        else:
            argv += ["--duration", str(duration or self.dur)]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("blast failed: " + r.stderr)
        return json.loads(r.stdout)

    def mbload(self, *args, timeout=600):
        r = subprocess.run([os.path.join(self.tools, "mbload")] + [str(a) for a in args],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError("mbload %s failed: %s" % (args[0], r.stderr.strip()[-500:]))
        return json.loads(r.stdout)

    # ------------------------------------------------------------------ metricsbus stack
    def agentd(self, name="agentd", extra=()):
        d = tempfile.mkdtemp(prefix=name, dir=self.dir)
        run = os.path.join(d, "run")
        os.makedirs(run)
        ingest = "ipc://" + os.path.join(run, "ingest.sock")
        query = "ipc://" + os.path.join(run, "query.sock")
        argv = [os.path.join(self.bin, "metricsbus-agentd"), "--data-dir", os.path.join(d, "data"),
                "--ingest", ingest, "--query", query, "--max-series-per-source", "200000",
                "--node-interval", "60s", "--log-level", "warn"] + list(extra)
        p = self.spawn(argv, name, env={"METRICSBUS_RUN_DIR": run})
        p.ingest, p.query, p.data = ingest, query, os.path.join(d, "data")

        def up():
            if p.poll() is not None:
                raise RuntimeError("agentd exited %s: %s" % (p.returncode, self.logtail(p)))
            return os.path.exists(query[6:]) and self.mbload("query", "--query", query, "--op",
                                                             "ping", "--n", 1)
        poll(up, timeout=20, interval=0.1, what="agentd ready")
        return p


# ---------------------------------------------------------------------- statsd targets


class Target:
    """A statsd daemon under test: start() on a fresh port; counter_sum() is the running sum
    of every counter it delivered downstream (what it accounted for)."""
    name = "?"
    interval = 1.0

    def __init__(self, b):
        self.b = b
        self.port = None
        self.p = None
        self.dirty = False
        self.barriers = 0

    def pids(self):
        return [self.p.pid]

    def cpu(self):
        return sum(cpu_s(p) for p in self.pids())

    def rss(self):
        return sum(rss_kib(p) for p in self.pids())

    def threads(self):
        return sum(threads(p) for p in self.pids())

    def wait_bound(self):
        poll(lambda: self.p.poll() is None and udp_bound(self.port), timeout=20,
             what=f"{self.name} listening")

    def stop(self):
        if self.p:
            self.b.stop(self.p)
            self.p = None


class Collectd(Target):
    name = "collectd"
    tags = "name"  # its statsd plugin rejects DogStatsD tags: they go into the name

    def start(self):
        self.port = free_port()
        d = tempfile.mkdtemp(prefix="collectd", dir=self.b.dir)
        # its csv files in memory: the writer's disk I/O is not what is compared
        self.csv = tempfile.mkdtemp(prefix="mbbench-collectd-csv", dir="/dev/shm" if os.path.isdir("/dev/shm") else self.b.dir)
        self.b.tmpdirs.append(self.csv)
        conf = os.path.join(d, "collectd.conf")
        with open(conf, "w") as f:
            f.write(f"""Hostname "bench"
FQDNLookup false
Interval {self.interval:g}
BaseDir "{d}"
PIDFile "{d}/collectd.pid"
TypesDB "/usr/share/collectd/types.db"
WriteThreads 1
ReadThreads 1
LoadPlugin statsd
LoadPlugin csv
<Plugin statsd>
  Host "127.0.0.1"
  Port "{self.port}"
  DeleteCounters false
</Plugin>
<Plugin csv>
  DataDir "{self.csv}"
  StoreRates false
</Plugin>
""")
        self.p = self.b.spawn(["collectd", "-f", "-C", conf], "collectd")
        self.wait_bound()

    def counter_sum(self, prefix="bench."):
        # derive-NAME-DATE holds the counter's running total, last line = latest flush
        total = 0
        for fn in glob.glob(os.path.join(self.csv, "bench", "statsd", "derive-" + prefix + "*")):
            with open(fn, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 256))
                lines = f.read().decode(errors="replace").strip().splitlines()
            if lines and not lines[-1].startswith("epoch"):
                try:
                    total += float(lines[-1].split(",")[1])
                except (IndexError, ValueError):
                    pass
        return total


class Etsy(Target):
    name = "etsy-statsd"
    tags = "dog"

    def start(self):
        self.port = free_port()
        d = tempfile.mkdtemp(prefix="etsy", dir=self.b.dir)
        self.countfile = os.path.join(d, "count.json")
        conf = os.path.join(d, "config.js")
        with open(conf, "w") as f:
            f.write("{ port: %d, address: '127.0.0.1', mgmt_address: '127.0.0.1', mgmt_port: %d,"
                    " flushInterval: %d, backends: [%s], benchCountFile: %s,"
                    " percentThreshold: [50, 90, 95, 99] }\n"
                    % (self.port, free_port(socket.SOCK_STREAM), int(self.interval * 1000),
                       json.dumps(os.path.join(HERE, "count_backend.js")), json.dumps(self.countfile)))
        main = os.path.join(self.b.npm, "node_modules", "statsd", "stats.js")
        self.p = self.b.spawn(["node", main, conf], "etsy-statsd")
        self.wait_bound()

    def counter_sum(self, prefix="bench."):
        try:
            with open(self.countfile) as f:
                return json.load(f)["sums"].get(prefix.rstrip("."), 0)
        except (OSError, ValueError, KeyError):
            return 0


class Shim(Target):
    name = "metricsbus-shim"
    tags = "dog"

    def start(self):
        if not hasattr(self, "agent") or self.agent.poll() is not None:
            self.agent = self.b.agentd("agentd-ingest")
        self.port = free_port()
        self.cid = "bench-shim-%d" % self.port
        self.p = self.b.spawn([os.path.join(self.b.bin, "metricsbus-shim"), "--agent", self.agent.ingest,
                               "--listen", f"127.0.0.1:{self.port}", "--container-id", self.cid,
                               "--flush-interval", f"{int(self.interval * 1000)}ms",
                               "--log-level", "warn"], "shim")
        self.wait_bound()
        # one long-lived counting client: polling agentd must not open a connection a time
        self.counter = subprocess.Popen([os.path.join(self.b.tools, "mbload"), "count", "--query",
                                         self.agent.query, "--source", self.cid, "--stdin"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.b.procs.append(self.counter)

    def counter_sum(self, prefix="bench."):
        self.counter.stdin.write(prefix + "\n")
        self.counter.stdin.flush()
        r, _, _ = select.select([self.counter.stdout], [], [], 60)
        if not r:
            raise RuntimeError("mbload count: no answer in 60 s")
        line = self.counter.stdout.readline()
        v = json.loads(line)
        if "counter_sum" not in v:
            raise RuntimeError("mbload count failed: " + line)
        return v["counter_sum"]

    def stop(self):
        if getattr(self, "counter", None):
            self.counter.stdin.close()
            self.b.stop(self.counter)
            self.counter = None
        Target.stop(self)


def barrier(t, timeout=20.0):
    """Waits until everything sent before now has been flushed downstream: a counter of a
    name never used before, sent after the load, must show up; twice, since the second covers
    the flush that carried the first. Returns False (and marks the target dirty, to be
    restarted before its next run) when that takes longer than timeout."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _ in range(2):
            t.barriers += 1
            prefix = f"zb{t.barriers}."
            line = f"zb{t.barriers}.c.0:1|c".encode()
            deadline = time.monotonic() + timeout
            sent_at = 0
            while True:
                now = time.monotonic()
                if now > deadline:
                    t.dirty = True
                    return False
                if now - sent_at > 1.0 + 2 * t.interval:  # a lost datagram is sent again
                    s.sendto(line, ("127.0.0.1", t.port))
                    sent_at = now
                time.sleep(0.05)
                if t.counter_sum(prefix) > 0:
                    break
        return True
    finally:
        s.close()


def probe(b, t, load, rate, duration=None):
    """One run of a load into a running target: the share accounted for and the CPU."""
    if t.dirty:
        b.log(f"  {t.name}: restarting it (its flush fell behind the last run)")
        t.stop()
        t.start()
        warm(b, t, load)
    before = t.last_total
    drops0 = udp_drops(t.port)
    cpu0 = t.cpu()
    t0 = time.monotonic()
    r = b.blast(t.port, mix=load["mix"], lines=load["lines"], series=load["series"], rate=rate,
                duration=duration, tags=t.tags if load["mix"] == "mixed" else "none")
    rss = t.rss()
    thr = t.threads()
    # CPU from the send until the barrier (everything flushed), less the idle cost of that
    # span: targets that take longer to catch up are charged for it, not for waiting.
    barrier(t)
    cpu1, tc1 = t.cpu(), time.monotonic()
    after = t.counter_sum()
    t.last_total = after
    share = (after - before) / r["counter_sum"] if r["counter_sum"] else None
    accounted_lines = share * r["lines"] if share else 0
    # marginal CPU: what the lines cost above the target's idle flushing of the same series
    work = (cpu1 - cpu0) - t.idle_rate * (tc1 - t0)
    return {"share": share, "sent": r["lines"], "rate": r["lines_per_s"],
            "cpu": cpu1 - cpu0,
            "cpu_per_m": max(0.0, work) / (accounted_lines / 1e6) if accounted_lines else None,
            "rss": rss, "threads": thr, "drops": udp_drops(t.port) - drops0}


LOADS = [
    {"key": "c1", "desc": "counters, 1 line/datagram, 10 series", "mix": "counters", "lines": 1, "series": 10},
    {"key": "c20", "desc": "counters, 20 lines/datagram, 1,000 series", "mix": "counters", "lines": 20, "series": 1000},
    {"key": "mix", "desc": "mixed c/g/ms/s with 3 tags, 20 lines/datagram, 10,000 series", "mix": "mixed", "lines": 20, "series": 10000},
]
FIXED_RATE = 100000
LOSSLESS = 0.999


def warm(b, t, load):
    """Every series once, slowly, so that the runs measure steady state, not creation."""
    b.blast(t.port, mix=load["mix"], lines=load["lines"], series=load["series"], rate=200000,
            count=load["series"], tags=t.tags if load["mix"] == "mixed" else "none")
    t.dirty = False
    if not barrier(t, timeout=30):
        raise RuntimeError(f"{t.name} did not flush the warm-up in 30 s")
    t.last_total = t.counter_sum()
    # idle cost with the series live: flushing them every interval (and the writer's share)
    c0, t0 = t.cpu(), time.monotonic()
    time.sleep((1 if b.quick else 2) * t.interval)
    t.idle_rate = (t.cpu() - c0) / (time.monotonic() - t0)


def lossless_search(b, t, load):
    """Highest rate (lines/s) at which >= 99.9% was accounted for: doubling up (or halving
    down) from a start rate, then bisecting. Returns (best good rate, lowest bad rate); bad is
    None when the sender itself could go no faster."""
    good, bad = None, None

    def run(rate):
        r = probe(b, t, load, rate, duration=1.0)
        b.log(f"  {t.name} {load['key']} @{rate}: {r['share']:.4f} (sent at {r['rate']:.0f}/s)")
        return r["share"] is not None and r["share"] >= LOSSLESS, r["rate"]

    rate = 200000 if b.quick else 100000
    ok, sent = run(rate)
    if ok:
        while ok:
            if sent < 0.95 * rate:  # the sender's limit, not the target's
                return int(sent), None
            good = rate
            rate *= 2
            ok, sent = run(rate)
        bad = rate
    else:
        bad = rate
        while rate > 12500:
            rate //= 2
            ok, sent = run(rate)
            if ok:
                good = rate
                break
            bad = rate
    steps = 0 if b.quick else 2
    while good and bad and steps > 0:
        mid = int((good + bad) / 2)
        ok, sent = run(mid)
        if ok:
            good = mid
        else:
            bad = mid
        steps -= 1
    return good, bad


def bench_ingest(b):
    targets = []
    if b.have("metricsbus-shim", "metricsbus-agentd") and os.path.exists(os.path.join(b.tools, "mbload")):
        targets.append(Shim(b))
    else:
        b.notes.append("metricsbus-shim/agentd/mbload not built: the shim's ingest figures are missing.")
    targets.append(Collectd(b))
    if os.path.exists(os.path.join(b.npm, "node_modules", "statsd", "stats.js")):
        targets.append(Etsy(b))
    if os.environ.get("BENCH_TARGETS"):
        targets = [t for t in targets if t.name in os.environ["BENCH_TARGETS"].split(",")]
    res = {}  # (target, load, what) -> list
    lossless = {}
    loads = [ld for ld in LOADS if not (b.quick and ld["key"] == "c1")]
    for load in loads:
        for t in targets:
            try:
                t.start()
                warm(b, t, load)
                res.setdefault((t.name, load["key"], "idle"), []).append(t.idle_rate * 100)
                for rep in range(b.reps):
                    r = probe(b, t, load, 0)
                    b.log(f"{t.name} {load['key']} full speed: {r}")
                    for k, v in r.items():
                        res.setdefault((t.name, load["key"], "full_" + k), []).append(v)
                for rep in range(0 if b.quick and load["key"] != "mix" else b.reps):
                    r = probe(b, t, load, FIXED_RATE, duration=b.fixed_dur)
                    b.log(f"{t.name} {load['key']} @{FIXED_RATE}: {r}")
                    for k, v in r.items():
                        res.setdefault((t.name, load["key"], "fixed_" + k), []).append(v)
                if load["key"] == "mix":
                    lossless[(t.name, load["key"])] = lossless_search(b, t, load)
            except Exception as e:  # a peer or program that fails is reported, not fatal
                b.log(f"{t.name} {load['key']}: {e}")
                b.notes.append(f"{t.name}, {load['desc']}: failed: {e}")
            finally:
                t.stop()
    for t in targets:
        if isinstance(t, Shim) and hasattr(t, "agent"):
            b.stop(t.agent)

    def fig(tn, lk, what, unit="", fmt="{:.3g}", scale=1.0):
        return Fig([None if v is None else v * scale for v in res.get((tn, lk, what), [])], unit, fmt)

    names = ["metricsbus-shim", "collectd", "etsy-statsd"]
    for load in loads:
        lk = load["key"]
        sec = "ingest: " + load["desc"]
        shares = [fig(n, lk, "full_share", "%", "{:.1f}", 100) for n in names]
        tgt = "< 1% lost" if lk in ("c1", "c20") else ""
        verdict = ""
        if tgt and shares[0].value is not None:
            verdict = "met" if shares[0].value >= 99.0 else "MISSED"
        b.row(sec, "share accounted for, sender flat out", *shares, tgt, verdict)
        b.row(sec, "sender's rate, flat out (lines/s)", *[fig(n, lk, "full_rate", "", "{:.3g}") for n in names])
        b.row(sec, f"share accounted for at {FIXED_RATE:,} lines/s",
              *[fig(n, lk, "fixed_share", "%", "{:.1f}", 100) for n in names])
        cpus = [fig(n, lk, "fixed_cpu_per_m", "s", "{:.3g}") for n in names]
        verdict = ""
        if cpus[0].value is not None and cpus[1].value is not None:
            verdict = "met" if cpus[0].value <= 0.5 * cpus[1].value else "MISSED"
            if cpus[1].value > 0:
                verdict += f" ({cpus[0].value / cpus[1].value:.2f}x collectd)"
        b.row(sec, f"CPU-seconds per million lines at {FIXED_RATE:,} lines/s", *cpus,
              "<= 0.5x collectd", verdict)
        b.row(sec, "idle CPU with the series live (flushing them), % of a core",
              *[fig(n, lk, "idle", "%", "{:.1f}") for n in names])
        b.row(sec, "CPU-seconds per million lines, flat out",
              *[fig(n, lk, "full_cpu_per_m", "s", "{:.3g}") for n in names])
        b.row(sec, "resident memory after the flat-out run",
              *[fig(n, lk, "full_rss", "MiB", "{:.1f}", 1 / 1024) for n in names])
        b.row(sec, "threads", *[fig(n, lk, "full_threads", "", "{:.0f}") for n in names])
        if any((n, lk) in lossless for n in names):
            cells = []
            for n in names:
                g = lossless.get((n, lk))
                if not g:
                    cells.append("n/a")
                elif g[0] is None:
                    cells.append(f"< {g[1]:,}")
                else:
                    cells.append(f"{g[0]:,}" + (f" (< {g[1]:,})" if g[1] else " (or more)"))
            tgt, verdict = "", ""
            if lk == "mix":
                tgt = ">= 2x collectd"
                s, c = lossless.get(("metricsbus-shim", lk)), lossless.get(("collectd", lk))
                if s and c and s[0] and c[0]:
                    verdict = ("met" if s[0] >= 2 * c[0] else "MISSED") + f" ({s[0] / c[0]:.1f}x)"
            b.row(sec, "highest lossless rate (>= 99.9% accounted), lines/s", *cells, tgt, verdict)


def bench_shim_memory(b):
    """The shim's resident memory by number of live series (counters+gauges; timers)."""
    if not (b.have("metricsbus-shim", "metricsbus-agentd") and os.path.exists(os.path.join(b.tools, "mbload"))):
        b.notes.append("shim memory: programs not built")
        return
    agent = b.agentd("agentd-mem")
    sizes = [1000, 2000, 11000]
    out = {}
    thr = []
    try:
        for mix in ("cg", "timers"):
            for n in sizes:
                runs = []
                for rep in range(b.reps):
                    port = free_port()
                    p = b.spawn([os.path.join(b.bin, "metricsbus-shim"), "--agent", agent.ingest,
                                 "--listen", f"127.0.0.1:{port}", "--container-id", f"mem{mix}{n}r{rep}",
                                 "--flush-interval", "1s", "--log-level", "warn"], "shim-mem")
                    poll(lambda: udp_bound(port), timeout=10, what="shim listening")
                    # every series several times over two flushes, then the steady state
                    for _ in range(3):
                        b.blast(port, mix=mix, lines=20, series=n, rate=100000, count=n, tags="none")
                        time.sleep(0.4)
                    time.sleep(1.5)  # two more flushes: the batches are acknowledged
                    runs.append(rss_kib(p.pid))
                    thr.append(threads(p.pid))
                    b.stop(p)
                out[(mix, n)] = runs
                b.log(f"shim memory {mix} {n}: {runs} KiB")
    finally:
        b.stop(agent)
    f1 = Fig([x / 1024 for x in out[("cg", 1000)]], "MiB", "{:.2f}")
    b.row("shim memory", "resident, 1,000 live counter+gauge series", f1, "", "", "< 4 MiB",
          "met" if f1.value < 4 else "MISSED")
    slope = Fig([(c - a) / 10 for a, c in zip(out[("cg", 1000)], out[("cg", 11000)])], "KiB", "{:.0f}")
    b.row("shim memory", "each further 1,000 counter+gauge series", slope, "", "", "< 512 KiB",
          "met" if slope.value < 512 else "MISSED")
    # nng's pools are fixed at build time for the shim (docs/dependencies.md), so the count is
    # the same on any host; Debian's nng 1.5.2 gave 15 here and about 89 on 64 CPUs
    # (2 task threads per CPU up to 16, an expire thread per CPU, 4 resolvers, timer, poller,
    # reaper, and the shim's own 2).
    most = max(thr) if thr else 0
    b.row("shim memory", f"threads, on {os.cpu_count()} CPUs (the same on 64)", f"{most}", "", "",
          "<= 8", "met" if most and most <= 8 else "MISSED")
    tslope = Fig([(c - a) / 10000 * 1024 for a, c in zip(out[("timers", 1000)], out[("timers", 11000)])],
                 "bytes", "{:.0f}")
    b.row("shim memory", "cost of a timer series (1,000 -> 11,000 timers)", tslope, "", "", "reported", "")


def du_bytes(path):
    n = 0
    for dp, _, fns in os.walk(path):
        for fn in fns:
            try:
                n += os.stat(os.path.join(dp, fn)).st_blocks * 512
            except OSError:
                pass
    return n


def mdb_used_bytes(path):
    """Pages LMDB has in use (not the sparse map size): from mdb_stat -e."""
    r = subprocess.run(["mdb_stat", "-e", path], capture_output=True, text=True)
    m_last = re.search(r"Number of pages used: (\d+)", r.stdout)
    m_ps = re.search(r"Page size: (\d+)", r.stdout)
    m_free = re.search(r"Free pages: (\d+)", r.stdout)
    if not m_last:
        return None
    ps = int(m_ps.group(1)) if m_ps else 4096
    return (int(m_last.group(1)) - (int(m_free.group(1)) if m_free else 0)) * ps


def bench_agentd(b):
    if not (b.have("metricsbus-agentd") and os.path.exists(os.path.join(b.tools, "mbload"))):
        b.notes.append("agentd: programs not built")
        return
    # points committed per second, by live series; many shims (threads) pushing at once
    sizes = [1000, 100000] + ([] if b.quick or b.round > 0 else [1000000])
    for n in sizes:
        sources = max(1, n // 100000) if n > 100000 else (10 if n >= 100000 else 1)
        rounds = max(2, min(50, 1000000 // n))
        if b.quick:
            rounds = max(2, rounds // 3)
        runs, acks50, acks99, rss, anon, mapped = [], [], [], [], [], []
        for rep in range(b.reps if n < 1000000 else 1):
            a = b.agentd("agentd-pts")
            try:
                # the first round registers the series; the others are steady-state points
                b.mbload("push", "--ingest", a.ingest, "--series", n, "--sources", sources,
                         "--rounds", 1, "--threads", min(8, sources), "--per-batch", 10000,
                         "--prefix", "pts", "--start-ms", int(time.time() * 1000) - 3600000)
                r = b.mbload("push", "--ingest", a.ingest, "--series", n, "--sources", sources,
                             "--rounds", rounds, "--threads", min(8, sources), "--per-batch", 10000,
                             "--prefix", "pts")
                b.log(f"agentd {n} series: {r}")
                rss.append(rss_kib(a.pid) / 1024)
                # anonymous (heap: registry, buffers, LMDB's dirty-page copies) apart from the
                # file pages LMDB maps
                anon.append(status_field(a.pid, "RssAnon"))
                mapped.append(status_field(a.pid, "RssFile"))
                runs.append(r["points_per_s"])
                acks50.append(r["ack_p50_ms"])
                acks99.append(r["ack_p99_ms"])
            except Exception as e:
                b.notes.append(f"agentd points/s at {n:,} series: {e}")
                b.log(str(e))
            finally:
                b.stop(a)
        f = Fig(runs, "points/s", "{:,.0f}")
        big = n == 100000
        b.row("agentd", f"points committed per second, {n:,} live series (10,000-record batches)",
              f, "", "", ">= 600,000 points/s" if big else "",
              judge=(lambda c: met(c.value >= 600000)) if big else None)
        b.row("agentd", f"acknowledgement latency of a 10,000-record batch, {n:,} series, p50 / p99",
              Figs(Fig(acks50, 'ms', '{:.2f}'), Fig(acks99, 'ms', '{:.2f}')))
        b.row("agentd", f"resident memory with {n:,} series", Fig(rss, "MiB", "{:.0f}"))
        b.row("agentd", f"anonymous memory (RssAnon) / LMDB's mapped file pages (RssFile), {n:,} series",
              Figs(Fig([x / 1024 for x in anon], "MiB", "{:.0f}"), Fig([x / 1024 for x in mapped], "MiB", "{:.0f}")))
        b.row("agentd", f"anonymous memory per live series (RssAnon / series), {n:,} series",
              Fig([x * 1024 / n for x in anon], "bytes", "{:,.0f}"), "", "", "<= 1 KiB" if big else "",
              judge=(lambda c: met(c.value <= 1024)) if big else None)
    # small batches: the latency a shim sees
    a = b.agentd("agentd-ack")
    try:
        lat50, lat99 = [], []
        for rep in range(b.reps):
            r = b.mbload("push", "--ingest", a.ingest, "--series", 100, "--sources", 1, "--rounds", 300,
                         "--threads", 1, "--per-batch", 100, "--prefix", f"ack{rep}", "--kind", "mixed")
            lat50.append(r["ack_p50_ms"])
            lat99.append(r["ack_p99_ms"])
        b.row("agentd", "acknowledgement latency of a 100-record batch (one shim), p50 / p99",
              Figs(Fig(lat50, 'ms', '{:.3f}'), Fig(lat99, 'ms', '{:.3f}')))
    except Exception as e:
        b.notes.append(f"agentd ack latency: {e}")
    finally:
        b.stop(a)


def mapping_rules(n):
    """n glob rules the way a large statsd_exporter file looks: n-1 services' rules (literal
    first component, stars after) that the bench's names never match, then one that maps every
    name, renaming it and adding a label from a capture (the costly path: a new name and tags
    per record)."""
    out = ["mappings:"]
    for i in range(n - 1):
        out += [f"- match: svc{i}.*.requests.*", f"  name: svc{i}_requests",
                "  labels:", "    route: \"$1\"", "    code: \"$2\""]
    out += ["- match: app.*.*", "  name: app_$1", "  labels:", "    id: \"$2\""]
    return "\n".join(out) + "\n"


def bench_mapping(b):
    """agentd's points/s with 1,000 glob rules (--mapping) against none, side by side: the same
    push (100,000 series in 10 sources, 10,000-record batches), alternating the two agentds."""
    if not (b.have("metricsbus-agentd") and os.path.exists(os.path.join(b.tools, "mbload"))):
        b.notes.append("mapping: programs not built")
        return
    path = os.path.join(b.dir, "mapping-1000.yml")
    with open(path, "w") as f:
        f.write(mapping_rules(1000))
    n, sources = 100000, 10
    rounds = 3 if b.quick else 10
    runs = {"none": [], "rules": []}
    # pairs run back to back (the order alternating), so both cases see the same machine
    for rep in range(b.reps * 2 - 1):
        for case in (("none", "rules") if rep % 2 == 0 else ("rules", "none")):
            a = b.agentd("agentd-map", extra=["--mapping", path] if case == "rules" else [])
            try:
                b.mbload("push", "--ingest", a.ingest, "--series", n, "--sources", sources,
                         "--rounds", 1, "--threads", sources, "--per-batch", 10000,
                         "--prefix", "app.web", "--start-ms", int(time.time() * 1000) - 3600000)
                r = b.mbload("push", "--ingest", a.ingest, "--series", n, "--sources", sources,
                             "--rounds", rounds, "--threads", sources, "--per-batch", 10000,
                             "--prefix", "app.web")
                b.log(f"mapping {case}: {r}")
                runs[case].append(r["points_per_s"])
            except Exception as e:
                b.notes.append(f"mapping {case}: {e}")
                b.log(str(e))
            finally:
                b.stop(a)
    none, rules = Fig(runs["none"], "points/s", "{:,.0f}"), Fig(runs["rules"], "points/s", "{:,.0f}")
    pairs = [r / n for n, r in zip(runs["none"], runs["rules"]) if n]
    ratio = med(pairs) if pairs else None
    b.row("mapping", "points committed per second, 100,000 series: without rules / with 1,000 glob "
          "rules (--mapping, every point renamed and labelled)", f"{none} / {rules}", "", "",
          ">= 0.85x without rules",
          (f"{'met' if ratio >= 0.85 else 'MISSED'}: {ratio:.2f}x") if ratio else "")


def bench_agentd_disk(b):
    """Bytes on disk by type and level: agentd with that one level as its whole retention,
    200 series pushed slot after slot (one batch per slot: the run is bound by the commit
    latency, so the cases run side by side, each with its own agentd). The 10 s counter and
    gauge rings are filled (2,160 slots, the target's case); the others get 540 slots, which
    is enough for a per-point figure (a partly filled ring slightly overstates it)."""
    import concurrent.futures
    n = 200
    if b.quick:
        cases = [("counter", "10s:6h", 540), ("gauge", "10s:6h", 540)]
    else:
        cases = [("counter", "10s:6h", 2160), ("gauge", "10s:6h", 2160), ("timer", "10s:6h", 540),
                 ("set", "10s:6h", 540), ("counter", "1m:7d", 540), ("counter", "1h:90d", 540)]

    def one(case):
        kind, ret, slots = case
        res_ms = 10000 if ret.startswith("10s") else 60000 if ret.startswith("1m") else 3600000
        a = b.agentd("agentd-disk", extra=("--retention", ret))
        try:
            before = mdb_used_bytes(a.data)
            now = int(time.time() * 1000)
            r = b.mbload("push", "--ingest", a.ingest, "--series", n, "--sources", 4, "--rounds", slots,
                         "--threads", 4, "--per-batch", n, "--prefix", "disk", "--kind", kind,
                         "--step-ms", res_ms, "--start-ms", now - slots * res_ms, timeout=900)
        finally:
            b.stop(a)
        used = mdb_used_bytes(a.data)
        if used is None or not r["points"]:
            raise RuntimeError("no size from mdb_stat or no points")
        return (used - (before or 0)) / r["points"], res_ms

    with concurrent.futures.ThreadPoolExecutor(len(cases)) as ex:
        futs = [(c, ex.submit(one, c)) for c in cases]
    for (kind, ret, slots), f in futs:
        try:
            bpp, res_ms = f.result()
        except Exception as e:
            b.notes.append(f"agentd disk {kind} {ret}: {e}")
            continue
        b.log(f"disk {kind} {ret} {slots} slots: {bpp:.1f} B/point")
        full = slots == 2160 and ret == "10s:6h"
        tgt, verdict = "", ""
        if ret == "10s:6h" and kind in ("counter", "gauge"):
            tgt = "<= 12 B/point, ring full"
            verdict = ("met" if bpp <= 12 else "MISSED") if full else "(ring not full: QUICK)"
        res_s = res_ms / 1000
        b.row("agentd disk", f"{kind}, level {ret}: bytes per point ({slots:,} slots filled{', ring full' if full else ''})"
              f"; per series per day; per series when the ring is full",
              f"{bpp:.1f} B; {bpp * 86400 / res_s / 1024:,.1f} KiB/day; "
              f"{bpp * mb_span_s(ret) / res_s / 1024:,.0f} KiB", "", "", tgt, verdict)


def mb_span_s(ret):
    span = ret.split(":")[1]
    return int(span[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[span[-1]]


def bench_agentd_queries(b):
    a = b.agentd("agentd-q")
    try:
        now = int(time.time() * 1000)
        # a container with 1,000 series, recent data
        b.mbload("push", "--ingest", a.ingest, "--series", 1000, "--sources", 1, "--rounds", 3,
                 "--threads", 1, "--per-batch", 1000, "--prefix", "q", "--kind", "mixed")
        # one series with 7 days of 1-minute points (the range queries)
        rounds = 10080 if not b.quick else 2016
        b.mbload("push", "--ingest", a.ingest, "--series", 1, "--sources", 1, "--rounds", rounds,
                 "--threads", 1, "--per-batch", 1, "--prefix", "r", "--kind", "gauge",
                 "--step-ms", 60000, "--start-ms", now - rounds * 60000, timeout=900)
        n = 100 if b.quick else 300
        app = [b.mbload("query", "--query", a.query, "--op", "app", "--source", "q-src0", "--n", n)
               for _ in range(b.reps)]
        b.log(f"app query: {app}")
        f99 = Fig([x["p99_ms"] for x in app], "ms", "{:.3f}")
        b.row("agentd queries", f"app, container with 1,000 series ({app[0]['items']} points), p50 / p99",
              Figs(Fig([x['p50_ms'] for x in app], 'ms', '{:.3f}'), f99), "", "", "< 2 ms p99",
              judge=lambda c: met(c.figs[1].value < 2))
        for span, step in (("1h", "0"), ("1d", "0"), ("7d", "0"), ("7d", "1m")):
            rs = [b.mbload("query", "--query", a.query, "--op", "range", "--source", "r-src0",
                           "--name", "r.0", "--span", span, "--step", step, "--n", n) for _ in range(b.reps)]
            f99 = Fig([x["p99_ms"] for x in rs], "ms", "{:.3f}")
            tgt = "< 10 ms" if span == "7d" and step == "1m" else ""
            b.row("agentd queries", f"range over {span}, step {'auto' if step == '0' else step} ({rs[0]['items']} points), p50 / p99",
                  Figs(Fig([x['p50_ms'] for x in rs], 'ms', '{:.3f}'), f99), "", "", tgt,
                  judge=(lambda c: met(c.figs[1].value < 10)) if tgt else None)
        b.agent_q = a  # kept for the api bench
        b.rss_agentd = rss_kib(a.pid)
        b.row("agentd queries", "agentd's resident memory, 1,001 series after the queries",
              Fig([rss_kib(a.pid) / 1024], "MiB", "{:.1f}"))
    except Exception as e:
        b.notes.append(f"agentd queries: {e}")
        b.log(str(e))
        b.stop(a)


def wrk(b, url, seconds, conns=8, threads=2, cpu_pids=()):
    """wrk's rate and latency; with cpu_pids, also "cpu_ms": those processes' CPU-milliseconds
    per request answered during the run."""
    lua = os.path.join(b.dir, "latency.lua")
    with open(lua, "w") as f:
        f.write('done = function(summary, latency, requests)\n'
                '  io.write(string.format("JSON {\\"rps\\":%f,\\"p50\\":%f,\\"p99\\":%f,\\"errors\\":%d,\\"non2xx\\":%d,\\"requests\\":%d}\\n",'
                ' summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,'
                ' latency:percentile(99) / 1000, summary.errors.connect + summary.errors.read +'
                ' summary.errors.write + summary.errors.timeout, summary.errors.status, summary.requests))\nend\n')
    c0 = sum(cpu_s(p) for p in cpu_pids)
    r = subprocess.run(["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{seconds}s", "--timeout", "10s",
                        "-s", lua, url], capture_output=True, text=True, timeout=seconds + 60)
    c1 = sum(cpu_s(p) for p in cpu_pids)
    m = re.search(r"^JSON (.*)$", r.stdout, re.M)
    if not m:
        raise RuntimeError("wrk: " + r.stdout[-300:] + r.stderr[-300:])
    v = json.loads(m.group(1))
    if cpu_pids and v.get("requests"):
        v["cpu_ms"] = (c1 - c0) * 1000 / v["requests"]
    return v


def bench_api(b):
    if not (b.have("metricsbus-api", "metricsbus-agentd") and os.path.exists(os.path.join(b.tools, "mbload"))):
        b.notes.append("api: programs not built")
        return
    a = getattr(b, "agent_q", None)
    if a is None or a.poll() is not None:
        a = b.agentd("agentd-api")
        b.mbload("push", "--ingest", a.ingest, "--series", 1000, "--sources", 1, "--rounds", 3,
                 "--threads", 1, "--per-batch", 1000, "--prefix", "q", "--kind", "mixed")
    # /metrics over 100,000 series: 10 containers of 10,000
    b.mbload("push", "--ingest", a.ingest, "--series", 99000, "--sources", 9, "--rounds", 2,
             "--threads", 3, "--per-batch", 11000, "--prefix", "exp", "--kind", "mixed")
    api, port = b.api(a, "api")
    try:
        secs = 2 if b.quick else 5
        base = f"http://127.0.0.1:{port}"
        app = [wrk(b, base + "/system/v1/metrics/v0/containers/q-src0/app", secs, cpu_pids=(api.pid, a.pid))
               for _ in range(b.reps)]
        app1 = [wrk(b, base + "/system/v1/metrics/v0/containers/q-src0/app", secs, conns=1, threads=1)
                for _ in range(b.reps)]
        direct = [b.mbload("query", "--query", a.query, "--op", "app", "--source", "q-src0", "--n", 300)
                  for _ in range(b.reps)]
        b.log(f"wrk app: {app} single: {app1} direct: {direct}")
        b.row("api", "/containers/{id}/app, 1,000 series, wrk 8 connections: req/s",
              Fig([x["rps"] for x in app], "req/s", "{:,.0f}"), "", "", "reported")
        b.row("api", "/containers/{id}/app, 8 connections: p50 / p99",
              Figs(Fig([x['p50'] for x in app], 'ms', '{:.2f}'), Fig([x['p99'] for x in app], 'ms', '{:.2f}')))
        b.row("api", "/containers/{id}/app, 1,000 series: CPU per answer, bridge + agentd (under wrk, 8 connections)",
              Fig([x.get("cpu_ms") for x in app], "ms", "{:.3f}"), "", "", "≤ 1 ms",
              judge=lambda c: met(c.value is not None and c.value <= 1))
        over50 = Fig([x["p50"] - d["p50_ms"] for x, d in zip(app1, direct)], "ms", "{:.3f}")
        b.row("api", "bridge overhead at p50: wrk 1 connection minus agentd req/rep, /app", over50)
        over = Fig([x["p99"] - d["p99_ms"] for x, d in zip(app1, direct)], "ms", "{:.3f}")
        b.row("api", "bridge overhead at p99: wrk 1 connection minus agentd req/rep, /app",
              over, "", "", "< 1 ms", judge=lambda c: met(c.value < 1))
        mets = [wrk(b, base + "/metrics", secs * 2, conns=2, threads=2) for _ in range(b.reps)]
        # one connection, no Accept-Encoding: the answer rendered (export query, decode,
        # text) without gzip and without a second scrape competing for the 2 cores
        met1 = [wrk(b, base + "/metrics", secs * 2, conns=1, threads=1, cpu_pids=(api.pid, a.pid))
                for _ in range(b.reps)]
        b.log(f"wrk metrics: {mets} single: {met1}")
        try:
            body = urllib.request.urlopen(base + "/metrics", timeout=60).read()
            b.row("api", "/metrics size, 100,000 series", f"{len(body) / 1e6:.1f} MB")
        except Exception as e:
            b.notes.append(f"/metrics fetch: {e}")
        b.row("api", "/metrics, 100,000 series, wrk 2 connections: req/s",
              Fig([x["rps"] for x in mets], "req/s", "{:.3g}"), "", "", "reported")
        b.row("api", "/metrics, 100,000 series: p50 / p99",
              Figs(Fig([x['p50'] for x in mets], 'ms', '{:.0f}'), Fig([x['p99'] for x in mets], 'ms', '{:.0f}')))
        b.row("api", "/metrics, 100,000 series rendered (1 connection, no gzip): p50 / CPU per scrape, bridge + agentd",
              Figs(Fig([x["p50"] for x in met1], "ms", "{:.0f}"), Fig([x.get("cpu_ms") for x in met1], "ms", "{:.0f}")),
              "", "", "< 250 ms", judge=lambda c: met(c.figs[0].value is not None and c.figs[0].value < 250))
        b.row("api", "bridge resident memory / threads after the runs",
              Figs(Fig([rss_kib(api.pid) / 1024], "MiB", "{:.1f}"), Fig([threads(api.pid)], "", "{:.0f}")))
    except Exception as e:
        b.notes.append(f"api: {e}")
        b.log(str(e))
    finally:
        b.stop(api)
        b.stop(a)


def bench_ui(b):
    """The dashboard on a node of 100 containers and 10,000 series: time until the charts on
    screen are drawn (node view, a container of 100 series), and the bridge's and agentd's CPU
    for one refresh of the container's page (its charts on screen, in /v1/ranges batches)."""
    driver = os.path.join(ROOT, "tests", "ui", "ui_load.js")
    if not (b.have("metricsbus-api", "metricsbus-agentd") and os.path.exists(os.path.join(b.tools, "mbload"))
            and os.path.exists("/usr/bin/chromium")
            and os.path.exists(os.path.join(ROOT, "ui", "node_modules", "puppeteer-core"))):
        b.notes.append("ui: programs, chromium or puppeteer-core missing")
        return
    a = b.agentd("agentd-ui")
    # 100 containers of 100 series (counters, gauges, timers, sets), 30 points each
    b.mbload("push", "--ingest", a.ingest, "--series", 10000, "--sources", 100, "--rounds", 30,
             "--threads", 2, "--per-batch", 100, "--prefix", "ui", "--kind", "mixed",
             "--start-ms", int(time.time() * 1000) - 300000)
    api, port = b.api(a, "api-ui")
    try:
        base = f"http://127.0.0.1:{port}/ui/"
        for view, url in (("node view, 100 containers", base),
                          ("a container's page, 100 series", base + "#/container/ui-src7")):
            loads, cpu = [], []
            for _ in range(b.reps):
                p = subprocess.Popen(["node", driver, url, "20"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
                first = json.loads(p.stdout.readline().split(" ", 1)[1])
                loads.append(first["load_ms"])
                c0 = cpu_s(api.pid) + cpu_s(a.pid)
                p.stdin.write("go\n")
                p.stdin.close()
                done = json.loads(p.stdout.readline().split(" ", 1)[1])
                cpu.append((cpu_s(api.pid) + cpu_s(a.pid) - c0) / done["refreshes"] * 1000)
                p.wait(timeout=60)
                b.log(f"ui {view}: {first} {done}")
            lf = Fig(loads, "ms", "{:.0f}")
            b.row("ui", f"{view}: charts on screen drawn after load", lf, "", "", "< 1 s",
                  "met" if lf.value is not None and lf.value < 1000 else "MISSED")
            cf = Fig(cpu, "ms", "{:.2f}")
            b.row("ui", f"{view}: bridge + agentd CPU per refresh", cf, "", "", "< 10 ms",
                  "met" if cf.value is not None and cf.value < 10 else "MISSED")
        own = sum(os.path.getsize(os.path.join(ROOT, "ui", f)) for f in ("index.html", "app.js", "style.css"))
        b.row("ui", "the page's own code and styles, before gzip", f"{own / 1024:.1f} KB", "", "", "< 100 KB",
              "met" if own < 100 * 1024 else "MISSED")
    except Exception as e:
        b.notes.append(f"ui: {e}")
        b.log(str(e))
    finally:
        b.stop(api)
        b.stop(a)


def bench_e2e(b):
    """Datagram leaves the sender -> its value visible through the HTTP bridge, 1 s flush."""
    if not b.have("metricsbus-api", "metricsbus-agentd", "metricsbus-shim"):
        b.notes.append("e2e: programs not built")
        return
    a = b.agentd("agentd-e2e")
    port = free_port(socket.SOCK_STREAM)
    uport = free_port()
    api = b.spawn([os.path.join(b.bin, "metricsbus-api"), "--listen", f"127.0.0.1:{port}",
                   "--query", a.query, "--log-level", "warn"], "api-e2e")
    shim = b.spawn([os.path.join(b.bin, "metricsbus-shim"), "--agent", a.ingest, "--listen",
                    f"127.0.0.1:{uport}", "--container-id", "e2e", "--flush-interval", "1s",
                    "--log-level", "warn"], "shim-e2e")
    import http.client
    lats = []
    try:
        poll(lambda: udp_bound(uport), timeout=10, what="shim up")
        poll(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).status == 200,
             timeout=20, what="api up")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        n = 8 if b.quick else 25
        for i in range(n + 1):
            v = 1000 + i
            t0 = time.monotonic()
            s.sendto(f"e2e.gauge:{v}|g".encode(), ("127.0.0.1", uport))

            def seen():
                c.request("GET", "/system/v1/metrics/v0/containers/e2e/app/e2e.gauge")
                r = c.getresponse()
                body = r.read()
                if r.status != 200:
                    return False
                return any(dp.get("value") == v for dp in json.loads(body).get("datapoints", []))
            poll(seen, timeout=10, interval=0.002, what="value visible")
            if i > 0:  # the first one also creates the container
                lats.append((time.monotonic() - t0) * 1000)
            # start the next at a random phase of the flush cycle
            time.sleep(0.1 + (i * 0.37) % 1.0)
        lats.sort()
        p50 = lats[len(lats) // 2]
        p99 = lats[min(len(lats) - 1, int(0.99 * len(lats)))]
        b.row("end to end", f"datagram sent -> value in /app over HTTP, 1 s flush, p50 / p99 ({len(lats)} samples)",
              f"{p50:.0f} ms / {p99:.0f} ms", "", "", "reported (bounded by the flush interval)")
    except Exception as e:
        b.notes.append(f"e2e: {e}")
        b.log(str(e))
    finally:
        b.stop(shim)
        b.stop(api)
        b.stop(a)


# ---------------------------------------------------------------------- the table and the doc


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = "%.0f GiB" % (int(f.readline().split()[1]) / 1024 / 1024)
    except OSError:
        pass

    def ver(argv, pat=r"(\d+\.\d+[\.\d]*)"):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            m = re.search(pat, r.stdout + r.stderr)
            return m.group(1) if m else "?"
        except Exception:
            return "?"

    def dpkg(p):
        return ver(["dpkg-query", "-W", "-f=${Version}", p], r"(\S+)")
    etsy = "?"
    try:
        with open(os.path.join(NPM, "node_modules", "statsd", "package.json")) as f:
            etsy = json.load(f)["version"]
    except Exception:
        pass
    return [("CPU", f"{os.cpu_count()} × {cpu}"), ("memory", mem),
            ("kernel", platform.release()), ("gcc", ver(["gcc", "--version"])),
            ("nng", dpkg("libnng-dev")), ("LMDB", dpkg("liblmdb-dev")), ("msgpack-c", dpkg("libmsgpack-dev")),
            ("collectd", dpkg("collectd-core")), ("Etsy statsd", etsy), ("node", ver(["node", "--version"])),
            ("wrk", dpkg("wrk")), ("rmem_max", open("/proc/sys/net/core/rmem_max").read().strip())]


def cells(r):
    """A row as text: its cells formatted, the verdict judged on the (merged) figure."""
    verdict = r[7](r[2]) if r[7] and str(r[2]) != "n/a" else r[6]
    return [str(x) for x in r[:6]] + [verdict]


def md_row(xs):
    return "| " + " | ".join(str(x).replace("|", "\\|") for x in xs) + " |"


def table(b):
    out = ["| section | figure | metricsbus | collectd 5.12 statsd | Etsy statsd | target | verdict |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    out += [md_row(cells(r)) for r in b.rows]
    return "\n".join(out)


def merge_rounds(rows):
    """One row per (section, figure) over the rounds of a variant: the runs pooled."""
    out, at = [], {}
    for r in rows:
        k = (r[0], r[1])
        if k not in at:
            at[k] = len(out)
            out.append(list(r))
            continue
        m = out[at[k]]
        m[2] = m[2].merged(r[2]) if hasattr(m[2], "merged") and type(m[2]) is type(r[2]) else r[2]
    return out


def before_after(b):
    """The before/after table: one row per figure of the after build, beside the before's."""
    if "before" not in b.vrows:
        return ""
    before = {(r[0], r[1]): r for r in b.vrows["before"]}
    out = [f"| section | figure | before ({b.baseline_rev}) | after ({b.rev}) | after / before | target | verdict after |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in b.vrows.get("after", []):
        o = before.get((r[0], r[1]))
        ratio = ""
        if o is not None and hasattr(r[2], "ratio") and type(r[2]) is type(o[2]):
            ratio = r[2].ratio(o[2])
        c = cells(r)
        out.append(md_row([c[0], c[1], o and str(o[2]) or "n/a", c[2], ratio, c[5], c[6]]))
    return "\n".join(out)


BEGIN, END = "<!-- bench:begin (written by make bench) -->", "<!-- bench:end -->"
HBEGIN, HEND = "<!-- history:begin -->", "<!-- history:end -->"


def write_doc(b, tbl, elapsed):
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    try:
        with open(path) as f:
            doc = f.read()
    except OSError:
        doc = ""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    gen = [BEGIN, "", f"Last run: {when}, {'QUICK=1, 1 run per figure' if b.quick else f'{b.reps} runs per figure: median (min–max)'}, "
           f"{elapsed:.0f} s in all.", "", "| machine | |", "| --- | --- |"]
    gen += [f"| {k} | {v} |" for k, v in machine()]
    gen += ["", tbl, ""]
    ba = before_after(b)
    if ba:
        gen += [f"Before and after in this run (`make bench BASELINE={b.baseline_rev}`): the agentd, "
                f"queries and api sections ran {b.reps} rounds against the programs of {b.baseline_rev} "
                f"(before) and of {b.rev} (after), built alike, the order alternating, with this build's "
                "load tools. A ratio above 1 is more of the figure: better for points/s and req/s, worse "
                "for latency and memory.", "", ba, ""]
    gen += ["Settings: every statsd target flushes every 1 s. metricsbus-agentd runs with "
            "`--max-series-per-source 200000 --node-interval 60s` (its other flags default; the disk rows "
            "with the one level named as `--retention`); metricsbus-shim standalone with "
            "`--flush-interval 1000ms`; collectd 5.12 statsd plugin (`DeleteCounters false`, default "
            "timers) + csv on tmpfs; Etsy statsd `flushInterval 1000`, `percentThreshold [50,90,95,99]`. "
            "collectd gets the tags folded into names (it rejects DogStatsD tags).", ""]
    if b.notes:
        gen += ["Notes from this run:", ""] + [f"- {n}" for n in b.notes] + [""]
    gen += [END]
    gen = "\n".join(gen)
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + gen + doc[doc.index(END) + len(END):]
    else:
        doc = "# metricsbus benchmarks\n\n`make bench` (or `make bench QUICK=1`) writes the section between the markers.\n\n" + gen + "\n"
    # one line of history per full run: the headline figures
    if not b.quick:
        heads = []
        short = {"ingest: " + ld["desc"]: "ingest " + ld["key"] for ld in LOADS}
        for r in map(cells, b.rows):
            if r[5] and r[2] != "n/a":
                heads.append(f"{short.get(r[0], r[0])}, {r[1]}: {r[2].split(' (')[0]}" + (f" [{r[6]}]" if r[6] else ""))
        line = f"- {when}: " + "; ".join(heads)
        if HBEGIN in doc and HEND in doc:
            i = doc.index(HEND)
            doc = doc[:i] + line + "\n" + doc[i:]
        else:
            doc += f"\n## History\n\nOne line per full run (targets only).\n\n{HBEGIN}\n{line}\n{HEND}\n"
    with open(path, "w") as f:
        f.write(doc)
    return path


SECTIONS = ("ingest", "shimmem", "agentd", "disk", "queries", "mapping", "api", "e2e", "ui",
            "remotewrite")
# What issue 13's before/after compares (api reuses the queries' agentd of the same build).
BASELINE_SECTIONS = ("agentd", "queries", "api")


def bench_remote_write(b):
    import bench_rw  # its own file: the section's receiver and runs
    bench_rw.bench_remote_write(b)


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "diff", "--quiet", "HEAD", "--", "."],
                               timeout=10).returncode != 0
        return (rev or "?") + ("+changes" if dirty else "")
    except Exception:
        return "?"


def run_section(b, name, t0):
    b.log(f"== {name}{' (' + b.variant + ')' if b.variant else ''} ({time.monotonic() - t0:.0f} s)")
    try:
        globals()["bench_" + {"shimmem": "shim_memory", "disk": "agentd_disk",
                              "queries": "agentd_queries",
                              "remotewrite": "remote_write"}.get(name, name)](b)
    except Exception as e:
        b.notes.append(f"{name}{' (' + b.variant + ')' if b.variant else ''}: {e}")
        b.log(f"{name}: {e}")


def run_before_after(b, names, t0):
    """REPS rounds, each running the sections once against each build, the order alternating;
    then each build's runs pooled per figure."""
    reps, after_bin = b.reps, b.bin
    b.reps = 1
    try:
        for rnd in range(reps):
            b.round = rnd
            for variant in (("after", "before") if rnd % 2 == 0 else ("before", "after")):
                b.variant = variant
                b.bin = after_bin if variant == "after" else b.baseline_bin
                for name in names:
                    run_section(b, name, t0)
                a = getattr(b, "agent_q", None)
                if a is not None:  # the queries' agentd, left for api: not into the next build's turn
                    b.stop(a)
                    b.agent_q = None
    finally:
        b.reps, b.bin, b.variant, b.round = reps, after_bin, None, 0
    for v in list(b.vrows):
        b.vrows[v] = merge_rounds(b.vrows[v])
    b.rows += b.vrows.get("after", [])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default=",".join(SECTIONS))
    ap.add_argument("--no-doc", action="store_true")
    ap.add_argument("--baseline", help="another build dir (its bin/ programs): the 'before'")
    ap.add_argument("--baseline-rev", default="baseline")
    a = ap.parse_args()
    b = Bench(a.build, a.quick)
    b.rev = git_rev()
    b.baseline_rev = a.baseline_rev
    t0 = time.monotonic()
    only = a.only.split(",")
    for n in only:
        if n not in SECTIONS:
            ap.error(f"no section {n!r}: the sections are {','.join(SECTIONS)}")
    paired = [n for n in SECTIONS if n in only and a.baseline and n in BASELINE_SECTIONS]
    try:
        if paired:
            b.baseline_bin = os.path.join(os.path.abspath(a.baseline), "bin")
            if not os.access(os.path.join(b.baseline_bin, "metricsbus-agentd"), os.X_OK):
                raise SystemExit(f"bench: no baseline programs in {b.baseline_bin}")
        for name in SECTIONS:
            if name in only and name not in paired:
                run_section(b, name, t0)
            if paired and name == paired[0]:
                run_before_after(b, paired, t0)
    finally:
        b.close()
    elapsed = time.monotonic() - t0
    tbl = table(b)
    print(tbl)
    ba = before_after(b)
    if ba:
        print()
        print(ba)
    for n in b.notes:
        print("note:", n)
    print(f"({elapsed:.0f} s)")
    if not a.no_doc:
        print("wrote", write_doc(b, tbl, elapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
