"""test_security_flood: a container that floods distinct names keeps its health data: past
--max-series-per-source its resource metrics (cpus.*, mem.*) and its shim's own counters
(metricsbus.shim.*) are still stored and served, while its flood is refused and counted."""
import json
import unittest

import mbharness as mb
import shimlib


class Flood(mb.StackTest):
    def test_flood_leaves_resource_and_shim_series(self):
        st = self.stack
        st.agentd("--node-interval", "500ms", "--max-series-per-source", "100")
        st.api()
        p = st.shim("--container-id", "flooder", "--flush-interval", "500ms",
                    cmd=["sleep", "300"])
        port = shimlib.shim_port(st, p)
        k = [0]

        def flood_then_look():
            # 400 new names a round: far past the limit of 100
            shimlib.send(port, *["flood.n%d:1|c" % (k[0] * 400 + i) for i in range(400)])
            k[0] += 1
            code, _, raw = st.http("/v1/series?source=flooder")
            if code != 200:
                return None
            names = {s["name"] for s in json.loads(raw)["series"]}
            flood = [n for n in names if n.startswith("flood.")]
            res = [n for n in names if n.startswith(("cpus.", "mem."))]
            own = [n for n in names if n.startswith("metricsbus.shim.")]
            if k[0] < 3 or not res or not own:
                return None
            return flood, res, own
        flood, res, own = mb.poll(flood_then_look, timeout=60,
                                  what="resource and shim series beside a flood")
        self.assertLessEqual(len(flood), 100)
        self.assertIn("metricsbus.shim.series_refused", own)
        # served where users look: the container's resource metrics, and the shim's counters
        code, _, raw = st.http("/system/v1/metrics/v0/containers/flooder")
        self.assertEqual(code, 200)
        got = {d["name"] for d in json.loads(raw)["datapoints"]}
        self.assertTrue(any(n.startswith("cpus.") for n in got), got)
        self.assertTrue(any(n.startswith("mem.") for n in got), got)


if __name__ == "__main__":
    unittest.main()
