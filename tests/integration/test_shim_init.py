"""test_shim_init: metricsbus-shim as its container's init, with real signals and processes:
the child's environment and signal mask, forwarding of every listed signal, exit codes
(status, 128+N, 127, 126), zombies reaped as PID 1 and as a subreaper, standalone mode."""
import os
import shutil
import signal
import stat
import subprocess
import sys
import unittest

import mbharness as mb
import shimlib

PY = "/usr/bin/python3"

RECORDER = r'''
import os, signal, sys, time
out = sys.argv[1]
names = {getattr(signal, n): n for n in
         ["SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGTERM"]}
def rec(sig, frame):
    with open(out, "a") as f:
        f.write(names[sig] + "\n")
    if sig == signal.SIGTERM:
        sys.exit(0)
for s in names:
    signal.signal(s, rec)
st = open("/proc/self/status").read()
blk = [l.split()[1] for l in st.splitlines() if l.startswith("SigBlk:")][0]
ign = [l.split()[1] for l in st.splitlines() if l.startswith("SigIgn:")][0]
with open(out, "a") as f:
    f.write("READY %s %s %s %s\n" % (blk, ign, os.environ.get("STATSD_UDP_HOST"),
                                     os.environ.get("STATSD_UDP_PORT")))
while True:
    time.sleep(3600)
'''

# Makes 4 orphans (each a grandchild whose parent exits at once), which then exit; reports
# whether something reaped them (their /proc entries vanish) and who their parent became.
ORPHANS = r'''
import os, sys, time
out = sys.argv[1]
r, w = os.pipe()
for i in range(4):
    if os.fork() == 0:
        pid = os.fork()
        if pid == 0:
            os.close(r)
            os.close(w)
            time.sleep(1.0)
            os._exit(0)
        os.write(w, b"%d\n" % pid)
        os._exit(0)
os.close(w)
for i in range(4):
    os.waitpid(-1, 0)
orphans = [int(x) for x in os.fdopen(r).read().split()]
parents = set()
for pid in orphans:
    try:
        parents.add(int(open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[1]))
    except OSError:
        pass
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    alive = [p for p in orphans if os.path.exists("/proc/%d" % p)]
    if not alive:
        break
    time.sleep(0.05)
with open(out, "w") as f:
    f.write("%s ppid=%d orphans=%s parents=%s alive=%s\n" % (
        "REAPED" if not alive else "ZOMBIES", os.getppid(), orphans, sorted(parents), alive))
'''


