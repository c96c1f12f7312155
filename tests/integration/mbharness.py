"""mbharness: real processes on temp dirs and ipc sockets for the integration tests.
A Stack owns a temp dir (run/ and data/), the processes it started, and cleans up both."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("MB_BUILD", "build"))
BIN = os.path.join(BUILD, "bin")
MODE = os.environ.get("MB_MODE", "")
TSAN = "tsan" in BUILD  # make tsan's build: each stack's ThreadSanitizer reports fail its test
SANITIZED = "asan" in BUILD or TSAN
VALGRIND = MODE == "valgrind"
SLOW = 10 if VALGRIND else 3   # how much longer waits may take under a checker
# valgrind's reports of each test's processes are copied here when they hold an error
VG_DIR = os.path.join(BUILD, "valgrind")
# ThreadSanitizer's reports of a stack's processes are copied here (tests/run.sh prints them)
TSAN_DIR = os.path.join(BUILD, "tsan-reports")


# MB_SHIM: another shim binary to test in place of BUILD/bin's (the static one: make static)
SHIM = os.environ.get("MB_SHIM")


def binpath(name):
    if name == "metricsbus-shim" and SHIM:
        return os.path.abspath(SHIM)
    return os.path.join(BIN, name)


def tool(name):
    return os.path.join(BIN, "tools", name)


def poll(fn, timeout=10.0, interval=0.02, what="condition"):
    """Calls fn until it returns a truthy value, which it returns; fails after timeout."""
    deadline = time.monotonic() + timeout * (SLOW if SANITIZED or VALGRIND else 1)
    last_exc = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # the thing polled may not be up yet
            last_exc = e
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}" + (f" (last error: {last_exc!r})" if last_exc else ""))


def programs_up_to_date():
    """Whether `make programs` for this build has nothing to build (a test that runs make
    install, make demo or make release skips otherwise). make -q would count the phony nng check
    as work: ask what -n would run instead."""
    r = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "-n", "B=" + os.path.relpath(BUILD, ROOT),
                        "programs"], capture_output=True, text=True, timeout=120)
    return r.returncode == 0 and all(ln.strip() in ("", ":") for ln in r.stdout.splitlines())


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def soak(test):
    """Marks a long test: it runs only under `make soak`."""
    return unittest.skipUnless(MODE == "soak", "soak test (make soak)")(test)


def descendants(pid):
    """The pids of pid's living descendants, read from /proc (children before grandchildren)."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
            except OSError:
                continue
            parent[int(d)] = int(st[st.rindex(")") + 2:].split()[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


class Stack:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mb", dir="/tmp")
        self.run_dir = os.path.join(self.dir, "run")
        self.data_dir = os.path.join(self.dir, "data")
        os.makedirs(self.run_dir)
        self.ingest = "ipc://" + os.path.join(self.run_dir, "ingest.sock")
        self.query = "ipc://" + os.path.join(self.run_dir, "query.sock")
        self.procs = []
        self.http_port = None
        self.env = dict(os.environ)
        self.env["METRICSBUS_RUN_DIR"] = self.run_dir
        self.env.pop("METRICSBUS_CONTAINER_ID", None)
        if TSAN:  # the last log_path wins: this stack's reports to its own dir, checked by close()
            self.env["TSAN_OPTIONS"] = (self.env.get("TSAN_OPTIONS", "") + " log_path=" +
                                        os.path.join(self.dir, "tsan")).strip()

    # ------------------------------------------------------------ processes
    def spawn(self, argv, env=None, name=None, **kw):
        e = dict(self.env)
        if env:
            e.update(env)
        tag = (name or os.path.basename(argv[0])) + f".{len(self.procs)}"
        if VALGRIND and os.path.dirname(os.path.abspath(argv[0])).startswith(BIN):
            # the report goes to a file of its own, checked by close(): a process's own log
            # stays readable by the tests, and errors fail the test even when the exit
            # status is not looked at
            argv = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
                    "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
                    "--suppressions=" + os.path.join(ROOT, "tests", "valgrind.supp"),
                    "--log-file=" + os.path.join(self.dir, tag + ".vg")] + argv
        log = open(os.path.join(self.dir, tag + ".log"), "wb")
        kw.setdefault("stdout", log)
        kw.setdefault("stderr", subprocess.STDOUT)
        try:
            p = subprocess.Popen(argv, env=e, **kw)
        finally:
            log.close()  # the child has its own copy
        p.logfile = log.name
        self.procs.append(p)
        return p

    def log_of(self, p):
        with open(p.logfile, "rb") as f:
            return f.read().decode(errors="replace")

    def agentd(self, *args, wait=True, env=None):
        argv = [binpath("metricsbus-agentd"), "--data-dir", self.data_dir, "--ingest", self.ingest,
                "--query", self.query] + list(args)
        p = self.spawn(argv, env=env, name="agentd")
        if wait:
            self.wait_agentd_ready(p)
        return p

    def wait_agentd_ready(self, p=None):
        sock = self.query[len("ipc://"):]

        def up():
            if p is not None and p.poll() is not None:
                raise AssertionError("agentd exited %s:\n%s" % (p.returncode, self.log_of(p)))
            return os.path.exists(sock) and self.cli_ok("containers")
        poll(up, timeout=15, what="agentd ready")

    def api(self, *args, wait=True, env=None):
        self.http_port = free_port()
        argv = [binpath("metricsbus-api"), "--listen", f"127.0.0.1:{self.http_port}",
                "--query", self.query] + list(args)
        p = self.spawn(argv, env=env, name="api")
        if wait:
            def up():
                if p.poll() is not None:
                    raise AssertionError("api exited %s:\n%s" % (p.returncode, self.log_of(p)))
                s = socket.socket()
                try:
                    s.connect(("127.0.0.1", self.http_port))
                    return True
                finally:
                    s.close()
            poll(up, timeout=15, what="api listening")
        return p

    def shim(self, *args, cmd=None, env=None, **kw):
        argv = [binpath("metricsbus-shim"), "--agent", self.ingest] + list(args)
        if cmd:
            argv += ["--"] + list(cmd)
        return self.spawn(argv, env=env, name="shim", **kw)

    def cli(self, *args, timeout=30):
        return subprocess.run([binpath("metricsbus"), "--query", self.query] + list(args),
                              env=self.env, capture_output=True, text=True, timeout=timeout)

    def cli_ok(self, *args):
        return self.cli(*args).returncode == 0

    def stop(self, p, sig=signal.SIGTERM, timeout=10):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=timeout * (SLOW if SANITIZED or VALGRIND else 1))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                if VALGRIND:
                    # TERM first, so that valgrind's leak check runs at exit
                    p.terminate()
                    try:
                        p.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        pass
                if p.poll() is None:
                    # a shim's app is killed with it: a SIGKILLed shim cannot forward the
                    # signal, and its orphaned app would outlive the test
                    kids = descendants(p.pid)
                    p.kill()
                    for k in kids:
                        try:
                            os.kill(k, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        bad = self.reports(lambda f: f.endswith(".vg"), VG_DIR) if VALGRIND else []
        if TSAN:
            bad += self.reports(lambda f: f.startswith("tsan."), TSAN_DIR)
        if os.environ.get("MB_KEEP") is None:
            shutil.rmtree(self.dir, ignore_errors=True)
        if bad:
            raise AssertionError("%s reported errors (copies in %s):\n%s"
                                 % ("ThreadSanitizer" if TSAN else "valgrind",
                                    TSAN_DIR if TSAN else VG_DIR, "\n".join(bad)))

    def reports(self, mine, dest):
        """The non-empty checker reports of this stack's processes (valgrind's with -q hold
        only errors and definite leaks; ThreadSanitizer writes one only for a race), each
        copied to dest, with its first lines."""
        bad = []
        if not os.path.isdir(self.dir):  # closed before
            return bad
        for f in sorted(os.listdir(self.dir)):
            if not mine(f):
                continue
            path = os.path.join(self.dir, f)
            with open(path, errors="replace") as fh:
                text = fh.read()
            if not text.strip():
                continue
            os.makedirs(dest, exist_ok=True)
            keep = os.path.join(dest, os.path.basename(self.dir) + "." + f)
            shutil.copy(path, keep)
            bad.append(keep + ":\n" + "\n".join(text.splitlines()[:30]))
        return bad

    # ------------------------------------------------------------ clients
    def http(self, path, method="GET", headers=None, port=None, host="127.0.0.1", timeout=10):
        c = http.client.HTTPConnection(host, port or self.http_port, timeout=timeout)
        try:
            c.request(method, path, headers=headers or {})
            r = c.getresponse()
            body = r.read()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body
        finally:
            c.close()

    def http_json(self, path, **kw):
        st, hdr, body = self.http(path, **kw)
        return st, (json.loads(body) if body else None)


def send_udp(port, payload, host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(payload if isinstance(payload, bytes) else payload.encode(), (host, port))
    finally:
        s.close()


class StackTest(unittest.TestCase):
    """A TestCase with self.stack, closed after each test (processes killed, files removed)."""

    def setUp(self):
        self.stack = Stack()
        self.addCleanup(self.stack.close)
