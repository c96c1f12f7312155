"""test_shim_restarts: containers that exit while agentd restarts lose nothing. Twenty shims
count statsd while agentd is killed with -9 twice; half of them exit right after each restart,
when their dialers have backed off to 2 s between redials: each one's final drain must reach the
agentd that is back, and every total comes out exact. Round after round (20 under make soak)."""
import time
import unittest

import mbharness as mb
import shimlib
from agentd_util import range_sum

SHIMS = 20
ROUNDS = 20 if mb.MODE == "soak" else 3


class ShimRestarts(mb.StackTest):
    def start_shims(self, rnd):
        shims = []
        for i in range(SHIMS):
            cid = "r%d-%d" % (rnd, i)
            # a drain shorter than the dialer's 2 s back-off: only a redial at once makes it
            p = self.stack.shim("--listen", "127.0.0.1:0", "--container-id", cid,
                                "--flush-interval", "1s", "--drain-timeout", "1s")
            shims.append({"p": p, "cid": cid, "sent": 0})
        for s in shims:
            s["port"] = shimlib.shim_port(self.stack, s["p"])
        return shims

    def send(self, s, n):
        lines = ["hits:1|c"] * n
        for k in range(0, n, 50):
            shimlib.send(s["port"], *lines[k:k + 50])
        s["sent"] += n

    def test_containers_exiting_around_agentd_restarts_lose_nothing(self):
        st = self.stack
        agentd = st.agentd()
        for rnd in range(ROUNDS):
            shims = self.start_shims(rnd)
            first, second = shims[:SHIMS // 2], shims[SHIMS // 2:]
            for s in shims:
                self.send(s, 100)
            mb.poll(lambda: all(range_sum(st, s["cid"], "hits") == s["sent"] for s in shims),
                    timeout=60, what="round %d: first counts in" % rnd)
            # counted while agentd is away, then the shim exits as soon as agentd is back
            agentd.kill()
            agentd.wait()
            for s in shims:
                self.send(s, 100)
            # agentd away long enough for every dialer to back off to its 2 s ceiling (a
            # fault's duration, not a wait for an event)
            time.sleep(4)
            agentd = st.agentd()
            for s in first:
                s["p"].terminate()
            for s in first:
                self.assertEqual(shimlib.wait_exit(st, s["p"], timeout=30), 0,
                                 st.log_of(s["p"]))
            for s in second:
                self.send(s, 100)
            agentd.kill()
            agentd.wait()
            time.sleep(4)
            agentd = st.agentd()
            for s in second:
                s["p"].terminate()
            for s in shims:
                rc = shimlib.wait_exit(st, s["p"], timeout=30)
                self.assertEqual(rc, 0, st.log_of(s["p"]))
                self.assertNotIn("not acknowledged", st.log_of(s["p"]))
            for s in shims:
                self.assertEqual(range_sum(st, s["cid"], "hits"), s["sent"],
                                 "round %d, %s:\n%s" % (rnd, s["cid"], st.log_of(s["p"])))


if __name__ == "__main__":
    unittest.main()
