"""test_agentd_faults: agentd under the faults a node sees: kill -9 during busy ingest (from
mbsend and from a real shim: nothing lost, nothing doubled, the store reopens), SIGSTOP and
SIGCONT (the shim's backlog delivered), a full filesystem (no ack for what is not committed,
queries go on, a clear log line, recovery when space returns), the map at --max-size (new
series refused and counted, existing ones go on), a clean TERM that drains."""
import os
import signal
import subprocess
import threading
import time
import unittest

import mbharness as mb
from agentd_util import mbsend, query, range_sum, self_total, send_batch, wait_exit


class StatsdSender:
    """Sends `name:1|c` datagrams to a shim at a steady pace from a thread; counts them."""

    def __init__(self, port, name, total, per_sec=2000):
        self.port, self.name, self.total, self.per_sec = port, name, total, per_sec
        self.sent = 0
        self.t = threading.Thread(target=self.run)

    def run(self):
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        start = time.monotonic()
        line = ("%s:1|c" % self.name).encode()
        while self.sent < self.total:
            s.sendto(line, ("127.0.0.1", self.port))
            self.sent += 1
            # pace: never more than per_sec on average
            ahead = self.sent / self.per_sec - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
        s.close()


class AgentdFaults(mb.StackTest):
    def start_shim(self, cid):
        port = mb.free_port()
        shim = self.stack.shim("--listen", "127.0.0.1:%d" % port, "--container-id", cid,
                               "--flush-interval", "200ms", "--drain-timeout", "10s")
        # the shim is up once a probe value has gone all the way through
        def probe():
            mb.send_udp(port, "probe:1|c")
            return range_sum(self.stack, cid, "probe")
        mb.poll(probe, timeout=20, interval=0.2, what="shim delivering")
        return shim, port

    def test_kill9_during_busy_ingest_mbsend_exactly_once(self):
        st = self.stack
        agentd = st.agentd()
        n = 3000
        sender = subprocess.Popen([mb.tool("mbsend"), "batch", st.ingest, "--cid", "k9",
                                   "--inst", "991", "--repeat", str(n), "--iv", "10",
                                   "--timeout", "500", "c:hits:1", "c:other:2"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            mb.poll(lambda: (range_sum(st, "k9", "hits") or 0) > 200, what="ingest under way")
            agentd.kill()
            agentd.wait()
            agentd = st.agentd()
            out, _ = sender.communicate(timeout=120)
        finally:
            if sender.poll() is None:
                sender.kill()
                sender.wait()
        self.assertEqual(sender.returncode, 0)
        import json
        res = json.loads(out.strip().splitlines()[-1])
        self.assertEqual(res["ok"] + res["dup"], n, res)
        self.assertEqual(range_sum(st, "k9", "hits"), n)
        self.assertEqual(range_sum(st, "k9", "other"), 2 * n)

    def test_kill9_during_busy_ingest_real_shim(self):
        st = self.stack
        agentd = st.agentd()
        shim, port = self.start_shim("k9shim")
        s = StatsdSender(port, "hits", 6000, per_sec=1500)
        s.t.start()
        try:
            mb.poll(lambda: (range_sum(st, "k9shim", "hits") or 0) > 500, what="ingest under way")
            agentd.kill()
            agentd.wait()
            agentd = st.agentd()
        finally:
            s.t.join()
        mb.poll(lambda: range_sum(st, "k9shim", "hits") == s.sent, timeout=30,
                what="every datagram counted once (%d)" % s.sent)
        self.assertEqual(st.stop(shim), 0)
        self.assertEqual(range_sum(st, "k9shim", "hits"), s.sent)

    def test_sigstop_sigcont_backlog_delivered(self):
        st = self.stack
        agentd = st.agentd()
        shim, port = self.start_shim("stopped")
        s = StatsdSender(port, "hits", 3000, per_sec=1000)
        s.t.start()
        mb.poll(lambda: (range_sum(st, "stopped", "hits") or 0) > 100, what="ingest under way")
        agentd.send_signal(signal.SIGSTOP)
        # the scenario: agentd frozen while the shim keeps aggregating for a while
        time.sleep(2)
        agentd.send_signal(signal.SIGCONT)
        s.t.join()
        mb.poll(lambda: range_sum(st, "stopped", "hits") == s.sent, timeout=30,
                what="backlog delivered (%d)" % s.sent)
        self.assertIsNone(agentd.poll())

    def test_term_drains_and_restart_keeps_everything(self):
        st = self.stack
        agentd = st.agentd()
        a = send_batch(st, "c:hits:1", "g:g1:7", cid="keep", inst=31, seq=1, repeat=200, iv=10)
        self.assertEqual(a["ok"], 200)
        self.assertEqual(st.stop(agentd), 0)
        self.assertIn("stopped", st.log_of(agentd))
        st.agentd()
        self.assertEqual(range_sum(st, "keep", "hits"), 200)
        # the instance's last seq survived: a repeat is still a duplicate
        self.assertEqual(send_batch(st, "c:hits:1", cid="keep", inst=31, seq=200)["st"], 1)
        self.assertEqual(range_sum(st, "keep", "hits"), 200)

    def test_full_filesystem_enospc(self):
        st = self.stack
        small = os.path.join(st.dir, "small")
        os.makedirs(small)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", small],
                           capture_output=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: %s" % r.stderr.decode().strip())
        self.addCleanup(subprocess.run, ["umount", "-l", small])
        data = os.path.join(small, "data")
        agentd = st.spawn([mb.binpath("metricsbus-agentd"), "--data-dir", data, "--ingest",
                           st.ingest, "--query", st.query, "--node-interval", "1h"], name="agentd")
        st.wait_agentd_ready(agentd)
        self.assertEqual(send_batch(st, "c:hits:1", cid="disk", inst=61, seq=1)["st"], 0)
        # fill the filesystem to the last byte
        filler = os.path.join(small, "filler")
        subprocess.run(["dd", "if=/dev/zero", "of=" + filler, "bs=64k"], capture_output=True)
        statuses = []
        seq = 2
        # new series need new pages: the commit fails with ENOSPC and the batch is not acked
        for i in range(40):
            recs = ["c:new%d.s%d:1" % (i, k) for k in range(200)]
            a = send_batch(st, *recs, cid="disk", inst=61, seq=seq)
            statuses.append(a["st"])
            if a["st"] == 3:
                break
            seq += 1
        self.assertEqual(statuses[-1], 3, "a batch that could not be committed is not acked")
        # queries keep working, and the log says why
        self.assertEqual(range_sum(st, "disk", "hits"), 1)
        mb.poll(lambda: "not committed" in st.log_of(agentd), what="a clear log line")
        self.assertIsNone(agentd.poll())
        # space returns: the held batch (same seq) commits
        os.unlink(filler)
        a = send_batch(st, *recs, cid="disk", inst=61, seq=seq)
        self.assertEqual(a["st"], 0)
        self.assertEqual(range_sum(st, "disk", "new%d.s0" % i), 1)
        self.assertEqual(send_batch(st, "c:hits:1", cid="disk", inst=61, seq=seq + 1)["st"], 0)
        self.assertEqual(range_sum(st, "disk", "hits"), 2)
        self.assertEqual(st.stop(agentd), 0)

    def test_series_limit_per_source(self):
        st = self.stack
        # (the limit applies to agentd's own sources too: leave them room)
        st.agentd("--max-series-per-source", "300", "--node-interval", "500ms")
        recs = ["c:s%d:1" % k for k in range(305)]
        a = send_batch(st, *recs, cid="greedy", inst=81, seq=1)
        self.assertEqual(a["st"], 0, a)
        ser = query(st, "series", "--src", "greedy")["series"]
        self.assertEqual(len(ser), 300)
        kept = ser[0]["name"]
        # only new series: nothing of it can be kept, rejected with the reason
        a = send_batch(st, "c:t1:1", "c:t2:1", cid="greedy", inst=81, seq=2)
        self.assertEqual(a["st"], 2, a)
        self.assertIn("series limit", a["err"])
        # other sources are not affected, and the limited one's existing series go on
        self.assertEqual(send_batch(st, "c:s0:1", cid="other", inst=82, seq=1)["st"], 0)
        self.assertEqual(send_batch(st, "c:%s:1" % kept, cid="greedy", inst=81, seq=3)["st"], 0)
        self.assertEqual(range_sum(st, "greedy", kept), 2)
        mb.poll(lambda: self_total(st, "agentd.series.refused", tags="reason:series_limit") >= 5,
                what="refusals counted")

    def test_map_full_at_max_size(self):
        st = self.stack
        p = st.agentd("--max-size", "4MiB", "--node-interval", "500ms")
        self.assertEqual(send_batch(st, "c:old:1", cid="big", inst=71, seq=1)["st"], 0)
        seq = 2
        full = False
        for i in range(400):
            recs = ["g:s%d.n%d:1" % (i, k) for k in range(50)]
            a = send_batch(st, *recs, cid="big", inst=71, seq=seq)
            self.assertIn(a["st"], (0, 3), a)
            if a["st"] == 3:
                self.assertIn("max-size", a["err"])
            seq += 1
            if a["st"] == 3 or self_total(st, "agentd.series.refused", tags="reason:max_size"):
                full = True
                break
        self.assertTrue(full, "new series refused past --max-size")
        # existing series go on (in a batch that also brings new ones), queries answer, the
        # refused new series are counted
        a = send_batch(st, "c:old:1", "g:brand.new.a:1", "g:brand.new.b:1", cid="big", inst=71,
                       seq=seq)
        self.assertEqual(a["st"], 0, a)
        self.assertIsNone(range_sum(st, "big", "brand.new.a"))
        self.assertEqual(range_sum(st, "big", "old"), 2)
        self.assertIn("big", query(st, "containers")["ids"])
        # (counted in agentd.series.refused{reason=max_size} once a self batch fits again; at
        # the cap even agentd's own batch may not, so the log line is what is certain)
        self.assertIn("--max-size", st.log_of(p))


if __name__ == "__main__":
    unittest.main()
