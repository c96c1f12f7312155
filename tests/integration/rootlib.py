"""rootlib: a container's root for the static shim's tests: a directory holding only what a test
puts in it (the static shim of `make static`, Debian's static busybox), entered the way a container
runtime would: a private mount namespace with host directories bound in (the node's run
directory), a pid namespace of its own (the entrypoint is PID 1), chroot, a container's
environment (nothing of the test's)."""
import os
import shutil
import struct
import subprocess

import mbharness as mb

STATIC = os.path.abspath(os.environ.get("MB_SHIM") or os.path.join(mb.ROOT, "build", "static", "metricsbus-shim"))
BUSYBOX = "/bin/busybox"  # Debian's busybox-static
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/", "HOSTNAME": "app-1"}

# Enters the root: binds each HOST_DIR at ROOT/CONTAINER_PATH, then chroot (the host's tools,
# by absolute path: the environment is already the container's).
#   sh -c ENTER sh MOUNT CHROOT ROOT [HOST_DIR CONTAINER_PATH]... -- COMMAND...
ENTER = ('mount=$1 chroot=$2 root=$3; shift 3; while [ "$1" != -- ]; do '
         '"$mount" --bind "$1" "$root$2" || exit 125; shift 2; done; shift; exec "$chroot" "$root" "$@"')


def elf_segments(path):
    """The program header types of a 64-bit little-endian ELF file (2 PT_DYNAMIC, 3 PT_INTERP)."""
    with open(path, "rb") as f:
        data = f.read(65536)
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise AssertionError(path + ": not a 64-bit little-endian ELF file")
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]


def unusable():
    """Why these tests cannot run here, or None."""
    if mb.SANITIZED:
        return "the static shim has no sanitizer build (the normal pass runs these)"
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("unshare", "chroot", "mount")):
        return "needs root, unshare, chroot and mount"
    if not os.path.exists(BUSYBOX):
        return "needs Debian's busybox-static (scripts/deps.sh)"
    if not os.path.exists(STATIC):
        return "no %s: run make static" % STATIC
    return None


def node_layout(stack):
    """The node's layout (docs/operations.md): agentd's ingest socket alone in RUNDIR/ingest, the
    directory a container gets at /run/metricsbus (the query socket stays out). Call before
    stack.agentd(); returns that directory."""
    d = os.path.join(stack.run_dir, "ingest")
    os.makedirs(d, exist_ok=True)
    stack.ingest = "ipc://" + os.path.join(d, "ingest.sock")
    return d


class Root:
    def __init__(self, stack, name="root"):
        self.stack = stack
        self.path = os.path.join(stack.dir, name)
        os.makedirs(self.path)

    def host(self, path):
        """Where a path of the container is on the host."""
        return os.path.join(self.path, path.lstrip("/"))

    def mkdir(self, *paths):
        for p in paths:
            os.makedirs(self.host(p), exist_ok=True)

    def put(self, src, dest, mode=None):
        self.mkdir(os.path.dirname(dest))
        shutil.copy(src, self.host(dest))
        if mode is not None:
            os.chmod(self.host(dest), mode)

    def busybox(self, *applets):
        """Debian's static busybox as /bin/busybox, with the applets named as links to it."""
        self.put(BUSYBOX, "/bin/busybox")
        for a in applets:
            os.symlink("busybox", self.host("/bin/" + a))

    def files(self):
        return sorted("/" + os.path.relpath(os.path.join(d, f), self.path)
                      for d, _, files in os.walk(self.path) for f in files)

    def read(self, path):
        with open(self.host(path)) as f:
            return f.read()

    def start(self, argv, env=None, binds=None, workdir=None, name="container"):
        """Runs argv in the root; binds maps container paths to host directories (default: the
        node's ingest directory, node_layout(), at /run/metricsbus); workdir (a Dockerfile's WORKDIR) is entered
        by the root's busybox, which then execs argv. unshare --kill-child: killing the
        returned process kills the whole container."""
        if workdir:
            argv = ["/bin/busybox", "sh", "-c", 'cd "$0" && exec "$@"', workdir] + list(argv)
        binds = {"/run/metricsbus": os.path.join(self.stack.run_dir, "ingest")} if binds is None else binds
        pairs = []
        for cpath, hdir in binds.items():
            self.mkdir(cpath)
            pairs += [hdir, cpath]
        full = ([shutil.which("unshare"), "--mount", "--propagation", "private", "--pid", "--fork",
                 "--kill-child", "/bin/sh", "-c", ENTER, "sh", shutil.which("mount"), shutil.which("chroot"),
                 self.path] + pairs + ["--"] + list(argv))
        e = dict(ENV if env is None else env)
        log = open(os.path.join(self.stack.dir, "%s.%d.log" % (name, len(self.stack.procs))), "wb")
        try:
            p = subprocess.Popen(full, env=e, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        p.logfile = log.name
        self.stack.procs.append(p)
        return p

    def pid1(self, p, comm="metricsbus-shim"):
        """The host pid of the container's PID 1 once it runs comm."""
        def find():
            if p.poll() is not None:
                raise AssertionError("exited %s:\n%s" % (p.returncode, self.stack.log_of(p)))
            with open("/proc/%d/task/%d/children" % (p.pid, p.pid)) as f:
                kids = f.read().split()
            if len(kids) != 1:
                return None
            with open("/proc/%s/comm" % kids[0]) as f:
                return int(kids[0]) if f.read().strip() == comm[:15] else None
        return mb.poll(find, what=comm + " as PID 1 of the container")