class ShimInitTest(mb.StackTest):
    def shim(self, cmd, *args, **kw):
        return self.stack.shim("--flush-interval", "10s", "--drain-timeout", "200ms", *args,
                               cmd=cmd, **kw)

    def file(self, name):
        return os.path.join(self.stack.dir, name)

    def read(self, name):
        try:
            with open(self.file(name)) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def test_child_env_and_original_signal_mask(self):
        out = self.file("rec")
        p = self.shim([PY, "-c", RECORDER, out])
        line = mb.poll(lambda: [l for l in self.read("rec").splitlines() if l.startswith("READY")],
                       what="child ready")[0].split()
        host, port = line[3], line[4]
        self.assertEqual(host, "127.0.0.1")
        self.assertEqual(int(port), shimlib.shim_port(self.stack, p))
        p.send_signal(signal.SIGTERM)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)

    def test_child_signal_mask_and_dispositions_restored(self):
        out = self.file("sig")
        p = self.shim(["/bin/sh", "-c", 'exec grep -E "^Sig(Blk|Ign)" /proc/self/status > "$0"', out])
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0)
        got = dict(l.split(":") for l in self.read("sig").splitlines())
        self.assertEqual(int(got["SigBlk"], 16), 0, "the child starts with nothing blocked")
        # Signals 1..31 only: glibc's own real-time signals (32, 33) cannot be changed through
        # sigaction, so one ignored by whoever started the test stays ignored in any child.
        self.assertEqual(int(got["SigIgn"], 16) & 0x7FFFFFFF, 0,
                         "and nothing ignored (SIGPIPE is default)")

    def test_forwards_every_signal(self):
        out = self.file("rec")
        p = self.shim([PY, "-c", RECORDER, out])
        mb.poll(lambda: "READY" in self.read("rec"), what="child ready")
        for sig in [signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGUSR1,
                    signal.SIGUSR2, signal.SIGWINCH, signal.SIGTERM]:
            p.send_signal(sig)
            mb.poll(lambda: sig.name in self.read("rec").split(), what=f"{sig.name} forwarded")
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0, "the child's status after TERM")

    def test_exit_status_of_child(self):
        p = self.shim(["/bin/sh", "-c", "exit 7"])
        self.assertEqual(shimlib.wait_exit(self.stack, p), 7)

    def test_exit_128_plus_signal(self):
        p = self.shim(["/bin/sh", "-c", "kill -KILL $$"])
        self.assertEqual(shimlib.wait_exit(self.stack, p), 128 + 9)
        # A TERM forwarded to a child with no handler kills it: 143.
        p = self.shim(["/bin/sleep", "60"])
        shimlib.shim_port(self.stack, p)
        p.send_signal(signal.SIGTERM)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 128 + 15)

    def test_command_not_found_127(self):
        p = self.shim(["/nonexistent/command-xyz"])
        self.assertEqual(shimlib.wait_exit(self.stack, p), 127)
        self.assertIn("command not found", self.stack.log_of(p))
        p = self.shim(["no-such-command-xyz-on-path"])
        self.assertEqual(shimlib.wait_exit(self.stack, p), 127)

    def test_not_executable_126(self):
        path = self.file("noexec.sh")
        with open(path, "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(path, 0o644)
        if os.geteuid() == 0:
            # root may execute without x only if some x bit is set: none is, so EACCES
            pass
        p = self.shim([path])
        self.assertEqual(shimlib.wait_exit(self.stack, p), 126)
        self.assertIn("noexec.sh", self.stack.log_of(p))

    def test_reaps_orphans_as_subreaper(self):
        out = self.file("orph")
        p = self.shim([PY, "-c", ORPHANS, out])
        self.assertEqual(shimlib.wait_exit(self.stack, p, timeout=20), 0)
        res = self.read("orph")
        self.assertTrue(res.startswith("REAPED"), res)
        # the orphans were re-parented to the shim (the child's parent), not to init
        ppid = int(res.split("ppid=")[1].split()[0])
        self.assertEqual(ppid, p.pid)
        self.assertIn(f"parents=[{p.pid}]", res)

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare"), "needs root and unshare")
    def test_reaps_zombies_as_pid1(self):
        out = self.file("orph")
        argv = ["unshare", "--pid", "--fork", "--mount-proc", mb.binpath("metricsbus-shim"),
                "--agent", self.stack.ingest, "--flush-interval", "10s", "--drain-timeout",
                "200ms", "--", PY, "-c", ORPHANS, out]
        p = self.stack.spawn(argv, name="shim-pid1")
        self.assertEqual(shimlib.wait_exit(self.stack, p, timeout=20), 0, self.stack.log_of(p))
        res = self.read("orph")
        self.assertTrue(res.startswith("REAPED"), res)
        self.assertIn("ppid=1 ", res, "the shim was PID 1")
        self.assertIn("parents=[1]", res)

    def test_standalone_until_term_or_int(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            sink = shimlib.Sink(self.stack, self.stack.ingest)
            p = self.stack.shim("--flush-interval", "10s", "--drain-timeout", "5s")
            port = shimlib.shim_port(self.stack, p)
            shimlib.send(port, "alone:3|c")
            # HUP and friends do not stop a standalone shim
            p.send_signal(signal.SIGHUP)
            p.send_signal(sig)
            self.assertEqual(shimlib.wait_exit(self.stack, p), 0)
            b = sink.batches()
            self.assertTrue(shimlib.stopped(b), b)
            self.assertEqual(shimlib.total(b, "alone"), 3)
            sink.stop()

    def test_bad_flag_exit_2(self):
        r = subprocess.run([mb.binpath("metricsbus-shim"), "--flush-interval", "soon"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        r = subprocess.run([mb.binpath("metricsbus-shim"), "--dimension", "bad key=1", "--",
                            "true"], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        r = subprocess.run([mb.binpath("metricsbus-shim"), "--listen", "nonsense", "--", "true"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        r = subprocess.run([mb.binpath("metricsbus-shim"), "--agent", "nowhere", "--", "true"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--agent", r.stderr)
        r = subprocess.run([mb.binpath("metricsbus-shim"), "--help"], capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(r.returncode, 0)


if __name__ == "__main__":
    unittest.main()
