"""mbdoc: runs the examples of README.md and docs/*.md against a live stack (agentd, bridge,
shims on a temp dir and loopback ports) and compares each answer with what the doc shows.

Every code block (indented or fenced) must be preceded by a marker, an HTML comment that
renders as nothing; an unmarked block or an unknown kind fails, so no example escapes:

    <!-- doctest: http -->            lines "GET /path" each followed by the answer shown:
                                      "[STATUS ]BODY" (STATUS defaults to 200)
    <!-- doctest: http GET /path -->  the block is the answer to that request
    <!-- doctest: sh -->              "$ command" lines, each followed by its output
                                      (stdout and stderr); the exit status must be 0
    <!-- doctest: run -->             each line is a command that must exit 0 (its output
                                      is not shown); "# ..." comments are dropped
    <!-- doctest: statsd ID [SHIM FLAGS] -->  the lines are sent to the shim of container ID
                                      (started with those flags) before anything else runs
    <!-- doctest: file NAME agentd=--FLAG -->  the block is a file: written as NAME in the
                                      page's stack, and agentd started with --FLAG PATH
    <!-- doctest: usage PROGRAM -->   a synopsis: it starts with PROGRAM, and every --flag in it
                                      is one of PROGRAM's (its --help-markdown)
    <!-- doctest: skip REASON -->     shown only (a diagram, a grammar, root-only steps):
                                      the reason is required

Options, anywhere in the marker as key=value:
    vary=time[,num]   time: any RFC 3339 time or unix seconds stands for any other;
                      num: any number stands for any other
    bridge=token|dcos-1.11|down  the bridge started with --token-file (token: secret), or
                      with --dcos-names 1.11, or one whose agentd is down
    exit=N            the exit status a sh/run command must have
    with=WORD:VALUE[,WORD:VALUE]  placeholders in commands (CONTAINER_ID:web-1)
    rundir=own        sh/run: the commands get a run directory of their own (a second agentd
                      on the page's data directory, for its start-up errors)
    wait=NAME[,NAME]  statsd: the series names to wait for in agentd (default: the names
                      sent; give the mapped ones when a --mapping file renames them)

In an expected answer a line "..." stands for any lines, and "..." inside a line for any text.
Answers are compared with whitespace runs as optional, and with the live stack's paths and
address written as the defaults the docs show (/run/metricsbus, /var/lib/metricsbus,
127.0.0.1:61001).

Flag tables: between "<!-- flags: PROGRAM -->" and "<!-- /flags -->" a doc holds the table
that `PROGRAM --help-markdown` prints from the program's own flag table; --flags checks every
program has one and that it is current, --flags --write (make doc-flags) rewrites them.

Usage: mbdoc.py [--build DIR] [--list] [FILE...]   (default: README.md docs/*.md docs/examples/README.md)
       mbdoc.py [--build DIR] --flags [--write]"""
import argparse
import concurrent.futures
import glob
import http.client
import os
import re
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

MARK = re.compile(r"^\s*<!--\s*doctest:\s*(.*?)\s*-->\s*$")
KINDS = ("http", "sh", "run", "statsd", "file", "usage", "skip")
OPTIONS = ("vary", "bridge", "exit", "with", "wait", "agentd", "rundir")
TOKEN = "secret"


class Block:
    def __init__(self, path, line, text, marker):
        self.path, self.line, self.text, self.marker = path, line, text, marker
        self.kind, self.args, self.opts = None, [], {}
        self.error = None
        if marker is None:
            self.error = "code block without a <!-- doctest: ... --> marker"
            return
        words = marker.split()
        if not words or words[0] not in KINDS:
            self.error = f"unknown doctest kind {words[0] if words else '(none)'!r} " \
                         f"(one of {', '.join(KINDS)})"
            return
        self.kind = words[0]
        if self.kind == "skip":
            self.args = words[1:]
            if not self.args:
                self.error = "skip needs a reason"
            return
        for w in words[1:]:
            k, eq, v = w.partition("=")
            if eq and k in OPTIONS:
                self.opts[k] = v
            else:
                self.args.append(w)

    def where(self):
        return f"{os.path.relpath(self.path, ROOT)}:{self.line}"


