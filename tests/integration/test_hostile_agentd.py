"""test_hostile_agentd: what test_agentd_ingest does not already send to agentd's sockets:
every truncation of a valid batch, deeply nested and oversized messages, random bytes, valid
batches replayed byte for byte and sent out of order, peers of the wrong protocol and
connections closed before the handshake, many times, on the ingest and query sockets; after
each round agentd is alive, the good batches sent alongside are committed exactly once and its
memory is on a plateau."""
import random
import threading
import unittest

import mbharness as mb
from agentd_util import half_open, mbsend, query, range_sum, self_total, send_batch, sock_path


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def encoded_batch(*recs, **kw):
    """A valid batch, encoded by the bus codec (mbsend batch -)."""
    import subprocess
    args = [mb.tool("mbsend"), "batch", "-"]
    for k, v in kw.items():
        args += ["--" + k, str(v)]
    return subprocess.run(args + list(recs), capture_output=True, check=True).stdout


def nested(depth, array=True):
    # fixarray of one element / fixmap of one pair, innermost a nil
    if array:
        return b"\x91" * depth + b"\xc0"
    return b"\x81\xa1k" * depth + b"\xc0"


class GoodSender:
    """Sends good batches (one counter each, consecutive seqs) from a thread until stopped."""

    def __init__(self, stack, cid):
        self.stack, self.cid = stack, cid
        self.n = 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        seq = 1
        while not self.stop.is_set():
            a = send_batch(self.stack, "c:good:1", cid=self.cid, inst=777, seq=seq, timeout=30000)
            if a.get("st") in (0, 1):
                self.n += 1
                seq += 1

    def finish(self):
        self.stop.set()
        self.t.join()
        return self.n


