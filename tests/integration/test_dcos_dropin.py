"""test_dcos_dropin: a metricsbus node as a drop-in for the DC/OS metrics service, proven with
the dcos CLI's own request and decode logic (tests/integration/dcoscli/: its Go metrics client
and commands, and its Python metrics.py) against real processes: shims started with only the
environment each Mesos containerizer gives (Mesos containerizer, Docker containerizer, a pod's
child container seen only through its sandbox mount), agentd reading a fake Mesos agent work
dir and no --node-id (and one with --node-id too: both ids answer), bridges on TCP, on a Unix socket (where Admin Router forwards), with
1.11 names, on :PORT (every address) and from systemd socket activation."""
import json
import os
import shutil
import socket
import subprocess
import unittest

import apilib as al
import mbharness as mb

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
PYCLI = os.path.join(HERE, "dcoscli", "dcoscli_py.py")
GOSRC = os.path.join(HERE, "dcoscli", "go", "main.go")

AGENT = "a1ac060c-82e2-4a28-bc94-c7efcbfb137d-S6"
FW = "a1ac060c-82e2-4a28-bc94-c7efcbfb137d-0001"
# Mesos containerizer: a Marathon app's task
TASK1 = "apiserver.5c4f6f44-f6cd-11e8-b0b5-ae4f8f7c4b61"
CID1 = "2e9b5a6c-9b0a-4a55-a5d4-bd6e7b7b5a3d"
# Docker containerizer
TASK2 = "jobs_worker.7d1e2f3a-f6cd-11e8-b0b5-ae4f8f7c4b61"
CID2 = "8c1d2e3f-4a5b-4c6d-9e7f-8a9b0c1d2e3f"
# a pod: the executor's container and the task's child container
TASK3 = "pod-web.instance-9a8b7c6d-f6cd-11e8-b0b5-ae4f8f7c4b61.web"
EXEC3 = "instance-pod-web.9a8b7c6d-f6cd-11e8-b0b5-ae4f8f7c4b61"
CID3 = "5f6e7d8c-9b0a-4b1c-8d2e-3f4a5b6c7d8e"
CHILD3 = "6f9f9c7e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
# a task that never sent anything
TASK4 = "idle.0a1b2c3d-f6cd-11e8-b0b5-ae4f8f7c4b61"
CID4 = "0a1b2c3d-0000-4000-8000-000000000000"

# The names dcos-core-cli's task summaries read (Go: pkg/cmd/task/task_metrics_summary.go,
# Python: metrics.py since its "Update metric names")
SUMMARY_112 = {"cpus.user_time_secs", "cpus.system_time_secs", "cpus.throttled_time_secs",
               "mem.limit_bytes", "mem.total_bytes", "disk.used_bytes", "disk.limit_bytes"}
# ... and their node summaries (pkg/cmd/node/node_metrics_summary.go, metrics.py)
NODE_SUMMARY = {"cpu.total", "memory.total", "memory.free", "filesystem.capacity.total",
                "filesystem.capacity.used"}
# Every container name telegraf's dcos_containers input can give through its dcos_metrics
# output (dcos/telegraf plugins/inputs/dcos_containers/dcos_containers.go: measurement.field)
TELEGRAF_CONTAINER_NAMES = {"container.processes", "container.threads"} | {
    "cpus." + f for f in ("user_time_secs", "system_time_secs", "limit", "soft_limit",
                          "nr_periods", "nr_throttled", "throttled_time_secs")} | {
    "mem." + f for f in ("total_bytes", "total_memsw_bytes", "limit_bytes", "soft_limit_bytes",
                         "file_bytes", "anon_bytes", "cache_bytes", "rss_bytes",
                         "mapped_file_bytes", "swap_bytes", "unevictable_bytes",
                         "low_pressure_counter", "medium_pressure_counter",
                         "critical_pressure_counter")} | {
    "disk.limit_bytes", "disk.used_bytes"} | {
    f"blkio.io_{s}_{op}" for s in ("serviced", "service_bytes", "service_time", "wait_time",
                                   "merged", "queued")
    for op in ("unknown", "total", "read", "write", "sync", "async")} | {
    "net." + f for f in ("rx_packets", "rx_bytes", "rx_errors", "rx_dropped", "tx_packets",
                         "tx_bytes", "tx_errors", "tx_dropped")}
