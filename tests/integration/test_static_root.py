"""test_static_root: the static shim (make static) as the entrypoint of a container whose root
holds nothing but the shim and Debian's static busybox: PID 1 of its own pid namespace, chrooted,
statsd over UDP and over its Unix socket, delivery to a real agentd outside through the node's
ingest directory mounted at /run/metricsbus, signals forwarded, the child's exit status returned."""
import os
import signal
import socket
import unittest

import agentd_util as al
import mbharness as mb
import rootlib
import shimlib

SHIM = "/metricsbus/metricsbus-shim"
FORWARDED = ("HUP", "INT", "QUIT", "USR1", "USR2", "WINCH")

# The application: busybox's sh records its environment and every signal it gets; TERM ends it
# with status 3.
APP = ("for s in %s; do trap \"echo $s >> /tmp/signals\" $s; done\n"
       "trap 'echo TERM >> /tmp/signals; exit 3' TERM\n"
       "env > /tmp/env.tmp && mv /tmp/env.tmp /tmp/env\n"
       "while :; do sleep 1 & wait $!; done\n") % " ".join(FORWARDED)


@unittest.skipIf(rootlib.unusable(), rootlib.unusable())
class StaticShimInEmptyRoot(mb.StackTest):
    def setUp(self):
        super().setUp()
        self.root = rootlib.Root(self.stack)
        self.root.put(rootlib.STATIC, SHIM)
        self.root.busybox("sh", "env", "mv", "sleep")
        self.root.mkdir("/tmp")
        rootlib.node_layout(self.stack)
        self.stack.agentd()

    def start(self, cid, *args, cmd):
        return self.root.start([SHIM, "--container-id", cid] + list(args) + ["--"] + cmd, name=cid)

    def exists(self, path):
        return os.path.exists(self.root.host(path))

    def total(self, cid, name, want):
        mb.poll(lambda: al.range_sum(self.stack, cid, name) == want, timeout=20,
                what="%s of %s to reach agentd (%s)" % (name, cid, want))

    def test_the_binary_needs_no_library(self):
        seg = rootlib.elf_segments(rootlib.STATIC)
        self.assertNotIn(3, seg, "PT_INTERP: the shim asks for a dynamic loader")
        self.assertNotIn(2, seg, "PT_DYNAMIC: the shim is dynamically linked")
        self.assertLess(os.path.getsize(rootlib.STATIC), 2 * 1024 * 1024, "over 2 MiB")

    def test_udp_signals_and_exit_status_as_pid1(self):
        p = self.start("static-udp", "--flush-interval", "200ms", cmd=["/bin/sh", "-c", APP])
        pid = self.root.pid1(p)
        # nothing in the root but what the test put there: no library, no /etc, no /proc
        self.assertEqual(["/bin/busybox", "/bin/env", "/bin/mv", "/bin/sh", "/bin/sleep", SHIM],
                         [f for f in self.root.files() if not f.startswith("/tmp/")])
        text = mb.poll(lambda: self.exists("/tmp/env") and self.root.read("/tmp/env"), what="the app's environment")
        env = dict(ln.split("=", 1) for ln in text.splitlines() if "=" in ln)
        self.assertEqual("127.0.0.1", env["STATSD_UDP_HOST"])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(b"static.udp:2|c\nstatic.udp:3|c", ("127.0.0.1", int(env["STATSD_UDP_PORT"])))
        finally:
            s.close()
        self.total("static-udp", "static.udp", 5)
        for name in FORWARDED:
            os.kill(pid, getattr(signal, "SIG" + name))
            mb.poll(lambda: self.exists("/tmp/signals") and name in self.root.read("/tmp/signals").split(),
                    what="the app to get SIG" + name)
        os.kill(pid, signal.SIGTERM)
        self.assertEqual(3, shimlib.wait_exit(self.stack, p, timeout=20), self.stack.log_of(p))
        self.assertEqual(list(FORWARDED) + ["TERM"], self.root.read("/tmp/signals").split())

    def test_unix_socket_and_exit_status(self):
        app = ('echo "$STATSD_SOCKET" > /tmp/sock.tmp && mv /tmp/sock.tmp /tmp/sock\n'
               'while [ ! -e /tmp/done ]; do sleep 0.05; done\n'
               'exit 5\n')
        p = self.start("static-unix", "--listen", "unix:/tmp/statsd.sock", "--flush-interval", "200ms",
                       cmd=["/bin/sh", "-c", app])
        path = mb.poll(lambda: self.exists("/tmp/sock") and self.root.read("/tmp/sock").strip(),
                       what="the app's STATSD_SOCKET")
        self.assertEqual("/tmp/statsd.sock", path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            s.sendto(b"static.unix:4|c\nstatic.unix:3|c", self.root.host(path))
        finally:
            s.close()
        self.total("static-unix", "static.unix", 7)
        open(self.root.host("/tmp/done"), "w").close()
        self.assertEqual(5, shimlib.wait_exit(self.stack, p, timeout=20), self.stack.log_of(p))
        self.assertFalse(self.exists(path), "the socket file is removed at exit")

    def test_killed_child_gives_128_plus_signal(self):
        p = self.start("static-kill", "--drain-timeout", "500ms", cmd=["/bin/sh", "-c", "kill -KILL $$"])
        self.assertEqual(128 + signal.SIGKILL, shimlib.wait_exit(self.stack, p, timeout=20), self.stack.log_of(p))


if __name__ == "__main__":
    unittest.main()
