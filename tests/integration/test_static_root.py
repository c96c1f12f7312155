"""test_static_root: the static shim (make static) as the entrypoint of a container whose root
holds nothing but the shim and Debian's static busybox: PID 1 of its own pid namespace, chrooted,
statsd over UDP and over its Unix socket, delivery to a real agentd outside through the node's
run directory mounted at /run/metricsbus, signals forwarded, the child's exit status returned."""
import os
import shutil
import signal
import socket
import struct
import subprocess
import unittest

import agentd_util as al
import mbharness as mb
import shimlib

STATIC = os.path.abspath(os.environ.get("MB_SHIM") or os.path.join(mb.ROOT, "build", "static", "metricsbus-shim"))
BUSYBOX = "/bin/busybox"  # Debian's busybox-static
FORWARDED = ("HUP", "INT", "QUIT", "USR1", "USR2", "WINCH")

# The application: busybox's sh records its environment and every signal it gets; TERM ends it
# with status 3.
APP = ("for s in %s; do trap \"echo $s >> /tmp/signals\" $s; done\n"
       "trap 'echo TERM >> /tmp/signals; exit 3' TERM\n"
       "env > /tmp/env.tmp && mv /tmp/env.tmp /tmp/env\n"
       "while :; do sleep 1 & wait $!; done\n") % " ".join(FORWARDED)


