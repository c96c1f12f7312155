"""test_shim_dialects: every statsd dialect the shim reads, through a real shim to a real ingest
peer (mbsink): DogStatsD v1.0-v1.6 fields from hot-shots (npm) in its datadog mode (container
id, external data, cardinality, timestamps) and its telegraf mode (InfluxDB tags), Python's
statsd package with tags in its names, raw lines of every other form, counters of what was
skipped, and --tag-styles."""
import os

import mbharness as mb
import shimlib

# One datagram per client (a long buffer), sent once; the shim exits with the client, so
# every line lands in the final flush.
HOT_SHOTS_DATADOG = r'''
const StatsD = require('hot-shots');
const c = new StatsD({
  host: process.env.STATSD_UDP_HOST, port: Number(process.env.STATSD_UDP_PORT),
  prefix: 'dd.', datadog: true, containerID: 'ci-0123456789abcdef,in-4242', cardinality: 'high',
  includeDatadogTelemetry: false, maxBufferSize: 60000, bufferFlushInterval: 600000,
  errorHandler: (e) => { console.error('hot-shots error', e); process.exit(3); },
});
for (let i = 0; i < 5; i++) c.increment('reqs', 1, ['route:/a']);
c.gauge('temp', 21.5, { tags: ['room:lab'], timestamp: new Date(1700000000000) });
c.gauge('temp2', 7, { timestamp: 1700000000, cardinality: 'low' });
for (let i = 0; i < 4; i++) c.distribution('dur', 2 * (i + 1), ['env:test']);
c.close(() => console.log('CLIENT-SENT'));
'''

HOT_SHOTS_TELEGRAF = r'''
const StatsD = require('hot-shots');
const c = new StatsD({
  host: process.env.STATSD_UDP_HOST, port: Number(process.env.STATSD_UDP_PORT),
  prefix: 'tg.', telegraf: true, globalTags: { env: 'prod' }, maxBufferSize: 60000,
  bufferFlushInterval: 600000,
  errorHandler: (e) => { console.error('hot-shots error', e); process.exit(3); },
});
for (let i = 0; i < 3; i++) c.increment('reqs', 1, { zone: 'a' });
c.gauge('queue', 9, ['zone:b']);
c.timing('lat', 40, { zone: 'a' });
c.close(() => console.log('CLIENT-SENT'));
'''

# Python's statsd package has no tags of its own: its users put them in the name, the way
# Telegraf (InfluxDB) and Librato read them.
PY_CLIENT = r'''
import os
import statsd
c = statsd.StatsClient(os.environ["STATSD_UDP_HOST"], int(os.environ["STATSD_UDP_PORT"]),
                       prefix="py", maxudpsize=60000)
with c.pipeline() as p:
    for _ in range(3):
        p.incr("hits,env=prod,zone=a")
    p.gauge("queue#env=prod", 7)
    p.timing("lat,env=prod", 12)
    p.timing("lat,env=prod", 18)
'''

RAW = [
    # DogStatsD 1.1 packed values, every type but sets
    "pk.c:1:2:3|c|@0.5", "pk.g:5:+2:-1|g", "pk.ms:10:20::30|ms", "pk.h:1:2|h", "pk.d:4:4|d",
    # 1.2-1.6 fields: container id (bare, ci-/in-), timestamp, external data, cardinality
    "f.c:1|c|#a:b|c:0123456789abcdef", "f.c:1|c|#a:b|c:ci-0123,in-42|T1700000000",
    "f.c:1|c|#a:b|e:it-false,cn-web,pu-0a1b|card:orchestrator",
    # unknown or malformed fields: skipped and counted, the line kept
    "u.c:1|c|x:future", "u.c:1|c||#k:v", "u.c:1|c|Tnope",
    # name tag styles
    "influx.c4,env=prod,zone=a:1|c", "lib.c#env=prod,zone=a:2|c", "sfx.c[env=prod,zone=a]:3|c",
    "sfx[env=prod].mid:4|c",
    # mixed with DogStatsD tags: every tag kept, the DogStatsD value wins a clash
    "mix,a=1,b=2:5|c|#b:3,c:4",
    # malformed name tags: skipped and counted, the line kept
    "te,a=1,bare,=v:6|c",
    # bad lines, one per reason
    "nocolon|c", ",k=v:1|c", "b.t:1|qq", "b.v:x|c", "b.r:1|c|@3", "b.tags:1|c|#:v",
    "last:1|c",
]


def one(batches, name, kind, tags=None):
    rs = [r for r in shimlib.records(batches, name, kind) if tags is None or r["tags"] == tags]
    assert len(rs) == 1, (name, tags, rs, sorted({r["name"] for r in shimlib.records(batches)}))
    return rs[0]