def parse(path):
    """The code blocks of a markdown file, each with the marker before it (or None)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks = []
    marker = None       # the last marker seen, until a block or other text takes it
    prev_blank = True
    i = 0
    while i < len(lines):
        ln = lines[i]
        m = MARK.match(ln)
        if m:
            marker = m.group(1)
            prev_blank = True   # an HTML block ends at its line: a code block may follow
            i += 1
            continue
        fence = re.match(r"^(\s*)(```+|~~~+)", ln)
        if fence:
            ind, tick = len(fence.group(1)), fence.group(2)
            j = i + 1
            body = []
            while j < len(lines) and not lines[j].strip().startswith(tick):
                body.append(lines[j][ind:] if lines[j][:ind].strip() == "" else lines[j])
                j += 1
            blocks.append(Block(path, i + 1, "\n".join(body), marker))
            marker = None
            prev_blank = True
            i = j + 1
            continue
        indent = len(ln) - len(ln.lstrip(" "))
        if prev_blank and ln.strip() and indent >= 4 and not in_list(lines, i):
            j = i
            body = []
            while j < len(lines) and (not lines[j].strip() or
                                      len(lines[j]) - len(lines[j].lstrip(" ")) >= indent):
                body.append(lines[j][indent:])
                j += 1
            while body and not body[-1].strip():
                body.pop()
            blocks.append(Block(path, i + 1, "\n".join(body), marker))
            marker = None
            i = i + len(body)
            prev_blank = False
            continue
        if ln.strip():
            marker = None
        prev_blank = not ln.strip()
        i += 1
    return blocks


def in_list(lines, i):
    """True when the indented line i continues a list item's paragraph rather than starting
    a code block: its indentation is the item's content plus less than 4."""
    ind = len(lines[i]) - len(lines[i].lstrip(" "))
    for k in range(i - 1, -1, -1):
        s = lines[k]
        if not s.strip():
            continue
        m = re.match(r"^(\s*)([-*+]|\d+[.)])\s+", s)
        k_ind = len(s) - len(s.lstrip(" "))
        if m:
            return ind < len(m.group(0)) + 4
        if k_ind == 0:
            return False
    return False


# ------------------------------------------------------------------ matching
NUM = r"(?<![\w.-])-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:[KMGT]?B)?(?![\w.])"
TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)|(?<![\w.])1\d{9}(?![\w])"


