"""agentd_util: helpers for the test_agentd_* tests: mbsend (tests/tools/mbsend.c) for batches,
raw messages and queries, exact counter totals, and agentd's own counters."""
import json
import os
import socket
import subprocess
import time

import mbharness as mb

MBSEND = mb.tool("mbsend")


def mbsend(*args, timeout=60, check=True, stdin=None):
    """Runs mbsend; returns the list of JSON objects it printed."""
    r = subprocess.run([MBSEND] + [str(a) for a in args], capture_output=True, timeout=timeout,
                       input=stdin)
    out = [json.loads(ln) for ln in r.stdout.decode().splitlines() if ln.startswith("{")]
    if check and r.returncode != 0:
        raise AssertionError("mbsend %s -> %d: %s %s" % (args, r.returncode, out, r.stderr.decode()))
    return out


def query(stack, op, *args, timeout=30, check=True):
    out = mbsend("query", stack.query, op, *args, "--timeout", int(timeout * 1000),
                 timeout=timeout + 10, check=check)
    return out[0] if out else None


def send_batch(stack, *recs, **kw):
    args = ["batch", stack.ingest]
    for k, v in kw.items():
        if k == "stop":
            args.append("--stop")
        elif k == "dims":
            for d in v:
                args += ["--dim", d]
        else:
            args += ["--" + k.replace("_", "-"), v]
    return mbsend(*args, *recs, timeout=120)[-1]


def range_sum(stack, src, name, span_ms=6 * 3600 * 1000, stat="sum", tags=None):
    """Sum of every point of a range over +-span around now (None when the series is unknown)."""
    now = int(time.time() * 1000)
    args = ["--src", src, "--name", name, "--from", now - span_ms, "--to", now + span_ms,
            "--stat", stat]
    if tags:
        args += ["--tags", tags]
    r = query(stack, "range", *args)
    if r is None or r.get("st") != 200:
        return None
    return sum(v for _, v in r["pts"] if v is not None)


def self_total(stack, name, tags=None):
    """agentd's own counter, summed over its whole history."""
    return range_sum(stack, "agentd", name, tags=tags) or 0


def half_open(path, times=5, send=b""):
    """Plain AF_UNIX connect() (+ send, e.g. half an SP header) + close() before the SP
    handshake finishes (what stopped nng 1.5.2's listener: its issue 1518)."""
    for _ in range(times):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        if send:
            s.sendall(send)
        s.close()


def sock_path(url):
    return url[len("ipc://"):]


def wait_exit(p, timeout=20):
    try:
        return p.wait(timeout=timeout * (3 if mb.SANITIZED else 1))
    except subprocess.TimeoutExpired:
        return None


def meminfo(key):
    with open("/proc/meminfo") as f:
        for ln in f:
            if ln.startswith(key + ":"):
                return int(ln.split()[1]) * 1024
    return None
