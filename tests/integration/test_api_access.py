"""test_api_access: how the bridge is reached and how it fails: bearer token (401), gzip, IPv6,
/healthz, 503 with agentd down, 504 with agentd stopped (SIGSTOP), and recovery after agentd
restarts under load without restarting the bridge."""
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import unittest

import apilib as al
import mbharness as mb


def has_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def stopped(pid):
    """True once every thread of pid is in the stopped state (kill() returns before that)."""
    tasks = os.listdir(f"/proc/{pid}/task")
    for t in tasks:
        with open(f"/proc/{pid}/task/{t}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] != "T":
                return False
    return True


class Access(mb.StackTest):
    def test_token_required_everywhere_but_healthz(self):
        path = os.path.join(self.stack.dir, "token")
        with open(path, "w") as f:
            f.write("s3cr3t-token\n")
        al.start(self.stack, api_args=["--token-file", path], data=False)
        s = self.stack
        for p in ["/v0/node", "/system/v1/metrics/v0/ping", "/metrics", "/v1/series?source=node",
                  "/v0/containers/x/app", "/nope"]:
            with self.subTest(path=p):
                st, hdr, raw = s.http(p)
                self.assertEqual(st, 401)
                self.assertIn("Bearer", hdr["www-authenticate"])
                self.assertTrue(al.strict_json(raw)["error"])
                st, _, _ = s.http(p, headers={"Authorization": "Bearer s3cr3t-tokeN"})
                self.assertEqual(st, 401)
                st, _, _ = s.http(p, headers={"Authorization": "Bearer s3cr3t-token-"})
                self.assertEqual(st, 401)
                st, _, _ = s.http(p, headers={"Authorization": "Basic s3cr3t-token"})
                self.assertEqual(st, 401)
        st, _, _ = s.http("/v0/node", headers={"Authorization": "Bearer s3cr3t-token"})
        self.assertEqual(st, 200)
        st, _, _ = s.http("/metrics", headers={"Authorization": "Bearer s3cr3t-token"})
        self.assertEqual(st, 200)
        st, body = s.http_json("/healthz")
        self.assertEqual((st, body["ok"]), (200, True))

    @unittest.skipUnless(shutil.which("curl"), "curl not installed")
    def test_curl_as_users_run_it(self):
        path = os.path.join(self.stack.dir, "token")
        with open(path, "w") as f:
            f.write("tok\n")
        al.start(self.stack, api_args=["--token-file", path],
                 headers={"Authorization": "Bearer tok"})
        base = f"http://127.0.0.1:{self.stack.http_port}"

        def curl(*args):
            r = subprocess.run(["curl", "-sS", "--max-time", "20"] + list(args),
                               capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            return r.stdout
        code = curl("-o", "/dev/null", "-w", "%{http_code}", base + "/v0/node")
        self.assertEqual(code, b"401")
        text = curl("--compressed", "-H", "Authorization: Bearer tok", base + "/metrics").decode()
        self.assertIn("\nreq_total{", text)
        hdrs = curl("--compressed", "-D", "-", "-o", "/dev/null", "-H", "Authorization: Bearer tok",
                    base + "/metrics").decode().lower()
        self.assertIn("content-encoding: gzip", hdrs)
        body = json.loads(curl("-H", "Authorization: Bearer tok",
                               base + f"/system/v1/metrics/v0/containers/{al.CID}/app/req"))
        self.assertEqual(al.by_name(body["datapoints"], "req")[0]["value"], 6)
        body = json.loads(curl("-G", "-H", "Authorization: Bearer tok", base + "/v1/range",
                               "--data-urlencode", f"source={al.CID}", "--data-urlencode",
                               "name=tagged", "--data-urlencode", "tags=region:us,Le:x",
                               "--data-urlencode", "from=-5m", "--data-urlencode", "stat=sum"))
        self.assertEqual(sum(v for _, v in body["points"] if v is not None), 5)
        self.assertEqual(json.loads(curl(base + "/healthz"))["ok"], True)

    def test_bad_token_file_is_a_startup_error(self):
        path = os.path.join(self.stack.dir, "empty")
        open(path, "w").close()
        p = self.stack.api("--token-file", path, wait=False)
        self.assertEqual(p.wait(timeout=20), 2)
        self.assertIn("empty", self.stack.log_of(p))
        p = self.stack.api("--listen", "nonsense", wait=False)
        self.assertEqual(p.wait(timeout=20), 2)

    def test_gzip_when_asked(self):
        al.start(self.stack)
        s = self.stack
        st, hdr, raw = s.http("/metrics", headers={"Accept-Encoding": "gzip"})
        self.assertEqual(st, 200)
        self.assertEqual(hdr.get("content-encoding"), "gzip")
        self.assertIn("Accept-Encoding", hdr.get("vary", ""))
        text = gzip.decompress(raw).decode()
        self.assertTrue(text.startswith("# HELP "))
        self.assertIn("\nreq_total{", text)
        st, hdr, raw = s.http("/metrics")
        self.assertNotIn("content-encoding", hdr)
        self.assertTrue(raw.decode().startswith("# HELP "))
        self.assertTrue(hdr["content-type"].startswith("text/plain; version=0.0.4"))
        st, hdr, raw = s.http("/v0/node", headers={"Accept-Encoding": "br, gzip;q=0.8"})
        self.assertEqual(hdr.get("content-encoding"), "gzip")
        al.check_datapoints_shape(self, al.strict_json(gzip.decompress(raw)))
        st, hdr, raw = s.http("/v0/node", headers={"Accept-Encoding": "gzip;q=0"})
        self.assertNotIn("content-encoding", hdr)

    @unittest.skipUnless(has_ipv6_loopback(), "no IPv6 loopback")
    def test_listens_on_ipv6(self):
        self.stack.agentd()
        port = mb.free_port()
        p = self.stack.spawn([mb.binpath("metricsbus-api"), "--listen", f"[::1]:{port}",
                              "--query", self.stack.query], name="api6")
        def up():
            if p.poll() is not None:
                raise AssertionError(self.stack.log_of(p))
            st, _, _ = self.stack.http("/v0/ping", host="::1", port=port)
            return st == 200
        mb.poll(up, what="api on [::1]")

    def test_keep_alive_and_idle_timeout(self):
        import http.client
        s = self.stack
        s.agentd()
        s.api("--connection-timeout", "1s")
        c = http.client.HTTPConnection("127.0.0.1", s.http_port, timeout=10)
        try:
            c.request("GET", "/v0/ping")
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            self.assertNotEqual((r.getheader("connection") or "").lower(), "close")
            sock = c.sock
            c.request("GET", "/v0/containers")
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            self.assertIs(c.sock, sock, "the second request reused the connection")
        finally:
            c.close()
        # an idle client (sent nothing) is dropped after --connection-timeout
        idle = socket.create_connection(("127.0.0.1", s.http_port))
        idle.settimeout(15)
        try:
            t0 = time.monotonic()
            self.assertEqual(idle.recv(100), b"")
            self.assertLess(time.monotonic() - t0, 10)
        finally:
            idle.close()

    def test_connection_limit_holds_and_others_are_served_after(self):
        s = self.stack
        s.agentd()
        s.api("--connection-limit", "8", "--connection-timeout", "2s")
        idle = [socket.create_connection(("127.0.0.1", s.http_port)) for _ in range(8)]
        try:
            # a ninth client waits in the listen queue (the bridge does not accept past the
            # limit) until the idle timeout frees a slot, then it is answered
            t0 = time.monotonic()
            st, _, _ = s.http("/v0/ping", timeout=20)
            took = time.monotonic() - t0
            self.assertEqual(st, 200)
            self.assertGreater(took, 1.0)
            for x in idle:  # the idle ones were closed by the bridge
                x.settimeout(10)
                self.assertEqual(x.recv(10), b"")
        finally:
            for x in idle:
                x.close()
        t0 = time.monotonic()
        st, _, _ = s.http("/v0/ping")
        self.assertEqual(st, 200)
        self.assertLess(time.monotonic() - t0, 1.0)

    def test_503_when_agentd_is_down_then_recovers(self):
        s = self.stack
        s.api("--request-timeout", "2s")
        for p in ["/v0/node", "/metrics", "/v1/range?source=node&name=cpu.total",
                  "/system/v1/agent/self/metrics/v0/containers"]:
            with self.subTest(path=p):
                st, hdr, raw = s.http(p)
                self.assertEqual(st, 503)
                self.assertEqual(hdr["content-type"], "application/json; charset=utf-8")
                self.assertIn("agentd is not answering", al.strict_json(raw)["error"])
        st, body = s.http_json("/healthz")
        self.assertEqual(st, 503)
        self.assertIs(body["ok"], False)
        self.assertIn("agentd", body["error"])
        # a bad path is still a bad path without agentd
        st, _, _ = s.http("/v0/containers/x%zz")
        self.assertEqual(st, 400)
        s.agentd()
        al.wait_http(s, "/healthz", 200)
        st, _, _ = s.http("/v0/node")
        self.assertEqual(st, 200)

    def test_504_when_agentd_is_too_slow(self):
        s = self.stack
        a = s.agentd()
        s.api("--request-timeout", "300ms")
        al.wait_http(s, "/v0/node", 200)
        os.kill(a.pid, signal.SIGSTOP)
        try:
            mb.poll(lambda: stopped(a.pid), what="agentd stopped")
            t0 = time.monotonic()
            st, hdr, raw = s.http("/v0/node")
            took = time.monotonic() - t0
            self.assertEqual(st, 504)
            self.assertIn("did not answer within 300ms", al.strict_json(raw)["error"])
            self.assertLess(took, 5)
            st, body = s.http_json("/healthz")
            self.assertEqual((st, body["ok"]), (503, False))
        finally:
            os.kill(a.pid, signal.SIGCONT)
        al.wait_http(s, "/v0/node", 200)

    def test_bridge_outlives_agentd_restarts_under_load(self):
        s = self.stack
        a, api, shim, port = al.start(s, api_args=["--request-timeout", "1s"])
        statuses = []
        stop = threading.Event()

        def load(path):
            while not stop.is_set():
                try:
                    st, _, _ = s.http(path, timeout=10)
                    statuses.append(st)
                except Exception as e:  # a broken connection would be a bridge failure
                    statuses.append(repr(e))
        threads = [threading.Thread(target=load, args=(p,))
                   for p in ("/v0/node", f"/v0/containers/{al.CID}/app", "/metrics", "/healthz")]
        for t in threads:
            t.start()
        try:
            mb.poll(lambda: statuses.count(200) > 20, what="load running")
            for sig in (signal.SIGKILL, signal.SIGTERM):
                s.stop(a, sig=sig)
                n = len(statuses)
                mb.poll(lambda: 503 in statuses[n:], what="503 while agentd is away")
                a = s.agentd("--node-id", "node-7", "--cluster-id", "k1", "--node-interval", "1s")
                n = len(statuses)
                mb.poll(lambda: statuses[n:].count(200) > 20, what="200s after the restart")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        bad = [x for x in statuses if x not in (200, 503, 504)]
        self.assertEqual(bad, [])
        self.assertIsNone(api.poll(), "the bridge must keep running")
        st, body = s.http_json(f"/v0/containers/{al.CID}/app")
        self.assertEqual(st, 200)
        # the shim resent what it held; its data is still there after both restarts
        self.assertTrue(al.by_name(body["datapoints"], "temp"))


if __name__ == "__main__":
    unittest.main()
