"""test_security_peer: --verify-peer against a hostile sender, on real processes in real cgroups:
a client that forks and exits before its child sends, a connector gone before agentd looked,
child cgroups named as another container and as the node, cgroup v1 and hybrid layouts, two
hierarchies that disagree, a path of no layout (refused, or mapped by the operator), and agentd
in a PID namespace of its own (refused at start). Needs root and a writable cgroup v2 (and, for
the v1 case, a v1 hierarchy); each test says why it skips."""
import errno
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
import unittest

import mbharness as mb
from agentd_util import mbsend, range_sum, self_total, sock_path

AGENTD = mb.binpath("metricsbus-agentd")

# The attacker: a raw SP REQ client over AF_UNIX (the wire protocol is small and fixed), so
# that it can fork and exit around its connection, which an nng client cannot (fork keeps no
# nng threads). argv: cgroup.procs files (comma list), socket path, mode, out file, batches.
ATTACKER = r'''
import os, socket, struct, sys, time
procs, path, mode, out = sys.argv[1:5]
batches = [open(f, "rb").read() for f in sys.argv[5:]]
for f in procs.split(","):
    if f:
        with open(f, "w") as fh:
            fh.write(str(os.getpid()))
s = socket.socket(socket.AF_UNIX)
s.connect(path)
s.sendall(b"\0SP\0" + struct.pack(">H", 48) + b"\0\0")
def recvn(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise SystemExit("closed")
        b += c
    return b
def call(body, rid):
    s.sendall(b"\x01" + struct.pack(">Q", 4 + len(body)) + struct.pack(">I", 0x80000000 | rid) + body)
    hdr = recvn(9)
    return recvn(struct.unpack(">Q", hdr[1:])[0])[4:]
def orphan():
    # the parent exits; the child goes on once it is gone (reaped by the test)
    parent = os.getpid()
    if os.fork():
        os._exit(0)
    while True:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
if mode == "fork-after-ack":
    recvn(8)
    first = call(batches[0], 1)   # agentd has surely seen this connection now
    orphan()
    rep = call(batches[1], 2)
elif mode == "fork-before-accept":
    orphan()                      # agentd is stopped: it has not accepted yet
    recvn(8)
    rep = call(batches[0], 1)
else:
    recvn(8)
    rep = call(batches[0], 1)
with open(out + ".tmp", "wb") as fh:
    fh.write(rep)
os.rename(out + ".tmp", out)
'''


def cgroup_mounts():
    """(v2 mount point or None, a v1 hierarchy's mount point or None)."""
    v2 = v1 = None
    with open("/proc/self/mountinfo") as f:
        for ln in f:
            a = ln.split(" - ")
            if len(a) != 2:
                continue
            fstype, _, opts = a[1].split()[:3]
            mnt = a[0].split()[4]
            if fstype == "cgroup2" and v2 is None:
                v2 = mnt
            elif fstype == "cgroup" and v1 is None and ("pids" in opts.split(",")):
                v1 = mnt
    return v2, v1


V2, V1 = cgroup_mounts()


def need_cgroups(v1=False):
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root to create cgroups")
    if V2 is None or not os.access(V2, os.W_OK):
        raise unittest.SkipTest("no writable cgroup v2 mount")
    if v1 and (V1 is None or not os.access(V1, os.W_OK)):
        raise unittest.SkipTest("no writable cgroup v1 hierarchy (pure cgroup v2 host)")


