"""test_agentd_mapping: metricsbus-agentd --mapping FILE (statsd_exporter's mapping YAML) on a
real agentd: glob and regex renames with labels, match_metric_type, drop, what the API's series
and /metrics then show, SIGHUP reloads (a bad file keeps the rules in force), agentd's own
mapping counters, and a shim's lines mapped end to end."""
import os
import signal

import mbharness as mb
import shimlib
from agentd_util import query, range_sum, self_total, send_batch

RULES = """\
defaults:
  match_type: glob
  ttl: 0
mappings:
- match: "*.signup.*.*"
  name: "signup_events_total"
  labels:
    provider: "$2"
    outcome: "$3"
    job: "${1}_server"
- match: (.*)\\.(.*)--(.*)\\.status\\.(.*)\\.count
  match_type: regex
  name: "request_total"
  labels:
    hostname: "$1"
    exec: "$2"
    protocol: "$3"
    code: "$4"
- match: test.foo.*
  name: "test_foo"
  match_metric_type: counter
  labels:
    provider: "$1"
- match: debug.*
  action: drop
- match: never.matches.*
  name: never
"""

RULES2 = """\
mappings:
- match: "*.signup.*.*"
  name: "signups_v2"
"""


def series_of(st, src):
    r = query(st, "series", "--src", src)
    return {(s["name"], tuple(sorted(s.get("tags", {}).items()))) for s in r.get("series", [])}


class AgentdMapping(mb.StackTest):
    def write(self, name, text):
        p = os.path.join(self.stack.dir, name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def test_glob_regex_type_drop_and_reload(self):
        st = self.stack
        path = self.write("mapping.yml", RULES)
        agentd = st.agentd("--mapping", path, "--node-interval", "200ms")
        self.assertIn("mapping: 5 rules", st.log_of(agentd))
        a = send_batch(st, "c:foo_product.signup.facebook.failure:3:env=prod",
                       "c:web01.api--http.status.200.count:7", "c:test.foo.bar:2",
                       "g:test.foo.bar:5", "c:debug.noise:1", "g:plain.gauge:4",
                       cid="m1", inst=11, seq=1)
        self.assertEqual(a["st"], 0, a)
        got = series_of(st, "m1")
        self.assertIn(("signup_events_total", (("env", "prod"), ("job", "foo_product_server"),
                                               ("outcome", "failure"), ("provider", "facebook"))), got)
        self.assertIn(("request_total", (("code", "200"), ("exec", "api"), ("hostname", "web01"),
                                         ("protocol", "http"))), got)
        self.assertIn(("test_foo", (("provider", "bar"),)), got)
        # match_metric_type counter: the gauge of that name is not mapped
        self.assertIn(("test.foo.bar", ()), got)
        self.assertIn(("plain.gauge", ()), got)
        names = {n for n, _ in got}
        self.assertFalse({"debug.noise", "foo_product.signup.facebook.failure"} & names, names)
        self.assertEqual(range_sum(st, "m1", "signup_events_total"), 3)
        self.assertEqual(range_sum(st, "m1", "request_total"), 7)

        # agentd's own counters: the line dropped by rule, and the rule that never matched
        mb.poll(lambda: self_total(st, "agentd.mapping.dropped") == 1, timeout=20,
                what="agentd.mapping.dropped")
        def unmatched():
            r = query(st, "range", "--src", "agentd", "--name", "agentd.mapping.rules_unmatched",
                      "--from", 0, "--to", 2 ** 42, "--stat", "last")
            pts = [v for _, v in (r or {}).get("pts", []) if v is not None]
            return pts and pts[-1] == 1
        mb.poll(unmatched, timeout=20, what="agentd.mapping.rules_unmatched == 1")

        # a bad file on SIGHUP: logged, the rules in force stay
        with open(path, "w") as f:
            f.write("mappings:\n- match: \"(oops\"\n  match_type: regex\n  name: x\n")
        agentd.send_signal(signal.SIGHUP)
        mb.poll(lambda: "not reloaded" in st.log_of(agentd), what="bad reload logged")
        self.assertIn("line 2", st.log_of(agentd))
        self.assertEqual(send_batch(st, "c:acme.signup.google.success:1", cid="m1", inst=11,
                                    seq=2)["st"], 0)
        self.assertIn("signup_events_total", {n for n, _ in series_of(st, "m1")})
        mb.poll(lambda: self_total(st, "agentd.mapping.reload_failed") == 1, timeout=20,
                what="agentd.mapping.reload_failed")

        # a good file on SIGHUP: the new rules apply to what comes next
        with open(path, "w") as f:
            f.write(RULES2)
        agentd.send_signal(signal.SIGHUP)
        mb.poll(lambda: "HUP: mapping: 1 rules" in st.log_of(agentd), what="reload logged")
        self.assertEqual(send_batch(st, "c:acme.signup.google.success:1", "c:debug.noise:1",
                                    cid="m1", inst=11, seq=3)["st"], 0)
        got = {n for n, _ in series_of(st, "m1")}
        self.assertIn("signups_v2", got)
        self.assertIn("debug.noise", got, "the drop rule is gone with the old file")
        self.assertEqual(st.stop(agentd), 0)

    def test_bad_file_at_start_is_a_usage_error(self):
        st = self.stack
        path = self.write("bad.yml", "mappings:\n- match: a.*\n")
        p = st.agentd("--mapping", path, wait=False)
        mb.poll(lambda: p.poll() is not None, what="agentd to exit")
        self.assertEqual(p.returncode, 2)
        self.assertIn("line 2", st.log_of(p))
        p = st.agentd("--mapping", os.path.join(st.dir, "missing.yml"), wait=False)
        mb.poll(lambda: p.poll() is not None, what="agentd to exit")
        self.assertEqual(p.returncode, 2)

    def test_shim_lines_mapped_end_to_end_and_in_prometheus(self):
        st = self.stack
        path = self.write("mapping.yml", RULES)
        st.agentd("--mapping", path)
        st.api()
        p = st.shim("--flush-interval", "200ms", "--container-id", "mapped-app")
        port = shimlib.shim_port(st, p)
        shimlib.send(port, "shop.signup.github.success:2|c", "debug.x:1|c")

        def mapped():
            s, _, body = st.http("/metrics")
            return s == 200 and b"signup_events_total{" in body and body
        body = mb.poll(mapped, timeout=20, what="mapped series in /metrics").decode()
        # (the name already ends in _total; "job" is a reserved label, so it is tag_job)
        line = [ln for ln in body.splitlines() if ln.startswith("signup_events_total{")
                and 'tag_job="shop_server"' in ln]
        self.assertTrue(line, body[:3000])
        self.assertIn('provider="github"', line[0])
        self.assertTrue(line[0].rstrip().endswith(" 2"), line[0])
        self.assertNotIn("debug_x", body)
        st.stop(p)
