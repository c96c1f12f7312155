"""The docs are executable: every example of README.md and docs/*.md runs against a live stack
and answers what the doc shows (tests/doctest/mbdoc.py); every program's flag table in docs/
is what the program's own table prints; and the runner catches a doc that drifts."""
import os
import re
import shutil
import sys
import tempfile
import unittest

import mbharness as mb

sys.path.insert(0, os.path.join(mb.ROOT, "tests", "doctest"))
import mbdoc  # noqa: E402

BUILD = os.path.relpath(mb.BUILD, mb.ROOT)


class DocsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mbdoc")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def doc(self, text, name="x.md"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_every_example_in_the_docs_does_what_it_shows(self):
        fails = mbdoc.run(mbdoc.default_paths(), BUILD)
        self.assertEqual(fails, [], "\n".join(fails))

    def test_flag_tables_are_the_programs_own(self):
        probs = mbdoc.flag_tables(BUILD)
        self.assertEqual(probs, [], "\n".join(probs))

    def test_a_changed_flag_table_fails(self):
        with open(os.path.join(mb.ROOT, "docs", "agentd.md")) as f:
            text = f.read()
        bad = text.replace("| `10000` |", "| `20000` |", 1)
        self.assertNotEqual(bad, text)
        paths = [p for p in mbdoc.default_paths() if not p.endswith("agentd.md")]
        probs = mbdoc.flag_tables(BUILD, paths=paths + [self.doc(bad, "agentd.md")])
        self.assertTrue(any("metricsbus-agentd differs" in p for p in probs), probs)

    def test_every_kept_fuzz_input_is_named_in_security_md(self):
        with open(os.path.join(mb.ROOT, "docs", "security.md")) as f:
            text = f.read()
        regress = os.path.join(mb.ROOT, "tests", "fuzz", "regress")
        kept = [f"{t}/{f}" for t in sorted(os.listdir(regress))
                for f in sorted(os.listdir(os.path.join(regress, t)))]
        missing = [k for k in kept if f"`{k}`" not in text]
        self.assertEqual(missing, [], "kept fuzz inputs not named in docs/security.md's table")
        if not kept:
            self.assertNotIn("tests/fuzz/regress/NAME/`, the inputs", text)

    def test_an_unmarked_block_or_unknown_kind_fails_before_anything_runs(self):
        p = self.doc("text\n\n    GET /v0/ping\n\n<!-- doctest: htp -->\n\n    x\n\n"
                     "<!-- doctest: skip -->\n\n    y\n\n"
                     "<!-- doctest: skip diagram -->\n\n    z\n")
        fails = mbdoc.run([p], BUILD)
        self.assertEqual(len(fails), 3, fails)
        self.assertIn("without a <!-- doctest", fails[0])
        self.assertIn("unknown doctest kind 'htp'", fails[1])
        self.assertIn("skip needs a reason", fails[2])

    def test_a_synopsis_names_only_flags_the_program_has(self):
        ok = "<!-- doctest: usage metricsbus-api -->\n\n    metricsbus-api [--listen ADDR:PORT] [--threads N]\n"
        self.assertEqual(mbdoc.run([self.doc(ok)], BUILD), [])
        bad = ok.replace("--threads", "--thread-count")
        fails = mbdoc.run([self.doc(bad)], BUILD)
        self.assertEqual(len(fails), 1, fails)
        self.assertIn("metricsbus-api has no flag --thread-count", fails[0])

    def test_a_changed_example_fails(self):
        """Each edit is one a careless doc change could make: a value, a status, a name, a
        CLI output line; every one must be caught, and the unchanged examples pass."""
        with open(os.path.join(mb.ROOT, "docs", "api.md")) as f:
            api = f.read()
        edits = [
            ('"name":"testapp.response.latency.sum","value":30',
             '"name":"testapp.response.latency.sum","value":31'),
            ('400 {"error":"step 1h gives', '404 {"error":"step 1h gives'),
            ('    ["web-1"]', '    ["web-2"]'),
            ("    web-1\n", "    web-9\n"),
        ]
        text = api
        for old, new in edits:
            self.assertIn(old, text)
            text = text.replace(old, new, 1)
        fails = mbdoc.run([self.doc(text, "api.md")], BUILD)
        self.assertEqual(len(fails), len(edits), "\n".join(fails))
        for want in ("/containers/web-1/app", "/v1/range?source=node", "/v0/containers:",
                     "$ metricsbus containers"):
            self.assertTrue(any(want in f for f in fails), (want, fails))


class MatchTest(unittest.TestCase):
    """The comparison rules, without a stack."""

    def test_wildcards_and_vary_classes(self):
        m = mbdoc.matches
        self.assertTrue(m('{"a":1,...}', '{"a":1,"b":2}', ""))
        self.assertFalse(m('{"a":1,...}', '{"a":2,"b":2}', ""))
        self.assertTrue(m("x\n...\nz", "x\ny\ny\nz", ""))
        self.assertTrue(m('{"t":"2026-11-25T21:20:51Z"}', '{"t":"2027-01-01T00:00:00Z"}', "time"))
        self.assertFalse(m('{"t":"2026-11-25T21:20:51Z"}', '{"t":"2027-01-01T00:00:00Z"}', ""))
        self.assertTrue(m("[1795641590,3]", "[1800000000,3]", "time"))
        self.assertFalse(m("[1795641590,3]", "[1800000000,4]", "time"))
        self.assertTrue(m("mem 2.53GB cpu 12.5%", "mem 3GB cpu 1%", "num"))
        self.assertTrue(m("node-7 p50 12", "node-7 p50 13", "num"))
        self.assertFalse(m("node-7 p50 12", "node-8 p50 12", "num"))

    def test_markers_and_blocks_are_found(self):
        d = tempfile.mkdtemp(prefix="mbdoc")
        self.addCleanup(shutil.rmtree, d, True)
        p = os.path.join(d, "x.md")
        with open(p, "w") as f:
            f.write("# t\n\n<!-- doctest: http GET /v0/ping vary=time -->\n\n    {}\n\n"
                    "- an item\n  continued\n\n<!-- doctest: sh -->\n```\n$ true\n```\n")
        bl = mbdoc.parse(p)
        self.assertEqual([(b.kind, b.args, b.opts) for b in bl],
                         [("http", ["GET", "/v0/ping"], {"vary": "time"}), ("sh", [], {})])
        self.assertEqual(bl[1].text, "$ true")


if __name__ == "__main__":
    unittest.main()
