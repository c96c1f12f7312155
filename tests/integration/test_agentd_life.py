"""test_agentd_life: agentd under init and at its edges: sd_notify READY/WATCHDOG/STOPPING, a
clean TERM exit, flag errors, --verify-peer (container identity from the sender's cgroup),
node metrics that match /proc and statvfs with their dimensions, a backup that opens as a store
with the same data, ipc socket modes, the shipped systemd unit and tmpfiles snippet."""
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import mbharness as mb
from agentd_util import meminfo, mbsend, query, range_sum, self_total, send_batch, sock_path

AGENTD = mb.binpath("metricsbus-agentd")


def cgroup_id(pid="self"):
    """agentd/peer.c's answer for a process in the root of the unified hierarchy ("host"), else
    None: other cgroups are tested by test_security_peer, which makes its own."""
    with open("/proc/%s/cgroup" % pid) as f:
        lines = [ln.rstrip("\n").split(":", 2) for ln in f if ln.count(":") >= 2]
    v2 = [p for h, c, p in lines if h == "0" and c == ""]
    return "host" if v2 == ["/"] else None


class AgentdLife(mb.StackTest):
    def test_sd_notify_ready_watchdog_stopping(self):
        st = self.stack
        path = os.path.join(st.dir, "notify.sock")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(path)
        ns.settimeout(0.2)
        self.addCleanup(ns.close)
        got = []

        def saw(word):
            try:
                while True:
                    got.append(ns.recv(4096).decode())
            except socket.timeout:
                pass
            return any(word in m for m in got)
        p = st.agentd(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"}, wait=False)
        mb.poll(lambda: saw("READY=1"), what="READY=1")
        # READY only once both sockets and the store are up: a query answers right away
        self.assertEqual(query(st, "ping")["st"], 200)
        got.clear()
        mb.poll(lambda: saw("WATCHDOG=1"), what="WATCHDOG=1 at half of WATCHDOG_USEC")
        p.terminate()
        mb.poll(lambda: saw("STOPPING=1"), what="STOPPING=1")
        self.assertEqual(p.wait(timeout=30), 0)

    def test_bad_flags_exit_2(self):
        for args in (["--retention", "bogus"], ["--node-interval", "fast"], ["--node-interval", "10ms"],
                     ["--max-size", "lots"], ["--max-series-per-source", "-1"],
                     ["--no-such-flag"], ["--verify-peer", "--ingest", "tcp://127.0.0.1:5999"]):
            r = subprocess.run([AGENTD, "--data-dir", os.path.join(self.stack.dir, "d")] + args,
                               capture_output=True, text=True, timeout=30,
                               env=self.stack.env)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn("error", r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()) >= 1, True)
        r = subprocess.run([AGENTD, "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        for flag in ("--ingest", "--query", "--retention", "--node-interval", "--max-size",
                     "--max-series-per-source", "--node-id", "--cluster-id", "--verify-peer"):
            self.assertIn(flag, r.stdout)

    def test_other_retention_refused_with_both_named(self):
        st = self.stack
        p = st.agentd()
        self.assertEqual(send_batch(st, "c:x:1", cid="r1", inst=3, seq=1)["st"], 0)
        self.assertEqual(st.stop(p), 0)
        q = st.agentd("--retention", "10s:1h,1m:1d", wait=False)
        self.assertEqual(q.wait(timeout=60), 1)
        log = st.log_of(q)
        self.assertIn("10s:1h,1m:1d", log)
        self.assertIn("10s:6h,1m:7d,1h:90d", log)
        self.assertIn("docs/operations.md", log)
        # the refused start harmed nothing: the store opens again as it was
        st.agentd()
        self.assertEqual(range_sum(st, "r1", "x"), 1)

    def test_verify_peer_takes_identity_from_cgroup(self):
        st = self.stack
        st.agentd("--verify-peer", "--node-interval", "500ms")
        want = cgroup_id()  # mbsend runs in this test's cgroup
        if want is None:
            self.skipTest("this test runs outside the unified root; see test_security_peer")
        a = send_batch(st, "c:hits:3", cid="liar", inst=5, seq=1)
        self.assertEqual(a["st"], 0)
        self.assertEqual(range_sum(st, want, "hits"), 3)
        self.assertIsNone(range_sum(st, "liar", "hits"))
        if want != "liar":
            mb.poll(lambda: self_total(st, "agentd.peer.mismatch") == 1, what="mismatch counted")

    def test_node_metrics_match_proc_and_statvfs(self):
        st = self.stack
        st.agentd("--node-id", "agent-7", "--cluster-id", "cl-1", "--node-interval", "500ms")

        def node():
            r = query(st, "node")
            return r if r and r["st"] == 200 and r["pts"] else None
        r = mb.poll(lambda: (lambda r: r if r and any(p["name"] == "cpu.total" for p in r["pts"])
                             else None)(node()), what="node metrics")
        d = r["dims"]
        self.assertEqual(d["mesos_id"], "agent-7")
        self.assertEqual(d["cluster_id"], "cl-1")
        self.assertEqual(d["hostname"], socket.gethostname())
        pts = {}
        for p in r["pts"]:
            pts[(p["name"], tuple(sorted(p.get("tags", {}).items())))] = p
        self.assertEqual(pts[("memory.total", ())]["value"], meminfo("MemTotal"))
        self.assertEqual(pts[("memory.total", ())]["unit"], "bytes")
        self.assertEqual(pts[("swap.total", ())]["value"], meminfo("SwapTotal"))
        self.assertEqual(pts[("cpu.cores", ())]["value"], os.cpu_count())
        self.assertEqual(pts[("cpu.total", ())]["unit"], "percent")
        self.assertTrue(0 <= pts[("cpu.total", ())]["value"] <= 100)
        sv = os.statvfs("/")
        fs = pts[("filesystem.capacity.total", (("path", "/"),))]
        self.assertEqual(fs["value"], sv.f_blocks * sv.f_frsize)
        self.assertEqual(fs["unit"], "bytes")
        self.assertEqual(pts[("filesystem.inode.total", (("path", "/"),))]["value"], sv.f_files)
        self.assertNotIn(("filesystem.capacity.total", (("path", "/proc"),)), pts)
        self.assertIn(("network.in", (("interface", "lo"),)), pts)
        up = float(open("/proc/uptime").read().split()[0])
        self.assertLess(abs(pts[("system.uptime", ())]["value"] - up), 30)
        self.assertGreater(pts[("process.count", ())]["value"], 1)
        self.assertIn("node", query(st, "ping")["node"] + "node")
        self.assertEqual(query(st, "ping")["node"], "agent-7")

    def test_backup_opens_as_store_with_same_data(self):
        st = self.stack
        st.agentd("--backup-dir", st.dir)
        a = send_batch(st, "c:hits:2", "t:lat:1,2,3", cid="b1", inst=8, seq=1, repeat=100, iv=10)
        self.assertEqual(a["ok"], 100)
        dest = os.path.join(st.dir, "backup")
        r = query(st, "backup", "--dir", dest)
        self.assertEqual(r["st"], 200, r)
        self.assertGreater(r["bytes"], 0)
        # a second agentd on the copy, on its own sockets, answers with the same data
        b = mb.Stack()
        self.addCleanup(b.close)
        p = b.spawn([AGENTD, "--data-dir", dest, "--ingest", b.ingest, "--query", b.query],
                    name="agentd")
        b.wait_agentd_ready(p)
        self.assertEqual(range_sum(b, "b1", "hits"), 200)
        self.assertEqual(range_sum(b, "b1", "lat", stat="count"), 300)
        # a target outside --backup-dir is refused with a reason
        r = mbsend("raw", st.query, "-", "--as", "backup",
                   stdin=b"\x83\xa1v\x01\xa2op\xa6backup\xa3dir\xa4/etc")[0]
        self.assertEqual(r["st"], 403, r)

    def test_socket_modes_and_run_dir(self):
        st = self.stack
        run = os.path.join(st.dir, "fresh", "run")
        ingest, q = "ipc://" + run + "/ingest.sock", "ipc://" + run + "/query.sock"
        p = st.spawn([AGENTD, "--data-dir", st.data_dir, "--ingest", ingest, "--query", q],
                     name="agentd")
        mb.poll(lambda: os.path.exists(run + "/query.sock") and
                mbsend("query", q, "ping", check=False), what="agentd up")
        self.assertEqual(stat.S_IMODE(os.stat(run).st_mode), 0o750)
        for s in ("ingest.sock", "query.sock"):
            m = os.stat(os.path.join(run, s)).st_mode
            self.assertTrue(stat.S_ISSOCK(m))
            self.assertEqual(stat.S_IMODE(m), 0o660, s)
        self.assertEqual(st.stop(p), 0)

    def test_systemd_unit_and_tmpfiles(self):
        unit = os.path.join(mb.ROOT, "agentd", "metricsbus-agentd.service")
        text = open(unit).read()
        for want in ("Type=notify", "WatchdogSec=", "NoNewPrivileges=yes", "ProtectSystem=strict",
                     "RuntimeDirectory=metricsbus", "StateDirectory=metricsbus",
                     "ExecStart=/usr/local/bin/metricsbus-agentd"):
            self.assertIn(want, text)
        # the least-privilege layout: identity from the kernel, ingest in a directory of its own
        # (what containers mount), both directories closed to others
        execstart = [ln for ln in text.splitlines() if ln.startswith("ExecStart=")][0]
        self.assertIn("--verify-peer", execstart)
        self.assertIn("--ingest ipc:///run/metricsbus/ingest/ingest.sock", execstart)
        self.assertIn("RuntimeDirectory=metricsbus metricsbus/ingest", text)
        self.assertIn("RuntimeDirectoryMode=0750", text)
        tmpf = open(os.path.join(mb.ROOT, "agentd", "metricsbus.tmpfiles")).read()
        self.assertRegex(tmpf, r"(?m)^d /run/metricsbus 0750 metricsbus metricsbus")
        self.assertRegex(tmpf, r"(?m)^d /run/metricsbus/ingest 0750 metricsbus metricsbus")
        dest = tempfile.mkdtemp(prefix="mbinst")
        self.addCleanup(shutil.rmtree, dest, True)
        r = subprocess.run(["make", "-s", "-C", mb.ROOT, "B=" + os.path.relpath(mb.BUILD, mb.ROOT),
                            "install-agentd", "DESTDIR=" + dest, "PREFIX=/opt/mb"],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        inst = os.path.join(dest, "opt/mb/lib/systemd/system/metricsbus-agentd.service")
        self.assertIn("ExecStart=/opt/mb/bin/metricsbus-agentd", open(inst).read())
        self.assertTrue(os.path.isfile(os.path.join(dest, "opt/mb/lib/tmpfiles.d/metricsbus.conf")))
        sa = shutil.which("systemd-analyze")
        if not sa:
            self.skipTest("systemd-analyze not installed")
        # verify against a copy whose ExecStart names a binary that exists
        d = tempfile.mkdtemp(prefix="mbunit")
        self.addCleanup(shutil.rmtree, d, True)
        with open(os.path.join(d, "metricsbus-agentd.service"), "w") as f:
            f.write(text.replace("/usr/local/bin/metricsbus-agentd", AGENTD))
        r = subprocess.run([sa, "verify", "--man=no", os.path.join(d, "metricsbus-agentd.service")],
                           capture_output=True, text=True, timeout=60)
        problems = [ln for ln in (r.stdout + r.stderr).splitlines()
                    if ln.strip() and "metricsbus-agentd.service" in ln]
        self.assertEqual(problems, [], r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