class DialectTest(mb.StackTest):
    def run_node(self, script):
        node, modules = shimlib.hot_shots()
        if not node:
            self.skipTest(modules)
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        p = self.stack.shim("--flush-interval", "60s", cmd=[node, "-e", script],
                            env={"NODE_PATH": modules, "DD_EXTERNAL_ENV": "it-false,cn-web,pu-0a1b"})
        self.assertEqual(shimlib.wait_exit(self.stack, p, timeout=30), 0, self.stack.log_of(p))
        self.assertIn("CLIENT-SENT", self.stack.log_of(p))
        return sink.batches()

    def assert_nothing_skipped(self, b):
        for name in ("metricsbus.shim.bad_lines", "metricsbus.shim.unknown_fields",
                     "metricsbus.shim.tag_errors"):
            self.assertEqual(shimlib.total(b, name), 0, name)

    def test_hot_shots_datadog_fields_parsed_and_dropped(self):
        b = self.run_node(HOT_SHOTS_DATADOG)
        self.assert_nothing_skipped(b)
        self.assertEqual(shimlib.total(b, "dd.reqs", {"route": "/a"}), 5)
        # c:, e:, card: and T never become tags; the point is filed in the interval it came in
        self.assertEqual(one(b, "dd.temp", "gauge", {"room": "lab"})["value"], 21.5)
        self.assertEqual(one(b, "dd.temp2", "gauge", {})["value"], 7)
        d = one(b, "dd.dur", "distribution", {"env": "test"})
        self.assertEqual((d["count"], d["sum"], d["min"], d["max"]), (4, 20, 2, 8))
        for r in shimlib.records(b):
            self.assertFalse({"c", "e", "card", "container_id"} & set(r.get("tags", {})), r)

    def test_hot_shots_telegraf_influxdb_tags(self):
        b = self.run_node(HOT_SHOTS_TELEGRAF)
        self.assert_nothing_skipped(b)
        self.assertEqual(shimlib.total(b, "tg.reqs", {"env": "prod", "zone": "a"}), 3)
        self.assertEqual(one(b, "tg.queue", "gauge", {"env": "prod", "zone": "b"})["value"], 9)
        t = one(b, "tg.lat", "timer", {"env": "prod", "zone": "a"})
        self.assertEqual((t["count"], t["sum"]), (1, 40))
        names = {r["name"] for r in shimlib.records(b)}
        self.assertFalse({n for n in names if "," in n or "=" in n}, names)

    def test_python_statsd_tags_in_names(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        p = self.stack.shim("--flush-interval", "60s", cmd=["/usr/bin/python3", "-c", PY_CLIENT])
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0, self.stack.log_of(p))
        b = sink.batches()
        self.assert_nothing_skipped(b)
        self.assertEqual(shimlib.total(b, "py.hits", {"env": "prod", "zone": "a"}), 3)
        self.assertEqual(one(b, "py.queue", "gauge", {"env": "prod"})["value"], 7)
        t = one(b, "py.lat", "timer", {"env": "prod"})
        self.assertEqual((t["count"], t["sum"], t["min"], t["max"]), (2, 30, 12, 18))

    def test_raw_lines_every_form(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        p = self.stack.shim("--flush-interval", "60s")
        port = shimlib.shim_port(self.stack, p)
        shimlib.send(port, *RAW)
        p.send_signal(15)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0, self.stack.log_of(p))
        b = sink.batches()
        self.assertEqual(shimlib.total(b, "pk.c"), 12, "1+2+3 at @0.5")
        self.assertEqual(one(b, "pk.g", "gauge")["value"], 6, "5, +2, -1")
        t = one(b, "pk.ms", "timer")
        self.assertEqual((t["count"], t["sum"], t["min"], t["max"]), (3, 60, 10, 30))
        self.assertEqual(one(b, "pk.h", "histogram")["count"], 2)
        self.assertEqual(one(b, "pk.d", "distribution")["count"], 2)
        self.assertEqual(shimlib.total(b, "f.c", {"a": "b"}), 3)
        self.assertEqual(shimlib.total(b, "u.c", {}), 2)
        self.assertEqual(shimlib.total(b, "u.c", {"k": "v"}), 1)
        tags = {"env": "prod", "zone": "a"}
        self.assertEqual(shimlib.total(b, "influx.c4", tags), 1)
        self.assertEqual(shimlib.total(b, "lib.c", tags), 2)
        self.assertEqual(shimlib.total(b, "sfx.c", tags), 3)
        self.assertEqual(shimlib.total(b, "sfx.mid", {"env": "prod"}), 4)
        self.assertEqual(shimlib.total(b, "mix", {"a": "1", "b": "3", "c": "4"}), 5)
        self.assertEqual(shimlib.total(b, "te", {"a": "1"}), 6)
        self.assertEqual(shimlib.total(b, "last"), 1)
        self.assertEqual(shimlib.total(b, "metricsbus.shim.unknown_fields"), 3)
        self.assertEqual(shimlib.total(b, "metricsbus.shim.tag_errors"), 2)
        self.assertEqual(shimlib.total(b, "metricsbus.shim.bad_lines"), 6)
        for reason in ("format", "name", "type", "value", "rate", "tags"):
            self.assertEqual(shimlib.total(b, "metricsbus.shim.parse_errors", {"reason": reason}),
                             1, reason)

    def test_tag_styles_flag(self):
        sink = shimlib.Sink(self.stack, self.stack.ingest)
        p = self.stack.shim("--flush-interval", "60s", "--tag-styles", "dogstatsd,signalfx")
        port = shimlib.shim_port(self.stack, p)
        shimlib.send(port, "a,b=1:1|c", "c#d=2:1|c", "e[f=3]:1|c|#g:4")
        p.send_signal(15)
        self.assertEqual(shimlib.wait_exit(self.stack, p), 0, self.stack.log_of(p))
        b = sink.batches()
        self.assertEqual(shimlib.total(b, "a,b=1"), 1)
        self.assertEqual(shimlib.total(b, "c#d=2"), 1)
        self.assertEqual(shimlib.total(b, "e", {"f": "3", "g": "4"}), 1)
        # the environment variable too, and a bad value is a usage error
        p = self.stack.shim("--tag-styles", "influx", "--", "true")
        self.assertEqual(shimlib.wait_exit(self.stack, p), 2)
        self.assertIn("--tag-styles", self.stack.log_of(p))
        p = self.stack.shim(env={"METRICSBUS_TAG_STYLES": "none,bogus"})
        self.assertEqual(shimlib.wait_exit(self.stack, p), 2)
