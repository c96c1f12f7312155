#!/usr/bin/python3
"""layers.py BUILD: agentd's shape, checked (make check runs it): the store's layers
(docs/architecture.md) include and call only downward, with no cycle between files; no agentd
source file (tests apart) is over 600 lines; no function of the programs (agentd, shim, api
and bus, tests apart) is over 120 lines. Calls are read from the built objects (nm), so BUILD
must hold agentd's objects. Ends with the totals line "N passed, N failed"."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGENTD = os.path.join(ROOT, "agentd")
PROGRAMS = ("agentd", "shim", "api", "bus")  # whose functions are held to MAX_FUNC

# Layer of each store file; the write side (5w) and the read side (5r) are one layer that
# does not reach across. Headers with declarations only for everyone (store.h, the public API;
# owner.h, the daemon's path checks) are at 0.
LAYERS = {
    "bytes.h": 0, "store.h": 0, "owner.h": 0, "owner.c": 0, "units.c": 0,
    "window.h": 1, "window.c": 1,
    "env.h": 2, "env.c": 2, "store_int.h": 2,
    "slots.h": 3, "slots.c": 3, "reply.h": 3, "reply.c": 3,
    "registry.h": 4, "registry.c": 4, "seq.c": 4,
    "write.h": "5w", "wbuf.h": "5w", "commit.c": "5w", "plan.c": "5w", "apply.c": "5w",
    "forget.c": "5w", "rollup.c": "5w", "sort.c": "5w",
    "read.h": "5r", "query.c": "5r", "range.c": "5r", "backup.c": "5r", "refused.c": "5r",
    "rw_scan.c": "5r",
    # Declarations over store.h only: remote write's API, whose store scan is rw_scan.c.
    "rw.h": 0,
    "store.c": 6,
}
DAEMON = 7  # every other agentd file: the daemon, which sees the store through store.h only
PUBLIC_HEADERS = ("store.h", "owner.h", "rw.h")

# Files over the limits that are yet to be split, each with what it holds.
LONG_FILES = {}
LONG_FUNCS = {}  # ("agentd/main.c", "main"): what it holds
MAX_LINES, MAX_FUNC = 600, 120

failures = []
passed = 0


def check(ok, what):
    global passed
    if ok:
        passed += 1
    else:
        failures.append(what)
        print("FAIL:", what)


def rank(layer):
    return DAEMON if layer is None else (5 if isinstance(layer, str) else layer)


def may_use(a, b):
    """May a file of layer a include or call one of layer b?"""
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return rank(b) <= rank(a)


def sources():
    return sorted(f for f in os.listdir(AGENTD)
                  if f.endswith((".c", ".h")) and not f.endswith("_test.c"))


def check_includes():
    for f in sources():
        text = open(os.path.join(AGENTD, f)).read()
        for inc in re.findall(r'^#include "([^"]+)"', text, re.M):
            inc = os.path.basename(inc)
            if not os.path.exists(os.path.join(AGENTD, inc)):
                continue  # bus/'s mb.h and the like: below everything
            la, lb = LAYERS.get(f), LAYERS.get(inc)
            if la is None and lb is not None:
                check(lb == 0, "%s (daemon) includes the store's %s, not store.h" % (f, inc))
                continue
            check(may_use(la, lb), "%s (layer %s) includes %s (layer %s)" % (
                f, rank(la) if la is not None else "daemon", inc,
                lb if lb is not None else "daemon"))


def symbols(obj, flag):
    out = subprocess.run(["nm", flag, obj], capture_output=True, text=True).stdout
    return {ln.split()[-1] for ln in out.splitlines() if ln.split()}


def public_names():
    names = set()
    for h in PUBLIC_HEADERS:
        path = os.path.join(AGENTD, h)
        if os.path.exists(path):
            names |= set(re.findall(r"\b(agent_\w+)\s*\(", open(path).read()))
    return names


def check_calls(build):
    public = public_names()
    objdir = os.path.join(build, "obj", "agentd")
    defs, uses = {}, {}
    for f in sources():
        if not f.endswith(".c"):
            continue
        obj = os.path.join(objdir, f[:-2] + ".o")
        if not os.path.exists(obj):
            check(False, "no object %s: build first" % obj)
            continue
        for s in symbols(obj, "--defined-only"):
            defs[s] = f
        uses[f] = {s for s in symbols(obj, "-u") if s.startswith("agent_")}
    graph = {}
    for f, syms in uses.items():
        graph[f] = set()
        for s in syms:
            g = defs.get(s)
            if not g or g == f:
                continue
            graph[f].add(g)
            if f not in LAYERS and g in LAYERS:
                check(s in public, "%s (daemon) calls %s of %s, not in store.h" % (f, s, g))
            elif f in LAYERS or g in LAYERS:
                check(may_use(LAYERS.get(f), LAYERS.get(g)),
                      "%s calls %s of %s, a layer above" % (f, s, g))
    # No cycle between the store's files (the daemon's may call each other).
    state = {}

    def dfs(n, path):
        state[n] = 1
        for m in graph.get(n, ()):
            if m not in LAYERS:
                continue
            if state.get(m) == 1:
                check(False, "call cycle: %s" % " -> ".join(path[path.index(m):] + [m]))
            elif not state.get(m):
                dfs(m, path + [m])
        state[n] = 2

    for n in sorted(graph):
        if n in LAYERS and not state.get(n):
            dfs(n, [n])
    check(True, "call graph")


def check_sizes():
    for f in sources():
        lines = open(os.path.join(AGENTD, f)).read().split("\n")
        n = len(lines) - (lines[-1] == "")
        check(n <= MAX_LINES or f in LONG_FILES, "%s has %d lines (> %d)" % (f, n, MAX_LINES))


def check_funcs():
    """No function over MAX_FUNC lines in the programs: a function opens on a line that starts
    with its return type (the house style: `static int f(...)` on one line) and closes on the
    first `}` in column 0."""
    for d in PROGRAMS:
        for f in sorted(os.listdir(os.path.join(ROOT, d))):
            if not f.endswith(".c") or f.endswith("_test.c"):
                continue
            path = "%s/%s" % (d, f)
            lines = open(os.path.join(ROOT, path)).read().split("\n")
            start = name = None
            for i, ln in enumerate(lines):
                m = re.match(r"^[a-z].*?\b(\w+)\(", ln)
                if m and not ln.rstrip().endswith(";") and start is None:
                    name, start = m.group(1), i
                elif ln.startswith("}") and start is not None:
                    length = i - start + 1
                    check(length <= MAX_FUNC or (path, name) in LONG_FUNCS,
                          "%s: %s() has %d lines (> %d)" % (path, name, length, MAX_FUNC))
                    start = None
                elif ln.startswith(("struct ", "static const", "static struct", "#")) and \
                        "(" not in ln:
                    start = None


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    check_includes()
    check_calls(build)
    check_sizes()
    check_funcs()
    print("%d passed, %d failed" % (passed, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