# DC/OS 1.11's (dcos/dcos-metrics collectors/mesos/agent/metrics.go), with their units
DCOS_METRICS_111_NAMES = {"processes", "threads", "cpus.user.time", "cpus.system.time",
                          "cpus.limit", "cpus.nr.periods", "cpus.nr.throttled",
                          "cpus.throttled.time", "mem.total", "mem.total.memsw", "mem.limit",
                          "mem.soft.limit", "mem.cache", "mem.rss", "mem.mapped.file",
                          "mem.swap", "mem.unevictable", "disk.limit", "disk.used"} | {
    f"blkio.{p}.io_{s}.{op}" for p in ("cfq", "cfq_recursive", "throttling")
    for s in ("serviced", "service_bytes", "service_time", "merged", "queued", "wait_time")
    for op in ("total", "read", "write", "sync", "async")}


def unit_111(name):
    """dcos-metrics' unit for a 1.11 name; but it gave every blkio datapoint "bytes", operation
    counts too, where metricsbus says "count" (docs/api.md, Differences)."""
    if name.startswith("blkio."):
        return "count" if ".io_serviced." in name else "bytes"
    if name.startswith("cpus."):
        return "seconds" if name.endswith(".time") else "count"
    return "count" if name in ("processes", "threads") else "bytes"


_go_bin = None


