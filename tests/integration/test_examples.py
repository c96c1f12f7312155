"""test_examples: every file in docs/examples is checked by a parser, a linter or by running it
(the demo app really emits testapp.response.latency), and `make install` lays out the package."""
import glob
import json
import os
import py_compile
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
import urllib.request

import mbharness as mb

EX = os.path.join(mb.ROOT, "docs", "examples")
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

try:
    import yaml
except ImportError:  # python3-yaml is not a dependency: fall back to structural checks
    yaml = None


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


class TempDirTest(unittest.TestCase):
    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="mbex", dir="/tmp")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        return d


class TestExampleFiles(TempDirTest):
    def test_every_example_file_is_covered(self):
        # A new example must come with a check here: list what is checked, fail on the rest.
        checked = {"Dockerfile", "Dockerfile.dockerignore", "marathon.json", "kubernetes-pod.yaml",
                   "prometheus.yml", "README.md", "app/app.py", "app/metrics.py", "app/poller.py",
                   "systemd/metricsbus-api.service", "systemd/metricsbus.sysusers.conf",
                   "systemd/metricsbus-api.default",
                   # checked by test_examples_static.py
                   "Dockerfile.alpine", "Dockerfile.python-slim", "Dockerfile.distroless",
                   "Dockerfile.shim-init", "Dockerfile.alpine.dockerignore",
                   "Dockerfile.python-slim.dockerignore", "Dockerfile.distroless.dockerignore",
                   "Dockerfile.shim-init.dockerignore", "kubernetes-inject.yaml", "marathon-fetch.json"}
        found = set()
        for dirpath, dirnames, files in os.walk(EX):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            for f in files:
                found.add(os.path.relpath(os.path.join(dirpath, f), EX))
        self.assertEqual(set(), found - checked, "example files without a check in test_examples.py")

    def test_marathon_app_definition_parses_and_mounts_run_dir(self):
        app = json.loads(read(os.path.join(EX, "marathon.json")))
        self.assertTrue(app["id"].startswith("/"))
        self.assertGreater(app["cpus"], 0)
        self.assertGreater(app["mem"], 0)
        self.assertGreaterEqual(app["instances"], 1)
        vols = app["container"]["volumes"]
        self.assertIn({"containerPath": "/run/metricsbus", "hostPath": "/run/metricsbus/ingest", "mode": "RW"}, vols)
        # the ingest socket's directory only: never the run directory with the query socket
        self.assertFalse(any(v.get("hostPath") == "/run/metricsbus" for v in vols))
        self.assertEqual(["python3", "app.py"], app["args"])
        self.assertEqual("/health", app["healthChecks"][0]["path"])
        for k, v in app["env"].items():  # Marathon takes string values only
            self.assertIsInstance(v, str, k)
        self.assertTrue(all(k.startswith(("METRICSBUS_", "APP_")) for k in app["env"]))

    def test_kubernetes_pod_has_two_shimmed_containers_and_hostpath_socket_dir(self):
        text = read(os.path.join(EX, "kubernetes-pod.yaml"))
        if yaml is None:
            self.assertRegex(text, r"(?m)^kind: Pod$")
            self.assertRegex(text, r"hostPath:\s*\n\s*path: /run/metricsbus/ingest\n")
            self.assertEqual(2, len(re.findall(r"(?m)^    - name: (app|poller)$", text)))
            self.assertEqual(2, text.count("mountPath: /run/metricsbus"))
            return
        pod = yaml.safe_load(text)
        self.assertEqual("v1", pod["apiVersion"])
        self.assertEqual("Pod", pod["kind"])
        vols = {v["name"]: v for v in pod["spec"]["volumes"]}
        self.assertEqual({"path": "/run/metricsbus/ingest", "type": "Directory"}, vols["metricsbus-run"]["hostPath"])
        cs = pod["spec"]["containers"]
        self.assertEqual(["app", "poller"], [c["name"] for c in cs])
        for c in cs:
            mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
            self.assertEqual("/run/metricsbus", mounts["metricsbus-run"])
            env = {e["name"]: e for e in c["env"]}
            self.assertIn("METRICSBUS_CONTAINER_NAME", env)
            self.assertIn("POD_NAMESPACE", env)
            # $(VAR) references must name variables defined earlier in the same list.
            names = [e["name"] for e in c["env"]]
            for e in c["env"]:
                for ref in re.findall(r"\$\((\w+)\)", e.get("value", "")):
                    self.assertIn(ref, names[:names.index(e["name"])], e["name"])
        # The shim tells the pod's containers apart by METRICSBUS_CONTAINER_NAME.
        ids = [next(e["value"] for e in c["env"] if e["name"] == "METRICSBUS_CONTAINER_NAME") for c in cs]
        self.assertEqual(len(ids), len(set(ids)), "each container needs its own name")

    def test_prometheus_config_passes_promtool(self):
        src = os.path.join(EX, "prometheus.yml")
        text = read(src)
        if yaml is not None:
            cfg = yaml.safe_load(text)
            job = next(j for j in cfg["scrape_configs"] if j["job_name"] == "metricsbus")
            self.assertEqual("/metrics", job["metrics_path"])
            self.assertGreaterEqual(len(job["static_configs"][0]["targets"]), 2)
            self.assertTrue(all(t.endswith(":61001") for t in job["static_configs"][0]["targets"]))
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool not installed (Debian package prometheus)")
        d = self.tmpdir()
        shutil.copy(src, d)
        with open(os.path.join(d, "metricsbus.token"), "w") as f:
            f.write("example-token\n")
        r = subprocess.run([promtool, "check", "config", os.path.join(d, "prometheus.yml")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout + r.stderr)

    def test_dockerfile_structure(self):
        lines, cur = [], ""
        for raw in read(os.path.join(EX, "Dockerfile")).splitlines():
            s = raw.strip()
            if not cur and (not s or s.startswith("#")):
                continue
            cur += s[:-1] + " " if s.endswith("\\") else s
            if not s.endswith("\\"):
                lines.append(cur)
                cur = ""
        self.assertEqual("", cur, "Dockerfile ends inside a continued line")
        known = {"FROM", "RUN", "COPY", "ADD", "WORKDIR", "ENV", "VOLUME", "EXPOSE", "ENTRYPOINT",
                 "CMD", "USER", "ARG", "LABEL", "HEALTHCHECK", "STOPSIGNAL", "SHELL"}
        instr = [(ln.split(None, 1)[0], ln.split(None, 1)[1] if " " in ln else "") for ln in lines]
        for k, _ in instr:
            self.assertIn(k, known)
        self.assertEqual("FROM", instr[0][0])
        stages = [a.split() for k, a in instr if k == "FROM"]
        names = {s[2] for s in stages if len(s) == 3 and s[1].upper() == "AS"}
        entry = [a for k, a in instr if k == "ENTRYPOINT"]
        self.assertEqual(1, len(entry))
        self.assertEqual("/usr/local/bin/metricsbus-shim", json.loads(entry[0])[0],
                         "the shim is the ENTRYPOINT, in exec form so it is PID 1")
        self.assertIn("app.py", json.loads([a for k, a in instr if k == "CMD"][-1]))
        self.assertTrue(any(k == "VOLUME" and "/run/metricsbus" in a for k, a in instr))
        self.assertTrue(any(k == "ENV" and "METRICSBUS_RUN_DIR=/run/metricsbus" in a for k, a in instr))
        for k, a in instr:  # the build context is the repository root: COPY sources exist
            if k != "COPY":
                continue
            parts = [p for p in a.split() if not p.startswith("--")]
            frm = [p for p in a.split() if p.startswith("--from=")]
            if frm:
                self.assertIn(frm[0].split("=", 1)[1], names)
                continue
            for srcpath in parts[:-1]:
                self.assertTrue(os.path.exists(os.path.join(mb.ROOT, srcpath)), srcpath)
        ignore = read(os.path.join(EX, "Dockerfile.dockerignore")).split()
        self.assertIn("build", ignore)
        self.assertIn(".git", ignore)

    def test_systemd_units_verify(self):
        units = sorted(glob.glob(os.path.join(EX, "systemd", "*.service")))
        units += [u for u in glob.glob(os.path.join(mb.ROOT, "*", "*.service")) if "/build/" not in u]
        self.assertIn(os.path.join(EX, "systemd", "metricsbus-api.service"), units)
        for u in units:
            text = read(u)
            self.assertRegex(text, r"(?m)^\[Unit\]$")
            self.assertRegex(text, r"(?m)^\[Service\]$")
            self.assertRegex(text, r"(?m)^\[Install\]$")
            self.assertRegex(text, r"(?m)^ExecStart=/")
        api = read(os.path.join(EX, "systemd", "metricsbus-api.service"))
        self.assertRegex(api, r"(?m)^ExecStart=/usr/local/bin/metricsbus-api$")
        self.assertIn("User=metricsbus", api)
        sysusers = read(os.path.join(EX, "systemd", "metricsbus.sysusers.conf"))
        self.assertRegex(sysusers, r"(?m)^g metricsbus ")
        self.assertRegex(sysusers, r"(?m)^u metricsbus ")
        for ln in read(os.path.join(EX, "systemd", "metricsbus-api.default")).splitlines():
            self.assertRegex(ln, r"^#?(METRICSBUS_[A-Z_]+=\S*)?$|^# ")
        sa = shutil.which("systemd-analyze")
        if not sa:
            self.skipTest("systemd-analyze not available")
        d = self.tmpdir()
        for u in units:
            # verify wants ExecStart to exist: point it at the built binary (or true).
            text = read(u)
            for prog in re.findall(r"/usr/local/bin/(metricsbus[a-z-]*)", text):
                built = mb.binpath(prog)
                text = text.replace("/usr/local/bin/" + prog, built if os.path.exists(built) else "/bin/true")
            with open(os.path.join(d, os.path.basename(u)), "w") as f:
                f.write(text)
        r = subprocess.run([sa, "verify", "--man=no"] + sorted(glob.glob(os.path.join(d, "*.service"))),
                           capture_output=True, text=True, timeout=60)
        # Units this one points to (metricsbus-agentd.service) may be absent: not an error.
        errs = [ln for ln in (r.stdout + r.stderr).splitlines()
                if ln.strip() and "metricsbus-agentd.service" not in ln and "not found" not in ln]
        self.assertEqual([], errs, r.stdout + r.stderr)

    def test_settings_the_units_invite_are_not_overruled_by_their_flags(self):
        """Each METRICSBUS_X that a unit's comments or its defaults file offer for
        /etc/default must not be passed as --x on its ExecStart, where the flag would win."""
        pairs = [(os.path.join(EX, "systemd", "metricsbus-api.service"),
                  os.path.join(EX, "systemd", "metricsbus-api.default")),
                 (os.path.join(mb.ROOT, "agentd", "metricsbus-agentd.service"), None)]
        for unit, defaults in pairs:
            text = read(unit)
            offered = set(re.findall(r"METRICSBUS_([A-Z_]+)=", "\n".join(
                ln for ln in text.splitlines() if ln.startswith("#"))))
            if defaults:
                offered |= set(re.findall(r"(?m)^#?METRICSBUS_([A-Z_]+)=", read(defaults)))
            self.assertTrue(offered, unit)
            execs = " ".join(re.findall(r"(?m)^ExecStart=(.*)$", text))
            for name in offered:
                flag = "--" + name.lower().replace("_", "-")
                self.assertNotRegex(execs, re.escape(flag) + r"(\s|=|$)",
                                    f"{os.path.basename(unit)} offers METRICSBUS_{name} but passes {flag}")

    def test_dockerfile_installs_what_the_example_apps_import(self):
        """The image runs app.py and (in the pod) poller.py: every module they import that is
        not Python's own comes from the Debian package python3-<module> in the last stage."""
        text = read(os.path.join(EX, "Dockerfile"))
        last = text[text.rindex("\nFROM "):]
        pkgs = set(re.findall(r"\bpython3-[a-z0-9.-]+", last))
        local = {os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(EX, "app", "*.py"))}
        for src in glob.glob(os.path.join(EX, "app", "*.py")):
            mods = set(re.findall(r"(?m)^\s*(?:import|from)\s+([A-Za-z_][A-Za-z0-9_]*)", read(src)))
            for m in mods - set(sys.stdlib_module_names) - local:
                self.assertIn("python3-" + m.lower(), pkgs, f"{os.path.basename(src)} imports {m}")
        # and the pod runs only what the image has
        pod = read(os.path.join(EX, "kubernetes-pod.yaml"))
        for script in re.findall(r'args: \["python3", "([a-z_]+\.py)"\]', pod):
            self.assertTrue(os.path.exists(os.path.join(EX, "app", script)), script)

    def test_example_readme_names_every_example(self):
        text = read(os.path.join(EX, "README.md"))
        for f in ("Dockerfile", "marathon.json", "kubernetes-pod.yaml", "prometheus.yml",
                  "metricsbus-api.service", "app.py", "metrics.py", "poller.py"):
            self.assertIn(f, text)