class PeerTest(mb.StackTest):
    def setUp(self):
        super().setUp()
        self.made = []          # cgroup dirs we created, removed deepest first
        self.addCleanup(self.rm_cgroups)
        self.tag = "%d%04d" % (os.getpid(), random.randrange(10000))

    def cg(self, root, rel):
        """Creates root/rel (and parents we need); returns its cgroup.procs."""
        path = root
        for part in rel.strip("/").split("/"):
            path = os.path.join(path, part)
            if not os.path.isdir(path):
                os.mkdir(path)
                self.made.append(path)
        return os.path.join(path, "cgroup.procs")

    def rm_cgroups(self):
        for d in sorted(self.made, key=len, reverse=True):
            deadline = time.monotonic() + 10
            while True:     # EBUSY until the processes in it are reaped
                try:
                    os.rmdir(d)
                except OSError as e:
                    if e.errno == errno.EBUSY and time.monotonic() < deadline:
                        time.sleep(0.05)
                        continue
                break

    def batch_file(self, cid, inst, seq, *recs):
        path = os.path.join(self.stack.dir, "b-%s-%d-%d" % (cid, inst, seq))
        r = subprocess.run([mb.tool("mbsend"), "batch", "-", "--cid", cid, "--inst", str(inst),
                            "--seq", str(seq)] + list(recs), capture_output=True, check=True)
        with open(path, "wb") as f:
            f.write(r.stdout)
        return path

    def attack(self, procs, mode, *batches, wait=True):
        out = os.path.join(self.stack.dir, "rep-%d" % random.randrange(1 << 30))
        p = subprocess.Popen([sys.executable, "-c", ATTACKER, ",".join(procs),
                              sock_path(self.stack.ingest), mode, out] + list(batches))
        self.addCleanup(lambda: p.poll() is None and p.kill())
        if wait:
            return self.reply(p, out)
        return p, out

    def reply(self, p, out):
        p.wait(timeout=60)
        mb.poll(lambda: os.path.exists(out), timeout=30, what="the attacker's reply")
        with open(out, "rb") as f:
            return f.read()

    def agentd(self, *args):
        return self.stack.agentd("--verify-peer", "--node-interval", "500ms", *args)

    def sum_of(self, src, name):
        return range_sum(self.stack, src, name)


class ForkAndExit(PeerTest):
    def test_fork_after_connect_files_under_the_connectors_container(self):
        """(a) of the report: the connecting process exits before its child sends."""
        need_cgroups()
        a, b = "sec-a-" + self.tag, "sec-b-" + self.tag
        self.agentd()
        procs = self.cg(V2, "mesos/" + a)
        b1 = self.batch_file(a, 11, 1, "c:warmup:1")
        b2 = self.batch_file(b, 11, 2, "c:forged:5")
        self.attack([procs], "fork-after-ack", b1, b2)
        st = self.stack
        mb.poll(lambda: self.sum_of(a, "forged") == 5, what="the child's batch under sec-a")
        self.assertIsNone(self.sum_of(b, "forged"))
        mb.poll(lambda: self_total(st, "agentd.peer.mismatch") >= 1, what="mismatch counted")

    def test_connector_gone_before_agentd_looked_is_rejected(self):
        """The connecting process exits before agentd accepted: nothing to verify, so the
        batch is refused with a reason and counted, never filed under its claim."""
        need_cgroups()
        a, b = "sec-a-" + self.tag, "sec-b-" + self.tag
        p = self.agentd()
        procs = self.cg(V2, "mesos/" + a)
        b1 = self.batch_file(b, 12, 1, "c:forged:7")
        os.kill(p.pid, signal.SIGSTOP)
        try:
            att, out = self.attack([procs], "fork-before-accept", b1, wait=False)
            att.wait(timeout=60)   # the connector is gone (reaped) before agentd runs again
        finally:
            os.kill(p.pid, signal.SIGCONT)
        rep = self.reply(att, out)
        self.assertIn(b"sender not verified", rep)
        self.assertIn(b"is gone", rep)
        self.assertIsNone(self.sum_of(b, "forged"))
        self.assertIsNone(self.sum_of(a, "forged"))
        mb.poll(lambda: self_total(self.stack, "agentd.peer.unverified") >= 1,
                what="unverified counted")
        mb.poll(lambda: self_total(self.stack, "agentd.batches.rejected",
                                   tags="reason:peer") >= 1, what="rejection counted")
        self.assertIn("cannot be verified", self.stack.log_of(p))