def go_cli():
    """Builds the Go imitation once per run (the go toolchain comes from scripts/deps.sh)."""
    global _go_bin
    if _go_bin:
        return _go_bin
    out = os.path.join(mb.BUILD, "test", "dcoscli-go")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(GOSRC):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        env = dict(os.environ, GOCACHE=os.path.join(mb.BUILD, "gocache"),
                   GOPATH=os.path.join(mb.BUILD, "gopath"), GO111MODULE="off", CGO_ENABLED="0")
        r = subprocess.run(["go", "build", "-o", out, GOSRC], env=env, capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0:
            raise AssertionError("go build of the dcos CLI imitation failed:\n" + r.stderr)
    _go_bin = out
    return out


def sandbox(work, ex, run):
    return os.path.join(work, "slaves", AGENT, "frameworks", FW, "executors", ex, "runs", run)


def mesos_work_dir(stack):
    """A Mesos agent's work dir as the agent leaves it once registered as AGENT."""
    work = os.path.join(stack.dir, "mesos", "slave")
    meta = os.path.join(work, "meta", "slaves", AGENT)
    os.makedirs(meta)
    os.symlink(meta, os.path.join(work, "meta", "slaves", "latest"))
    return work


def re_register(work, new):
    """What the agent does after a reboot: registers anew, then re-points meta/slaves/latest."""
    meta = os.path.join(work, "meta", "slaves")
    os.makedirs(os.path.join(meta, new))
    tmp = os.path.join(meta, "latest.new")
    os.symlink(os.path.join(meta, new), tmp)
    os.replace(tmp, os.path.join(meta, "latest"))


def task1_env(work, fill=0):
    """TASK1's environment under the Mesos containerizer (its sandbox made, with a file of
    fill bytes in it)."""
    sb = sandbox(work, TASK1, CID1)
    os.makedirs(sb)
    with open(os.path.join(sb, "stdout"), "wb") as f:
        f.write(b"x" * fill)
    return {"MESOS_DIRECTORY": sb, "MESOS_SANDBOX": sb, "MESOS_SLAVE_ID": AGENT,
            "MESOS_FRAMEWORK_ID": FW, "MESOS_EXECUTOR_ID": TASK1, "MESOS_TASK_ID": TASK1}


class DropIn(mb.StackTest):
    def setUp(self):
        super().setUp()
        s = self.stack
        self.work = mesos_work_dir(s)
        self.agentd = s.agentd("--mesos-work-dir", self.work, "--node-interval", "1s",
                               "--hostname", "10.0.4.7")
        self.api = s.api()
        self.port = s.http_port
        self.sock = os.path.join(s.dir, "dcos-metrics-agent.sock")
        self.api_unix = s.spawn([mb.binpath("metricsbus-api"), "--listen", "unix:" + self.sock,
                                 "--query", s.query], name="api-unix")
        self.api11 = s.api("--dcos-names", "1.11")
        self.port11 = s.http_port
        s.http_port = self.port
        mb.poll(lambda: os.path.exists(self.sock), what="bridge on its Unix socket")

        # Mesos containerizer: the executor environment, Marathon's variables
        self.shim1 = self.shim(dict(
            task1_env(self.work, fill=1 << 20), MARATHON_APP_ID="/apiserver",
            MARATHON_APP_LABEL_HAPROXY_GROUP="external", MARATHON_APP_LABEL_HOST="web-host",
            MARATHON_APP_RESOURCE_CPUS="0.5", MARATHON_APP_RESOURCE_MEM="128.0",
            MARATHON_APP_RESOURCE_DISK="64.0"), ["--label", "team=core"])
        # Docker containerizer: the container's name and a sandbox at /mnt/mesos/sandbox
        self.shim2 = self.shim({
            "MESOS_SANDBOX": "/mnt/mesos/sandbox", "MESOS_CONTAINER_NAME": "mesos-" + CID2,
            "MESOS_TASK_ID": TASK2, "MARATHON_APP_ID": "/jobs/worker", "HOSTNAME": "3f4e5a6b7c8d"})
        # A pod's task: no agent variables; the child's sandbox bind-mounted into its own
        # mount namespace, as Mesos mounts it
        sb3 = os.path.join(sandbox(self.work, EXEC3, CID3), "containers", CHILD3)
        os.makedirs(sb3)
        mnt = os.path.join(s.dir, "pod-sandbox")
        os.makedirs(mnt)
        unshare = ["unshare", "-m", "--propagation", "private"] if os.geteuid() == 0 \
            else ["unshare", "-rm"]
        self.shim3 = s.spawn(unshare + [
            "sh", "-c", 'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh", sb3, mnt,
            mb.binpath("metricsbus-shim"), "--agent", s.ingest, "--flush-interval", "1s"],
            env={"HOSTNAME": "pod-web"}, name="shim-pod")
        self.ports = [al.shim_port(s, p) for p in (self.shim1, self.shim2, self.shim3)]
        al.send(self.ports[0], ["testapp.response.latency:12|ms", "testapp.response.latency:18|ms",
                                "testapp.requests:1|c|#code:200"])
        al.send(self.ports[1], ["worker.jobs:3|c"])
        al.send(self.ports[2], ["web.sessions:4|g"])
        for cid, name in ((CID1, "testapp.response.latency"), (CID2, "worker.jobs"),
                          (CHILD3, "web.sessions")):
            mb.poll(lambda: self.has_app(cid, name), timeout=20, what=f"{name} of {cid}")

        # the master's view, stubbed: each task's agent and its status's ContainerID
        self.tasks = os.path.join(s.dir, "tasks.json")
        with open(self.tasks, "w") as f:
            json.dump([self.task(TASK1, CID1), self.task(TASK2, CID2),
                       self.task(TASK3, CHILD3, parent=CID3), self.task(TASK4, CID4)], f)

    def shim(self, env, args=()):
        return self.stack.shim("--flush-interval", "1s", *args, env=env)

    @staticmethod
    def task(tid, cid, parent=None):
        c = {"value": cid}
        if parent:
            c["parent"] = {"value": parent}
        return {"id": tid, "agent_id": AGENT, "state": "TASK_RUNNING",
                "statuses": [{"state": "TASK_RUNNING", "container_status": {"container_id": c}}]}

    def has_app(self, cid, name):
        st, body = self.stack.http_json(f"/system/v1/agent/{AGENT}/metrics/v0/containers/{cid}/app")
        return st == 200 and any(p["name"] == name for p in body["datapoints"])

    def cli(self, kind, *args, url=None, names="1.12"):
        env = dict(os.environ, DCOS_URL=url or f"http://127.0.0.1:{self.port}",
                   DCOS_TASKS=self.tasks, DCOS_CLI_NAMES=names)
        argv = [go_cli()] if kind == "go" else [PY, PYCLI]
        return subprocess.run(argv + list(args), env=env, capture_output=True, text=True,
                              timeout=60)

    def ok(self, kind, *args, url=None, names="1.12"):
        r = self.cli(kind, *args, url=url, names=names)
        self.assertEqual(r.returncode, 0, f"{kind} {args}: {r.stderr}")
        return r.stdout

    # ------------------------------------------------------------------ tests
    def test_task_metrics_details_finds_the_blog_metric(self):
        """`dcos task metrics details --json TASK | grep -A4 -B1 testapp.response.latency`."""
        for kind in ("go", "py"):
            for url in (None, "unix:" + self.sock):
                with self.subTest(cli=kind, url=url):
                    out = self.ok(kind, "task", "metrics", "details", "--json", TASK1, url=url)
                    names = {d["name"] for d in json.loads(out)}
                    self.assertIn("testapp.response.latency", names)
                    self.assertIn("testapp.response.latency.p99", names)
                    g = subprocess.run(["grep", "-A4", "-B1", "testapp.response.latency"],
                                       input=out, capture_output=True, text=True)
                    self.assertEqual(g.returncode, 0)
                    self.assertIn('"name": "testapp.response.latency"', g.stdout)
                    # and the table
                    out = self.ok(kind, "task", "metrics", "details", TASK1, url=url)
                    self.assertRegex(out, r"testapp\.response\.latency\s+15")

    def test_every_containerizer_registers_the_container_id_the_cli_asks_for(self):
        for task, name in ((TASK2, "worker.jobs"), (TASK3, "web.sessions")):
            for kind in ("go", "py"):
                with self.subTest(task=task, cli=kind):
                    out = self.ok(kind, "task", "metrics", "details", "--json", task)
                    self.assertIn(name, {d["name"] for d in json.loads(out)})
        st, ids = self.stack.http_json("/v0/containers")
        self.assertEqual(sorted(ids), sorted([CID1, CID2, CHILD3]))
        # dimensions from the sandbox path and Marathon's environment
        st, body = self.stack.http_json(f"/v0/containers/{CID1}/app")
        d = body["dimensions"]
        self.assertEqual((d["mesos_id"], d["framework_id"], d["executor_id"], d["task_id"],
                          d["task_name"], d["framework_name"], d["hostname"]),
                         (AGENT, FW, TASK1, TASK1, "apiserver", "marathon", "10.0.4.7"))
        st, body = self.stack.http_json(f"/v0/containers/{CID2}/app")
        self.assertEqual(body["dimensions"]["task_name"], "worker.jobs")
        st, body = self.stack.http_json(f"/v0/containers/{CHILD3}/app")
        self.assertEqual((body["dimensions"]["executor_id"], body["dimensions"]["mesos_id"]),
                         (EXEC3, AGENT))

    def test_labels_are_an_object_the_cli_decodes(self):
        out = self.ok("go", "task", "metrics", "dimensions", TASK1)
        dims = json.loads(out)
        self.assertEqual(dims["labels"]["host"], "web-host")  # Go matches "HOST" to "host"
        self.assertEqual(dims["container_id"], CID1)
        st, body = self.stack.http_json(f"/v0/containers/{CID1}/app")
        self.assertEqual(body["dimensions"]["labels"],
                         {"HAPROXY_GROUP": "external", "HOST": "web-host", "team": "core"})

    def test_task_summary_reads_the_cpu_and_memory_names(self):
        # what both CLIs' task summaries read (dcos-core-cli pkg/cmd/task/task_metrics_summary.go
        # and python metrics.py): DC/OS 1.12+'s names, the bridge's default. The Go one keeps
        # every datapoint of SUMMARY it finds (cpus.throttled_time_secs only where the cgroup
        # has cpu.stat's throttling counters)
        pts = json.loads(self.ok("go", "task", "metrics", "summary", "--json", TASK1))
        names = {d["name"] for d in pts}
        self.assertLessEqual(names, SUMMARY_112)
        self.assertLessEqual(SUMMARY_112 - {"cpus.throttled_time_secs"}, names)
        val = {d["name"]: d["value"] for d in pts}
        self.assertEqual(val["disk.limit_bytes"], 64 * 1048576)  # MARATHON_APP_RESOURCE_DISK
        self.assertGreaterEqual(val["disk.used_bytes"], 1 << 20)  # the sandbox's du
        table = self.ok("go", "task", "metrics", "summary", TASK1)
        self.assertNotIn("(N/A)  ", table.splitlines()[1][:20])  # the CPU column has a value
        # its MEM column reads mem.file_bytes (the page cache), also a 1.12 name
        st, body = self.stack.http_json(f"/v0/containers/{CID1}")
        self.assertIn("mem.file_bytes", {d["name"] for d in body["datapoints"]})
        # the current Python CLI: user time, memory, disk used
        pts = json.loads(self.ok("py", "task", "metrics", "summary", "--json", TASK1))
        self.assertEqual([p and p["name"] for p in pts],
                         ["cpus.user_time_secs", "mem.total_bytes", "disk.used_bytes"])
        self.assertEqual(pts[0]["unit"], "")
        table = self.ok("py", "task", "metrics", "summary", TASK1)
        self.assertNotIn("0.00 (0.00%)", table.splitlines()[1][:14])
        # the Python CLI before its "Update metric names" read DC/OS 1.11's: --dcos-names 1.11
        url11 = f"http://127.0.0.1:{self.port11}"
        pts = json.loads(self.ok("py", "task", "metrics", "summary", "--json", TASK1, url=url11,
                                 names="1.11"))
        self.assertEqual([p["name"] for p in pts[:2]], ["cpus.user.time", "mem.total"])
        self.assertEqual(pts[0]["unit"], "seconds")
        table = self.ok("py", "task", "metrics", "summary", TASK1, url=url11, names="1.11")
        self.assertNotIn("0.00 (0.00%)", table.splitlines()[1][:14])

    def test_container_names_tags_and_units_are_dcos(self):
        """Every container datapoint under a name telegraf's dcos_containers input gives (1.12
        default: no unit, tagged container_id; blkio also policy and device), or dcos-metrics'
        Mesos agent collector gave (1.11: with units, tagged with the container's ids)."""
        st, body = self.stack.http_json(f"/v0/containers/{CID1}")
        pts = body["datapoints"]
        self.assertEqual({d["name"] for d in pts} - TELEGRAF_CONTAINER_NAMES, set())
        self.assertEqual({d["unit"] for d in pts}, {""})
        for d in pts:
            want = {"container_id": CID1}
            if d["name"].startswith("blkio."):
                want.update(policy="throttling", device="default")
            self.assertEqual(d["tags"], want, d["name"])
        st, body = self.stack.http_json(f"/v0/containers/{CID1}", port=self.port11)
        pts = body["datapoints"]
        self.assertEqual({d["name"] for d in pts} - DCOS_METRICS_111_NAMES, set())
        for d in pts:
            self.assertEqual(d["unit"], unit_111(d["name"]), d["name"])
            self.assertLessEqual({"container_id": CID1, "source": TASK1, "framework_id": FW,
                                  "executor_id": TASK1}.items(), d["tags"].items(), d["name"])

    def test_a_task_without_metrics_says_so(self):
        for kind, msg in (("go", f"No metrics found for task '{TASK4}'"), ("py", "No metrics found")):
            for url in (None, "unix:" + self.sock):
                with self.subTest(cli=kind, url=url):
                    r = self.cli(kind, "task", "metrics", "details", TASK4, url=url)
                    self.assertEqual(r.returncode, 1)
                    self.assertIn(msg, r.stderr)
                    self.assertNotIn("HTTP", r.stderr)

    def test_node_metrics_under_the_agent_id_read_from_the_work_dir(self):
        for kind in ("go", "py"):
            with self.subTest(cli=kind):
                pts = json.loads(self.ok(kind, "node", "metrics", "details", "--json", AGENT))
                self.assertLessEqual({"cpu.total", "memory.total", "load.1min"},
                                     {d["name"] for d in pts})
                # exactly what each summary reads (Go also load.1min), the disk of path "/"
                pts = json.loads(self.ok(kind, "node", "metrics", "summary", "--json", AGENT))
                want = NODE_SUMMARY | ({"load.1min"} if kind == "go" else set())
                self.assertEqual(sorted(d["name"] for d in pts), sorted(want))
                for d in pts:
                    if d["name"].startswith("filesystem."):
                        self.assertEqual(d["tags"]["path"], "/")
                self.ok(kind, "node", "metrics", "summary", AGENT)
                r = self.cli(kind, "node", "metrics", "details", "another-agent-S1")
                self.assertEqual(r.returncode, 1)
                self.assertIn("HTTP 404", r.stderr)
        st, body = self.stack.http_json(f"/system/v1/agent/{AGENT}/metrics/v0/node")
        self.assertEqual((body["dimensions"]["mesos_id"], body["dimensions"]["hostname"]),
                         (AGENT, "10.0.4.7"))

    def test_the_agent_id_follows_the_mesos_agent_re_registering(self):
        """After a reboot the Mesos agent registers anew and re-points meta/slaves/latest."""
        new = "a1ac060c-82e2-4a28-bc94-c7efcbfb137d-S9"
        re_register(self.work, new)
        mb.poll(lambda: self.stack.http(f"/system/v1/agent/{new}/metrics/v0/node")[0] == 200,
                timeout=20, what="the new agent id served")
        st, body = self.stack.http_json(f"/system/v1/agent/{new}/metrics/v0/containers/{CID1}/app")
        self.assertEqual((st, body["dimensions"]["mesos_id"]), (200, AGENT))  # the shim's own
        mb.poll(lambda: self.stack.http_json(f"/system/v1/agent/{new}/metrics/v0/node")[1]
                ["dimensions"]["mesos_id"] == new, what="node dimensions under the new id")
        self.assertEqual(self.stack.http(f"/system/v1/agent/{AGENT}/metrics/v0/node")[0], 404)
        self.assertIn("Mesos agent id is now " + new, self.stack.log_of(self.agentd))

    def test_a_task_that_just_stopped_still_shows_its_metrics(self):
        self.assertEqual(self.stack.stop(self.shim2), 0)
        # within --container-ttl (2m by default): listed and served
        out = self.ok("go", "task", "metrics", "details", "--json", TASK2)
        self.assertIn("worker.jobs", {d["name"] for d in json.loads(out)})
        st, ids = self.stack.http_json("/v0/containers")
        self.assertIn(CID2, ids)



class NodeIdBesideAgentId(mb.StackTest):
    """agentd with --node-id AND a Mesos agent id in its work dir: the agent-scoped paths answer
    to both (and self), with DC/OS's status semantics under each; a third id is a 404 with a
    JSON reason naming the two."""

    def setUp(self):
        super().setUp()
        s = self.stack
        self.work = mesos_work_dir(s)
        self.agentd = s.agentd("--mesos-work-dir", self.work, "--node-id", "node-7",
                               "--node-interval", "1s")
        s.api()
        shim = s.shim("--flush-interval", "1s", env=task1_env(self.work))
        al.send(al.shim_port(s, shim), ["testapp.response.latency:12|ms"])
        mb.poll(lambda: s.http(f"/v0/containers/{CID1}/app")[0] == 200, timeout=20,
                what="the task's metrics")

    def scoped(self, node, rest):
        return self.stack.http(f"/system/v1/agent/{node}/metrics/v0/{rest}")

    def test_both_ids_and_self_answer_as_dcos_did(self):
        for node in ("node-7", AGENT, "self"):
            with self.subTest(node=node):
                st, hdr, body = self.scoped(node, "node")
                self.assertEqual(st, 200)
                # the node's id is the flag's: mesos_id says which node this is
                self.assertEqual(json.loads(body)["dimensions"]["mesos_id"], "node-7")
                st, hdr, body = self.scoped(node, "containers")
                self.assertEqual((st, json.loads(body)), (200, [CID1]))
                st, hdr, body = self.scoped(node, f"containers/{CID1}/app")
                self.assertEqual(st, 200)
                self.assertIn("testapp.response.latency",
                              {d["name"] for d in json.loads(body)["datapoints"]})
                for rest in (f"containers/{CID4}/app", f"containers/{CID4}",
                             f"containers/{CID1}/app/no.such.metric"):
                    st, hdr, body = self.scoped(node, rest)
                    self.assertEqual((st, body), (204, b""), rest)
                    self.assertNotIn("content-type", hdr)

    def test_the_cli_ping_names_both(self):
        r = subprocess.run([mb.binpath("metricsbus"), "--query", self.stack.query, "ping"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, rf"^ok \S+ node node-7 also {AGENT}\n$")

    def test_a_third_id_is_404_naming_both(self):
        for rest in ("node", "containers", f"containers/{CID1}/app"):
            st, hdr, body = self.scoped("another-S1", rest)
            self.assertEqual(st, 404, rest)
            self.assertEqual(hdr["content-type"], "application/json; charset=utf-8")
            self.assertEqual(json.loads(body), {
                "error": f"unknown node another-S1: this is node-7 or {AGENT}"})

    def test_the_go_cli_finds_the_task_and_the_node_under_the_agent_id(self):
        tasks = os.path.join(self.stack.dir, "tasks.json")
        with open(tasks, "w") as f:
            json.dump([DropIn.task(TASK1, CID1)], f)
        env = dict(os.environ, DCOS_URL=f"http://127.0.0.1:{self.stack.http_port}",
                   DCOS_TASKS=tasks)
        for args in (["task", "metrics", "details", "--json", TASK1],
                     ["node", "metrics", "details", "--json", AGENT],
                     ["node", "metrics", "details", "--json", "node-7"]):
            r = subprocess.run([go_cli()] + args, env=env, capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, f"{args}: {r.stderr}")
            self.assertTrue(json.loads(r.stdout), args)
        r = subprocess.run([go_cli(), "node", "metrics", "details", "another-S1"], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("HTTP 404", r.stderr)

    def test_a_re_registered_agent_id_replaces_the_old_beside_the_flag(self):
        new = "a1ac060c-82e2-4a28-bc94-c7efcbfb137d-S9"
        re_register(self.work, new)
        mb.poll(lambda: self.scoped(new, "node")[0] == 200, timeout=20,
                what="the new agent id served")
        self.assertEqual(self.scoped("node-7", "node")[0], 200)
        st, hdr, body = self.scoped(AGENT, "node")
        self.assertEqual((st, json.loads(body)),
                         (404, {"error": f"unknown node {AGENT}: this is node-7 or {new}"}))

class Listening(mb.StackTest):
    """Where Admin Router and operators reach the bridge: :PORT on IPv4 and IPv6 alike, and a
    socket passed by systemd."""

    def setUp(self):
        super().setUp()
        self.stack.agentd()

    def test_port_alone_listens_on_every_address_ipv6_too(self):
        port = mb.free_port()
        self.stack.spawn([mb.binpath("metricsbus-api"), "--listen", f":{port}",
                          "--query", self.stack.query], name="api-any")
        mb.poll(lambda: self.stack.http("/v0/ping", port=port)[0] == 200, what="api on :PORT")
        try:
            socket.socket(socket.AF_INET6).close()
            socket.getaddrinfo("::1", port)
        except OSError:
            self.skipTest("no IPv6 on this host")
        st, _, _ = self.stack.http("/v0/ping", port=port, host="::1")
        self.assertEqual(st, 200)

    def test_systemd_socket_activation(self):
        if not shutil.which("systemd-socket-activate"):
            self.skipTest("systemd-socket-activate is not installed")
        port = mb.free_port()
        self.stack.spawn(["systemd-socket-activate", "-l", f"127.0.0.1:{port}",
                          mb.binpath("metricsbus-api"), "--listen", "systemd",
                          "--query", self.stack.query], name="api-systemd")
        st, hdr, raw = mb.poll(lambda: self.stack.http("/v0/containers", port=port),
                               what="socket-activated api")
        self.assertEqual((st, raw), (200, b"[]\n"))
        self.assertEqual(hdr["content-type"], "application/json; charset=utf-8")

    def test_systemd_without_a_socket_is_a_clear_error(self):
        r = subprocess.run([mb.binpath("metricsbus-api"), "--listen", "systemd", "--query",
                            self.stack.query], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("no socket passed", r.stderr)

    def test_unix_socket_live_refused_stale_replaced(self):
        s = self.stack
        path = os.path.join(s.dir, "api.sock")
        a = s.spawn([mb.binpath("metricsbus-api"), "--listen", "unix:" + path, "--query",
                     s.query], name="api-unix")
        mb.poll(lambda: os.path.exists(path), what="unix socket")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o660)
        r = subprocess.run([mb.binpath("metricsbus-api"), "--listen", "unix:" + path, "--query",
                            s.query], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("another server answers there", r.stderr)
        a.kill()  # leaves the socket file behind
        a.wait()
        self.assertTrue(os.path.exists(path))
        b = s.spawn([mb.binpath("metricsbus-api"), "--listen", "unix:" + path, "--query",
                     s.query], name="api-unix2")

        def answers():
            c = socket.socket(socket.AF_UNIX)
            try:
                c.connect(path)
                c.sendall(b"GET /v0/ping HTTP/1.0\r\n\r\n")
                return b" 200 " in c.recv(100)
            finally:
                c.close()
        mb.poll(answers, what="a new bridge on the stale socket")
        s.stop(b)
        self.assertFalse(os.path.exists(path), "removed at stop")


if __name__ == "__main__":
    unittest.main()
