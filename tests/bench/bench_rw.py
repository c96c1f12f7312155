"""bench_rw.py: make bench's "remote write" section (BENCH_ONLY=remotewrite): what shipping
costs agentd, side by side in one run, and how long a backfill of an hour takes.

The receiver is rwsink (tests/bench/rwsink.c), a small HTTP receiver of ours that decodes every
request (snappy, protobuf) and counts its series, samples and bytes: not Prometheus, whose own
ingest would take the two shared cores from under the agentd being measured (make check's
tests/integration/test_remote_write.py ships to the real Prometheus)."""
import json
import os
import select
import subprocess
import tempfile
import time

from bench import Fig, cpu_s, poll, rss_kib, status_field

STEADY_SERIES = 100000  # 100 containers of 1,000 series
BACKFILL_SERIES = 10000  # 100 containers of 100 series
RES_MS = 10000
SLOTS_PER_HOUR = 360
# mbload's "mixed" kinds by series index: counter, gauge, counter, timer. A timer is a summary
# on the wire: 5 quantile series, _sum and _count.
SAMPLES_PER_4 = 1 + 1 + 1 + 7


class Sink:
    def __init__(self, b):
        self.p = subprocess.Popen([os.path.join(b.tools, "rwsink")], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        b.procs.append(self.p)
        line = self.p.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError("rwsink did not start: " + line)
        self.url = "http://127.0.0.1:%d/api/v1/write" % int(line.split()[1])

    def cmd(self, c):
        self.p.stdin.write(c + "\n")
        self.p.stdin.flush()

    def stats(self):
        self.cmd("stats")
        r, _, _ = select.select([self.p.stdout], [], [], 30)
        if not r:
            raise RuntimeError("rwsink: no answer in 30 s")
        return json.loads(self.p.stdout.readline())


def agentd_on(b, name, d, extra):
    """agentd on the data directory d (kept between runs), as Bench.agentd starts it."""
    run = os.path.join(d, "run")
    os.makedirs(run, exist_ok=True)
    ingest = "ipc://" + os.path.join(run, "ingest.sock")
    query = "ipc://" + os.path.join(run, "query.sock")
    p = b.spawn([os.path.join(b.bin, "metricsbus-agentd"), "--data-dir", os.path.join(d, "data"),
                 "--ingest", ingest, "--query", query, "--max-series-per-source", "200000",
                 "--node-interval", "60s", "--log-level", "warn"] + list(extra), name,
                env={"METRICSBUS_RUN_DIR": run})
    p.ingest, p.query = ingest, query

    def up():
        if p.poll() is not None:
            raise RuntimeError("agentd exited %s: %s" % (p.returncode, b.logtail(p)))
        return os.path.exists(query[6:]) and b.mbload("query", "--query", query, "--op", "ping",
                                                      "--n", 1)
    poll(up, timeout=60, interval=0.1, what=f"{name} ready")
    return p


def anon_kib(pid):
    return status_field(pid, "RssAnon")


def push(b, a, series, rounds, start_ms, threads=2):
    return b.mbload("push", "--ingest", a.ingest, "--series", series, "--sources", 100,
                    "--rounds", rounds, "--threads", threads, "--per-batch", min(1000, series // 100),
                    "--prefix", "rw", "--kind", "mixed", "--start-ms", start_ms, timeout=1800)


def steady(b, sink, hist=False):
    """Two agentds, one with --remote-write, the same load (100,000 series, a batch per
    container every 10 s, its time the slot's end): the difference in CPU and memory."""
    plain = agentd_on(b, "agentd-rw-off", tempfile.mkdtemp(prefix="rwoff", dir=b.dir), [])
    ship = agentd_on(b, "agentd-rw-on", tempfile.mkdtemp(prefix="rwon", dir=b.dir),
                     ["--remote-write", sink.url] + (["--remote-write-histograms"] if hist else []))
    pair = [plain, ship]
    warm = 5  # rounds: the settle time (30 s) and a shipment or two: steady state
    rounds = warm + (4 if b.quick else 6)
    marks = {}
    try:
        for rnd in range(rounds + 1):
            if rnd in (warm, rounds):
                marks[rnd] = (time.monotonic(), [cpu_s(p.pid) for p in pair], sink.stats())
            if rnd == rounds:
                break
            now = time.time()
            slot_end = int(now * 1000) // RES_MS * RES_MS
            # the same batches into both, in turn first (neither is always the one that waits)
            for p in (pair if rnd % 2 == 0 else pair[::-1]):
                push(b, p, STEADY_SERIES, 1, slot_end)
            while time.time() * 1000 < slot_end + RES_MS:
                time.sleep(0.1)
        (t0, c0, s0), (t1, c1, s1) = marks[warm], marks[rounds]
        secs = t1 - t0
        extra_cpu = (c1[1] - c0[1]) - (c1[0] - c0[0])
        samples = s1["samples"] - s0["samples"]
        nbytes = s1["bytes"] - s0["bytes"]
        rss = [rss_kib(p.pid) for p in pair]
        anon = [anon_kib(p.pid) for p in pair]
        b.log(f"remote write steady: {secs:.0f} s, cpu off {c1[0] - c0[0]:.2f} s on "
              f"{c1[1] - c0[1]:.2f} s, {samples} samples, {nbytes} bytes, {s1['requests'] - s0['requests']}"
              f" requests, rss {rss} anon {anon} KiB, bad {s1['bad']}")
        if s1["bad"]:
            b.notes.append(f"remote write: rwsink could not read {s1['bad']} requests")
        return {"share": extra_cpu / secs * 100, "samples_s": samples / secs,
                "per_cpu_s": samples / extra_cpu if extra_cpu > 0 else None,
                "bytes": nbytes / samples if samples else None,
                "raw": (s1["raw_bytes"] - s0["raw_bytes"]) / samples if samples else None,
                "rss": (rss[1] - rss[0]) / 1024, "anon": (anon[1] - anon[0]) / 1024,
                "cpu_off": (c1[0] - c0[0]) / secs * 100}
    finally:
        for p in pair:
            b.stop(p)


def backfill(b, sink):
    """An hour of 10,000 series waiting in the store when agentd starts: the time until the
    receiver holds the hour's last slot of every series. The position an hour back is the one
    an agentd leaves that stopped shipping an hour ago: a first run with the settle time past
    the hour (so it ships nothing of it) saves it, and takes the hour's points back-dated
    through the ingest path (mbload, one batch per container per 10 s slot)."""
    d = tempfile.mkdtemp(prefix="rwback", dir=b.dir)
    lead_s = 300  # slots between the position and the hour's first: nothing ships into the hour
    a = agentd_on(b, "agentd-rw-fill", d, ["--remote-write", sink.url,
                                           "--remote-write-settle", f"{SLOTS_PER_HOUR * 10 + lead_s}s"])
    try:
        now = int(time.time() * 1000)
        pos = (now - (SLOTS_PER_HOUR * RES_MS + lead_s * 1000)) // RES_MS * RES_MS - RES_MS
        first = pos + lead_s * 1000 + RES_MS  # the hour's first slot ends here
        t0 = time.monotonic()
        push(b, a, BACKFILL_SERIES, SLOTS_PER_HOUR, first)
        fill_s = time.monotonic() - t0
    finally:
        b.stop(a)
    last = first + (SLOTS_PER_HOUR - 1) * RES_MS
    # the hour's last slot settled (30 s) before the shipping run starts
    while time.time() * 1000 < last + 30000 + RES_MS:
        time.sleep(0.2)
    sink.cmd("reset")
    sink.cmd(f"mark {last}")
    sink.stats()  # taken in order: the mark is set once this answers
    want = BACKFILL_SERIES // 4 * SAMPLES_PER_4
    t0 = time.monotonic()
    # max-behind past the backlog (the hour and the lead): at the default 1h a backlog of
    # exactly an hour races the floor, and the slots it passes are dropped, not shipped
    a = agentd_on(b, "agentd-rw-fill", d, ["--remote-write", sink.url,
                                           "--remote-write-max-behind", "2h"])
    try:
        c0 = cpu_s(a.pid)
        s = poll(lambda: (lambda x: x if x["at_mark"] >= want else None)(sink.stats()),
                 timeout=1800, interval=0.2, what="the hour's last slot at the receiver")
        secs = time.monotonic() - t0
        cpu = cpu_s(a.pid) - c0
        b.log(f"remote write backfill: points pushed in {fill_s:.0f} s; {s} in {secs:.1f} s, "
              f"agentd cpu {cpu:.1f} s")
        slots = (last - s["min_t"]) // RES_MS + 1
        if s["min_t"] != first:
            b.notes.append(f"remote write backfill: the first slot shipped was {s['min_t']}, "
                           f"the hour's first {first}")
        return {"secs": secs, "cpu": cpu, "samples": s["le_mark"], "slots": slots,
                "rate": s["le_mark"] / secs}
    finally:
        b.stop(a)


def bench_remote_write(b):
    if not (b.have("metricsbus-agentd") and os.path.exists(os.path.join(b.tools, "mbload"))
            and os.path.exists(os.path.join(b.tools, "rwsink"))):
        b.notes.append("remote write: agentd, mbload or rwsink not built")
        return
    sink = Sink(b)
    sec = "remote write"
    runs = [steady(b, sink) for _ in range(1 if b.quick else 2)]

    def fig(k, unit, fmt):
        return Fig([r[k] for r in runs], unit, fmt)
    share = fig("share", "% of a core", "{:.1f}")
    b.row(sec, "100,000 series (100 containers x 1,000, mixed kinds), 10 s slots: agentd's extra "
          "CPU with --remote-write (same load, two agentds side by side)", share, "", "", "< 5% of a core",
          "met" if share.value is not None and share.value < 5 else "MISSED")
    # anonymous memory: VmRSS also counts the store's file pages each agentd has mapped, which
    # move by several MiB either way with the page cache
    anon = fig("anon", "MiB", "{:.1f}")
    b.row(sec, "the same: extra memory, anonymous (RssAnon; VmRSS: " + str(fig("rss", "MiB", "{:.1f}")) + ")",
          anon, "", "", "< 32 MiB", "met" if anon.value is not None and anon.value < 32 else "MISSED")
    b.row(sec, "the same: samples shipped per second (each series every 10 s)",
          fig("samples_s", "", "{:,.0f}"), "", "", "reported")
    b.row(sec, "samples scanned, encoded and sent per CPU-second (the extra CPU)",
          fig("per_cpu_s", "", "{:,.0f}"), "", "", "reported")
    b.row(sec, "bytes on the wire per sample (snappy; before snappy: " + str(fig("raw", "", "{:.1f}")) + ")",
          fig("bytes", "", "{:.1f}"), "", "", "reported")
    try:
        h = steady(b, sink, hist=True)
        b.row(sec, "the same with --remote-write-histograms (a timer: 33 series, not 7): extra CPU / "
              "samples shipped per second", f"{h['share']:.1f} % of a core / {h['samples_s']:,.0f}",
              "", "", "reported")
    except Exception as e:
        b.notes.append(f"remote write with histograms: {e}")
        b.log(f"remote write with histograms: {e}")
    try:
        f = [backfill(b, sink)]  # one run: its set-up (3.6 M points pushed) takes a minute
        secs = Fig([r["secs"] for r in f], "s", "{:.1f}")
        b.row(sec, "backfill of one hour of 10,000 series (100 containers x 100, %d slots, %s samples) "
              "after an outage: until the receiver has the hour's last slot"
              % (f[0]["slots"], f"{f[0]['samples']:,}"), secs, "", "", "reported")
        b.row(sec, "the same: samples per second / agentd CPU-seconds",
              f"{Fig([r['rate'] for r in f], '', '{:,.0f}')} / {Fig([r['cpu'] for r in f], 's', '{:.1f}')}",
              "", "", "reported")
    except Exception as e:
        b.notes.append(f"remote write backfill: {e}")
        b.log(f"remote write backfill: {e}")
