"""test_hostile_shim: a hostile container's statsd traffic against a real shim and a real agentd:
malformed lines and datagrams (empty keys, NaN, Inf, huge numbers, 64 KiB lines, thousands of
tags, binary garbage, invalid UTF-8) mixed with good lines that must all be counted at agentd,
and a million distinct names that must stay within the shim's series and memory bounds."""
import os
import random
import socket
import unittest

import mbharness as mb
from agentd_util import range_sum

CID = "hostile"


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


class Udp:
    def __init__(self, port):
        self.addr = ("127.0.0.1", port)
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(self, payload):
        self.s.sendto(payload if isinstance(payload, bytes) else payload.encode(), self.addr)

    def close(self):
        self.s.close()


def hostile_lines():
    """Every kind of bad line a buggy or hostile client sends, as bytes."""
    rnd = random.Random(8)
    tags = ",".join("t%d:v%d" % (i, i) for i in range(5000))
    out = [b"", b"\n", b"\n\n\n", b":1|c", b":|c", b"|c", b"x", b"x:", b"x:1", b"x:1|",
           b"x:1|zz", b"x:NaN|g", b"x:nan|c", b"x:Inf|g", b"x:-Inf|ms", b"x:inf|h",
           b"x:1e999|c", b"x:-1e999|g", b"x:1|c|@0", b"x:1|c|@-1", b"x:1|c|@2", b"x:1|c|@NaN",
           b"x:1|c|@", b"x:1|c|#", b"x:1|c|#,,,", b"x:1|c|#:", b"x:1|c|#:v",
           b"x:+|g", b"x:-|g", b"x:1.2.3|c", b"x:0x10|c", b"x:1|c|@0.5|@0.5",
           b"x:1|s", b"x:|s", b"\x00:1|c", b"x\x00y:1|c", b"x:1\x00|c",
           b"big.name." + b"a" * 65000 + b":1|c",                  # a 64 KiB name
           b"big.tag:1|c|#k:" + b"v" * 65000,                      # a 64 KiB tag value
           b"many.tags:1|c|#" + tags.encode(),                     # 5,000 tags
           b"x:" + b"9" * 5000 + b"|c",                            # a 5,000-digit number
           b"x:1|ms|@0.0000000000000000000001",
           b"utf.tag:1|c|#k:\xff\xfe\xfd", b"utf.\xc3\x28name:1|c", b"utf.key:1|c|#\xed\xa0\x80:v",
           b"_e{99999,1}:t|x", b"_e{1,1}:", b"_sc|", b"_sc|x|9",
           b"packed:1:2:3:NaN|d", b"packed::::|ms", b"s:" + b"m" * 60000 + b"|s"]
    for _ in range(40):   # binary garbage, some of it with the characters the parser looks for
        n = rnd.randrange(1, 2000)
        out.append(bytes(rnd.choice(b"\x00\xff:|@#,\n\r.-+e9a") if rnd.random() < 0.5
                         else rnd.randrange(256) for _ in range(n)))
    return out


