#!/usr/bin/python3
"""mkbad.py: writes schemas/v1/bad/, the malformed-message corpus: NAME.msgpack files and
reasons.txt ("NAME<TAB>substring of the decoder's reason"). The prefix of NAME says which
decoder must reject it: batch-, ack-, query-, reply-OP-. Usage: mkbad.py DIR"""
import os
import struct
import sys


class Raw(bytes):
    """Bytes written as they are (for hand-made headers)."""


class Pairs(list):
    """A map given as (key, value) pairs: allows repeated keys."""


class F32(float):
    pass


def pk(x):
    if isinstance(x, Raw):
        return bytes(x)
    if x is None:
        return b"\xc0"
    if x is True:
        return b"\xc3"
    if x is False:
        return b"\xc2"
    if isinstance(x, int):
        if 0 <= x < 128:
            return bytes([x])
        if -32 <= x < 0:
            return struct.pack(">b", x)
        if x >= 0:
            for code, fmt, lim in ((0xcc, ">B", 1 << 8), (0xcd, ">H", 1 << 16),
                                   (0xce, ">I", 1 << 32), (0xcf, ">Q", 1 << 64)):
                if x < lim:
                    return bytes([code]) + struct.pack(fmt, x)
        for code, fmt, lim in ((0xd0, ">b", 1 << 7), (0xd1, ">h", 1 << 15),
                               (0xd2, ">i", 1 << 31), (0xd3, ">q", 1 << 63)):
            if x >= -lim:
                return bytes([code]) + struct.pack(fmt, x)
    if isinstance(x, F32):
        return b"\xca" + struct.pack(">f", x)
    if isinstance(x, float):
        return b"\xcb" + struct.pack(">d", x)
    if isinstance(x, str):
        x = x.encode("utf-8", "surrogateescape")
        return strhdr(len(x)) + x
    if isinstance(x, (bytes, bytearray)):
        n = len(x)
        hdr = bytes([0xc4, n]) if n < 256 else b"\xc5" + struct.pack(">H", n)
        return hdr + bytes(x)
    if isinstance(x, Pairs):
        return maphdr(len(x)) + b"".join(pk(k) + pk(v) for k, v in x)
    if isinstance(x, dict):
        return maphdr(len(x)) + b"".join(pk(k) + pk(v) for k, v in x.items())
    if isinstance(x, (list, tuple)):
        n = len(x)
        hdr = bytes([0x90 | n]) if n < 16 else (b"\xdc" + struct.pack(">H", n) if n < 65536
                                                 else b"\xdd" + struct.pack(">I", n))
        return hdr + b"".join(pk(e) for e in x)
    raise TypeError(x)


def strhdr(n):
    if n < 32:
        return bytes([0xa0 | n])
    if n < 256:
        return bytes([0xd9, n])
    return b"\xda" + struct.pack(">H", n)


def maphdr(n):
    return bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack(">H", n)


def B(s):
    """A str with raw (possibly invalid UTF-8) bytes."""
    return Raw(strhdr(len(s)) + s)


DEL = object()
COUNTER = [0, "req.count", {"a": "1"}, 1.0]
TIMER = [3, "lat", {}, 2.0, 3.0, 5.0, 1.0, 2.0, [0, [0, 1, 35, 1], []]]
SET = [2, "users", {}, 1, b"\x00\x41"]


def batch(**kw):
    m = {"v": 1, "inst": 7, "seq": 1, "t": 1700000000000, "iv": 10000, "cid": "c1",
         "dims": {"task_name": "web"}, "recs": [COUNTER, TIMER, SET]}
    for k, v in kw.items():
        if v is DEL:
            del m[k]
        else:
            m[k] = v
    return pk(m)


def rec(r):
    return batch(recs=[COUNTER, r])


def timer(**kw):
    names = ["kind", "name", "tags", "count", "sum", "sumsq", "min", "max", "sketch"]
    r = list(TIMER)
    for k, v in kw.items():
        r[names.index(k)] = v
    return rec(r)


def ack(**kw):
    m = {"v": 1, "seq": 5, "st": 2, "err": "bad"}
    for k, v in kw.items():
        if v is DEL:
            del m[k]
        else:
            m[k] = v
    return pk(m)