SENDER = ['/bin/sh', '-c', 'printf "example.hits:3|c" | nc -u -w1 "$STATSD_UDP_HOST" "$STATSD_UDP_PORT" '
          '&& echo EXAMPLE-SENT; exec sleep 600']


class TestExamplesUnderRealShim(mb.StackTest):
    """The environment the pod spec and the Marathon app give the shim really names the
    container and its dimensions as the examples say (a real shim, agentd and bridge)."""

    def setUp(self):
        if not all(os.path.exists(mb.binpath(p)) for p in ("metricsbus-shim", "metricsbus-agentd", "metricsbus-api")):
            self.skipTest("programs not built")
        if not shutil.which("nc"):
            self.skipTest("nc not installed")
        super().setUp()
        self.stack.agentd()
        self.stack.api()

    def run_as(self, env):
        for k in ("HOSTNAME", "KUBERNETES_SERVICE_HOST", "MESOS_CONTAINER_NAME", "MARATHON_APP_ID"):
            env.setdefault(k, "")
        # The flag wins over the example's METRICSBUS_FLUSH_INTERVAL: a quick test, same naming.
        p = self.stack.shim("--flush-interval", "500ms", cmd=SENDER, env=env)
        mb.poll(lambda: p.poll() is None and "EXAMPLE-SENT" in self.stack.log_of(p), timeout=30,
                what="the example's sender")
        return p

    def dims_of(self, cid):
        def ok():
            st, body = self.stack.http_json("/system/v1/metrics/v0/containers/%s/app" % urllib.parse.quote(cid, safe=""))
            return body if st == 200 and any(d["name"] == "example.hits" for d in body["datapoints"]) else None
        return mb.poll(ok, timeout=20, what=f"{cid} in /app")["dimensions"]

    def test_kubernetes_pod_env_names_each_container(self):
        if yaml is None:
            self.skipTest("python3-yaml not installed")
        pod = yaml.safe_load(read(os.path.join(EX, "kubernetes-pod.yaml")))
        downward = {"metadata.name": "testapp-7d4b9", "metadata.namespace": "shop"}
        for c in pod["spec"]["containers"]:
            env = {"HOSTNAME": "testapp-7d4b9", "KUBERNETES_SERVICE_HOST": "10.96.0.1"}
            for e in c["env"]:  # as the kubelet does: downward API values and $(VAR) expansion
                v = downward[e["valueFrom"]["fieldRef"]["fieldPath"]] if "valueFrom" in e else e["value"]
                env[e["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), v)
            env.pop("APP_URL", None)
            env.pop("APP_PORT", None)
            self.run_as(env)
            dims = self.dims_of("testapp-7d4b9:" + c["name"])
            self.assertEqual("shop", dims.get("namespace"))
            self.assertEqual("testapp-7d4b9", dims.get("pod_name"))
            self.assertEqual(c["name"], dims.get("container_name"))
            self.assertEqual("testapp-7d4b9", dims.get("task_name"))
            self.assertEqual("kubernetes", dims.get("framework_name"))

    def test_marathon_app_env_names_the_task(self):
        app = json.loads(read(os.path.join(EX, "marathon.json")))
        env = dict(app["env"])
        # What Mesos and Marathon put in a task's environment.
        env.update({"MESOS_CONTAINER_NAME": "mesos-1b2c3d", "MARATHON_APP_ID": app["id"],
                    "MESOS_TASK_ID": "testapp.5f6e", "HOSTNAME": "agent-7"})
        self.run_as(env)
        dims = self.dims_of("1b2c3d")  # the Mesos ContainerID in the Docker name
        self.assertEqual("testapp.5f6e", dims.get("task_id"))
        self.assertEqual("marathon", dims.get("framework_name"))
        self.assertIn("testapp", dims.get("task_name", ""))


class TestExampleApp(TempDirTest):
    """The Flask app really times each request as testapp.response.latency (ms) over statsd."""

    def test_python_sources_compile(self):
        d = self.tmpdir()
        for f in glob.glob(os.path.join(EX, "app", "*.py")):
            py_compile.compile(f, cfile=os.path.join(d, os.path.basename(f) + "c"), doraise=True)

    def test_app_sends_latency_timer_per_request(self):
        try:
            import flask  # noqa: F401
            import statsd  # noqa: F401
        except ImportError:
            self.skipTest("python3-flask / python3-statsd not installed (make deps)")
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(udp.close)
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(10)
        port = mb.free_port()
        env = dict(os.environ, STATSD_UDP_HOST="127.0.0.1", STATSD_UDP_PORT=str(udp.getsockname()[1]),
                   APP_PORT=str(port), PYTHONDONTWRITEBYTECODE="1")
        p = subprocess.Popen([PY, os.path.join(EX, "app", "app.py")], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(p.wait, 10)
        self.addCleanup(p.kill)

        def get():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                return r.status == 200 and json.loads(r.read()) == {"hello": "metricsbus"}
        mb.poll(get, timeout=20, what="demo app answering")
        lines = []
        while not any(ln.startswith("testapp.response.latency:") for ln in lines):
            lines += udp.recv(65536).decode().split("\n")
        lat = next(ln for ln in lines if ln.startswith("testapp.response.latency:"))
        m = re.fullmatch(r"testapp\.response\.latency:([0-9.]+)\|ms", lat)
        self.assertIsNotNone(m, lat)
        self.assertLess(float(m.group(1)), 5000.0)
        self.assertGreater(float(m.group(1)), 0.0)

    def test_poller_polls_every_half_second_and_counts(self):
        try:
            import requests  # noqa: F401
            import statsd  # noqa: F401
        except ImportError:
            self.skipTest("python3-requests / python3-statsd not installed (make deps)")
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(udp.close)
        udp.bind(("127.0.0.1", 0))
        udp.settimeout(10)
        # Nothing listens on this port: the poller counts errors and keeps going.
        env = dict(os.environ, STATSD_UDP_HOST="127.0.0.1", STATSD_UDP_PORT=str(udp.getsockname()[1]),
                   APP_URL=f"http://127.0.0.1:{mb.free_port()}/", PYTHONDONTWRITEBYTECODE="1")
        p = subprocess.Popen([PY, os.path.join(EX, "app", "poller.py")], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(p.kill)
        got = [udp.recv(65536).decode() for _ in range(3)]
        self.assertEqual(["testpoller.errors:1|c"] * 3, got)
        p.terminate()
        self.assertEqual(0, p.wait(10), "the poller stops cleanly on TERM")


class TestScripts(unittest.TestCase):
    def test_demo_and_man_scripts_pass_shellcheck(self):
        scripts = [os.path.join(mb.ROOT, "scripts", f)
                   for f in ("demo.sh", "man.sh", "debian-source.sh", "static-deps.sh")]
        for f in scripts:
            r = subprocess.run(["sh", "-n", f], capture_output=True, text=True)
            self.assertEqual(0, r.returncode, r.stderr)
        sc = shutil.which("shellcheck")
        if not sc:
            self.skipTest("shellcheck not installed")
        r = subprocess.run([sc, "-s", "sh"] + scripts, capture_output=True, text=True, timeout=120)
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)


class TestDocsMatchPrograms(unittest.TestCase):
    """docs/operations.md, security.md, protocol.md and the examples name only flags, commands
    and variables the programs as built really take."""
    DOCS = ["docs/operations.md", "docs/security.md", "docs/protocol.md", "docs/examples/README.md",
            "docs/examples/Dockerfile", "docs/examples/kubernetes-pod.yaml", "docs/examples/marathon.json",
            "docs/examples/systemd/metricsbus-api.service", "docs/examples/systemd/metricsbus-api.default"]
    # (other tools' dotted flags, Prometheus's --web.enable-... or Thanos's --tsdb.out-of-order...,
    # are left out by the pattern: ours have no dots)
    OTHER_TOOLS = {"--group-add", "--now", "--rm", "--prefix", "--no-install-recommends", "--from"}  # docker, systemctl, npm, apt

    def helps(self):
        progs = ("metricsbus", "metricsbus-agentd", "metricsbus-api", "metricsbus-shim")
        if not all(os.path.exists(mb.binpath(p)) for p in progs):
            self.skipTest("programs not built")
        return {p: subprocess.run([mb.binpath(p), "--help"], capture_output=True, text=True).stdout for p in progs}

    def test_flags_and_variables_exist(self):
        helps = self.helps()
        flags = set(re.findall(r"--[a-z][a-z-]*", "\n".join(helps.values())))
        for doc in self.DOCS:
            text = read(os.path.join(mb.ROOT, doc))
            named = {f.rstrip(".") for f in re.findall(r"(?<![\w-])--[a-z][a-z.-]*", text)}
            for f in {f for f in named if "." not in f} - self.OTHER_TOOLS:
                self.assertIn(f, flags, f"{doc} names {f}, which no program takes")
            for v in set(re.findall(r"METRICSBUS_([A-Z_]+)", text)) - {"RUN_DIR", "CONTAINER_NAME"}:
                self.assertIn("--" + v.lower().replace("_", "-"), flags, f"{doc} names METRICSBUS_{v}")

    def test_cli_commands_in_operations_exist(self):
        cli = self.helps()["metricsbus"]
        for cmd in set(re.findall(r"(?m)^\s+metricsbus (?:--query \S+ )?([a-z]+)", read(os.path.join(mb.ROOT, "docs/operations.md")))):
            self.assertRegex(cli, r"\b" + cmd + r"\b", f"operations.md runs `metricsbus {cmd}`")


class TestInstall(TempDirTest):
    def make(self, *args):
        return subprocess.run(["make", "-C", mb.ROOT, "--no-print-directory", "B=" + os.path.relpath(mb.BUILD, mb.ROOT)]
                              + list(args), capture_output=True, text=True, timeout=300)

    def test_install_lays_out_unit_and_examples(self):
        dest = self.tmpdir()
        r = self.make("install-api-unit", "install-examples", "DESTDIR=" + dest, "PREFIX=/opt/mb")
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        unit = read(os.path.join(dest, "opt/mb/lib/systemd/system/metricsbus-api.service"))
        self.assertRegex(unit, r"(?m)^ExecStart=/opt/mb/bin/metricsbus-api$")
        self.assertNotIn("/usr/local", unit)
        for f in ("Dockerfile", "marathon.json", "kubernetes-pod.yaml", "prometheus.yml",
                  "app/app.py", "app/metrics.py", "app/poller.py", "systemd/metricsbus-api.service"):
            self.assertTrue(os.path.isfile(os.path.join(dest, "opt/mb/share/doc/metricsbus/docs/examples", f)), f)

    def test_installed_docs_keep_their_links(self):
        """Installed docs are laid out as in the repository: every relative link of every
        installed page (README.md, docs/, schemas/v1/README.md) reaches an installed file,
        and the files operations.md names are where it says."""
        dest = self.tmpdir()
        r = self.make("install-docs", "DESTDIR=" + dest, "PREFIX=/opt/mb")
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        doc = os.path.join(dest, "opt/mb/share/doc/metricsbus")
        pages = [os.path.join(dp, f) for dp, _, fs in os.walk(doc) for f in fs if f.endswith(".md")]
        self.assertGreater(len(pages), 10)
        for page in pages:
            for link in re.findall(r"\]\(([^)#\s]+)", read(page)):
                if re.match(r"[a-z]+:", link):
                    continue
                target = os.path.normpath(os.path.join(os.path.dirname(page), link))
                self.assertTrue(os.path.exists(target), f"{os.path.relpath(page, doc)} links {link}")
        ops = read(os.path.join(mb.ROOT, "docs", "operations.md"))
        for path in re.findall(r"share/doc/metricsbus/([\w./-]+\.(?:conf|default))", ops):
            self.assertTrue(os.path.isfile(os.path.join(doc, path)), path)

    def test_full_install_with_man_pages(self):
        if not all(os.path.exists(p) for p in (mb.binpath(n) for n in
                   ("metricsbus-shim", "metricsbus-agentd", "metricsbus-api", "metricsbus"))):
            self.skipTest("programs not built")
        if not mb.programs_up_to_date():
            self.skipTest("programs not up to date; `make install` would rebuild them")
        dest = self.tmpdir()
        r = self.make("install", "DESTDIR=" + dest, "PREFIX=/opt/mb")
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        for n in ("metricsbus-shim", "metricsbus-agentd", "metricsbus-api", "metricsbus"):
            b = os.path.join(dest, "opt/mb/bin", n)
            self.assertTrue(os.access(b, os.X_OK), b)
            man = read(os.path.join(dest, "opt/mb/share/man/man1", n + ".1"))
            self.assertTrue(man.startswith(".TH " + n.upper() + " 1"), man[:80])
            self.assertIn(".SH NAME", man)
            if shutil.which("man"):
                out = subprocess.run(["man", "-l", os.path.join(dest, "opt/mb/share/man/man1", n + ".1")],
                                     capture_output=True, text=True, env=dict(os.environ, MANPAGER="cat", PAGER="cat"),
                                     timeout=60)
                self.assertEqual(0, out.returncode, out.stderr)
        self.assertTrue(os.path.isfile(os.path.join(dest, "opt/mb/lib/systemd/system/metricsbus-api.service")))
        # the static shim beside the dynamic one, as built by make static
        static = os.path.join(dest, "opt/mb/bin/metricsbus-shim-static")
        self.assertTrue(os.access(static, os.X_OK), static)
        with open(static, "rb") as a, open(os.path.join(mb.ROOT, "build/static/metricsbus-shim"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        r = subprocess.run([static, "--version"], capture_output=True, text=True, timeout=10)
        self.assertEqual(0, r.returncode, r.stderr)


if __name__ == "__main__":
    unittest.main()
