"""test_bench_tools: the bench's own instruments tell the truth: blast reports exactly what it
sent (checked against a real UDP receiver), mbload push is committed as reported (checked with
agentd's export and the CLI) and mbload count sums a source's counters under a prefix; rwsink
counts exactly the series, samples and bytes of the remote-write requests it is sent."""
import json
import os
import socket
import struct
import subprocess
import time
import unittest
import urllib.error
import urllib.request

import mbharness as mb


def run_json(argv, timeout=60):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (argv[0], r.returncode, r.stderr))
    return json.loads(r.stdout)


def drain(sock, want_lines, timeout=10.0):
    """Reads datagrams until want_lines lines came or timeout; returns the lines."""
    lines = []
    deadline = time.monotonic() + timeout
    sock.settimeout(0.2)
    while len(lines) < want_lines and time.monotonic() < deadline:
        try:
            lines += sock.recv(65536).decode().split("\n")
        except socket.timeout:
            pass
    return lines


class BlastTest(unittest.TestCase):
    def setUp(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(self.sock.close)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def test_blast_reports_exactly_what_it_sent_mixed_20_lines(self):
        r = run_json([mb.tool("blast"), "--port", str(self.port), "--mix", "mixed", "--lines", "20",
                      "--series", "100", "--count", "2000", "--rate", "20000"])
        lines = drain(self.sock, r["lines"])
        self.assertEqual(len(lines), r["lines"])
        self.assertEqual(r["lines"], 2000)
        self.assertEqual(r["datagrams"], 100)
        types = [ln.split("|")[1] for ln in lines]
        self.assertEqual(types.count("c"), r["counter_lines"])
        self.assertEqual(types.count("g"), r["gauge_lines"])
        self.assertEqual(types.count("ms"), r["timer_lines"])
        self.assertEqual(types.count("s"), r["set_lines"])
        counter_sum = sum(int(ln.split(":")[1].split("|")[0]) for ln in lines if ln.split("|")[1] == "c")
        self.assertEqual(counter_sum, r["counter_sum"])
        # every line tagged, 100 distinct series
        self.assertTrue(all("|#env:bench,region:r" in ln for ln in lines))
        self.assertEqual(len({ln.split(":")[0] for ln in lines}), 100)

    def test_blast_paces_to_the_asked_rate(self):
        t0 = time.monotonic()
        r = run_json([mb.tool("blast"), "--port", str(self.port), "--lines", "1", "--series", "10",
                      "--count", "2000", "--rate", "10000"])
        took = time.monotonic() - t0
        drain(self.sock, r["lines"], timeout=2)
        self.assertEqual(r["lines"], 2000)
        self.assertGreater(took, 0.15)  # 2,000 lines at 10,000/s is 0.2 s, not a burst
        self.assertLess(r["lines_per_s"], 12000)

    def test_blast_refuses_bad_flags(self):
        for argv in (["--mix", "nope"], ["--lines", "0"], ["--series", "0"], []):
            r = subprocess.run([mb.tool("blast")] + (["--port", str(self.port)] if argv else []) + argv,
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 2, argv)


class MbloadTest(mb.StackTest):
    def test_push_is_committed_as_reported_and_count_sums_it(self):
        st = self.stack
        st.agentd()
        r = run_json([mb.tool("mbload"), "push", "--ingest", st.ingest, "--series", "300", "--sources", "3",
                      "--rounds", "4", "--threads", "3", "--per-batch", "50", "--prefix", "tb",
                      "--kind", "counter"])
        self.assertEqual(r["points"], 1200)
        self.assertEqual(r["rejected"], 0)
        self.assertEqual(r["batches"], 4 * 3 * 2)
        for src in ("tb-src0", "tb-src1", "tb-src2"):
            c = run_json([mb.tool("mbload"), "count", "--query", st.query, "--source", src, "--prefix", "tb."])
            self.assertEqual(c["counter_sum"], 400)  # 100 series x 4 rounds x 1
            self.assertEqual(c["counters"], 100)
        c = run_json([mb.tool("mbload"), "count", "--query", st.query, "--source", "tb-src0", "--prefix", "zz."])
        self.assertEqual(c["counter_sum"], 0)
        # the CLI sees the same series
        out = st.cli("--json", "series", "tb-src1")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.count("tb."), 100)

    def test_query_times_real_answers(self):
        st = self.stack
        st.agentd()
        run_json([mb.tool("mbload"), "push", "--ingest", st.ingest, "--series", "20", "--rounds", "2",
                  "--per-batch", "20", "--prefix", "tq", "--kind", "mixed"])
        q = run_json([mb.tool("mbload"), "query", "--query", st.query, "--op", "app", "--source", "tq-src0",
                      "--n", "20"])
        self.assertEqual(q["status"], 200)
        self.assertGreater(q["items"], 20)  # timers give several points each
        self.assertLessEqual(q["p50_ms"], q["p99_ms"])
        # count with --stdin answers each prefix on one connection
        p = subprocess.Popen([mb.tool("mbload"), "count", "--query", st.query, "--source", "tq-src0", "--stdin"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            out, _ = p.communicate("tq.\nnone.\n", timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
        a, b = [json.loads(x) for x in out.strip().splitlines()]
        self.assertEqual(a["counter_sum"], 20)  # 10 counters x 2 rounds
        self.assertEqual(b["series"], 0)


def _varint(n):
    out = bytearray()
    while True:
        out.append((n & 0x7f) | (0x80 if n > 0x7f else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _ld(field, body):
    return _varint(field << 3 | 2) + _varint(len(body)) + body


def write_request(series):
    """A snappy-compressed WriteRequest, by hand from the specifications (protobuf; snappy's
    block format with literals only): series = [(labels dict, [(t_ms, value), ...])]."""
    pb = b""
    for labels, samples in series:
        ts = b"".join(_ld(1, _ld(1, k.encode()) + _ld(2, v.encode())) for k, v in labels.items())
        ts += b"".join(_ld(2, _varint(1 << 3 | 1) + struct.pack("<d", v) + _varint(2 << 3) + _varint(t))
                       for t, v in samples)
        pb += _ld(1, ts)
    out = _varint(len(pb))
    for i in range(0, len(pb), 60):
        chunk = pb[i:i + 60]
        out += bytes([(len(chunk) - 1) << 2]) + chunk
    return out


class RwSinkTest(unittest.TestCase):
    def test_rwsink_counts_series_samples_and_bytes_exactly(self):
        p = subprocess.Popen([mb.tool("rwsink")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (p.stdin.close(), p.wait(timeout=10)))
        url = "http://127.0.0.1:%d/api/v1/write" % int(p.stdout.readline().split()[1])

        def stats():
            p.stdin.write("stats\n")
            p.stdin.flush()
            return json.loads(p.stdout.readline())

        def post(body):
            req = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Encoding": "snappy"})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status
            except urllib.error.HTTPError as e:
                return e.code
        p.stdin.write("mark 20000\n")
        stats()  # the commands are taken in order: the mark is set once this answers
        a = write_request([({"__name__": "a_total", "job": "x"}, [(10000, 1), (20000, 2), (30000, 3)]),
                           ({"__name__": "b"}, [(20000, 0.5)])])
        b = write_request([({"__name__": "c" * 200}, [(40000, 7)])])
        self.assertEqual(post(a), 204)
        self.assertEqual(post(b), 204)
        s = stats()
        self.assertEqual((s["requests"], s["bad"], s["series"], s["samples"]), (2, 0, 3, 5))
        self.assertEqual(s["bytes"], len(a) + len(b))
        self.assertEqual((s["min_t"], s["max_t"], s["at_mark"], s["le_mark"]), (10000, 40000, 2, 3))
        self.assertEqual(post(b"\x05not snappy"), 400)
        self.assertEqual(stats()["bad"], 1)
        p.stdin.write("reset\n")
        self.assertEqual(stats()["samples"], 0)


if __name__ == "__main__":
    unittest.main()
