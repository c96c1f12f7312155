"""The front door every program shares: --help, --version, bad flags
and values exit 2 with one line, every flag also read from METRICSBUS_<NAME>, the flag wins."""
import os
import re
import subprocess
import unittest

import mbharness
from mbharness import StackTest, binpath

PROGRAMS = ["metricsbus-shim", "metricsbus-agentd", "metricsbus-api", "metricsbus"]


def run(prog, *args, env=None, timeout=20):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([binpath(prog)] + list(args), capture_output=True, text=True,
                          env=e, timeout=timeout)


class FrontDoor(unittest.TestCase):
    def test_help_exits_0_with_usage_and_env_names(self):
        for prog in PROGRAMS:
            r = run(prog, "--help")
            self.assertEqual(r.returncode, 0, prog)
            self.assertIn("usage: " + prog, r.stdout)
            self.assertIn("--log-level", r.stdout)
            self.assertIn("METRICSBUS_LOG_LEVEL", r.stdout)

    def test_version(self):
        for prog in PROGRAMS:
            r = run(prog, "--version")
            self.assertEqual(r.returncode, 0, prog)
            lines = r.stdout.strip().splitlines()
            self.assertRegex(lines[0], r"^%s \d+\.\d+\.\d+$" % prog)
            # the nng it runs on: a fixed 1.5.2 names its patches, or a system nng >= 1.9
            self.assertEqual(len(lines), 2, r.stdout)
            m = re.match(r"^nng (\d+)\.(\d+)\.\d+(.*)$", lines[1])
            self.assertIsNotNone(m, lines[1])
            if (int(m.group(1)), int(m.group(2))) < (1, 9):
                self.assertIn("1518-negotiation-close", m.group(3))

    def test_unknown_flag_is_one_line_and_exit_2(self):
        for prog in PROGRAMS:
            r = run(prog, "--no-such-flag")
            self.assertEqual(r.returncode, 2, prog)
            lines = r.stderr.strip().splitlines()
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertTrue(lines[0].startswith(prog + ": error: "), lines[0])
            self.assertIn("--no-such-flag", lines[0])

    def test_bad_values_exit_2(self):
        cases = [
            ("metricsbus-shim", ["--flush-interval", "soon"]),
            ("metricsbus-shim", ["--backlog", "lots"]),
            ("metricsbus-agentd", ["--retention", "10s"]),
            ("metricsbus-agentd", ["--max-size", "-1"]),
            ("metricsbus-api", ["--request-timeout", "5 parsecs"]),
            ("metricsbus", ["--log-level", "loud", "containers"]),
        ]
        for prog, args in cases:
            r = run(prog, *args)
            self.assertEqual(r.returncode, 2, (prog, args, r.stderr))
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
            self.assertIn(prog + ": error: ", r.stderr)

    def test_every_program_reads_its_flags_from_the_environment(self):
        # --version answers whatever the environment says; a real start must not.
        for prog, args in [("metricsbus-shim", []), ("metricsbus-agentd", []),
                           ("metricsbus-api", []), ("metricsbus", ["containers"])]:
            r = run(prog, *args, env={"METRICSBUS_LOG_LEVEL": "loud"})
            self.assertEqual(r.returncode, 2, (prog, r.stderr))
            self.assertIn("METRICSBUS_LOG_LEVEL", r.stderr)
        r = run("metricsbus-shim", env={"METRICSBUS_FLUSH_INTERVAL": "soon"})
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("METRICSBUS_FLUSH_INTERVAL", r.stderr)


class FlagWins(StackTest):
    def test_flag_beats_environment(self):
        # A bad value in the environment is overridden by a good flag: agentd starts.
        st = self.stack
        st.agentd("--retention", "10s:1h", env={"METRICSBUS_RETENTION": "bogus"})
        self.assertTrue(st.cli_ok("containers"))

    def test_cli_exits_1_when_agentd_is_absent(self):
        r = self.stack.cli("containers", timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("not answering", r.stderr)


if __name__ == "__main__":
    unittest.main()
