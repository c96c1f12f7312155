"""test_api_dcos: the DC/OS metrics API v0 of metricsbus-api against a real agentd and shim:
every endpoint under the three prefixes, the JSON shapes, each statsd type in /app, and every
error status (204, 400, 404, 405) with its JSON reason."""
import datetime
import json
import unittest

import apilib as al
import mbharness as mb


class DcosApi(mb.StackTest):
    def setUp(self):
        super().setUp()
        # a short --container-ttl: a stopped container leaves within the test
        self.agentd, self.api, self.shim, self.port = al.start(
            self.stack, agentd_args=("--container-ttl", "2s"))

    def test_every_endpoint_under_every_prefix(self):
        s = self.stack
        for pre in al.PREFIXES:
            with self.subTest(prefix=pre):
                st, hdr, raw = s.http(pre + "/ping")
                self.assertEqual(st, 200)
                self.assertEqual(hdr["content-type"], "application/json; charset=utf-8")
                body = al.strict_json(raw)
                self.assertIs(body["ok"], True)
                self.assertRegex(body["timestamp"], al.RFC3339)

                st, hdr, raw = s.http(pre + "/node")
                self.assertEqual(st, 200)
                self.assertEqual(hdr["content-type"], "application/json; charset=utf-8")
                body = al.strict_json(raw)
                al.check_datapoints_shape(self, body)
                names = {p["name"] for p in body["datapoints"]}
                for n in ("cpu.total", "memory.total", "load.1min", "system.uptime"):
                    self.assertIn(n, names)
                self.assertEqual(body["dimensions"]["mesos_id"], "node-7")
                self.assertEqual(body["dimensions"]["cluster_id"], "k1")
                fs = [p for p in body["datapoints"] if p["name"] == "filesystem.capacity.total"]
                self.assertTrue(fs and all("path" in p["tags"] for p in fs))
                cpu = al.by_name(body["datapoints"], "cpu.total")[0]
                self.assertEqual(cpu["unit"], "percent")
                self.assertNotIn("tags", cpu)

                st, body = s.http_json(pre + "/containers")
                self.assertEqual(st, 200)
                self.assertEqual(body, [al.CID])

                st, hdr, raw = s.http(pre + f"/containers/{al.CID}")
                self.assertIn(st, (200, 204))  # cgroup metrics exist only inside a cgroup of its own
                if st == 200:
                    body = al.strict_json(raw)
                    al.check_datapoints_shape(self, body)
                    self.assertEqual(body["dimensions"]["container_id"], al.CID)

                st, hdr, raw = s.http(pre + f"/containers/{al.CID}/app")
                self.assertEqual(st, 200)
                body = al.strict_json(raw)
                al.check_datapoints_shape(self, body)
                d = body["dimensions"]
                self.assertEqual(d["container_id"], al.CID)
                self.assertEqual(d["task_name"], "web")
                self.assertEqual(d["mesos_id"], "node-7")
                self.assertIn("hostname", d)

                st, body = s.http_json(pre + f"/containers/{al.CID}/app/req")
                self.assertEqual(st, 200)
                self.assertEqual({p["name"] for p in body["datapoints"]}, {"req", "req.rate"})

    def test_statsd_types_read_as_the_contract_says(self):
        st, body = al.app_points(self.stack)
        self.assertEqual(st, 200)
        pts = body["datapoints"]
        self.assertEqual(al.by_name(pts, "req")[0]["value"], 6)
        # the last flush interval, not the 10 s slot: 6 in a 1 s flush is 6/s
        self.assertEqual(al.by_name(pts, "req.rate")[0]["value"], 6)
        self.assertEqual(al.by_name(pts, "temp")[0]["value"], 21.5)
        self.assertEqual(al.by_name(pts, "users")[0]["value"], 2)
        # a timer under its plain name is the mean, as DC/OS users read it
        self.assertEqual(al.by_name(pts, "lat")[0]["value"], 25)
        want = {"lat.count": 4, "lat.sum": 100, "lat.min": 10, "lat.max": 40}
        for n, v in want.items():
            self.assertEqual(al.by_name(pts, n)[0]["value"], v, n)
        self.assertAlmostEqual(al.by_name(pts, "lat.stddev")[0]["value"], 11.18, delta=2.0)
        for q in ("p50", "p90", "p95", "p99"):
            v = al.by_name(pts, "lat." + q)[0]["value"]
            self.assertTrue(9.8 <= v <= 40.5, (q, v))
        ts = {p["timestamp"] for p in pts if p["name"].startswith(("req", "lat", "temp"))}
        self.assertEqual(len(ts), 1, "one interval's end time for one flush")
        # that flush's time: never the end of a slot still to come
        t = datetime.datetime.fromisoformat(ts.pop().replace("Z", "+00:00"))
        self.assertLessEqual(t, datetime.datetime.now(datetime.timezone.utc))

    def test_app_metric_has_every_tag_set(self):
        st, body = al.app_points(self.stack, "tagged")
        self.assertEqual(st, 200)
        counts = {json.dumps(p.get("tags"), sort_keys=True): p["value"]
                  for p in body["datapoints"] if p["name"] == "tagged"}
        self.assertEqual(counts, {json.dumps({"region": "eu"}): 1,
                                  json.dumps({"Le": "x", "region": "us"}, sort_keys=True): 5})

    def test_timer_metric_includes_derived_names(self):
        st, body = al.app_points(self.stack, "lat")
        self.assertEqual(st, 200)
        names = {p["name"] for p in body["datapoints"]}
        self.assertEqual(names, {"lat", "lat.count", "lat.sum", "lat.min", "lat.max", "lat.stddev",
                                 "lat.p50", "lat.p90", "lat.p95", "lat.p99"})
        st, body = al.app_points(self.stack, "lat.p99")
        self.assertEqual(st, 200)
        self.assertEqual([p["name"] for p in body["datapoints"]], ["lat.p99"])

    def test_node_metrics_not_cut_by_the_per_source_series_limit(self):
        # the limit is against containers' runaway tags, not agentd's own ~70 node series
        st = mb.Stack()
        self.addCleanup(st.close)
        al.start(st, agentd_args=("--max-series-per-source", "3"), data=False)

        def node_names():
            code, body = st.http_json("/v0/node")
            names = {p["name"] for p in body["datapoints"]} if code == 200 else set()
            want = {"cpu.total", "memory.total", "load.1min", "system.uptime"}
            return names if want <= names else None
        self.assertGreater(len(mb.poll(node_names, what="node metrics")), 3)

    def test_not_found_with_json_reasons(self):
        s = self.stack
        for path in ["/system/v1/agent/other-node/metrics/v0/node",
                     "/nope", "/v0/nodes", "/system/v1/metrics/v0/containers/x/y/z",
                     "/v1/series?source=never-seen"]:
            with self.subTest(path=path[:80]):
                st, hdr, raw = s.http(path)
                self.assertEqual(st, 404)
                self.assertEqual(hdr["content-type"], "application/json; charset=utf-8")
                self.assertTrue(al.strict_json(raw)["error"])
                self.assertTrue(raw.endswith(b"}\n"))

    def test_nothing_to_show_on_dcos_paths_is_204_without_body(self):
        """As DC/OS answered and as the dcos CLI reads it ("No metrics found")."""
        s = self.stack
        for pre in al.PREFIXES:
            for tail in ["/containers/never-seen", "/containers/never-seen/app",
                         f"/containers/{al.CID}/app/never.sent",
                         "/containers/" + "a" * 5000, "/containers/" + "a" * 5000 + "/app/x",
                         "/containers/a%20b/app"]:
                with self.subTest(path=(pre + tail)[:80]):
                    st, hdr, raw = s.http(pre + tail)
                    self.assertEqual((st, raw), (204, b""))
                    self.assertNotIn("content-type", hdr)

    def test_app_name_matches_by_prefix_on_a_dot_boundary(self):
        st, body = self.stack.http_json(f"/v0/containers/{al.CID}/app/lat")
        self.assertEqual(st, 200)
        self.assertIn("lat.p99", {p["name"] for p in body["datapoints"]})
        st, _, raw = self.stack.http(f"/v0/containers/{al.CID}/app/la")
        self.assertEqual((st, raw), (204, b""))  # "la" is no dot boundary of "lat"

    def test_shim_own_counters_only_with_self(self):
        def own(q):
            st, body = self.stack.http_json(f"/v0/containers/{al.CID}/app{q}")
            self.assertEqual(st, 200)
            return {p["name"] for p in body["datapoints"] if p["name"].startswith("metricsbus.shim.")}
        self.assertEqual(own(""), set())
        self.assertIn("metricsbus.shim.lines", mb.poll(lambda: own("?self=1") or None,
                                                        what="own counters with self=1"))
        # asked by name (the family, by prefix), they are there without self=1
        st, body = self.stack.http_json(f"/v0/containers/{al.CID}/app/metricsbus.shim")
        self.assertEqual(st, 200)
        self.assertIn("metricsbus.shim.lines", {p["name"] for p in body["datapoints"]})

    def test_bad_requests_name_the_problem(self):
        s = self.stack
        for path, word in [("/v0/containers/abc%zz", "percent"), ("/v0/containers/abc%4", "percent"),
                           ("/v0/containers/abc%", "percent"), ("/v0/containers/a%00b", "percent"),
                           ("/v1/range?source=node&name=cpu.total&from=%zz", "from"),
                           ("/v1/range?source=node", "name"),
                           ("/v1/range?name=cpu.total", "source"),
                           ("/v1/range?source=node&name=cpu.total&from=yesterday", "from"),
                           ("/v1/range?source=node&name=cpu.total&to=later", "to"),
                           ("/v1/range?source=node&name=cpu.total&step=10", "step"),
                           ("/v1/range?source=node&name=cpu.total&from=-730d&step=1h", "step"),
                           ("/v1/range?source=node&name=cpu.total&stat=median", "stat"),
                           ("/v1/range?source=node&name=cpu.total&tags=a:1,a:2", "tags"),
                           ("/v1/series?sort=bytes", "sort")]:
            with self.subTest(path=path):
                st, hdr, raw = s.http(path)
                self.assertEqual(st, 400)
                self.assertEqual(hdr["content-type"], "application/json; charset=utf-8")
                self.assertIn(word, al.strict_json(raw)["error"])

    def test_hostile_requests_never_hurt_the_bridge(self):
        import socket
        s = self.stack
        raws = [b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                b"\x00\xff\xfe garbage\r\n\r\n",
                b"GET /v0/containers/%ff%fe/app HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /v0/node HTTP/1.1\r\nHost: x\r\nX: " + b"y" * 70000 + b"\r\n\r\n",
                b"POST /v0/node HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"z" * 1000,
                b"GET /v1/range?" + b"&".join(b"k%d=v" % i for i in range(200)) + b" HTTP/1.1\r\n\r\n",
                b"GET /v0/ping HTTP/1.1\r\nHost: x\r\n"]  # never finished
        for raw in raws:
            c = socket.create_connection(("127.0.0.1", s.http_port))
            c.settimeout(2)  # some get no answer: the idle-connection timeout reaps those
            head = b""
            try:
                c.sendall(raw)
                c.shutdown(socket.SHUT_WR)
                head = c.recv(200)
            except OSError:  # closed on us mid-request: fine, as long as the bridge lives
                pass
            finally:
                c.close()
            if head:
                self.assertRegex(head, rb"^HTTP/1\.[01] (4\d\d|2\d\d)")
        self.assertIsNone(self.api.poll())
        st, _, _ = s.http("/v0/ping")
        self.assertEqual(st, 200)
        st, body = s.http_json("/v1/range?" + "&".join("k%d=v" % i for i in range(70)))  # over the 64 the bridge takes
        self.assertEqual(st, 400)
        self.assertIn("too many", body["error"])

    def test_wrong_method_is_405(self):
        for m in ("POST", "PUT", "DELETE"):
            st, hdr, raw = self.stack.http("/v0/node", method=m)
            self.assertEqual(st, 405)
            self.assertIn("GET", hdr["allow"])
            self.assertTrue(al.strict_json(raw)["error"])
        st, hdr, raw = self.stack.http("/v0/ping", method="HEAD")
        self.assertEqual(st, 200)
        self.assertEqual(raw, b"")

    def test_known_container_without_live_data_is_204(self):
        self.stack.stop(self.shim)  # its last batch says the container stopped: gone after 2s
        def gone():
            st, _, raw = self.stack.http(f"/v0/containers/{al.CID}/app")
            return (st, raw) if st == 204 else None
        st, raw = mb.poll(gone, timeout=20, what="204 after the container stopped")
        self.assertEqual(raw, b"")
        st, body = self.stack.http_json("/v0/containers")
        self.assertEqual((st, body), (200, []))
        st, _, _ = self.stack.http(f"/v0/containers/{al.CID}")
        self.assertEqual(st, 204)

    def test_requests_are_logged_one_line_each(self):
        self.stack.http("/v0/ping")
        self.stack.http("/v0/nope%20x")
        log = mb.poll(lambda: (lambda t: t if "/v0/nope%20x 404" in t else None)(
            self.stack.log_of(self.api)), what="request log line")
        self.assertRegex(log, r"INFO api: GET /v0/ping 200 [0-9.]+ms\n")
        self.assertRegex(log, r"INFO api: GET /v0/nope%20x 404 [0-9.]+ms\n")

    def test_json_escapes_odd_names_and_tags(self):
        raw = 'we"ird\\n{}:1|c|#k:a"b\\c,q:\u00e9'
        al.send(self.port, [raw])
        body = al.wait_app(self.stack, 'we"ird\\n{}')
        p = al.by_name(body["datapoints"], 'we"ird\\n{}')[0]
        self.assertEqual(p["tags"], {"k": 'a"b\\c', "q": "\u00e9"})


if __name__ == "__main__":
    unittest.main()
