"""test_hostile_http: what test_api_dcos and test_api_access do not already send to the bridge:
thousands of random requests built from the real routes with bad percent escapes, 5,000-byte ids
and bad query values (every one a 4xx with a JSON reason, never a 5xx), slowloris connections
that trickle a header and are closed by the idle timeout, and floods of connections; after
each the bridge is alive, answers good requests correctly and its memory is on a plateau."""
import json
import random
import socket
import time
import unittest
from urllib.parse import quote

import apilib as al
import mbharness as mb

PREFIXES = ["/system/v1/metrics/v0", "/v0", "/system/v1/agent/self/metrics/v0",
            "/system/v1/agent/node-7/metrics/v0", "/system/v1/agent/%zz/metrics/v0"]
RANGE_KEYS = ["source", "name", "from", "to", "step", "stat", "tags"]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def junk(rnd):
    """A hostile path segment or query value."""
    k = rnd.randrange(12)
    if k == 0:
        return "%"
    if k == 1:
        return "abc%4"
    if k == 2:
        return "%" + rnd.choice("0123456789abcdefXYZ%") + rnd.choice("0123456789xyz%")
    if k == 3:
        return "a" * rnd.choice((255, 256, 511, 512, 4999, 5000))
    if k == 4:
        return "%00"
    if k == 5:
        return quote(bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 40))))
    if k == 6:
        return rnd.choice(["-1", "1e400", "NaN", "-Inf", "99999999999999999999999", "0",
                           "-15m", "now", "+5s", "1s1", "2018-13-45T99:99:99Z", "", "%20"])
    if k == 7:
        return ",".join(rnd.choice(["a:1", "a", ":", "", "b:%zz", "k:v:w"]) for _ in range(5))
    if k == 8:
        return "%C3%28"          # invalid UTF-8, well escaped
    if k == 9:
        return "..%2F..%2Fetc%2Fpasswd"
    return al.CID


def random_path(rnd):
    if rnd.random() < 0.35:
        q = "&".join("%s=%s" % (rnd.choice(RANGE_KEYS + ["x", "%zz", ""]), junk(rnd))
                     for _ in range(rnd.randrange(0, 9)))
        return rnd.choice(["/v1/range?", "/v1/series?", "/metrics?", "/v1/range?source=node&name=cpu.total&"]) + q
    p = rnd.choice(PREFIXES)
    tail = rnd.choice(["/node", "/ping", "/containers", "/containers/%s" % junk(rnd),
                       "/containers/%s/app" % junk(rnd),
                       "/containers/%s/app/%s" % (junk(rnd), junk(rnd)),
                       "/containers/%s/app/%s/%s" % (junk(rnd), junk(rnd), junk(rnd)),
                       "/%s" % junk(rnd), ""])
    return p + tail + ("%" if rnd.random() < 0.05 else "")


class HostileHttp(mb.StackTest):
    def setUp(self):
        super().setUp()
        self.agentd, self.api, _, _ = al.start(self.stack, api_args=("--connection-timeout", "1s"))

    def good(self):
        """The bridge answers good requests exactly as before."""
        st, body = self.stack.http_json("/v0/containers/%s/app/tagged" % al.CID)
        self.assertEqual(st, 200)
        self.assertTrue(body["datapoints"])
        st, body = self.stack.http_json("/v0/ping")
        self.assertEqual((st, body["ok"]), (200, True))

    def barrage(self, rnd, n):
        """n random requests on keep-alive connections; every answer a 2xx/204 or a 4xx with
        a JSON reason; returns how many of each class."""
        import http.client
        seen = {}
        c = None
        for i in range(n):
            path = random_path(rnd)
            if c is None:
                c = http.client.HTTPConnection("127.0.0.1", self.stack.http_port, timeout=30)
            try:
                c.putrequest("GET", path, skip_accept_encoding=True)
                c.endheaders()
                r = c.getresponse()
                body = r.read()
            except (http.client.HTTPException, OSError):
                # the server may close a connection after an error answer: reconnect
                c.close()
                c = None
                continue
            seen[r.status // 100] = seen.get(r.status // 100, 0) + 1
            self.assertLess(r.status, 500, (path[:200], r.status, body[:200]))
            if r.status >= 400:
                self.assertEqual(r.getheader("content-type"), "application/json; charset=utf-8",
                                 path[:200])
                self.assertTrue(json.loads(body)["error"], path[:200])
            if r.getheader("connection", "").lower() == "close":
                c.close()
                c = None
        if c:
            c.close()
        return seen

    def test_random_requests_4xx_with_reasons_memory_plateau(self):
        rnd = random.Random(61001)
        n = 400 if mb.SANITIZED else 1500
        seen = self.barrage(rnd, n)
        self.good()
        first = rss_kb(self.api.pid)
        seen2 = self.barrage(rnd, n)
        self.good()
        last = rss_kb(self.api.pid)
        print("\n  bridge: %d random requests %s then %s; RSS %d KiB then %d KiB"
              % (2 * n, seen, seen2, first, last), end=" ")
        self.assertGreater(seen.get(4, 0), n // 3, seen)
        # ASan holds freed memory in its quarantine (up to 256 MiB) and valgrind has its own heap
        slack = 8 if not (mb.SANITIZED or mb.VALGRIND) else 256
        self.assertLess(last, first + slack * 1024, (first, last))
        self.assertIsNone(self.api.poll())
        self.assertIsNone(self.agentd.poll())

    def test_invalid_utf8_tags_are_400_not_502(self):
        # found by the random requests: the bridge passed them on and agentd's encoder refused
        for tags in ("k:%C3%28", "%C3%28:v", "%ED%A0%80:v", "k:%F4%90%80%80"):
            st, body = self.stack.http_json("/v1/range?source=node&name=cpu.total&tags=" + tags)
            self.assertEqual(st, 400, (tags, body))
            self.assertIn("tags", body["error"])

    def test_slowloris_connections_closed_by_idle_timeout(self):
        s = self.stack
        conns = []
        for i in range(60):
            c = socket.create_connection(("127.0.0.1", s.http_port))
            c.sendall(b"GET /v0/node HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            conns.append(c)
        try:
            # served alongside them
            self.good()
            # a byte now and then does not keep them open past the idle timeout either (the
            # request never ends); each is closed by the bridge: recv returns b"" or an error
            t0 = time.monotonic()

            def closed(c):
                c.setblocking(False)
                try:
                    d = c.recv(4096)
                    return d == b"" or d.startswith(b"HTTP/1.1 4")
                except BlockingIOError:
                    return False
                except OSError:
                    return True
            mb.poll(lambda: all(closed(c) for c in conns), timeout=30, interval=0.2,
                    what="idle connections closed")
            print("\n  60 slowloris connections closed after %.1fs" % (time.monotonic() - t0),
                  end=" ")
        finally:
            for c in conns:
                c.close()
        self.good()
        self.assertIsNone(self.api.poll())

    def test_connection_flood_then_served(self):
        s = self.stack
        # far more connections than requests: opened, some half-written, dropped at once
        for i in range(1500):
            c = socket.socket()
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")  # RST
            try:
                c.connect(("127.0.0.1", s.http_port))
                if i % 3 == 0:
                    c.sendall(b"GET /v0/node HTTP/1.1\r\nHo")
            except OSError:
                pass
            c.close()
        self.good()
        self.assertIsNone(self.api.poll())
        st, body = s.http_json("/healthz")
        self.assertEqual(st, 200)


if __name__ == "__main__":
    unittest.main()
