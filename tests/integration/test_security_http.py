"""test_security_http: a bridge that cannot be starved without a token: headers trickled a byte
at a time are cut at the header deadline (libmicrohttpd's idle timeout alone never fires), one
address holds at most --connection-limit-per-client connections, /healthz and a Prometheus
scrape answer while hundreds of slow clients hold connections, and a request body is refused at
once (401 without the token, else 413) without being read; and /metrics caps what one source
with heavy tags contributes, counted, while the others are served whole."""
import os
import resource
import select
import socket
import time
import unittest

import mbharness as mb
import apilib as al

TOKEN = "s3cret-token"


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, 8192):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))


def closed(s):
    """True once the peer closed or reset s (a read returns nothing or fails)."""
    p = select.poll()       # not select(): descriptors beyond 1024
    p.register(s, select.POLLIN)
    if not p.poll(0):
        return False
    try:
        return s.recv(4096) == b""
    except OSError:
        return True


def slow_client(port, src="127.0.0.1"):
    s = socket.socket()
    s.bind((src, 0))
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    return s


class HttpStarvation(mb.StackTest):
    def start(self, *api_args):
        st = self.stack
        tok = os.path.join(st.dir, "token")
        with open(tok, "w") as f:
            f.write(TOKEN + "\n")
        self.agentd, self.api, _, _ = al.start(
            st, api_args=("--token-file", tok) + api_args, data=False)
        self.port = st.http_port
        self.socks = []
        self.addCleanup(lambda: [s.close() for s in self.socks])

    def healthz_and_scrape(self):
        t0 = time.monotonic()
        st = self.stack
        self.assertEqual(st.http("/healthz", port=self.port, timeout=10)[0], 200)
        code = st.http("/metrics", port=self.port, timeout=10,
                       headers={"Authorization": "Bearer " + TOKEN})[0]
        self.assertEqual(code, 200)
        return time.monotonic() - t0

    def test_trickled_headers_cut_at_the_deadline(self):
        """One byte every 200 ms: the idle timeout (30 s) never fires; the header deadline
        (1 s) does."""
        self.start("--header-timeout", "1s", "--connection-timeout", "30s")
        s = slow_client(self.port)
        self.socks.append(s)
        t0 = time.monotonic()
        gone = None
        while time.monotonic() - t0 < 15:
            try:
                s.sendall(b"X")
            except OSError:
                gone = time.monotonic() - t0
                break
            if closed(s):
                gone = time.monotonic() - t0
                break
            time.sleep(0.2)
        self.assertIsNotNone(gone, "a trickling client kept its connection for 15 s")
        self.assertLess(gone, 8 * (mb.SLOW if mb.SANITIZED else 1))
        # a keep-alive connection that answered a request gets a fresh deadline
        k = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.socks.append(k)
        k.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b"200", k.recv(4096))

    def test_one_address_holds_at_most_its_limit(self):
        raise_nofile()
        self.start("--connection-limit-per-client", "16", "--header-timeout", "30s")
        for _ in range(120):
            try:
                self.socks.append(slow_client(self.port, src="127.0.0.2"))
            except OSError:
                pass
        def open_ones():
            return sum(1 for s in self.socks if not closed(s))
        mb.poll(lambda: open_ones() <= 16, what="connections over the per-client limit closed")
        self.assertGreater(open_ones(), 0)
        self.assertLess(self.healthz_and_scrape(), 5)

    def test_healthz_and_scrape_answer_among_hundreds_of_slow_clients(self):
        """The report's attack: over a thousand slow-header connections. From one address
        they get 64; from 16 addresses, 32 each (512 in all), the node still answers."""
        raise_nofile()
        self.start("--header-timeout", "60s")
        for _ in range(1030):
            try:
                self.socks.append(slow_client(self.port, src="127.0.0.3"))
            except OSError:
                pass
        for i in range(16):
            for _ in range(32):
                self.socks.append(slow_client(self.port, src="127.0.1.%d" % (i + 1)))
        mb.poll(lambda: sum(1 for s in self.socks if not closed(s)) <= 64 + 512,
                what="over-limit connections closed")
        held = sum(1 for s in self.socks if not closed(s))
        took = self.healthz_and_scrape()
        print("slow connections held: %d; /healthz and /metrics answered in %.3f s"
              % (held, took))
        self.assertLess(took, 5)

    def test_body_refused_unread_401_before_413(self):
        self.start()
        for auth, want in ((b"", b"401"), (b"Authorization: Bearer " + TOKEN.encode() + b"\r\n",
                                           b"413")):
            for framing in (b"Content-Length: 52428800\r\n", b"Transfer-Encoding: chunked\r\n"):
                s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                self.socks.append(s)
                s.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\n" + auth + framing + b"\r\n")
                # not a byte of the body sent: the answer comes anyway, and the connection
                # is closed
                got = b""
                while b"\r\n\r\n" not in got:
                    c = s.recv(4096)
                    if not c:
                        break
                    got += c
                self.assertTrue(got.startswith(b"HTTP/1.1 " + want), (auth, framing, got[:80]))
        # GET without a body is untouched
        self.assertLess(self.healthz_and_scrape(), 5)


