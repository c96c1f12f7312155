"""test_ui: the dashboard at /ui/ in Debian's chromium (tests/ui/ui_test.js, puppeteer-core)
against a live agentd, bridge and shim: node and container views drawn without console errors,
the stat, window and tag-set selectors, a token-protected bridge, an unknown container, a narrow
screen. Also the static files' HTTP: content types, ETag and 304, gzip, no token needed."""
import gzip
import os
import shutil
import subprocess
import unittest

import apilib as al
import mbharness as mb

DRIVER = os.path.join(mb.ROOT, "tests", "ui", "ui_test.js")
PUPPETEER = os.path.join(mb.ROOT, "ui", "node_modules", "puppeteer-core")
SHOTS = os.path.join(mb.BUILD, "ui-shots")
CHROMIUM = "/usr/bin/chromium"


def browser_missing():
    for what, p in (("chromium", CHROMIUM), ("node", shutil.which("node") or ""),
                    ("puppeteer-core (scripts/npm-deps.sh)", PUPPETEER)):
        if not p or not os.path.exists(p):
            return what
    return None


class Assets(mb.StackTest):
    def test_files_served_without_token_with_types_etag_and_gzip(self):
        tok = os.path.join(self.stack.dir, "token")
        with open(tok, "w") as f:
            f.write("s3cret\n")
        al.start(self.stack, api_args=("--token-file", tok), data=False)
        st, hdr, body = self.stack.http("/ui")
        self.assertEqual(st, 301)
        self.assertEqual(hdr["location"], "/ui/")
        for path, ctype in (("/ui/", "text/html"), ("/ui/app.js", "text/javascript"),
                            ("/ui/style.css", "text/css"), ("/ui/uplot.js", "text/javascript"),
                            ("/ui/uplot.css", "text/css")):
            st, hdr, body = self.stack.http(path)
            self.assertEqual(st, 200, path)
            self.assertTrue(hdr["content-type"].startswith(ctype), (path, hdr))
            self.assertEqual(hdr["cache-control"], "no-cache")
            etag = hdr["etag"]
            st, hdr2, body2 = self.stack.http(path, headers={"If-None-Match": etag})
            self.assertEqual(st, 304, path)
            self.assertEqual(body2, b"")
            st, hdr3, z = self.stack.http(path, headers={"Accept-Encoding": "gzip"})
            self.assertEqual(hdr3.get("content-encoding"), "gzip", path)
            self.assertEqual(gzip.decompress(z), body, path)
        # the page refers only to its own files
        st, _, page = self.stack.http("/ui/")
        self.assertNotIn(b"http://", page)
        self.assertNotIn(b"https://", page)
        self.assertEqual(self.stack.http("/ui/nope.js")[0], 404)
        self.assertEqual(self.stack.http("/ui/", method="POST")[0], 405)
        # the API behind it still needs the token
        self.assertEqual(self.stack.http("/v0/node")[0], 401)

    def test_page_code_is_small(self):
        own = sum(os.path.getsize(os.path.join(mb.ROOT, "ui", f))
                  for f in ("index.html", "app.js", "style.css"))
        self.assertLess(own, 100 * 1024)


@unittest.skipIf(browser_missing(), f"{browser_missing()} not installed (make deps)")
class Browser(mb.StackTest):
    def drive(self, scenario, token=""):
        base = f"http://127.0.0.1:{self.stack.http_port}/ui/"
        p = subprocess.run(["node", DRIVER, scenario, base, SHOTS, token], capture_output=True,
                           text=True, timeout=120 * (mb.SLOW if mb.SANITIZED else 1))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_node_view(self):
        al.start(self.stack)
        self.drive("node")

    def test_container_view_stat_and_window(self):
        al.start(self.stack)
        self.drive("container")

    def test_tag_set_filter(self):
        al.start(self.stack)
        self.drive("tags")

    def test_unknown_container(self):
        al.start(self.stack)
        self.drive("unknown")

    def test_narrow_screen(self):
        al.start(self.stack)
        self.drive("narrow")

    def test_token_protected_bridge(self):
        tok = os.path.join(self.stack.dir, "token")
        with open(tok, "w") as f:
            f.write("s3cret\n")
        al.start(self.stack, api_args=("--token-file", tok),
                 headers={"Authorization": "Bearer s3cret"})
        self.drive("token", "s3cret")


if __name__ == "__main__":
    unittest.main()
