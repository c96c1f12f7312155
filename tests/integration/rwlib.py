"""rwlib: remote-write helpers for test_remote_write: a real Prometheus with its remote-write
receiver, and a small real HTTP receiver of our own (snappy and protobuf decoded here from
their specifications) whose answers a test chooses: refusals, 5xx, 429, hangs, huge bodies."""
import http.server
import json
import math
import os
import shutil
import struct
import threading
import urllib.parse
import urllib.request

import apilib as al
import mbharness as mb

PROMETHEUS = shutil.which("prometheus")


# ------------------------------------------------------------------ wire formats
def snappy_decode(b):
    """The snappy block format: a varint length, then literals and back-references."""
    n, shift, i = 0, 0, 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7f) << shift
        shift += 7
        if c < 0x80:
            break
    out = bytearray()
    while i < len(b):
        tag = b[i]
        i += 1
        kind = tag & 3
        if kind == 0:
            ln = tag >> 2
            if ln >= 60:
                nb = ln - 59
                ln = int.from_bytes(b[i:i + nb], "little")
                i += nb
            ln += 1
            out += b[i:i + ln]
            i += ln
            continue
        if kind == 1:
            ln = ((tag >> 2) & 7) + 4
            off = ((tag >> 5) << 8) | b[i]
            i += 1
        elif kind == 2:
            ln = (tag >> 2) + 1
            off = int.from_bytes(b[i:i + 2], "little")
            i += 2
        else:
            ln = (tag >> 2) + 1
            off = int.from_bytes(b[i:i + 4], "little")
            i += 4
        for _ in range(ln):
            out.append(out[-off])
    assert len(out) == n, (len(out), n)
    return bytes(out)


def _fields(b):
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        f, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v = b[i:i + 8]
            i += 8
        elif wt == 2:
            ln, i = _varint(b, i)
            v = b[i:i + ln]
            i += ln
        elif wt == 5:
            v = b[i:i + 4]
            i += 4
        else:
            raise ValueError("wire type %d" % wt)
        yield f, wt, v


def _varint(b, i):
    n, shift = 0, 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7f) << shift
        shift += 7
        if c < 0x80:
            return n, i


STALE = struct.unpack("<d", struct.pack("<Q", 0x7ff0000000000002))[0]


def is_stale(v):
    return struct.pack("<d", v) == struct.pack("<Q", 0x7ff0000000000002)


def decode_write_request(body):
    """[(labels dict, [(t_ms, value), ...]), ...] of a snappy-compressed WriteRequest."""
    out = []
    for f, _, ts in _fields(snappy_decode(body)):
        if f != 1:
            continue
        labels, samples = {}, []
        for g, _, v in _fields(ts):
            if g == 1:
                kv = {h: x.decode() for h, _, x in _fields(v)}
                labels[kv.get(1, "")] = kv.get(2, "")
            elif g == 2:
                val, t = 0.0, 0
                for h, _, x in _fields(v):
                    if h == 1:
                        val = struct.unpack("<d", x)[0]
                    elif h == 2:
                        t = x if x < (1 << 63) else x - (1 << 64)
                samples.append((t, val))
        out.append((labels, samples))
    return out


# ------------------------------------------------------------------ our receiver
class Receiver:
    """A real HTTP server on an ephemeral loopback port. behave(handler, series) decides each
    answer: return (status, body) or None for 204 (the request is then stored)."""

    def __init__(self, behave=None):
        self.behave = behave
        self.lock = threading.Lock()
        self.samples = {}        # (name, frozenset labels) -> {t: v}
        self.requests = 0
        self.refusals = 0
        self.headers = []
        rcv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                series = decode_write_request(body)
                with rcv.lock:
                    rcv.requests += 1
                    rcv.headers.append(dict(self.headers))
                ans = rcv.behave(self, series) if rcv.behave else None
                if ans is None:
                    with rcv.lock:
                        for labels, samples in series:
                            key = frozenset(labels.items())
                            d = rcv.samples.setdefault(key, {})
                            for t, v in samples:
                                d[t] = v
                    self.send_response(204)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if ans == "hang":
                    threading.Event().wait(3600)
                    return
                st, text = ans
                with rcv.lock:
                    rcv.refusals += 1
                data = text if isinstance(text, bytes) else text.encode()
                self.send_response(st)
                if st in (301, 302, 307, 308):
                    self.send_header("Location", "/api/v1/write")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/api/v1/write"
        self.th = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.th.start()

    def series(self, name, **labels):
        """{t: v} merged over every series named name whose labels include labels."""
        out = {}
        with self.lock:
            for key, d in self.samples.items():
                lab = dict(key)
                if lab.get("__name__") == name and all(lab.get(k) == v for k, v in labels.items()):
                    out.update(d)
        return out

    def label_sets(self, name):
        with self.lock:
            return [dict(k) for k in self.samples if dict(k).get("__name__") == name]

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