def elf_segments(path):
    """The program header types of a 64-bit little-endian ELF file."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "not a 64-bit LE ELF"
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]


def usable():
    if mb.SANITIZED:
        return "the static shim has no sanitizer build; run by the normal pass"
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("unshare", "chroot", "mount")):
        return "needs root, unshare, chroot and mount"
    if not os.path.exists(BUSYBOX):
        return "needs Debian's busybox-static (scripts/deps.sh)"
    if not os.path.exists(STATIC):
        return "no %s: run make static" % STATIC
    return None


@unittest.skipIf(usable(), usable())
class StaticShimInEmptyRoot(mb.StackTest):
    def setUp(self):
        super().setUp()
        self.root = os.path.join(self.stack.dir, "root")
        for d in ("bin", "metricsbus", "run/metricsbus", "tmp"):
            os.makedirs(os.path.join(self.root, d))
        shutil.copy(STATIC, os.path.join(self.root, "metricsbus", "metricsbus-shim"))
        shutil.copy(BUSYBOX, os.path.join(self.root, "bin", "busybox"))
        for applet in ("sh", "env", "mv", "sleep"):
            os.symlink("busybox", os.path.join(self.root, "bin", applet))
        self.agentd = self.stack.agentd()

    def tmp(self, name):
        return os.path.join(self.root, "tmp", name)

    def read(self, name):
        with open(self.tmp(name)) as f:
            return f.read()

    def start(self, cid, *shim_args, cmd):
        """The container: a private mount namespace where the node's run directory is bound at
        /run/metricsbus, a pid namespace where the shim is PID 1, chrooted into the root;
        its environment is a container's, not this test's."""
        enter = ('root=$1 run=$2; shift 2; mount --bind "$run" "$root/run/metricsbus" '
                 '&& exec chroot "$root" "$@"')
        argv = ([shutil.which("unshare"), "--mount", "--propagation", "private", "--pid", "--fork",
                 "--kill-child", "/bin/sh", "-c", enter, "sh", self.root, self.stack.run_dir,
                 "/metricsbus/metricsbus-shim", "--container-id", cid] + list(shim_args) + ["--"] + cmd)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/", "HOSTNAME": "app-1"}
        log = open(os.path.join(self.stack.dir, cid + ".log"), "wb")
        try:
            p = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        p.logfile = log.name
        self.stack.procs.append(p)
        return p

    def shim_pid(self, p):
        """The shim's pid as this namespace sees it: unshare's child, once it is the shim."""
        def find():
            if p.poll() is not None:
                raise AssertionError("exited %s:\n%s" % (p.returncode, self.stack.log_of(p)))
            with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
                kids = f.read().split()
            if len(kids) != 1:
                return None
            with open("/proc/%s/comm" % kids[0]) as f:
                return int(kids[0]) if f.read().strip() == "metricsbus-shim" else None
        return mb.poll(find, what="the shim in its namespace")

    def total(self, cid, name, want):
        mb.poll(lambda: al.range_sum(self.stack, cid, name) == want, timeout=20,
                what="%s of %s to reach agentd (%s)" % (name, cid, want))

    def test_the_binary_needs_no_library(self):
        seg = elf_segments(STATIC)
        self.assertNotIn(3, seg, "PT_INTERP: the shim asks for a dynamic loader")
        self.assertNotIn(2, seg, "PT_DYNAMIC: the shim is dynamically linked")
        self.assertLess(os.path.getsize(STATIC), 2 * 1024 * 1024, "over 2 MiB")

    def test_udp_signals_and_exit_status_as_pid1(self):
        p = self.start("static-udp", "--flush-interval", "200ms", cmd=["/bin/sh", "-c", APP])
        pid = self.shim_pid(p)
        # nothing in the root but what the test put there: no library, no /etc, no /proc
        found = sorted(os.path.relpath(os.path.join(d, f), self.root)
                       for d, _, files in os.walk(self.root) for f in files)
        self.assertEqual(["bin/busybox", "bin/env", "bin/mv", "bin/sh", "bin/sleep",
                          "metricsbus/metricsbus-shim"], [f for f in found if not f.startswith("tmp/")])
        env = dict(ln.split("=", 1) for ln in mb.poll(lambda: os.path.exists(self.tmp("env")) and self.read("env"),
                                                      what="the app's environment").splitlines() if "=" in ln)
        self.assertEqual("127.0.0.1", env["STATSD_UDP_HOST"])
        port = int(env["STATSD_UDP_PORT"])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(b"static.udp:2|c\nstatic.udp:3|c", ("127.0.0.1", port))
        finally:
            s.close()
        self.total("static-udp", "static.udp", 5)
        for name in FORWARDED:
            os.kill(pid, getattr(signal, "SIG" + name))
            mb.poll(lambda: name in self.read("signals").split() if os.path.exists(self.tmp("signals")) else False,
                    what="the app to get SIG" + name)
        os.kill(pid, signal.SIGTERM)
        self.assertEqual(3, shimlib.wait_exit(self.stack, p, timeout=20), self.stack.log_of(p))
        self.assertEqual(list(FORWARDED) + ["TERM"], self.read("signals").split())

    def test_unix_socket_and_exit_status(self):
        app = ('echo "$STATSD_SOCKET" > /tmp/sock.tmp && mv /tmp/sock.tmp /tmp/sock\n'
               'while [ ! -e /tmp/done ]; do sleep 0.05; done\n'
               'exit 5\n')
        p = self.start("static-unix", "--listen", "unix:/tmp/statsd.sock", "--flush-interval", "200ms",
                       cmd=["/bin/sh", "-c", app])
        path = mb.poll(lambda: os.path.exists(self.tmp("sock")) and self.read("sock").strip(),
                       what="the app's STATSD_SOCKET")
        self.assertEqual("/tmp/statsd.sock", path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.sendto(b"static.unix:4|c\nstatic.unix:3|c", self.tmp("statsd.sock"))
        finally:
            s.close()
        self.total("static-unix", "static.unix", 7)
        open(self.tmp("done"), "w").close()
        self.assertEqual(5, shimlib.wait_exit(self.stack, p, timeout=20), self.stack.log_of(p))
        self.assertFalse(os.path.exists(self.tmp("statsd.sock")), "the socket file is removed at exit")

    def test_killed_child_gives_128_plus_signal(self):
        p = self.start("static-kill", "--drain-timeout", "500ms", cmd=["/bin/sh", "-c", "kill -KILL $$"])
        self.assertEqual(128 + signal.SIGKILL, shimlib.wait_exit(self.stack, p, timeout=20), self.stack.log_of(p))


if __name__ == "__main__":
    unittest.main()