def pattern(expected, vary):
    """A regex for an expected answer: '...' lines and '...' in a line are wildcards,
    whitespace runs optional, the vary classes matched by kind."""
    out = []
    lines = expected.strip("\n").split("\n")
    classes = []
    if "time" in vary:
        classes.append((TIME, r"(?:" + TIME + r")"))
    if "num" in vary:
        classes.append((NUM, r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:[KMGT]?B)?"))
    for ln in lines:
        if ln.strip() == "...":
            out.append(r"(?:.*?)")
            continue
        pieces = ln.split("...")
        rx = []
        for p in pieces:
            rx.append(literal(p, classes))
        out.append(r".*?".join(rx))
    return r"\s*" + r"\s*".join(out) + r"\s*"


def literal(text, classes):
    if not classes:
        return ws(text)
    joined = "|".join("(" + c[0] + ")" for c in classes)
    res, pos = [], 0
    for m in re.finditer(joined, text):
        res.append(ws(text[pos:m.start()]))
        k = next(i for i, g in enumerate(m.groups()) if g is not None)
        res.append(classes[k][1])
        pos = m.end()
    res.append(ws(text[pos:]))
    return "".join(res)


def ws(text):
    return r"\s*".join(re.escape(p) for p in re.split(r"\s+", text))


def matches(expected, actual, vary):
    return re.fullmatch(pattern(expected, vary), actual, re.S) is not None


# ------------------------------------------------------------------ the live stack
class DocStack:
    """agentd (node-7, cluster k1, hostname vm), a bridge, shims as the statsd blocks ask."""

    def __init__(self, build, files=()):
        import mbharness
        self.mb = mbharness
        self.stack = mbharness.Stack()
        self.backup_dir = os.path.join(self.stack.dir, "backups")
        os.makedirs(self.backup_dir, mode=0o700)
        self.work = os.path.join(self.stack.dir, "work")
        os.makedirs(self.work)
        self.bridges = {}
        self.shims = {}
        extra = []
        helptext = subprocess.run([self.mb.binpath("metricsbus-agentd"), "--help"],
                                  capture_output=True, text=True).stdout
        if "--backup-dir" in helptext:
            extra += ["--backup-dir", self.backup_dir]
        for name, text, flag in files:
            path = os.path.join(self.stack.dir, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            if flag:
                extra += [flag, path]
        self.stack.agentd("--node-id", "node-7", "--cluster-id", "k1",
                          "--node-interval", "1s", *extra)
        self.bridges[""] = self.start_bridge()

    def start_bridge(self, *args, query=None):
        st = self.stack
        keep_port = st.http_port
        p = st.api(*args, *(["--query", query] if query else []))
        port = st.http_port
        st.http_port = keep_port if keep_port else port
        return port

    def bridge(self, name):
        if name not in self.bridges:
            if name == "token":
                tf = os.path.join(self.stack.dir, "token")
                with open(tf, "w") as f:
                    f.write(TOKEN + "\n")
                self.bridges[name] = self.start_bridge("--token-file", tf)
            elif name == "dcos-1.11":
                self.bridges[name] = self.start_bridge("--dcos-names", "1.11")
            elif name == "down":
                self.down_dir = tempfile.mkdtemp(prefix="mbdown", dir=self.stack.dir)
                self.bridges[name] = self.start_bridge(
                    "--request-timeout", "1s",
                    query="ipc://" + os.path.join(self.down_dir, "query.sock"))
            else:
                raise ValueError(f"unknown bridge {name!r} (token, dcos-1.11 or down)")
        return self.bridges[name]

    def shim(self, cid, flags):
        if cid not in self.shims:
            port = self.mb.free_port()
            p = self.stack.shim("--container-id", cid, "--listen", f"127.0.0.1:{port}", *flags)
            st = self.stack

            def up():
                if p.poll() is not None:
                    raise AssertionError(f"shim exited {p.returncode}:\n{st.log_of(p)}")
                return "statsd on" in st.log_of(p)
            self.mb.poll(up, timeout=15, what="shim listening")
            self.shims[cid] = port
        return self.shims[cid]

    def send(self, cid, flags, lines):
        port = self.shim(cid, flags)
        self.mb.send_udp(port, "\n".join(lines))

    def wait_flushed(self, sent):
        """Until agentd serves what each shim was sent (its first flush: at most 10s)."""
        for cid, names in sent.items():
            def there():
                r = self.stack.cli("app", cid)
                return r.returncode == 0 and all(n in r.stdout for n in names)
            self.mb.poll(there, timeout=40, what=f"{cid}'s first flush")

    def normalize(self, text):
        """The live stack's paths and ports written as the docs' defaults."""
        st = self.stack
        subs = [(st.run_dir, "/run/metricsbus"), (st.data_dir, "/var/lib/metricsbus")]
        if getattr(self, "down_dir", None):
            subs.append((self.down_dir, "/run/metricsbus"))
        for d in getattr(self, "own_rundirs", []):
            subs.append((d, "/run/metricsbus"))
        for port in self.bridges.values():
            subs.append((f"127.0.0.1:{port}", "127.0.0.1:61001"))
        for a, b in subs:
            text = text.replace(a, b)
        host = re.escape(socket.gethostname())
        text = re.sub(r'("hostname":"|hostname=")' + host + '"', r'\1vm"', text)
        text = re.sub(r"(?m)^(hostname\s+)" + host + "$", r"\1vm", text)
        return text.replace("\r\n", "\n")

    def http(self, method, path, bridge=""):
        headers = {}
        if bridge == "token" and not path.startswith("/healthz"):
            headers["Authorization"] = "Bearer " + TOKEN
        c = http.client.HTTPConnection("127.0.0.1", self.bridge(bridge), timeout=30)
        try:
            c.request(method, path, headers=headers)
            r = c.getresponse()
            return r.status, self.normalize(r.read().decode("utf-8", "replace"))
        finally:
            c.close()

    def shell(self, cmd, bridge="", own_rundir=False):
        env = dict(self.stack.env)
        env["PATH"] = self.mb.BIN + ":" + env.get("PATH", "")
        env["METRICSBUS_QUERY"] = self.stack.query
        # an agentd a page starts never touches the real /var/lib/metricsbus
        env["METRICSBUS_DATA_DIR"] = self.stack.data_dir
        if own_rundir:
            d = tempfile.mkdtemp(prefix="run", dir=self.stack.dir)
            env["METRICSBUS_RUN_DIR"] = d
            env.pop("METRICSBUS_QUERY")
            self.own_rundirs = getattr(self, "own_rundirs", []) + [d]
        env["COLUMNS"] = "100"
        cmd = cmd.replace("127.0.0.1:61001", f"127.0.0.1:{self.bridge(bridge)}")
        cmd = cmd.replace("/var/backups", self.backup_dir)
        try:
            p = subprocess.run(["bash", "-c", cmd], cwd=self.work, env=env,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=60)
        except subprocess.TimeoutExpired:
            return -1, "(still running after 60s)"
        return p.returncode, self.normalize(p.stdout + p.stderr)

    def close(self):
        self.stack.close()


# ------------------------------------------------------------------ running blocks
def substitute(cmd, opts):
    for pair in filter(None, opts.get("with", "").split(",")):
        word, _, value = pair.partition(":")
        cmd = re.sub(r"\b" + re.escape(word) + r"\b", value, cmd)
    return cmd


def run_http(ds, b):
    vary = b.opts.get("vary", "")
    lines = b.text.split("\n")
    reqs = []   # (method, path, expected text)
    req_rx = re.compile(r"^(GET|HEAD|POST|PUT|DELETE)\s+(/\S*)$")
    if b.args:
        if len(b.args) != 2:
            return ["http marker wants METHOD PATH"]
        reqs.append([b.args[0], b.args[1], []])
    for ln in lines:
        m = req_rx.match(ln.strip())
        if m:
            reqs.append([m.group(1), m.group(2), []])
        elif not reqs:
            return [f"answer without a request: {ln!r}"]
        else:
            reqs[-1][2].append(ln)
    errs = []
    for method, path, exp in reqs:
        exp_text = "\n".join(exp).strip()
        want = 200
        m = re.match(r"^(\d{3})(?:\s+|$)(.*)$", exp_text, re.S)
        if m:
            want, exp_text = int(m.group(1)), m.group(2)
        status, body = ds.http(method, path, b.opts.get("bridge", ""))
        if status != want:
            errs.append(f"{method} {path}: status {status}, the doc shows {want}; body {body!r}")
        elif not matches(exp_text, body.strip(), vary):
            errs.append(f"{method} {path}: the answer differs.\n  doc:  {exp_text!r}\n"
                        f"  live: {body.strip()!r}")
    return errs


def run_sh(ds, b):
    vary = b.opts.get("vary", "")
    want_exit = int(b.opts.get("exit", "0"))
    cmds = []
    for ln in b.text.split("\n"):
        if ln.startswith("$ "):
            cmds.append([ln[2:], []])
        elif not cmds:
            return [f"output without a command: {ln!r}"]
        else:
            cmds[-1][1].append(ln)
    errs = []
    for cmd, exp in cmds:
        rc, out = ds.shell(substitute(cmd, b.opts), b.opts.get("bridge", ""),
                           b.opts.get("rundir") == "own")
        exp_text = "\n".join(exp).strip()
        if rc != want_exit:
            errs.append(f"$ {cmd}: exit {rc}, expected {want_exit}; output {out!r}")
        elif not matches(exp_text, out.strip(), vary):
            errs.append(f"$ {cmd}: the output differs.\n  doc:  {exp_text!r}\n"
                        f"  live: {out.strip()!r}")
    return errs


def run_run(ds, b):
    want_exit = int(b.opts.get("exit", "0"))
    errs = []
    for ln in b.text.split("\n"):
        cmd = re.sub(r"(^|\s)#.*$", "", ln).strip()
        if not cmd:
            continue
        rc, out = ds.shell(substitute(cmd, b.opts), b.opts.get("bridge", ""),
                           b.opts.get("rundir") == "own")
        if rc != want_exit:
            errs.append(f"{cmd}: exit {rc}, expected {want_exit}; output {out!r}")
    return errs


def run_usage(b, build):
    """A synopsis names only flags the program has (no stack needed)."""
    if len(b.args) != 1 or b.args[0] not in PROGRAMS:
        return [f"usage wants one of {', '.join(PROGRAMS)}"]
    prog = b.args[0]
    if b.text.split()[0] != prog:
        return [f"the synopsis does not start with {prog}"]
    exe = os.path.join(ROOT, build, "bin", prog)
    table = subprocess.run([exe, "--help-markdown"], capture_output=True, text=True).stdout
    known = set(re.findall(r"`(--[a-z0-9-]+)", table))
    return [f"{prog} has no flag {f}" for f in sorted(set(re.findall(r"--[a-z0-9-]+", b.text)))
            if f not in known]


def collect(paths):
    blocks = []
    for p in paths:
        blocks += parse(p)
    return blocks


def run_file(path, blocks, build):
    """Runs one doc's blocks on a stack of its own (none when nothing runs): each page's
    examples see only their own containers. Returns (failures, blocks run)."""
    failures = []
    for b in blocks:
        if b.kind == "usage":
            failures += [f"{b.where()}: {e}" for e in run_usage(b, build)]
    runnable = [b for b in blocks if b.kind in ("http", "sh", "run")]
    if not runnable:
        return failures, sum(1 for b in blocks if b.kind == "usage")
    files = []
    for b in blocks:
        if b.kind == "file":
            if len(b.args) != 1:
                failures.append(f"{b.where()}: file wants a NAME")
                continue
            files.append((b.args[0], b.text, b.opts.get("agentd")))
    ds = DocStack(build, files)
    try:
        sent = {}
        for b in blocks:
            if b.kind == "statsd":
                if not b.args:
                    failures.append(f"{b.where()}: statsd wants a container id")
                    continue
                lines = [ln.strip() for ln in b.text.split("\n") if ln.strip()]
                ds.send(b.args[0], b.args[1:], lines)
                names = ([n for n in b.opts["wait"].split(",") if n] if "wait" in b.opts else
                         [re.split(r"[:,#\[]", ln, 1)[0] for ln in lines])
                sent.setdefault(b.args[0], set()).update(names)
        ds.wait_flushed(sent)
        for b in runnable:
            fn = {"http": run_http, "sh": run_sh, "run": run_run}[b.kind]
            for e in fn(ds, b):
                failures.append(f"{b.where()}: {e}")
    finally:
        ds.close()
    return failures, len(runnable) + sum(1 for b in blocks if b.kind == "usage")


def run(paths, build="build", out=sys.stdout):
    """Runs every block of the files (a few files at a time); returns the failures (text)."""
    os.environ["MB_BUILD"] = build
    per_file = [(p, parse(p)) for p in paths]
    blocks = [b for _, bl in per_file for b in bl]
    failures = [f"{b.where()}: {b.error}" for b in blocks if b.error]
    if failures:
        return failures
    ran = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        for f, n in pool.map(lambda pb: run_file(pb[0], pb[1], build), per_file):
            failures += f
            ran += n
    print(f"mbdoc: {len(blocks)} blocks, {ran} run, "
          f"{sum(1 for b in blocks if b.kind == 'skip')} shown only, "
          f"{len(failures)} failures", file=out)
    return failures


PROGRAMS = ("metricsbus-agentd", "metricsbus-shim", "metricsbus-api", "metricsbus")
FLAGS_RX = re.compile(r"(<!-- flags: (\S+) -->\n)(.*?)(<!-- /flags -->)", re.S)


def flag_tables(build="build", write=False, paths=None):
    """Checks (or rewrites) the generated flag tables; returns the list of problems."""
    problems, seen = [], {}
    for path in paths or default_paths():
        with open(path, encoding="utf-8") as f:
            text = f.read()

        def fresh(m):
            prog = m.group(2)
            seen.setdefault(prog, []).append(os.path.relpath(path, ROOT))
            exe = os.path.join(ROOT, build, "bin", prog)
            if prog not in PROGRAMS or not os.path.exists(exe):
                problems.append(f"{os.path.relpath(path, ROOT)}: no program {prog}")
                return m.group(0)
            table = subprocess.run([exe, "--help-markdown"], capture_output=True, text=True,
                                   check=True).stdout
            body = "\n" + table + "\n"
            if m.group(3) != body and not write:
                problems.append(f"{os.path.relpath(path, ROOT)}: the flag table of {prog} "
                                f"differs from `{prog} --help-markdown` (run make doc-flags)")
            return m.group(1) + body + m.group(4)
        new = FLAGS_RX.sub(fresh, text)
        if write and new != text:
            with open(path, "w", encoding="utf-8") as f:
                f.write(new)
    for prog in PROGRAMS:
        if len(seen.get(prog, [])) != 1:
            problems.append(f"{prog}: {len(seen.get(prog, []))} flag tables in the docs "
                            f"({', '.join(seen.get(prog, [])) or 'none'}), want one")
    return problems


def default_paths():
    return ([os.path.join(ROOT, "README.md")] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
            + [os.path.join(ROOT, "docs", "examples", "README.md")])


def main():
    ap = argparse.ArgumentParser(description="runs the docs' examples against a live stack")
    ap.add_argument("--build", default=os.environ.get("MB_BUILD", "build"))
    ap.add_argument("--list", action="store_true", help="list the blocks and their markers")
    ap.add_argument("--flags", action="store_true", help="check the generated flag tables")
    ap.add_argument("--write", action="store_true", help="with --flags: rewrite them")
    ap.add_argument("files", nargs="*")
    a = ap.parse_args()
    paths = [os.path.abspath(f) for f in a.files] or default_paths()
    if a.flags:
        probs = flag_tables(a.build, a.write, paths)
        for p in probs:
            print("FAIL " + p)
        return 1 if probs else 0
    if a.list:
        for b in collect(paths):
            print(f"{b.where()}: {b.kind or '-'} {' '.join(b.args)} {b.opts or ''}"
                  f"{'  ERROR: ' + b.error if b.error else ''}")
        return 0
    fails = run(paths, a.build)
    for f in fails:
        print("FAIL " + f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
