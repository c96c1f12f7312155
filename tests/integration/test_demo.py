"""test_demo: scripts/demo.sh (what `make demo` runs) with the built programs on a temp dir and
a free port: the URLs it prints answer with testapp.response.latency, it stops by itself with
DEMO_SECONDS and on Ctrl-C (SIGINT to its process group), and leaves no process behind."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

import mbharness as mb
import test_ui

DEMO = os.path.join(mb.ROOT, "scripts", "demo.sh")
PROGS = ("metricsbus-shim", "metricsbus-agentd", "metricsbus-api", "metricsbus")


def session_pids(sid):
    """Pids of live (non-zombie) processes whose session id is sid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        # fields[0] is the state, [3] the session
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append(int(d))
    return out


def get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


@unittest.skipUnless(all(os.path.exists(mb.binpath(p)) for p in PROGS), "programs not built")
class TestDemo(unittest.TestCase):
    def start(self, seconds):
        try:
            import flask  # noqa: F401
            import requests  # noqa: F401
            import statsd  # noqa: F401
        except ImportError:
            self.skipTest("python3-flask, python3-statsd, python3-requests not installed (make deps)")
        self.dir = tempfile.mkdtemp(prefix="mbdemo", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        env = dict(os.environ, B=os.path.relpath(mb.BUILD, mb.ROOT), DEMO_DIR=self.dir,
                   DEMO_PORT=str(mb.free_port()), DEMO_SECONDS=str(seconds))
        env.pop("METRICSBUS_RUN_DIR", None)
        # Its own session, so that every process it starts can be found (and, at worst, killed).
        p = subprocess.Popen([DEMO], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True, text=True)
        self.addCleanup(self.reap, p)
        self.out = []
        self.reader = threading.Thread(target=lambda: [self.out.append(ln) for ln in p.stdout], daemon=True)
        self.reader.start()
        return p

    def reap(self, p):
        left = session_pids(p.pid)
        for pid in left:  # only on failure: a passing test has already asserted there are none
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.reader.join(5)

    def text(self):
        return "".join(self.out)

    def wait_ready(self, p):
        def ready():
            if p.poll() is not None:
                raise AssertionError(f"demo exited {p.returncode}:\n{self.text()}")
            return "metricsbus is up" in self.text() and "top" in self.text()
        # "up in under a minute", plus the sanitizer build's slowness (poll triples it)
        mb.poll(ready, timeout=60, interval=0.1, what="the demo to print its URLs")
        time.sleep(0.2)  # not synchronisation: lets the reader take the rest of the block
        return self.text()

    def assert_no_process_left(self, p):
        mb.poll(lambda: not session_pids(p.pid), timeout=10, what="every demo process gone")

    def check_urls(self, text):
        # the dashboard comes first, and shows the app's latency p99 over 15 minutes
        ui = re.findall(r"(http://127\.0\.0\.1:\d+/\S*)", text.split("metricsbus is up")[1])[0]
        self.assertRegex(ui, r"/ui/#/container/demo-app$")
        if test_ui.browser_missing() is None:
            p = subprocess.run(["node", test_ui.DRIVER, "demo", ui, test_ui.SHOTS], text=True,
                               capture_output=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        urls = re.findall(r"curl '?(http://127\.0\.0\.1:\d+/[^\s']*)'?", text)
        app = [u for u in urls if u.endswith("/containers/demo-app/app")]
        self.assertEqual(1, len(app), text)
        st, body = get(app[0])
        self.assertEqual(200, st)
        doc = json.loads(body)
        lat = [d for d in doc["datapoints"] if d["name"] == "testapp.response.latency"]
        self.assertEqual(1, len(lat), body)
        self.assertGreater(lat[0]["value"], 0)
        self.assertEqual("demo-app", doc["dimensions"]["container_id"])

        one = [u for u in urls if u.endswith("/app/testapp.response.latency")]
        self.assertEqual(1, len(one), text)
        st, body = get(one[0])
        self.assertIn("testapp.response.latency", {d["name"] for d in json.loads(body)["datapoints"]})

        prom = [u for u in urls if u.endswith("/metrics")]
        self.assertEqual(1, len(prom), text)
        st, body = get(prom[0])
        self.assertRegex(body, r"(?m)^testapp_response_latency\S*[{ ]")

        rng = [u for u in urls if "/v1/range?" in u]
        self.assertEqual(1, len(rng), text)
        self.assertIn("stat=p99", rng[0])
        self.assertIn("from=-15m", rng[0])
        st, body = get(rng[0])
        pts = [v for _, v in json.loads(body)["points"] if v is not None]
        self.assertTrue(pts, body)
        self.assertGreater(pts[-1], 0)

        node = [u for u in urls if u.endswith("/node")]
        self.assertEqual(1, len(node), text)
        self.assertEqual(200, get(node[0])[0])

        m = re.search(r"(\S+/metricsbus) --query (ipc://\S+) top", text)
        self.assertIsNotNone(m, text)
        self.assertTrue(os.access(m.group(1), os.X_OK))
        r = subprocess.run([m.group(1), "--query", m.group(2), "--json", "app", "demo-app"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(0, r.returncode, r.stderr)
        self.assertIn("testapp.response.latency", r.stdout)

    def test_demo_shows_latency_and_stops_after_demo_seconds(self):
        started = time.monotonic()
        p = self.start(seconds=12 * (3 if mb.SANITIZED else 1))
        text = self.wait_ready(p)
        self.assertLess(time.monotonic() - started, 60 * (3 if mb.SANITIZED else 1))
        self.check_urls(text)
        self.assertEqual(0, p.wait(timeout=120), self.text())
        self.reader.join(5)
        self.assertIn("stopped. The data is in " + os.path.join(self.dir, "data"), self.text())
        self.assertTrue(os.listdir(os.path.join(self.dir, "data")), "agentd's store is kept")
        self.assert_no_process_left(p)

    def test_demo_stops_cleanly_on_ctrl_c(self):
        p = self.start(seconds=600)
        self.wait_ready(p)
        # A second demo on the same directory refuses at once and disturbs nothing.
        second = subprocess.run([DEMO], env=dict(os.environ, B=os.path.relpath(mb.BUILD, mb.ROOT),
                                                 DEMO_DIR=self.dir, DEMO_PORT=str(mb.free_port())),
                                capture_output=True, text=True, timeout=30)
        self.assertEqual(1, second.returncode, second.stdout + second.stderr)
        self.assertIn("another demo is running", second.stderr)
        self.assertIsNone(p.poll())
        os.killpg(p.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        p.wait(timeout=60)
        self.reader.join(5)
        self.assertIn("stopped. The data is in", self.text())
        self.assertNotIn("did not stop", self.text())
        self.assert_no_process_left(p)
        # agentd stopped cleanly (not killed): its log says nothing about a crash or a sanitizer
        log = open(os.path.join(self.dir, "logs", "agentd.log")).read()
        self.assertNotIn("ERROR", log)
        self.assertNotIn("Sanitizer", log)

    def test_make_demo_target(self):
        # The user's path: `make demo` (deps, programs, then demo.sh), here with the programs
        # already built; skipped when make would rebuild them (or in the sanitizer run).
        if mb.SANITIZED:
            self.skipTest("make demo builds the default programs, not the sanitizer build")
        b = os.path.relpath(mb.BUILD, mb.ROOT)
        if not mb.programs_up_to_date():
            self.skipTest("programs not up to date; make demo would rebuild them")
        if os.getuid() != 0 and subprocess.run([os.path.join(mb.ROOT, "scripts", "deps.sh")],
                                                capture_output=True).returncode != 0:
            self.skipTest("Debian packages missing and not root: make deps first")
        self.dir = tempfile.mkdtemp(prefix="mbdemo", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        env = dict(os.environ)
        env.pop("METRICSBUS_RUN_DIR", None)
        env.pop("MAKEFLAGS", None)
        p = subprocess.Popen(["make", "-C", mb.ROOT, "--no-print-directory", "demo", "B=" + b,
                              "DEMO_DIR=" + self.dir, "DEMO_PORT=" + str(mb.free_port()), "DEMO_SECONDS=2"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
        self.out = []
        self.reader = threading.Thread(target=lambda: [self.out.append(ln) for ln in p.stdout], daemon=True)
        self.reader.start()
        self.addCleanup(self.reap, p)
        self.assertEqual(0, p.wait(timeout=120), self.text())
        self.reader.join(5)
        self.assertIn("metricsbus is up", self.text())
        self.assertIn("/system/v1/metrics/v0/containers/demo-app/app", self.text())
        self.assertIn("stopped. The data is in " + os.path.join(self.dir, "data"), self.text())
        self.assert_no_process_left(p)


if __name__ == "__main__":
    unittest.main()