class MetricsCap(mb.StackTest):
    def test_one_heavy_source_capped_others_whole(self):
        st = self.stack
        st.agentd("--node-interval", "500ms")
        st.api("--metrics-max-bytes-per-source", "64KiB", "--metrics-max-series-per-source", "250")
        big = ",".join("k%d=%s" % (i, chr(97 + i) * 120) for i in range(12))
        heavy = ["g:heavy.g%d:1:%s" % (i, big) for i in range(400)]
        from agentd_util import send_batch
        self.assertEqual(send_batch(st, *heavy, cid="heavy", inst=91, seq=1)["st"], 0)
        light = ["g:light.g%d:%d" % (i, i) for i in range(200)]
        self.assertEqual(send_batch(st, *light, cid="light", inst=92, seq=1)["st"], 0)
        many = ["g:many.g%d:%d" % (i, i) for i in range(300)]
        self.assertEqual(send_batch(st, *many, cid="many", inst=93, seq=1)["st"], 0)

        def scrape():
            code, _, raw = st.http("/metrics", timeout=30)
            text = raw.decode()
            return text if code == 200 and "light_g199" in text and "many_g" in text else None
        text = mb.poll(scrape, timeout=30, what="a scrape with both sources")
        heavy_lines = [ln for ln in text.splitlines()
                       if ln.startswith("heavy_") and not ln.startswith("#")]
        light_lines = [ln for ln in text.splitlines()
                       if ln.startswith("light_") and not ln.startswith("#")]
        self.assertEqual(len(light_lines), 200)          # the others whole
        self.assertGreater(len(heavy_lines), 0)
        self.assertLessEqual(sum(len(ln) + 1 for ln in heavy_lines), 64 * 1024)
        self.assertLess(len(heavy_lines), 400)
        self.assertEqual(len([ln for ln in text.splitlines() if ln.startswith("many_")]), 250)
        # counted when hit, in the bridge's own metrics
        capped = [ln for ln in text.splitlines()
                  if ln.startswith('metricsbus_api_export_capped_total{cap="source_bytes"}')]
        self.assertTrue(capped and float(capped[0].split()[-1]) > 0, capped)
        capped = [ln for ln in text.splitlines()
                  if ln.startswith('metricsbus_api_export_capped_total{cap="source_series"}')]
        self.assertTrue(capped and float(capped[0].split()[-1]) >= 50, capped)

    def test_source_past_16mib_bounded_at_agentd(self):
        """The report's case: one source with heavy tags (here 10,000 series of 32 tags, 42 MB
        of exposition uncapped): agentd sends the bridge at most 16 MiB of its names and tags,
        counted in agentd.export.capped, and the scrape stays under the bridge's cap."""
        st = self.stack
        st.agentd("--node-interval", "500ms", "--max-series-per-source", "20000")
        st.api("--metrics-max-bytes-per-source", "0", "--metrics-max-series-per-source", "0")
        from agentd_util import send_batch
        tags = ",".join("k%02d=%s" % (i, ("v%02d" % i) * 40) for i in range(32))
        for b in range(40):
            recs = ["g:heavy.g%d:1:%s" % (b * 250 + i, tags) for i in range(250)]
            self.assertEqual(send_batch(st, *recs, cid="heavy", inst=94, seq=b + 1)["st"], 0)

        def scrape():
            code, _, raw = st.http("/metrics", timeout=60)
            text = raw.decode()
            m = [ln for ln in text.splitlines() if ln.startswith("agentd_export_capped_total")]
            return text if code == 200 and m and float(m[0].split()[-1]) > 0 else None
        text = mb.poll(scrape, timeout=60, what="agentd's export cap counted")
        heavy = sum(len(ln) + 1 for ln in text.splitlines() if ln.startswith("heavy_"))
        self.assertLess(heavy, 24 << 20)
        self.assertGreater(heavy, 8 << 20)

    def test_metrics_streamed_gzip_plain_and_head(self):
        """/metrics is written as it is sent: chunked, gzip'ed on the fly; the same text either
        way; HEAD answers the length without a body; the connection stays usable."""
        import gzip
        import http.client
        from agentd_util import send_batch
        st = self.stack
        st.agentd("--node-interval", "500ms")
        st.api()
        recs = ["g:g.x%d:%d:k=v%d" % (i, i, i) for i in range(3000)]
        self.assertEqual(send_batch(st, *recs, cid="big", inst=95, seq=1)["st"], 0)
        mb.poll(lambda: b"g_x2999" in st.http("/metrics", timeout=30)[2], what="the series")
        c = http.client.HTTPConnection("127.0.0.1", st.http_port, timeout=30)
        self.addCleanup(c.close)
        c.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
        r = c.getresponse()
        z = r.read()
        self.assertEqual(r.getheader("Content-Encoding"), "gzip")
        self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
        c.request("GET", "/metrics")
        r = c.getresponse()
        plain = r.read().decode()
        self.assertIsNone(r.getheader("Content-Encoding"))
        c.request("HEAD", "/metrics")
        r = c.getresponse()
        self.assertEqual((r.status, r.read()), (200, b""))
        self.assertGreater(int(r.getheader("Content-Length")), 100000)
        c.request("GET", "/healthz")
        self.assertEqual(c.getresponse().status, 200)

        def ours(t):
            return [ln for ln in t.splitlines() if "g_x" in ln]
        unz = gzip.decompress(z).decode()
        self.assertEqual(ours(unz), ours(plain))
        self.assertEqual(len([ln for ln in ours(plain) if not ln.startswith("#")]), 3000)
        self.assertTrue(unz.rstrip().splitlines()[-1].startswith("metricsbus_api_"))


if __name__ == "__main__":
    unittest.main()