class ChildCgroups(PeerTest):
    def test_child_cgroup_named_as_another_container_or_node(self):
        """(b) of the report: a container creates cgroups under its own named as another
        container, and as the node; the batches stay its own."""
        need_cgroups()
        a, b = "sec-a-" + self.tag, "sec-b-" + self.tag
        self.agentd()
        rep = self.attack([self.cg(V2, "mesos/%s/%s" % (a, b))], "plain",
                          self.batch_file(b, 21, 1, "c:hits:3"))
        self.assertNotIn(b"not verified", rep)
        rep = self.attack([self.cg(V2, "mesos/%s/node" % a)], "plain",
                          self.batch_file("node", 22, 1, "c:hits:4"))
        self.assertNotIn(b"not verified", rep)
        rep = self.attack([self.cg(V2, "mesos/%s/mesos/%s" % (a, b))], "plain",
                          self.batch_file(b, 23, 1, "c:hits:5"))
        mb.poll(lambda: self.sum_of(a, "hits") == 12, what="all three under sec-a")
        self.assertIsNone(self.sum_of(b, "hits"))
        self.assertIsNone(self.sum_of("node", "hits"))

    def test_path_of_no_layout_refused_unless_mapped(self):
        need_cgroups()
        top = "mbt-" + self.tag
        p = self.agentd()
        procs = self.cg(V2, top + "/job7")
        rep = self.attack([procs], "plain", self.batch_file("job7", 31, 1, "c:hits:2"))
        self.assertIn(b"matches no container layout", rep)
        self.assertIsNone(self.sum_of("job7", "hits"))
        self.stack.stop(p)
        self.agentd("--peer-map", "/%s/*" % top)
        rep = self.attack([procs], "plain", self.batch_file("liar", 32, 1, "c:hits:2"))
        self.assertNotIn(b"not verified", rep)
        mb.poll(lambda: self.sum_of("job7", "hits") == 2, what="mapped id")
        self.assertIsNone(self.sum_of("liar", "hits"))


class Layouts(PeerTest):
    def test_cgroup_v1_mesos_layout(self):
        """A DC/OS agent: cgroup v1, Mesos puts the container under /mesos/ID."""
        need_cgroups(v1=True)
        cid = "v1c-" + self.tag
        self.agentd()
        self.attack([self.cg(V1, "mesos/" + cid)], "plain",
                    self.batch_file("claimed", 41, 1, "c:hits:6"))
        mb.poll(lambda: self.sum_of(cid, "hits") == 6, what="filed by the v1 hierarchy")
        self.assertIsNone(self.sum_of("claimed", "hits"))

    def test_hybrid_docker_and_disagreeing_hierarchies(self):
        """Hybrid host: Docker names the container in v1 (/docker/ID) and in the unified
        hierarchy (system.slice/docker-ID.scope); hierarchies naming two containers are refused."""
        need_cgroups(v1=True)
        hexid = "%032x" % random.getrandbits(128)
        self.agentd()
        self.attack([self.cg(V1, "docker/" + hexid),
                     self.cg(V2, "system.slice/docker-%s.scope" % hexid)], "plain",
                    self.batch_file("claimed", 51, 1, "c:hits:8"))
        mb.poll(lambda: self.sum_of(hexid, "hits") == 8, what="filed as the docker id")
        x, y = "dx-" + self.tag, "dy-" + self.tag
        rep = self.attack([self.cg(V1, "mesos/" + x), self.cg(V2, "mesos/" + y)], "plain",
                          self.batch_file(x, 52, 1, "c:hits:9"))
        self.assertIn(b"two containers", rep)
        self.assertIsNone(self.sum_of(x, "hits"))
        self.assertIsNone(self.sum_of(y, "hits"))


class PidNamespace(mb.StackTest):
    def test_verify_peer_refused_in_a_pid_namespace_of_its_own(self):
        if os.geteuid() != 0 or subprocess.run(["unshare", "--pid", "--fork", "--mount-proc",
                                                "true"], capture_output=True).returncode != 0:
            self.skipTest("this kernel does not let us create a PID namespace")
        st = self.stack
        p = st.spawn(["unshare", "--pid", "--fork", "--mount-proc", AGENTD, "--data-dir",
                      st.data_dir, "--ingest", st.ingest, "--query", st.query, "--verify-peer"],
                     name="agentd-pidns")
        self.assertEqual(p.wait(timeout=60), 2)
        self.assertIn("PID namespace of its own", st.log_of(p))
        # without the flag it runs there (identity is then the shim's claim, as documented)
        self.assertFalse(os.path.exists(sock_path(st.query)))


if __name__ == "__main__":
    unittest.main()
