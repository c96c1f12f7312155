"""test_cli_commands: the metricsbus CLI against a real agentd holding real shim data: every
command as a table and as the API's JSON, errors and exit codes, and `top` in a real terminal
(tmux: send-keys, capture-pane)."""
import json
import os
import shutil
import subprocess
import time
import unittest
from datetime import datetime

import apilib as al
import mbharness as mb

SENT = {"req", "req.rate", "temp", "users", "lat", "lat.count", "lat.sum", "lat.min", "lat.max",
        "lat.stddev", "lat.p50", "lat.p90", "lat.p95", "lat.p99", "tagged", "tagged.rate"}


class Cli(mb.StackTest):
    def setUp(self):
        super().setUp()
        self.agentd, self.api, self.shim, self.port = al.start(
            self.stack, agentd_args=("--backup-dir", self.stack.dir))

    def ok(self, *args):
        r = self.stack.cli(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_containers_and_node(self):
        out = self.ok("containers")
        self.assertEqual(out.split(), ["CONTAINER", al.CID])
        self.assertEqual(json.loads(self.ok("--json", "containers")), [al.CID])
        self.assertEqual(json.loads(self.ok("containers", "--json")), [al.CID])
        out = self.ok("node")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "VALUE", "UNIT", "TIMESTAMP", "TAGS"])
        self.assertTrue(any(ln.split()[0] == "cpu.total" and "percent" in ln for ln in lines))
        self.assertIn("mesos_id", out)
        body = json.loads(self.ok("--json", "node"))
        al.check_datapoints_shape(self, body)
        self.assertEqual(body["dimensions"]["mesos_id"], "node-7")

    def test_app_table_and_json_match_the_api(self):
        out = self.ok("app", al.CID)
        rows = {ln.split()[0]: ln.split() for ln in out.splitlines()[1:] if ln.strip()}
        self.assertEqual(rows["req"][1], "6")
        self.assertEqual(rows["lat"][1], "25")
        self.assertEqual(rows["temp"][1], "21.5")
        self.assertIn("task_name", out)
        cli = json.loads(self.ok("--json", "app", al.CID))
        st, api = al.app_points(self.stack)
        self.assertEqual(st, 200)
        # The gauge is flushed again every second, each time with a new timestamp: the two
        # reads agree on everything else, and on the timestamps to within a few flushes.
        pick = lambda b: sorted((json.dumps(dict(p, timestamp=None), sort_keys=True)
                                 for p in b["datapoints"] if p["name"] in SENT))
        self.assertEqual(pick(cli), pick(api))
        stamps = lambda b: {p["name"]: datetime.fromisoformat(p["timestamp"]).timestamp()
                            for p in b["datapoints"] if p["name"] in SENT}
        api_stamps = stamps(api)
        for name, t in stamps(cli).items():
            self.assertLessEqual(abs(api_stamps[name] - t), 5 * mb.SLOW, name)
        self.assertEqual(cli["dimensions"], api["dimensions"])
        one = json.loads(self.ok("--json", "app", al.CID, "lat"))
        self.assertEqual({p["name"] for p in one["datapoints"]},
                         {n for n in SENT if n.startswith("lat")})

    def test_container_resource_metrics(self):
        r = self.stack.cli("container", al.CID)
        self.assertEqual(r.returncode, 0, r.stderr)
        if r.stdout:
            self.assertTrue(r.stdout.startswith("NAME"))
        else:
            self.assertIn("no live data", r.stderr)

    def test_range_and_series(self):
        out = self.ok("range", al.CID, "req", "--from", "-5m", "--stat", "sum")
        lines = out.splitlines()
        self.assertEqual(lines[0], f"{al.CID} req sum every 10s")
        self.assertEqual(lines[1].split(), ["TIME", "VALUE"])
        vals = [ln.split()[1] for ln in lines[2:]]
        self.assertIn("-", vals)
        self.assertEqual(sum(float(v) for v in vals if v != "-"), 6)
        body = json.loads(self.ok("--json", "range", al.CID, "tagged", "--from=-5m", "--stat=sum",
                                  "--tags", "region:eu"))
        self.assertEqual(sum(v for _, v in body["points"] if v is not None), 1)
        self.assertEqual(body["step"], "10s")
        out = self.ok("series", al.CID)
        self.assertEqual(out.splitlines()[0].split(), ["NAME", "TYPE", "TAGS", "LAST"])
        self.assertTrue(any(ln.split()[:2] == ["lat", "timer"] for ln in out.splitlines()))
        body = json.loads(self.ok("--json", "series", al.CID))
        self.assertIn({"name": "tagged", "type": "counter"},
                      [{k: s[k] for k in ("name", "type")} for s in body["series"]])

    def test_backup(self):
        dest = os.path.join(self.stack.dir, "backup1")
        os.makedirs(dest)
        out = self.ok("backup", dest)
        self.assertIn(dest, out)
        files = os.listdir(dest)
        self.assertTrue(files, "backup wrote nothing")
        size = sum(os.path.getsize(os.path.join(dest, f)) for f in files)
        self.assertGreater(size, 0)
        dest2 = os.path.join(self.stack.dir, "backup2")
        os.makedirs(dest2)
        body = json.loads(self.ok("--json", "backup", dest2))
        self.assertGreater(body["bytes"], 0)

    def test_errors_and_exit_codes(self):
        s = self.stack
        r = s.cli("app", "never-seen")
        self.assertEqual(r.returncode, 1)
        self.assertIn("never-seen", r.stderr)
        r = s.cli("app", al.CID, "never.sent")
        self.assertEqual(r.returncode, 1)
        self.assertTrue(r.stderr.startswith("metricsbus: "))
        r = s.cli("range", "node", "cpu.total", "--stat", "median")
        self.assertEqual(r.returncode, 2)
        self.assertIn("stat", r.stderr)
        r = s.cli("range", "node", "cpu.total", "--from", "-730d", "--step", "1h")
        self.assertEqual(r.returncode, 1)  # agentd refuses: more than 11,000 points
        self.assertIn("step", r.stderr)
        r = s.cli("frobnicate")
        self.assertEqual(r.returncode, 2)
        r = s.cli("app")
        self.assertEqual(r.returncode, 2)
        r = subprocess.run([mb.binpath("metricsbus"), "--help"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0)
        self.assertIn("backup DIR", r.stdout)

    def test_flags_go_anywhere_as_with_git(self):
        out = self.ok("top", "--iterations", "1")
        self.assertIn(al.CID, out)
        self.assertIn(al.CID, self.ok("--iterations=1", "top"))
        self.assertEqual(json.loads(self.ok("containers", "--timeout", "2s", "--json")), [al.CID])
        a = self.ok("range", "node", "cpu.total", "--from", "-5m", "--stat", "max", "--json")
        b = self.ok("--from", "-5m", "--json", "range", "--stat", "max", "node", "cpu.total")
        self.assertEqual(json.loads(a)["stat"], "max")
        self.assertEqual(json.loads(a)["step"], json.loads(b)["step"])
        # a command's own flag with another command says what is wrong
        for args, flag, cmd in ((["node", "--from", "-1h"], "--from", "range"),
                                (["containers", "--iterations", "1"], "--iterations", "top")):
            r = self.stack.cli(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(f"{flag} applies to {cmd} only", r.stderr)
        # the environment may hold them for any command
        env = dict(self.stack.env, METRICSBUS_FROM="-1h")
        r = subprocess.run([mb.binpath("metricsbus"), "--query", self.stack.query, "containers"],
                           env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_agentd_not_there_exits_1_quickly(self):
        self.stack.stop(self.agentd)
        for cmd in (["containers"], ["node"], ["--json", "app", al.CID], ["top"]):
            t0 = time.monotonic()
            r = self.stack.cli(*cmd)
            self.assertEqual(r.returncode, 1, cmd)
            self.assertIn("agentd at ipc://", r.stderr)
            self.assertIn("is not answering", r.stderr)
            self.assertLess(time.monotonic() - t0, 10)


@unittest.skipUnless(shutil.which("tmux"), "tmux not installed")
class Top(mb.StackTest):
    def tmux(self, *args, check=True):
        return subprocess.run(["tmux", "-S", self.sock] + list(args), capture_output=True,
                              text=True, check=check, timeout=10)

    def test_top_live_view_in_a_terminal(self):
        s = self.stack
        a, api, shim, port = al.start(s)
        self.sock = os.path.join(s.dir, "tmux.sock")
        stty = os.path.join(s.dir, "stty.after")
        cmd = (f"{mb.binpath('metricsbus')} --query {s.query} top; "
               f"stty -a > {stty}; echo TOP-EXITED=$?; sleep 30")
        self.tmux("new-session", "-d", "-s", "mb", "-x", "160", "-y", "40", "bash", "-c", cmd)
        self.addCleanup(lambda: self.tmux("kill-server", check=False))

        def screen():
            return self.tmux("capture-pane", "-p", "-t", "mb").stdout
        first = mb.poll(lambda: (lambda t: t if al.CID in t and "metricsbus top" in t else None)(
            screen()), what="top showing the container")
        self.assertIn("CONTAINER", first)
        self.assertRegex(first, r"cpu [0-9.]+%")
        row = [ln for ln in first.splitlines() if ln.startswith(al.CID)][0]
        self.assertIn("req.rate=", row)  # counter rates are the busiest
        # it refreshes: new traffic shows up without a key press
        al.send(port, ["fresh.hits:1|c"])
        mb.poll(lambda: "fresh.hits" in screen(), timeout=20, what="top to redraw")
        # agentd going away and coming back: top says so and carries on
        s.stop(a)
        mb.poll(lambda: "agentd is not answering" in screen(), timeout=20, what="top: agentd away")
        a = s.agentd("--node-id", "node-7", "--cluster-id", "k1", "--node-interval", "1s")
        mb.poll(lambda: al.CID in screen(), timeout=30, what="top: agentd back")
        self.tmux("send-keys", "-t", "mb", "q")
        text = mb.poll(lambda: (lambda t: t if "TOP-EXITED=0" in t else None)(screen()),
                       what="top to quit on q")
        with open(stty) as f:
            modes = f.read()
        self.assertRegex(modes, r"(^|\s)icanon(\s|$)")  # the terminal was restored
        self.assertRegex(modes, r"(^|\s)echo(\s|$)")

    def test_top_quits_on_ctrl_c(self):
        s = self.stack
        al.start(s, data=False)
        self.sock = os.path.join(s.dir, "tmux.sock")
        cmd = f"{mb.binpath('metricsbus')} --query {s.query} top; echo TOP-EXITED=$?; sleep 30"
        self.tmux("new-session", "-d", "-s", "mb", "-x", "120", "-y", "30", "bash", "-c", cmd)
        self.addCleanup(lambda: self.tmux("kill-server", check=False))
        screen = lambda: self.tmux("capture-pane", "-p", "-t", "mb").stdout
        mb.poll(lambda: "no live containers" in screen(), what="top running")
        self.tmux("send-keys", "-t", "mb", "C-c")
        mb.poll(lambda: "TOP-EXITED=0" in screen(), what="top to quit on Ctrl-C")


if __name__ == "__main__":
    unittest.main()