def query(op, **kw):
    m = {"v": 1, "op": op}
    m.update({k: v for k, v in kw.items() if v is not DEL})
    return pk(m)


RANGE = dict(src="node", name="cpu.total", frm=0, to=10, step=0, stat="mean")


def rquery(**kw):
    m = dict(RANGE)
    m.update(kw)
    m["from"] = m.pop("frm")
    return query("range", **m)


def reply(**kw):
    m = {"v": 1, "st": 200}
    m.update(kw)
    for k in [k for k, v in m.items() if v is DEL]:
        del m[k]
    return pk(m)


def nested(depth):
    x = 1
    for _ in range(depth):
        x = [x]
    return x


def item(**kw):
    names = ["src", "name", "kind", "unit", "tags", "t", "value", "total", "count", "sum", "q",
             "running"]
    it = [0, "x", 0, "", {}, 1, 1.0, 2.0, 0.0, 0.0, None, None]
    for k, v in kw.items():
        it[names.index(k)] = v
    return reply(srcs=[["node", {}]], series=[it])


good = batch()
nan = float("nan")
inf = float("inf")
tags33 = {"k%02d" % i: "v" for i in range(33)}
dims65 = {"d%02d" % i: "v" for i in range(65)}

CASES = [
    # framing, the pre-scan
    ("batch-empty", b"", "empty message"),
    ("batch-truncated", good[:-3], "truncated"),
    ("batch-trailing-bytes", good + b"\x00", "trailing bytes"),
    ("batch-two-objects", good + good, "trailing bytes"),
    ("batch-deeply-nested", batch(recs=[nested(20)]), "nested deeper than 16"),
    ("batch-huge-declared-array", batch(recs=Raw(b"\xdd\xff\xff\xff\xff\x00")),
     "declared count beyond message end"),
    ("batch-huge-declared-map", b"\xdf\x7f\xff\xff\xff\xa1v\x01", "declared count beyond"),
    ("batch-huge-declared-str", b"\x81\xa1v\xdb\xff\xff\xff\xf0abc", "declared length beyond"),
    ("batch-huge-declared-bin", rec([2, "u", {}, 1, Raw(b"\xc6\x7f\xff\xff\xff\x00\x41")]),
     "declared length beyond"),
    ("batch-ext-type", batch(cid=Raw(b"\xd4\x01\x00")), "ext type"),
    ("batch-reserved-byte", batch(cid=Raw(b"\xc1")), "reserved byte"),
    ("batch-not-a-map", pk([1, 2, 3]), "batch: not a map"),
    # version
    ("batch-version-2", batch(v=2), "v: version 2 not supported"),
    ("batch-version-2-unknown-key", batch(v=2, future={"x": 1}), "v: version 2"),
    ("batch-version-0", batch(v=0), "v: 0"),
    ("batch-version-missing", batch(v=DEL), "v: missing"),
    ("batch-version-string", batch(v="1"), "v: not an unsigned integer"),
    # header fields
    ("batch-missing-seq", batch(seq=DEL), "seq: missing"),
    ("batch-missing-inst", batch(inst=DEL), "inst: missing"),
    ("batch-missing-t", batch(t=DEL), "t: missing"),
    ("batch-missing-iv", batch(iv=DEL), "iv: missing"),
    ("batch-missing-cid", batch(cid=DEL), "cid: missing"),
    ("batch-missing-dims", batch(dims=DEL), "dims: missing"),
    ("batch-missing-recs", batch(recs=DEL), "recs: missing"),
    ("batch-unknown-key", batch(extra=1), 'unknown key "extra"'),
    ("batch-duplicate-key", pk(Pairs([("v", 1), ("inst", 7), ("seq", 1), ("seq", 2)])),
     "seq: duplicate key"),
    ("batch-key-not-string", pk(Pairs([("v", 1), (5, 7)])), "key 1 not a string"),
    ("batch-negative-seq", batch(seq=-1), "seq: negative"),
    ("batch-seq-zero", batch(seq=0), "seq: 0"),
    ("batch-seq-float", batch(seq=1.0), "seq: not an unsigned integer"),
    ("batch-seq-string", batch(seq="1"), "seq: not an unsigned integer"),
    ("batch-inst-zero", batch(inst=0), "inst: 0"),
    ("batch-t-zero", batch(t=0), "t: out of range"),
    ("batch-t-negative", batch(t=-5), "t: out of range"),
    ("batch-iv-zero", batch(iv=0), "iv: 0"),
    ("batch-iv-too-long", batch(iv=86400001), "iv: out of range"),
    ("batch-cid-empty", batch(cid=""), "cid: empty"),
    ("batch-cid-256", batch(cid="c" * 256), "cid: too long"),
    ("batch-cid-space", batch(cid="my container"), "cid: not printable"),
    ("batch-stop-not-bool", batch(stop=1), "stop: not a bool"),
    ("batch-recs-not-array", batch(recs={}), "recs: not an array"),
    ("batch-recs-65537", batch(recs=[0] * 65537), "recs: 65537 elements"),
    # dims
    ("batch-dims-65", batch(dims=dims65), "dims: more than 64"),
    ("batch-dims-bad-key", batch(dims={"task name": "x"}), "dims: key 0: not [A-Za-z0-9_.-]"),
    ("batch-dims-value-1025", batch(dims={"labels": "x" * 1025}), "dims: value 0: too long"),
    ("batch-dims-duplicate", pk({"v": 1, "inst": 7, "seq": 1, "t": 1, "iv": 1, "cid": "c",
                                 "dims": Pairs([("a", "1"), ("a", "2")]), "recs": []}),
     "dims: key 1: duplicate"),
    ("batch-dims-value-int", batch(dims={"a": 1}), "dims: value 0 not a string"),
    # records
    ("batch-rec-not-array", rec(5), "recs[1]: not an array"),
    ("batch-rec-kind-7", rec([7, "x", {}, 1.0]), "recs[1].kind: not a kind"),
    ("batch-rec-kind-negative", rec([-1, "x", {}, 1.0]), "recs[1].kind: not a kind"),
    ("batch-rec-kind-string", rec(["c", "x", {}, 1.0]), "recs[1].kind: not a kind"),
    ("batch-rec-counter-5-elements", rec([0, "x", {}, 1.0, 2.0]), "want 4 for counter"),
    ("batch-rec-timer-4-elements", rec([3, "x", {}, 1.0]), "want 9 for timer"),
    ("batch-rec-value-string", rec([0, "x", {}, "1"]), "recs[1].value: not a number"),
    ("batch-rec-value-nan", rec([0, "x", {}, nan]), "recs[1].value: not finite"),
    ("batch-rec-value-inf", rec([1, "x", {}, inf]), "recs[1].value: not finite"),
    ("batch-rec-value-neg-inf", rec([6, "x", {}, -inf]), "recs[1].value: not finite"),
    ("batch-rec-value-f32-nan", rec([0, "x", {}, F32(nan)]), "recs[1].value: not finite"),
    ("batch-rec-value-nil", rec([0, "x", {}, None]), "recs[1].value: not a number"),
    ("batch-rec-empty-name", rec([0, "", {}, 1.0]), "recs[1].name: empty"),
    ("batch-rec-name-256", rec([0, "n" * 256, {}, 1.0]), "recs[1].name: too long"),
    ("batch-rec-name-space", rec([0, "a b", {}, 1.0]), "recs[1].name: not printable"),
    ("batch-rec-name-utf8", rec([0, "caf\u00e9", {}, 1.0]), "recs[1].name: not printable"),
    ("batch-rec-name-nul", rec([0, "a\0b", {}, 1.0]), "recs[1].name: not printable"),
    ("batch-rec-name-int", rec([0, 5, {}, 1.0]), "recs[1].name: not a string"),
    # tags
    ("batch-tags-33", rec([0, "x", tags33, 1.0]), "recs[1].tags: more than 32"),
    ("batch-tags-unsorted", rec([0, "x", Pairs([("b", "1"), ("a", "2")]), 1.0]),
     "recs[1].tags: key 1: not sorted"),
    ("batch-tags-duplicate", rec([0, "x", Pairs([("a", "1"), ("a", "2")]), 1.0]),
     "recs[1].tags: key 1: duplicate"),
    ("batch-tags-prefix-unsorted", rec([0, "x", Pairs([("ab", "1"), ("a", "2")]), 1.0]),
     "key 1: not sorted"),
    ("batch-tags-not-map", rec([0, "x", [], 1.0]), "recs[1].tags: not a map"),
    ("batch-tag-key-empty", rec([0, "x", {"": "v"}, 1.0]), "recs[1].tags: key 0: empty"),
    ("batch-tag-key-129", rec([0, "x", {"k" * 129: "v"}, 1.0]), "key 0: too long"),
    ("batch-tag-value-129", rec([0, "x", {"k": "v" * 129}, 1.0]), "value 0: too long"),
    ("batch-tag-non-utf8", rec([0, "x", Pairs([("k", B(b"\xff\xfe"))]), 1.0]),
     "value 0: invalid UTF-8"),
    ("batch-tag-overlong-utf8", rec([0, "x", Pairs([(B(b"\xc0\x80"), "v")]), 1.0]),
     "key 0: invalid UTF-8"),
    ("batch-tag-surrogate", rec([0, "x", Pairs([("k", B(b"\xed\xa0\x80"))]), 1.0]),
     "value 0: invalid UTF-8"),
    ("batch-tag-truncated-utf8", rec([0, "x", Pairs([("k", B(b"ab\xe2\x82"))]), 1.0]),
     "value 0: invalid UTF-8"),
    ("batch-tag-above-10ffff", rec([0, "x", Pairs([("k", B(b"\xf4\x90\x80\x80"))]), 1.0]),
     "value 0: invalid UTF-8"),
    ("batch-tag-control-char", rec([0, "x", {"k": "a\nb"}, 1.0]), "value 0: control character"),
    ("batch-tag-del-char", rec([0, "x", {"k\x7f": "v"}, 1.0]), "key 0: control character"),
    ("batch-tag-value-int", rec([0, "x", {"k": 1}, 1.0]), "value 0 not a string"),
    # timers and sketches
    ("batch-timer-count-negative", timer(count=-1.0), "recs[1].count: negative"),
    ("batch-timer-sumsq-negative", timer(sumsq=-1.0), "recs[1].sumsq: negative"),
    ("batch-timer-min-above-max", timer(min=3.0, max=2.0), "recs[1].min: greater than max"),
    ("batch-timer-sum-nan", timer(sum=nan), "recs[1].sum: not finite"),
    ("batch-sketch-not-array", timer(sketch={}), "recs[1].sketch: not an array"),
    ("batch-sketch-2-elements", timer(sketch=[0, []]), "recs[1].sketch: 2 elements, want 3"),
    ("batch-sketch-zero-negative", timer(sketch=[-1, [], []]), "sketch.zero: negative"),
    ("batch-sketch-odd", timer(sketch=[0, [1, 1, 2], []]), "sketch.pos: odd length"),
    ("batch-sketch-index-2101", timer(sketch=[0, [2101, 1], []]), "sketch.pos: index 0"),
    ("batch-sketch-index--1101", timer(sketch=[0, [], [-1101, 1]]), "sketch.neg: index 0"),
    ("batch-sketch-index-float", timer(sketch=[0, [1.0, 1], []]), "sketch.pos: index 0"),
    ("batch-sketch-unsorted", timer(sketch=[0, [5, 1, 4, 1], []]), "index 1: not ascending"),
    ("batch-sketch-duplicate-index", timer(sketch=[0, [5, 1, 5, 1], []]),
     "index 1: not ascending"),
    ("batch-sketch-count-zero", timer(sketch=[0, [5, 0], []]), "count 0: not a positive"),
    ("batch-sketch-count-overflow", timer(sketch=[2, [5, (1 << 64) - 1], []]),
     "total count overflows"),
    ("batch-sketch-4097-bins", timer(sketch=[0, [x for i in range(4097) for x in (i - 1100, 1)],
                                             []]), "sketch.pos: 8194 elements"),
    ("batch-sketch-budget", batch(recs=[[3, "t%d" % i, {}, 1.0, 1.0, 1.0, 1.0, 1.0,
                                         [0, [-1100, 1, 2100, 1], [-1100, 1, 2100, 1]]]
                                        for i in range(1400)]), "too large for one message"),
    # sets and HyperLogLogs
    ("batch-set-count-negative", rec([2, "u", {}, -1, b""]), "recs[1].count: negative"),
    ("batch-set-count-float", rec([2, "u", {}, 1.5, b""]), "not an unsigned integer"),
    ("batch-hll-not-bin", rec([2, "u", {}, 1, "\x00\x41"]), "recs[1].hll: not bin"),
    ("batch-hll-odd", rec([2, "u", {}, 1, b"\x00\x41\x00"]), "recs[1].hll: length"),
    ("batch-hll-1023", rec([2, "u", {}, 1, b"\x01" * 1023]), "recs[1].hll: length"),
    ("batch-hll-1025", rec([2, "u", {}, 1, b"\x01" * 1025]), "recs[1].hll: length"),
    ("batch-hll-dense-rank-56", rec([2, "u", {}, 1, b"\x01" * 1023 + b"\x38"]),
     "register above 55"),
    ("batch-hll-sparse-unsorted", rec([2, "u", {}, 1, b"\x00\x81\x00\x41"]), "not ascending"),
    ("batch-hll-sparse-rank-0", rec([2, "u", {}, 1, b"\x00\x80"]), "rank not in 1..55"),
    ("batch-hll-sparse-rank-56", rec([2, "u", {}, 1, b"\x00\xb8"]), "rank not in 1..55"),
    # acks
    ("ack-truncated", ack()[:-2], "truncated"),
    ("ack-missing-seq", ack(seq=DEL), "seq: missing"),
    ("ack-missing-st", ack(st=DEL), "st: missing"),
    ("ack-negative-seq", ack(seq=-5), "seq: negative"),
    ("ack-status-4", ack(st=4), "st: out of range"),
    ("ack-err-257", ack(err="e" * 257), "err: too long"),
    ("ack-err-not-string", ack(err=5), "err: not a string"),
    ("ack-err-control", ack(err="a\x01"), "err: control character"),
    ("ack-version-2", ack(v=2), "v: version 2"),
    ("ack-unknown-key", ack(why="x"), 'unknown key "why"'),
    ("ack-not-a-map", pk([5, 0]), "ack: not a map"),
    # queries
    ("query-op-missing", pk({"v": 1}), "op: missing"),
    ("query-op-unknown", query("delete"), "op: unknown op"),
    ("query-op-int", query(3), "op: unknown op"),
    ("query-version-2", query("ping", v=2), "v: version 2"),
    ("query-version-2-new-op", query("compact", v=2), "v: version 2"),
    ("query-ping-with-src", query("ping", src="node"), "src: not a field of ping"),
    ("query-unknown-key", query("ping", extra=1), 'unknown key "extra"'),
    ("query-container-missing-src", query("container"), "src: missing"),
    ("query-container-empty-src", query("container", src=""), "src: empty"),
    ("query-app-name-space", query("app", src="c", name="a b"), "name: not printable"),
    ("query-range-missing-stat", rquery(stat=DEL), "stat: missing"),
    ("query-range-bad-stat", rquery(stat="median"), "stat: not one of"),
    ("query-range-negative-step", rquery(step=-1), "step: out of range"),
    ("query-range-from-float", rquery(frm=1.5), "from: not an integer"),
    ("query-range-tags-unsorted", rquery(tags=Pairs([("b", "1"), ("a", "1")])),
     "tags: key 1: not sorted"),
    ("query-series-with-dir", query("series", src="node", dir="/x"), "dir: not a field"),
    ("query-export-hist-int", query("export", hist=1), "hist: not a bool"),
    ("query-backup-relative-dir", query("backup", dir="backups/x"), "dir: not an absolute"),
    ("query-backup-empty-dir", query("backup", dir=""), "dir: empty"),
    ("query-backup-dir-4096", query("backup", dir="/" + "d" * 4095), "dir: too long"),
    # replies
    ("reply-ping-missing-t", reply(node="n"), "t: missing"),
    ("reply-ping-version-2", reply(v=2, t=1, node="n"), "v: version 2"),
    ("reply-ping-status-302", reply(st=302), "st: not 200, 204"),
    ("reply-ping-status-600", reply(st=600), "st: out of range"),
    ("reply-ping-unknown-key", reply(t=1, node="n", extra=1), 'unknown key "extra"'),
    ("reply-ping-ids-1", reply(t=1, node="n", ids=["n"]), "ids: 1 elements, want 2..8"),
    ("reply-ping-ids-9", reply(t=1, node="n", ids=["n%d" % i for i in range(9)]),
     "ids: 9 elements, want 2..8"),
    ("reply-ping-ids-empty-id", reply(t=1, node="n", ids=["n", ""]), "ids[1]: empty"),
    ("reply-ping-204-with-ids", reply(st=204, ids=["n", "m"]), "ids: not a field"),
    ("reply-app-404-no-err", reply(st=404), "err: missing"),
    ("reply-app-404-empty-err", reply(st=404, err=""), "err: empty"),
    ("reply-app-204-with-pts", reply(st=204, dims={}, pts=[]), "dims: not a field"),
    ("reply-app-200-with-err", reply(err="x", dims={}, pts=[]), "err: not a field"),
    ("reply-app-point-4-elements", reply(dims={}, pts=[["x", 1.0, "", 1]]),
     "pts[0]: 4 elements"),
    ("reply-app-point-nan", reply(dims={}, pts=[["x", nan, "", 1, {}]]),
     "pts[0].value: not finite"),
    ("reply-node-unit-33", reply(dims={}, pts=[["x", 1.0, "u" * 33, 1, {}]]),
     "pts[0].unit: too long"),
    ("reply-node-point-name-272", reply(dims={}, pts=[["n" * 272, 1.0, "", 1, {}]]),
     "pts[0].name: too long"),
    ("reply-containers-id-empty", reply(ids=["a", ""]), "ids[1]: empty"),
    ("reply-containers-not-array", reply(ids={}), "ids: not an array"),
    ("reply-range-11001-points", reply(name="x", src="node", step=1, stat="mean",
                                       pts=[[i, None] for i in range(11001)]),
     "pts: 11001 elements"),
    ("reply-range-value-string", reply(name="x", src="node", step=1, stat="mean",
                                       pts=[[1, "2"]]), "pts[0].value: not a number"),
    ("reply-range-value-nan", reply(name="x", src="node", step=1, stat="mean",
                                    pts=[[1, nan]]), "pts[0].value: not finite"),
    ("reply-range-negative-step", reply(name="x", src="node", step=-1, stat="mean", pts=[]),
     "step: out of range"),
    ("reply-series-kind-7", reply(series=[["x", 7, {}, 1]]), "series[0].kind: out of range"),
    ("reply-export-src-out-of-range", item(src=1), "series[0].src: not an index"),
    ("reply-export-q-4", item(q=[1.0, 2.0, 3.0, 4.0]), "series[0].q: 4 elements"),
    ("reply-export-q-inf", item(q=[1.0, 2.0, 3.0, 4.0, inf]), "series[0].q: not finite"),
    ("reply-export-running-bad", item(running=[0, [3000, 1], []]), "series[0].running.pos"),
    ("reply-export-missing-srcs", reply(series=[]), "srcs: missing"),
    ("reply-backup-bytes-negative", reply(path="/x", bytes=-1), "bytes: negative"),
    ("reply-backup-path-empty", reply(path="", bytes=1), "path: empty"),
]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.endswith(".msgpack"):
            os.unlink(os.path.join(d, f))
    names = set()
    with open(os.path.join(d, "reasons.txt"), "w") as r:
        for name, data, why in CASES:
            assert name not in names, name
            names.add(name)
            with open(os.path.join(d, name + ".msgpack"), "wb") as f:
                f.write(data)
            r.write("%s\t%s\n" % (name, why))


main()
