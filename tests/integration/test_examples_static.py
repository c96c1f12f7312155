"""test_examples_static: the examples that bring the static shim to an application: the
Dockerfiles (Dockerfile, Dockerfile.alpine, .python-slim, .distroless, .shim-init), a pod that
injects it without touching the application's image (kubernetes-inject.yaml) and a Marathon app
that fetches it into the sandbox (marathon-fetch.json). No container engine runs here, so each is
checked as far as this machine allows: parsed; the command line the runtime would build; that
command run in a root holding what the image's COPY lines put there, with Debian's static
busybox standing in for the image's own programs (tests/integration/rootlib.py), against a real
agentd outside; and the application's own command run under the static shim on this host."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import unittest
import urllib.request

import agentd_util as al
import dockerfile
import mbharness as mb
import rootlib
import shimlib

try:
    import yaml
except ImportError:
    yaml = None

EX = os.path.join(mb.ROOT, "docs", "examples")
SHIM_SRC = "build/static/metricsbus-shim"
# Images that get the static shim: file -> the base image of the application's stage.
IMAGES = {"Dockerfile": "debian:bookworm-slim", "Dockerfile.alpine": "python:3.12-alpine",
          "Dockerfile.python-slim": "python:3.12-slim",
          "Dockerfile.distroless": "gcr.io/distroless/python3-debian12"}
# What runs in place of the image's application: busybox's sh; it shows its environment, then
# waits for /tmp/done and exits 7.
STANDIN = ["/bin/sh", "-c", "env > /tmp/env.tmp && mv /tmp/env.tmp /tmp/env; "
           "while [ ! -e /tmp/done ]; do sleep 0.05; done; exit 7"]
APPLETS = ("sh", "env", "mv", "sleep", "cp")


def final_stage(name):
    return dockerfile.stages(dockerfile.parse(os.path.join(EX, name)))[-1]


def copies(stage):
    """(source, destination, from-stage or None) of each COPY of a stage."""
    out = []
    for k, a in stage:
        if k != "COPY":
            continue
        parts = a.split()
        frm = next((p.split("=", 1)[1] for p in parts if p.startswith("--from=")), None)
        parts = [p for p in parts if not p.startswith("--")]
        out += [(src, parts[-1], frm) for src in parts[:-1]]
    return out


def ignored(name):
    """A whitelist .dockerignore ("*" then "!path" lines) as the paths it lets in, or None."""
    path = os.path.join(EX, name + ".dockerignore")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        lines = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    if lines[0] != "*":
        return None
    return [ln[1:].rstrip("/") for ln in lines if ln.startswith("!")]


class TestStaticExampleFiles(unittest.TestCase):
    def test_dockerfiles_copy_the_static_shim_and_no_library(self):
        for name, base in IMAGES.items():
            with self.subTest(name):
                st = final_stage(name)
                self.assertEqual(base, st[0][1].split()[0])
                entry = dockerfile.exec_form(next(a for k, a in st if k == "ENTRYPOINT"))
                shim = [(src, dest) for src, dest, frm in copies(st) if src.endswith(SHIM_SRC)]
                self.assertEqual(1, len(shim), "one COPY of " + SHIM_SRC)
                self.assertEqual([shim[0][1], "--"], entry[:2], "the copied shim is the ENTRYPOINT, then --")
                for k, a in st:  # the application's stage installs nothing for the shim
                    self.assertNotRegex(a, r"libnng|libmsgpack|musl", f"{name}: {k} {a}")
                self.assertTrue(any(k == "VOLUME" and "/run/metricsbus" in a for k, a in st))
                self.assertEqual("/run/metricsbus", {k2: v for k, a in st if k == "ENV"
                                                     for k2, v in dockerfile.env(a).items()}["METRICSBUS_RUN_DIR"])
                # What the build context must hold: the files exist, the ignore file lets them in.
                allowed = ignored(name)
                for src, _, frm in copies(st):
                    if frm is None:
                        self.assertTrue(os.path.exists(os.path.join(mb.ROOT, src)) or src == SHIM_SRC, src)
                        if allowed is not None:
                            self.assertTrue(any(src.rstrip("/") == p or src.startswith(p + "/") for p in allowed),
                                            f"{name}.dockerignore keeps {src} out of the build context")
        build = dockerfile.stages(dockerfile.parse(os.path.join(EX, "Dockerfile")))[0]
        self.assertIn(("RUN", "make static"), build)
        # what make static needs on a bare bookworm-slim (checked once in a debootstrap root:
        # msgpack-c's CMake project wants a C++ compiler even for its C library)
        pkgs = set(" ".join(a for k, a in build if k == "RUN").split())
        self.assertLessEqual({"gcc", "g++", "make", "musl-tools", "cmake", "dpkg-dev", "patch"}, pkgs)

    def test_init_image_and_pod_agree(self):
        if yaml is None:
            self.skipTest("python3-yaml not installed (scripts/deps.sh)")
        st = final_stage("Dockerfile.shim-init")
        cmd = dockerfile.exec_form(next(a for k, a in st if k == "CMD"))
        self.assertEqual([(SHIM_SRC, cmd[1], None)], copies(st))
        with open(os.path.join(EX, "kubernetes-inject.yaml")) as f:
            pod = yaml.safe_load(f)
        vols = {v["name"]: v for v in pod["spec"]["volumes"]}
        self.assertEqual({}, vols["metricsbus-bin"]["emptyDir"])
        self.assertEqual("/run/metricsbus/ingest", vols["metricsbus-run"]["hostPath"]["path"])
        init, = pod["spec"]["initContainers"]
        self.assertEqual(cmd, init["command"])
        self.assertEqual([{"name": "metricsbus-bin", "mountPath": os.path.dirname(cmd[2])}], init["volumeMounts"])
        app, = pod["spec"]["containers"]
        self.assertEqual([cmd[2], "--"], app["command"][:2], "the shim copied by the init container, then --")
        mounts = {m["name"]: m for m in app["volumeMounts"]}
        self.assertEqual(os.path.dirname(cmd[2]), mounts["metricsbus-bin"]["mountPath"])
        self.assertTrue(mounts["metricsbus-bin"].get("readOnly"))
        self.assertEqual("/run/metricsbus", mounts["metricsbus-run"]["mountPath"])
        self.assertNotIn("metricsbus", app["image"], "the application's image is not touched")

    def test_marathon_fetches_the_installed_static_shim(self):
        with open(os.path.join(EX, "marathon-fetch.json")) as f:
            app = json.load(f)
        fetch, = app["fetch"]
        self.assertEqual("file:///usr/local/bin/metricsbus-shim-static", fetch["uri"])  # make install's path
        self.assertTrue(fetch["executable"])
        self.assertFalse(fetch["extract"])
        self.assertTrue(app["cmd"].startswith('exec "$MESOS_SANDBOX/metricsbus-shim-static" -- '), app["cmd"])
        self.assertIn({"containerPath": "/run/metricsbus", "hostPath": "/run/metricsbus/ingest", "mode": "RW"},
                      app["container"]["volumes"])
        self.assertNotIn("metricsbus", app["container"]["docker"]["image"])
        for v in app["env"].values():
            self.assertIsInstance(v, str)


@unittest.skipIf(rootlib.unusable(), rootlib.unusable())
class TestStaticExamplesRun(mb.StackTest):
    def setUp(self):
        super().setUp()
        self.ingest_dir = rootlib.node_layout(self.stack)
        self.stack.agentd()

    def root(self, name):
        r = rootlib.Root(self.stack, name)
        r.busybox(*APPLETS)
        r.mkdir("/tmp")
        return r

    def image_root(self, name):
        """The root an image's final stage makes from this repository: its COPY lines (from
        the build context, or from the main Dockerfile's build stage, whose /src is the
        repository with build/ made), its WORKDIR and ENV."""
        st = final_stage(name)
        r = self.root(name)
        for src, dest, frm in copies(st):
            if frm not in (None, "build"):
                continue  # another image's files (the distroless venv): not the shim's concern
            host = os.path.join(mb.ROOT, src[len("/src/"):] if frm else src)
            host = rootlib.STATIC if src.endswith(SHIM_SRC) else host
            if os.path.isdir(host):
                shutil.copytree(host, r.host(dest), dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                r.put(host, dest, mode=0o755)
        env = dict(rootlib.ENV)
        for k, a in st:
            if k == "ENV":
                env.update(dockerfile.env(a))
        workdir = [a for k, a in st if k == "WORKDIR"][-1]
        entry = dockerfile.exec_form(next(a for k, a in st if k == "ENTRYPOINT"))
        return r, entry, env, workdir

    def wait_env(self, r, p):
        def env():
            if p.poll() is not None:
                raise AssertionError("exited %s:\n%s" % (p.returncode, self.stack.log_of(p)))
            return os.path.exists(r.host("/tmp/env")) and r.read("/tmp/env")
        text = mb.poll(env, what="the stand-in application's environment")
        return dict(ln.split("=", 1) for ln in text.splitlines() if "=" in ln)

    def deliver_and_stop(self, r, p, cid, name):
        """Sends statsd to the port the shim gave the application, waits for agentd to have
        it, then lets the application exit: the shim must exit with its status."""
        env = self.wait_env(r, p)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.sendto(name.encode() + b":3|c", (env["STATSD_UDP_HOST"], int(env["STATSD_UDP_PORT"])))
        finally:
            s.close()
        mb.poll(lambda: al.range_sum(self.stack, cid, name) == 3, timeout=20, what=f"{name} of {cid} in agentd")
        open(r.host("/tmp/done"), "w").close()
        self.assertEqual(7, shimlib.wait_exit(self.stack, p, timeout=20), self.stack.log_of(p))
        return env

    def test_each_image_runs_the_static_shim_as_pid1(self):
        for name in IMAGES:
            with self.subTest(name):
                r, entry, env, workdir = self.image_root(name)
                cid = "img-" + name.replace(".", "-").lower()
                env["METRICSBUS_CONTAINER_ID"] = cid
                env["METRICSBUS_FLUSH_INTERVAL"] = "200ms"
                p = r.start(entry + STANDIN, env=env, workdir=workdir, name=cid)
                r.pid1(p)
                got = self.deliver_and_stop(r, p, cid, "image.hits")
                self.assertEqual(workdir, got["PWD"])

    def run_init_container(self, empty_dir):
        """Dockerfile.shim-init's CMD in a root of its COPY, the emptyDir bound at /metricsbus."""
        st = final_stage("Dockerfile.shim-init")
        r = self.root("init")
        for src, dest, _ in copies(st):
            r.put(rootlib.STATIC, dest, mode=0o755)
        cmd = dockerfile.exec_form(next(a for k, a in st if k == "CMD"))
        p = r.start(cmd, binds={"/metricsbus": empty_dir}, name="init")
        self.assertEqual(0, shimlib.wait_exit(self.stack, p), self.stack.log_of(p))

    def test_kubernetes_pod_injects_the_shim(self):
        if yaml is None:
            self.skipTest("python3-yaml not installed (scripts/deps.sh)")
        with open(os.path.join(EX, "kubernetes-inject.yaml")) as f:
            pod = yaml.safe_load(f)
        empty_dir = os.path.join(self.stack.dir, "emptydir")
        os.makedirs(empty_dir)
        self.run_init_container(empty_dir)
        copied = os.path.join(empty_dir, "metricsbus-shim")
        self.assertTrue(os.access(copied, os.X_OK), "the init container left an executable shim")
        with open(copied, "rb") as a, open(rootlib.STATIC, "rb") as b:
            self.assertEqual(a.read(), b.read())
        app, = pod["spec"]["containers"]
        env = {"HOSTNAME": "ticker-5c7d9", "KUBERNETES_SERVICE_HOST": "10.96.0.1", "PATH": rootlib.ENV["PATH"]}
        downward = {"metadata.name": "ticker-5c7d9", "metadata.namespace": "shop"}
        for e in app["env"]:  # as the kubelet does: downward API values and $(VAR) expansion
            v = downward[e["valueFrom"]["fieldRef"]["fieldPath"]] if "valueFrom" in e else e["value"]
            env[e["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), v)
        env["METRICSBUS_FLUSH_INTERVAL"] = "200ms"
        cid = "ticker-5c7d9:" + app["name"]
        mounts = {m["name"]: m["mountPath"] for m in app["volumeMounts"]}
        binds = {mounts["metricsbus-bin"]: empty_dir, mounts["metricsbus-run"]: self.ingest_dir}
        # the application container, its command with busybox standing in for python:slim's
        r = self.root("app")
        p = r.start(app["command"][:2] + STANDIN, env=env, binds=binds, name="app")
        r.pid1(p)
        self.deliver_and_stop(r, p, cid, "pod.hits")
        # the command the pod gives, with this host's python3 for the image's
        argv = [copied] + app["command"][1:] + app["args"]
        host_env = dict(env, METRICSBUS_RUN_DIR=self.ingest_dir, PATH=os.environ["PATH"])
        p = subprocess.Popen(argv, env=host_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.stack.procs.append(p)
        mb.poll(lambda: (al.range_sum(self.stack, cid, "ticker.ticks") or 0) >= 1, timeout=20,
                what="the pod's ticker.ticks in agentd")
        p.send_signal(signal.SIGTERM)
        self.assertEqual(128 + signal.SIGTERM, shimlib.wait_exit(self.stack, p, timeout=20))

    def test_marathon_app_runs_the_fetched_shim(self):
        with open(os.path.join(EX, "marathon-fetch.json")) as f:
            app = json.load(f)
        sandbox = os.path.join(self.stack.dir, "sandbox")
        os.makedirs(sandbox)
        # what the Mesos fetcher does with the "executable" URI
        fetched = os.path.join(sandbox, os.path.basename(app["fetch"][0]["uri"]))
        shutil.copy(rootlib.STATIC, fetched)
        os.chmod(fetched, 0o755)
        run_id = "0c5a3b8e-7d1f-4b3e-9a57-2f5c7e9d1a20"
        env = dict(rootlib.ENV, **app["env"])
        env.update({"MESOS_SANDBOX": "/mnt/mesos/sandbox", "PORT0": str(mb.free_port()),
                    "MARATHON_APP_ID": app["id"], "MESOS_TASK_ID": "fileserver.4e1f",
                    "MESOS_DIRECTORY": "/var/lib/mesos/slave/slaves/S0/frameworks/F1/executors/"
                                       "fileserver.4e1f/runs/" + run_id,
                    "METRICSBUS_FLUSH_INTERVAL": "200ms"})
        shim_part, _, app_part = app["cmd"].partition(" -- ")
        # in the container (Marathon runs cmd with the image's /bin/sh), busybox standing in
        r = self.root("marathon")
        cmd = shim_part + " -- " + " ".join("'%s'" % a for a in STANDIN)
        p = r.start(["/bin/sh", "-c", cmd], env=env,
                    binds={"/mnt/mesos/sandbox": sandbox, "/run/metricsbus": self.ingest_dir}, name="marathon")
        r.pid1(p)
        self.deliver_and_stop(r, p, run_id, "marathon.hits")
        # the whole cmd on this host (its python3 for the image's): the app answers HTTP; a port
        # another test took between free_port() and the bind is tried again with another
        for _ in range(3):
            port = str(mb.free_port())
            host_env = dict(env, MESOS_SANDBOX=sandbox, METRICSBUS_RUN_DIR=self.ingest_dir,
                            PATH=os.environ["PATH"], PORT0=port)
            p = self.stack.spawn(["/bin/sh", "-c", app["cmd"]], env=host_env, name="marathon-host")

            def answers():
                if p.poll() is not None:
                    return "exited"
                with urllib.request.urlopen("http://127.0.0.1:%s/" % port, timeout=5) as resp:
                    return resp.status == 200 and "answers"
            if mb.poll(answers, timeout=20, what="the Marathon app's http.server") == "answers":
                break
        else:
            self.fail("the Marathon app never answered:\n" + self.stack.log_of(p))
        p.send_signal(signal.SIGTERM)
        self.assertEqual(128 + signal.SIGTERM, shimlib.wait_exit(self.stack, p, timeout=20), self.stack.log_of(p))


class TestRelease(unittest.TestCase):
    """make release: the tarball holds the static shim beside the programs, the static shim is
    shipped on its own too, and SHA256SUMS checks both."""

    def make(self, *args):
        return subprocess.run(["make", "-C", mb.ROOT, "--no-print-directory", "B=" + os.path.relpath(mb.BUILD, mb.ROOT)]
                              + list(args), capture_output=True, text=True, timeout=300)

    def test_release_ships_the_static_shim(self):
        if mb.SANITIZED:
            self.skipTest("a release is of the normal build")
        if not os.path.exists(rootlib.STATIC) or not os.path.exists(mb.binpath("metricsbus-agentd")):
            self.skipTest("programs or the static shim not built")
        if not mb.programs_up_to_date():
            self.skipTest("programs not up to date; `make release` would rebuild them")
        d = tempfile.mkdtemp(prefix="mbrel", dir="/tmp")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        r = self.make("release", "RELEASE_DIR=" + d)
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        files = sorted(os.listdir(d))
        self.assertEqual(3, len(files), files)
        tar = next(f for f in files if f.endswith(".tar.gz"))
        shim = next(f for f in files if f.startswith("metricsbus-shim-static-"))
        self.assertRegex(shim, r"^metricsbus-shim-static-\d+\.\d+\.\d+-linux-\w+$")
        with open(os.path.join(d, shim), "rb") as a, open(rootlib.STATIC, "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.assertTrue(os.access(os.path.join(d, shim), os.X_OK))
        with tarfile.open(os.path.join(d, tar)) as t:
            names = set(t.getnames())
            for n in ("metricsbus-shim-static", "metricsbus-shim", "metricsbus-agentd", "metricsbus-api", "metricsbus"):
                self.assertIn("usr/local/bin/" + n, names)
            self.assertEqual(0, t.getmember("usr/local/bin/metricsbus-shim-static").uid)
        r = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=d, capture_output=True, text=True)
        self.assertEqual(0, r.returncode, r.stdout + r.stderr)
        self.assertEqual(2, r.stdout.count(": OK"))


if __name__ == "__main__":
    unittest.main()
