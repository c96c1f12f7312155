"""test_build_nng: the programs never link an nng that lacks our fixes: without the fixed build
the Makefile stops, before compiling anything, with what to run (unless the system's nng is 1.9
or newer); the fixed build is there, names its patches, and a second install step is instant."""
import os
import re
import subprocess
import tempfile
import time
import unittest

import mbharness as mb


def system_nng():
    r = subprocess.run(["cc", "-E", "-P", "-x", "c", "-"], input="#include <nng/nng.h>\n"
                       "NNG_MAJOR_VERSION NNG_MINOR_VERSION\n", capture_output=True, text=True)
    m = re.search(r"(\d+)\s+(\d+)\s*$", r.stdout)
    return (int(m.group(1)), int(m.group(2))) if m else None


class BuildNng(unittest.TestCase):
    def test_make_refuses_an_unfixed_nng(self):
        sysver = system_nng()
        if sysver is None or sysver >= (1, 9):
            self.skipTest("the system's nng is %s: accepted as it is" % (sysver,))
        with tempfile.TemporaryDirectory() as d:
            r = subprocess.run(["make", "-s", "B=" + d, "NNG_DIR=" + os.path.join(d, "none"),
                                "NNG_SMALL_DIR=" + os.path.join(d, "none"),
                                os.path.join(d, "bin", "metricsbus-shim")],
                               cwd=mb.ROOT, capture_output=True, text=True, timeout=120)
            self.assertNotEqual(r.returncode, 0, r.stdout)
            self.assertIn("lacks fixes we need", r.stderr)
            self.assertIn("run scripts/deps.sh", r.stderr)
            self.assertFalse(os.path.exists(os.path.join(d, "obj")), "nothing compiled")

    def test_fixed_build_names_its_patches_and_is_instant_again(self):
        header = os.path.join(mb.ROOT, "build", "nng", "include", "nng", "mb_patches.h")
        if not os.path.exists(header):
            self.skipTest("no fixed nng build here (the system's nng is used)")
        text = open(header).read()
        series = [ln.strip()[:-len(".patch")] for ln in
                  open(os.path.join(mb.ROOT, "scripts", "nng-patches", "series"))
                  if ln.strip() and not ln.startswith("#")]
        for p in series:
            self.assertIn(p, text)
        t0 = time.monotonic()
        r = subprocess.run(["make", "-s", "nng"], cwd=mb.ROOT, capture_output=True, text=True,
                           timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "", "a second run builds nothing")
        print("\n  make nng again: %.2f s" % (time.monotonic() - t0), end=" ")


if __name__ == "__main__":
    unittest.main()