class HostileShim(mb.StackTest):
    def start(self, *shim_args):
        st = self.stack
        st.agentd("--node-interval", "500ms")
        port = mb.free_port()
        self.shim = st.shim("--listen", "127.0.0.1:%d" % port, "--container-id", CID,
                            "--flush-interval", "200ms", "--drain-timeout", "20s", *shim_args)
        self.udp = Udp(port)
        self.addCleanup(self.udp.close)

        def probe():
            self.udp.send("probe:1|c")
            return range_sum(st, CID, "probe")
        mb.poll(probe, timeout=20, interval=0.2, what="shim delivering")

    def alive(self):
        self.assertIsNone(self.shim.poll(), self.stack.log_of(self.shim))
        for p in self.stack.procs:
            self.assertIsNone(p.poll(), "%s exited: %s" % (p.args, self.stack.log_of(p)))

    def test_malformed_lines_skipped_good_lines_counted(self):
        st = self.stack
        self.start()
        bad = hostile_lines()
        good = tagged = 0
        # every bad line alone, then inside a datagram between two good lines, then all at once
        for b in bad:
            self.udp.send(b)
        for b in bad:
            payload = b"good.hits:1|c\n" + b + b"\ngood.hits:1|c|#k:v"
            if len(payload) <= 65000:
                self.udp.send(payload)
                good += 2
                tagged += 1
        for i in range(0, len(bad), 8):
            chunk = b"\n".join(bad[i:i + 8])[:60000]
            self.udp.send(chunk + b"\ngood.hits:1|c")
            good += 1
        # huge but finite values: kept, never turned into NaN or Inf downstream
        self.udp.send(b"huge.c:1e308|c\nhuge.c:1e308|c\nhuge.g:-1.7e308|g\nhuge.t:1e300|ms\n"
                      b"huge.t:-1e300|ms\ntiny.g:4.9e-324|g")
        self.alive()
        # the shim flushes everything it holds when it is told to stop
        self.assertEqual(st.stop(self.shim, timeout=30), 0, st.log_of(self.shim))
        # without a tags filter, a range merges every tag set of the name
        mb.poll(lambda: range_sum(st, CID, "good.hits") == good,
                what="good lines counted (%d)" % good)
        self.assertEqual(range_sum(st, CID, "good.hits", tags="k:v"), tagged)
        self.assertGreater(range_sum(st, CID, "metricsbus.shim.bad_lines"), len(bad) // 2)
        # agentd and its query path are fine with what the shim passed on
        for name in ("huge.c", "huge.g", "huge.t", "tiny.g"):
            v = range_sum(st, CID, name, stat="max")
            self.assertTrue(v is None or abs(v) < float("inf"), (name, v))
        self.assertIsNone(st.procs[0].poll())
        r = st.cli("--json", "app", CID)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("NaN", r.stdout)
        self.assertNotIn("Infinity", r.stdout)

    def test_random_datagrams_rss_plateau(self):
        st = self.stack
        self.start()
        rnd = random.Random(1)
        bad = hostile_lines()
        good = 0

        def burst():
            nonlocal good
            for _ in range(600):
                k = rnd.random()
                if k < 0.3:
                    self.udp.send(os.urandom(rnd.randrange(1, 9000)))
                elif k < 0.6:
                    self.udp.send(rnd.choice(bad))
                else:
                    self.udp.send(b"\n".join(rnd.choice(bad)[:3000] for _ in range(5))
                                  + b"\nrnd.good:1|c")
                    good += 1
            # the shim has taken everything so far once the probe has gone through
            mb.poll(lambda: self.udp.send("sync:1|c") or range_sum(st, CID, "sync"),
                    what="sync")
        burst()
        first = rss_kb(self.shim.pid)
        for _ in range(3):
            burst()
        self.alive()
        last = rss_kb(self.shim.pid)
        print("\n  shim RSS after 600 datagrams: %d KiB, after 2400: %d KiB" % (first, last), end=" ")
        # a plateau: three more bursts of the same garbage add no more than a few MiB
        # ASan holds freed memory in its quarantine (up to 256 MiB) and valgrind has its own heap
        slack = 16 if not (mb.SANITIZED or mb.VALGRIND) else 256
        self.assertLess(last, first + slack * 1024, (first, last))
        self.assertEqual(st.stop(self.shim, timeout=30), 0, st.log_of(self.shim))
        mb.poll(lambda: range_sum(st, CID, "rnd.good") == good,
                what="good lines counted (%d)" % good)

    def test_million_names_bounded(self):
        st = self.stack
        self.start()
        udp = self.udp
        udp.send("sync:1|c")
        mb.poll(lambda: range_sum(st, CID, "sync"), what="sync series")
        names = 1000000
        per = 3000           # ~57 KiB datagrams
        sent_packets = 0

        def flood(prefix):
            nonlocal sent_packets
            for base in range(0, names, per):
                udp.send("\n".join("%s%d:1|c" % (prefix, i) for i in range(base, base + per)))
                sent_packets += 1
                if sent_packets % 25 == 0:
                    # keep the socket's queue from overflowing: a sync sent after these
                    # packets and counted shows the shim has read them
                    base = range_sum(st, CID, "sync") or 0
                    mb.poll(lambda: udp.send("sync:1|c") or
                            (range_sum(st, CID, "sync") or 0) > base,
                            timeout=60, interval=0.05, what="shim keeps up")
        flood("flood.a.")
        self.alive()
        first = rss_kb(self.shim.pid)
        flood("flood.b.")
        self.alive()
        second = rss_kb(self.shim.pid)
        print("\n  shim RSS after 1M names: %d KiB, after 2M: %d KiB" % (first, second), end=" ")
        # the series table is full: a second million names adds nothing
        limit = (512 if mb.SANITIZED else 200) * 1024
        if not mb.VALGRIND:
            self.assertLess(first, limit, "shim RSS kB after a million names")
            self.assertLess(second, first + (64 if mb.SANITIZED else 8) * 1024, (first, second))
        # good data goes on for the series the shim already held
        for _ in range(50):
            udp.send("probe:1|c")
        mb.poll(lambda: (range_sum(st, CID, "metricsbus.shim.series_refused") or 0)
                >= 2 * names - 200000 - 100000, timeout=60, what="refused series counted")
        self.assertEqual(st.stop(self.shim, timeout=60), 0, st.log_of(self.shim))
        mb.poll(lambda: range_sum(st, CID, "probe") >= 51, what="probes counted")
        # agentd held the source to its own limit and is well
        self.assertIsNone(st.procs[0].poll())
        r = st.cli("--json", "series", CID)
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    unittest.main()