# ------------------------------------------------------------------ real Prometheus
class Prometheus:
    """Debian's prometheus as a remote-write receiver on a temp storage dir, with an
    out-of-order window; stop() and start() again on the same data."""

    def __init__(self, stack, ooo="2h"):
        self.stack = stack
        self.port = mb.free_port()
        self.cfg = os.path.join(stack.dir, "prometheus.yml")
        with open(self.cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1h\nstorage:\n  tsdb:\n"
                    f"    out_of_order_time_window: {ooo}\n")
        self.url = f"http://127.0.0.1:{self.port}/api/v1/write"
        self.p = None
        self.start()

    def start(self):
        self.p = self.stack.spawn(
            [PROMETHEUS, f"--config.file={self.cfg}", f"--storage.tsdb.path={self.stack.dir}/tsdb",
             f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-remote-write-receiver",
             "--log.level=warn"], name="prometheus")
        mb.poll(lambda: self.get("/-/ready") is not None, timeout=60, interval=0.2,
                what="prometheus ready")

    def stop(self):
        self.stack.stop(self.p)

    def get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                return r.read()
        except OSError:
            return None

    def query(self, q, t=None):
        args = {"query": q}
        if t is not None:
            args["time"] = str(t)
        body = self.get("/api/v1/query?" + urllib.parse.urlencode(args))
        if body is None:
            return None
        return json.loads(body)["data"]["result"]

    def raw(self, selector, span="1h"):
        """[(labels, [(t_seconds, value), ...])] of every sample in the last span."""
        res = self.query(f"{selector}[{span}]") or []
        return [(r["metric"], [(float(t), float(v)) for t, v in r["values"]]) for r in res]


def value(res):
    """The single value of an instant query, or None."""
    if not res or len(res) != 1:
        return None
    v = float(res[0]["value"][1])
    return None if math.isnan(v) else v


# ------------------------------------------------------------------ test helpers
RES = 10.0  # the finest window's slots: samples land on 10 s boundaries
FAST = ["--node-interval", "1s", "--remote-write-interval", "1s",
        "--remote-write-settle", "2s"]
JOB = "import os,socket,time\n" \
      "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n" \
      "a=(os.environ['STATSD_UDP_HOST'],int(os.environ['STATSD_UDP_PORT']))\n" \
      "for i in range(3):\n" \
      "    s.sendto(b'batch.temp:7|g\\nbatch.done:1|c',a)\n" \
      "    time.sleep(1)\n"


def shim(stack, cid="web-1", cmd=None):
    p = stack.shim("--container-id", cid, "--flush-interval", "1s", cmd=cmd)
    return p, (None if cmd else al.shim_port(stack, p))


class Feeder:
    """Sends a counter increment and a gauge every 0.5 s from a thread; counts what it sent."""

    def __init__(self, port, lines_fn):
        self.port, self.lines_fn, self.sent = port, lines_fn, 0
        self.stop_ev = threading.Event()
        self.th = threading.Thread(target=self.run, daemon=True)
        self.th.start()

    def run(self):
        while not self.stop_ev.wait(0.5):
            al.send(self.port, self.lines_fn(self.sent))
            self.sent += 1

    def stop(self):
        self.stop_ev.set()
        self.th.join()


def contiguous(ts, step=RES * 1000):
    """True when the sorted sample times (ms; seconds with step=RES) step by one slot."""
    ts = sorted(ts)
    return len(ts) > 0 and all(abs((b - a) - step) < 1e-6 for a, b in zip(ts, ts[1:]))
