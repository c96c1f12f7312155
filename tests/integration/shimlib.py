"""shimlib: helpers for the shim's integration tests: a real ingest peer (tests/tools/mbsink,
REP + the bus codec, one JSON line per batch) and a shim started against it."""
import json
import os
import re
import signal
import socket

import mbharness as mb


class Sink:
    """mbsink listening on url; batches() reads what it has printed so far."""

    def __init__(self, stack, url, *args):
        self.stack = stack
        n = sum(1 for p in stack.procs)
        self.out = os.path.join(stack.dir, f"sink{n}.jsonl")
        self.err = self.out + ".err"
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.p = stack.spawn([mb.tool("mbsink"), "--listen", url] + list(args),
                                 stdout=out, stderr=err, name="mbsink")

        def listening():
            if self.p.poll() is not None:
                raise AssertionError("mbsink exited %s" % self.p.returncode)
            with open(self.err) as f:
                return "listening" in f.read()
        mb.poll(listening, what="mbsink listening")

    def batches(self):
        out = []
        with open(self.out) as f:
            for line in f:
                # mbsink may be mid-line (stdio writes a long line in pieces): stop there, since
                # reading on would return the line's rest, appended meanwhile, as a line of its own
                if not line.endswith("\n"):
                    break
                out.append(json.loads(line))
        return out

    def stop(self):
        self.stack.stop(self.p, sig=signal.SIGKILL)


def records(batches, name=None, kind=None):
    for b in batches:
        for r in b.get("records", []):
            if (name is None or r["name"] == name) and (kind is None or r["kind"] == kind):
                yield r


def total(batches, name, tags=None):
    """Sum of a counter over every batch (tags: exact tag dict)."""
    return sum(r["value"] for r in records(batches, name, "counter")
               if tags is None or r["tags"] == tags)


def stopped(batches):
    return any(b.get("stop") for b in batches)


def shim_port(stack, p):
    """The statsd port the shim logged at start-up."""
    def port():
        if p.poll() is not None:
            raise AssertionError(f"shim exited {p.returncode}:\n{stack.log_of(p)}")
        m = re.search(r"statsd on 127\.0\.0\.1:(\d+)", stack.log_of(p))
        return int(m.group(1)) if m else None
    return mb.poll(port, what="shim listening")


def wait_exit(stack, p, timeout=10):
    mb.poll(lambda: p.poll() is not None, timeout=timeout, what="shim to exit")
    return p.returncode


def send(port, *lines):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto("\n".join(lines).encode(), ("127.0.0.1", port))
    finally:
        s.close()


NPM_DIR = os.path.join(mb.ROOT, "build", "npm")
HOT_SHOTS = "hot-shots@17"


def hot_shots():
    """(node, NODE_PATH) with hot-shots installed from the npm registry into build/npm, or
    (None, reason) when node, npm or the registry is not there."""
    import shutil
    import subprocess
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return None, "node/npm not installed"
    modules = os.path.join(NPM_DIR, "node_modules")
    if not os.path.isdir(os.path.join(modules, "hot-shots")):
        os.makedirs(NPM_DIR, exist_ok=True)
        try:
            r = subprocess.run([npm, "install", "--prefix", NPM_DIR, "--no-audit", "--no-fund",
                                "--ignore-scripts", "--no-save", "--fetch-retries=1",
                                "--fetch-timeout=30000", HOT_SHOTS],
                               capture_output=True, text=True, timeout=180)
        except subprocess.TimeoutExpired:
            return None, "npm registry unreachable (timeout installing hot-shots)"
        if r.returncode != 0:
            return None, "could not install hot-shots: " + r.stderr.strip()[-300:]
    return node, modules
