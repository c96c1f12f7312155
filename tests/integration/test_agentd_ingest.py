"""test_agentd_ingest: agentd's ingest and query sockets with real processes: acknowledged
commits, repeats dropped, hostile input (garbage, oversized, wrong protocol) answered or
dropped and counted while good data flows on exactly, one agentd per socket path, stale
socket files, half-open ipc peers."""
import os
import signal
import subprocess
import threading
import time
import unittest

import mbharness as mb
from agentd_util import (half_open, mbsend, query, range_sum, self_total, send_batch,
                         sock_path, wait_exit)


class AgentdIngest(mb.StackTest):
    def test_ack_after_commit_and_repeat_dropped(self):
        st = self.stack
        st.agentd()
        a = send_batch(st, "c:hits:5", "g:temp:21.5", cid="c1", inst=77, seq=1)
        self.assertEqual((a["seq"], a["st"]), (1, 0))
        # the same seq again: acknowledged as a duplicate, not counted twice
        a = send_batch(st, "c:hits:5", cid="c1", inst=77, seq=1)
        self.assertEqual((a["seq"], a["st"]), (1, 1))
        a = send_batch(st, "c:hits:1", cid="c1", inst=77, seq=2, repeat=50, iv=10)
        self.assertEqual((a["ok"], a["dup"], a["rejected"]), (50, 0, 0))
        self.assertEqual(range_sum(st, "c1", "hits"), 55)
        self.assertIn("c1", query(st, "containers")["ids"])

    def test_reserved_container_ids_rejected(self):
        """A sender cannot claim agentd's own sources (and their exemptions from the limits)."""
        st = self.stack
        st.agentd("--node-interval", "500ms")
        for i, cid in enumerate(("node", "agentd")):
            a = send_batch(st, "c:claimed:5", cid=cid, inst=90 + i, seq=1)
            self.assertEqual(a["st"], 2, a)
            self.assertIn("reserved", a["err"])
        mb.poll(lambda: self_total(st, "agentd.batches.rejected", tags="reason:store") == 2,
                what="rejections counted")
        self.assertFalse(range_sum(st, "node", "claimed"))
        self.assertFalse(range_sum(st, "agentd", "claimed"))
        # agentd's own node metrics still flow
        mb.poll(lambda: query(st, "node").get("pts"), what="node metrics")

    def test_many_senders_at_once_exact(self):
        st = self.stack
        st.agentd()
        procs = [subprocess.Popen([mb.tool("mbsend"), "batch", st.ingest, "--cid", "many%d" % (i % 5),
                                   "--inst", str(1000 + i), "--repeat", "100", "--iv", "10",
                                   "c:hits:1", "g:g:%d" % i], stdout=subprocess.PIPE, text=True)
                 for i in range(40)]
        for p in procs:
            out, _ = p.communicate(timeout=120 * (3 if mb.SANITIZED else 1))
            self.assertEqual(p.returncode, 0)
            self.assertIn('"ok":100', out)
        for c in range(5):
            self.assertEqual(range_sum(st, "many%d" % c, "hits"), 8 * 100)

    def test_garbage_oversized_wrong_protocol_counted_good_data_exact(self):
        st = self.stack
        st.agentd("--node-interval", "500ms")
        good = {"n": 0}
        stop = threading.Event()

        def good_sender():
            seq = 1
            while not stop.is_set():
                a = send_batch(st, "c:good:1", cid="good", inst=4242, seq=seq)
                self.assertIn(a["st"], (0, 1))
                good["n"] += 1
                seq += 1
        t = threading.Thread(target=good_sender)
        t.start()
        try:
            garbage = [b"", b"\xc1", b"garbage\n" * 10, b"\x80", b"\x91\x01",
                       b"\xdf\xff\xff\xff\xff",  # a map announcing 4 billion entries
                       b"\xdd\xff\xff\xff\xff",  # an array announcing the same
                       bytes(range(256)) * 4]
            for g in garbage:
                a = mbsend("raw", st.ingest, "-", stdin=g)[0]
                self.assertEqual(a["st"], 2, g)
                self.assertTrue(a["err"], "a rejection says why")
            # schema-valid msgpack that is not a batch, and a newer schema version
            a = mbsend("raw", st.ingest, "-", stdin=b"\x81\xa1v\x02")[0]
            self.assertEqual(a["st"], 2)
            # oversized: over the 1 MiB receive limit, nng drops the pipe; no reply, no crash
            big = b"\xc6" + (2 << 20).to_bytes(4, "big") + b"\0" * (2 << 20)
            r = mbsend("raw", st.ingest, "-", "--timeout", 1500, stdin=big, check=False)
            self.assertTrue(r and "error" in r[0], r)
            # wrong protocols: push and pair are not REQ; nng refuses the pipe
            for proto in ("push", "pair"):
                mbsend("raw", st.ingest, "-", "--proto", proto, stdin=b"\x81\xa1v\x01", check=False)
            # the query socket: garbage gets a 400 with a reason, never silence
            for g in garbage[:5]:
                r = mbsend("raw", st.query, "-", "--as", "ping", stdin=g)[0]
                self.assertEqual(r["st"], 400, g)
                self.assertTrue(r["err"])
            r = mbsend("raw", st.query, "-", "--as", "ping", "--timeout", 1500, stdin=big,
                       check=False)
            self.assertTrue(r and "error" in r[0], r)
            mbsend("raw", st.query, "-", "--proto", "push", stdin=b"x", check=False)
            # unknown op
            r = mbsend("raw", st.query, "-", "--as", "ping",
                       stdin=b"\x82\xa1v\x01\xa2op\xa4nope")[0]
            self.assertEqual(r["st"], 400)
        finally:
            stop.set()
            t.join()
        self.assertGreater(good["n"], 0)
        # every good batch committed exactly once; every bad one counted by reason
        mb.poll(lambda: range_sum(st, "good", "good") == good["n"], what="good total")
        want_rejected = len(garbage) + 1
        mb.poll(lambda: sum(self_total(st, "agentd.batches.rejected", tags="reason:" + r)
                            for r in ("invalid", "version", "too_big")) == want_rejected,
                what="rejections counted")
        mb.poll(lambda: self_total(st, "agentd.queries.failed") >= 6, what="failed queries counted")
        self.assertIsNotNone(query(st, "ping"))

    def test_decoded_size_bounded(self):
        st = self.stack
        p = st.agentd("--node-interval", "500ms")
        # a timer's sketch with its lowest and highest bins is ~70 bytes on the wire and ~33 KiB
        # decoded: 5,000 of them would hold 160 MiB per batch in each of agentd's contexts
        recs = ["t:x%d:1e-9,1e9,-1e-9,-1e9" % k for k in range(5000)]
        a = send_batch(st, *recs, cid="amp", inst=3, seq=1)
        self.assertEqual(a["st"], 2, a)
        self.assertIn("too large", a["err"])
        # a modest one of the same shape is fine
        a = send_batch(st, *recs[:100], cid="amp", inst=3, seq=2)
        self.assertEqual(a["st"], 0, a)
        mb.poll(lambda: self_total(st, "agentd.batches.rejected", tags="reason:too_big") == 1,
                what="counted as too_big")
        with open("/proc/%d/status" % p.pid) as f:
            hwm = [int(ln.split()[1]) for ln in f if ln.startswith("VmHWM")][0]
        self.assertLess(hwm, (1500 if mb.SANITIZED else 600) * 1024, "peak RSS kB")

    def test_second_agentd_refused_harms_nothing(self):
        st = self.stack
        first = st.agentd()
        send_batch(st, "c:x:3", cid="c1", inst=5, seq=1)
        second = st.spawn([mb.binpath("metricsbus-agentd"), "--data-dir",
                           os.path.join(st.dir, "data2"), "--ingest", st.ingest,
                           "--query", st.query], name="agentd2")
        rc = wait_exit(second)
        self.assertEqual(rc, 1)
        log = st.log_of(second)
        self.assertIn("another metricsbus-agentd owns", log)
        self.assertIn(sock_path(st.ingest), log)
        self.assertIsNone(first.poll())
        self.assertTrue(os.path.exists(sock_path(st.ingest)))
        self.assertFalse(os.path.exists(os.path.join(st.dir, "data2")), "touched nothing")
        a = send_batch(st, "c:x:4", cid="c1", inst=5, seq=2)
        self.assertEqual(a["st"], 0)
        self.assertEqual(range_sum(st, "c1", "x"), 7)

    def test_stale_socket_files_from_dead_agentd(self):
        st = self.stack
        p = st.agentd()
        send_batch(st, "c:x:1", cid="c1", inst=5, seq=1)
        p.kill()
        p.wait()
        # the dead one's socket files are still there
        self.assertTrue(os.path.exists(sock_path(st.ingest)))
        self.assertTrue(os.path.exists(sock_path(st.query)))
        st.agentd()
        self.assertEqual(send_batch(st, "c:x:1", cid="c1", inst=5, seq=2)["st"], 0)
        self.assertEqual(range_sum(st, "c1", "x"), 2)

    def test_half_open_ipc_peers_harmless(self):
        st = self.stack
        st.agentd()
        for _ in range(3):
            half_open(sock_path(st.ingest))
            half_open(sock_path(st.query))
        # a fresh sender and a fresh querier get through, every batch new: nothing re-listened
        a = send_batch(st, "c:hits:1", cid="h1", inst=9, seq=1, repeat=20, iv=10)
        self.assertEqual(a["ok"], 20, a)
        mb.poll(lambda: range_sum(st, "h1", "hits") == 20, what="data after half-open peers")
        self.assertIn("h1", query(st, "containers")["ids"])
        self.assertTrue(st.cli_ok("containers"))


if __name__ == "__main__":
    unittest.main()