class HostileAgentd(mb.StackTest):
    def hostile_messages(self):
        rnd = random.Random(5)
        valid = encoded_batch("c:x:1", "t:lat:1,2,3", "s:u:a,b", cid="h", inst=1, seq=1)
        msgs = [valid[:k] for k in range(0, len(valid), max(1, len(valid) // 16))]
        msgs += [nested(d) for d in (31, 32, 33, 1000, 30000)]
        msgs += [nested(d, array=False) for d in (33, 10000)]
        msgs += [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 4000)))
                 for _ in range(8)]
        # valid msgpack with absurd sizes and types where the schema wants others
        msgs += [b"\xdc\xff\xff" + b"\xc0" * 10, b"\xde\xff\xff", b"\xc5\xff\xff",
                 b"\xdb\xff\xff\xff\xff", b"\xc7\xff\x01", b"\xd9\xff",
                 valid + b"\xc0",                      # trailing bytes after a valid batch
                 valid.replace(b"\xa1h", b"\xa1\xff")]  # invalid UTF-8 in the container id
        return msgs

    def round(self, msgs):
        st = self.stack
        for m in msgs:
            a = mbsend("raw", st.ingest, "-", "--timeout", 3000, stdin=m, check=False)
            self.assertTrue(a and (a[0].get("st") == 2 or "error" in a[0]), (m[:40], a))
            r = mbsend("raw", st.query, "-", "--as", "ping", "--timeout", 3000, stdin=m,
                       check=False)
            self.assertTrue(r and (r[0].get("st") == 400 or "error" in r[0]), (m[:40], r))
        # an oversized message to each (nng drops the pipe) and wrong-protocol peers
        big = b"\xc6" + (3 << 20).to_bytes(4, "big") + b"\0" * (3 << 20)
        for url in (st.ingest, st.query):
            mbsend("raw", url, "-", "--timeout", 500, stdin=big, check=False)
            for proto in ("push", "pair"):
                mbsend("raw", url, "-", "--proto", proto, "--timeout", 300, stdin=b"\x80",
                       check=False)

    def test_truncated_nested_random_oversized_both_sockets(self):
        st = self.stack
        p = st.agentd("--node-interval", "500ms")
        msgs = self.hostile_messages()
        good = GoodSender(st, "good")
        try:
            self.round(msgs)
            mid = rss_kb(p.pid)
            self.round(msgs)
        finally:
            n = good.finish()
        self.assertIsNone(p.poll(), st.log_of(p))
        end = rss_kb(p.pid)
        print("\n  agentd RSS after 1 round of %d hostile messages: %d KiB, after 2: %d KiB"
              % (len(msgs) * 2 + 6, mid, end), end=" ")
        # ASan holds freed memory in its quarantine (up to 256 MiB) and valgrind has its own heap
        slack = 16 if not (mb.SANITIZED or mb.VALGRIND) else 256
        self.assertLess(end, mid + slack * 1024, (mid, end))
        self.assertGreater(n, 0)
        mb.poll(lambda: range_sum(st, "good", "good") == n, what="good batches (%d)" % n)
        self.assertIsNone(range_sum(st, "h", "x"), "nothing of a truncated or altered batch")
        self.assertIsNotNone(query(st, "ping"))

    def test_replayed_and_out_of_order_sequences(self):
        st = self.stack
        p = st.agentd("--node-interval", "500ms")
        batches = {s: encoded_batch("c:hits:%d" % s, cid="r1", inst=99, seq=s, iv=1000)
                   for s in range(1, 11)}

        def send(s):
            a = mbsend("raw", st.ingest, "-", stdin=batches[s])[0]
            self.assertEqual(a["seq"], s)
            return a["st"]
        # 5, then the older 1..4: a shim never goes back, so they are repeats, not new data
        self.assertEqual(send(5), 0)
        self.assertEqual([send(s) for s in (1, 2, 3, 4, 5)], [1] * 5)
        # forward with a gap: accepted (the shim dropped what it had to, and counts it)
        self.assertEqual(send(8), 0)
        self.assertEqual([send(s) for s in (6, 7, 8)], [1] * 3)
        # every batch replayed byte for byte, many times, from several peers at once
        threads = [threading.Thread(target=lambda: [send(s) for s in range(1, 11)])
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # 5, 8 and then 9 and 10 from the replays
        mb.poll(lambda: range_sum(st, "r1", "hits") == 5 + 8 + 9 + 10, what="exactly once")
        mb.poll(lambda: self_total(st, "agentd.batches.duplicate") == 5 + 3 + 4 * 10 - 2,
                what="repeats counted")
        # another instance of the same container has its own sequence
        a = send_batch(st, "c:hits:100", cid="r1", inst=100, seq=1)
        self.assertEqual(a["st"], 0)
        mb.poll(lambda: range_sum(st, "r1", "hits") == 132, what="second instance counted")
        self.assertIsNone(p.poll())

    def test_many_half_open_connections_both_sockets(self):
        """Hundreds of peers that connect and close before the SP handshake (closing at once,
        or after half a header) on both sockets, while a sender goes on: agentd keeps its
        listeners (nng's issue 1518, fixed in the nng we build), never re-listens, and real
        batches and queries go through, old connections and new ones alike."""
        st = self.stack
        p = st.agentd("--node-interval", "500ms")
        good = GoodSender(st, "ho")
        try:
            for url in (st.ingest, st.query):
                half_open(sock_path(url), times=150)
                half_open(sock_path(url), times=150, send=b"\x00SP\x00")
            self.assertIsNotNone(query(st, "ping"), "query socket answers")
            for url in (st.ingest, st.query):
                self.assertEqual(listening(sock_path(url)), 1, "one listener on " + url)
        finally:
            n = good.finish()
        self.assertIsNone(p.poll(), st.log_of(p))
        # a fresh sender gets through too, the first time
        a = send_batch(st, "c:good:1", cid="ho", inst=778, seq=1, timeout=30000)
        self.assertEqual(a["st"], 0, a)
        mb.poll(lambda: range_sum(st, "ho", "good") == n + 1, what="good batches (%d)" % n)
        self.assertTrue(st.cli_ok("containers"))
        self.assertGreater(n, 0)
        self.assertNotIn("listening again", st.log_of(p))


def listening(path):
    """Listening unix sockets bound to path, from /proc/net/unix (flags has __SO_ACCEPTCON)."""
    n = 0
    with open("/proc/net/unix") as f:
        next(f)
        for ln in f:
            parts = ln.split()
            if len(parts) >= 8 and parts[7] == path and int(parts[3], 16) & 0x10000:
                n += 1
    return n


if __name__ == "__main__":
    unittest.main()
