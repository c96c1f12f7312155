"""test_shim_threads: a shim is small: at most 8 threads in all over ipc (nng's pools built
small for it, its resolver started only for a name lookup), whatever the host's CPUs; over
tcp the resolver starts and delivery works."""
import os
import unittest

import mbharness as mb
import shimlib
from agentd_util import query


# ThreadSanitizer's runtime adds a thread of its own (named after the program).
EXTRA = 1 if mb.TSAN else 0


def threads(pid):
    return sorted(open("/proc/%d/task/%s/comm" % (pid, t)).read().strip()
                  for t in os.listdir("/proc/%d/task" % pid))


class ShimThreads(mb.StackTest):
    def test_at_most_8_threads_over_ipc(self):
        st = self.stack
        st.agentd()
        p = st.shim("--listen", "127.0.0.1:0", "--container-id", "thr",
                    "--flush-interval", "200ms", cmd=["sleep", "3600"])
        port = shimlib.shim_port(st, p)
        shimlib.send(port, "x:1|c")
        mb.poll(lambda: "thr" in query(st, "containers")["ids"], timeout=30,
                what="the shim delivering")
        t = threads(p.pid)
        print("\n  shim threads (%d CPUs): %d %s" % (os.cpu_count(), len(t), t), end=" ")
        self.assertLessEqual(len(t), 8 + EXTRA, t)
        self.assertNotIn("nng:resolver", t)

    def test_tcp_starts_the_resolver_and_delivers(self):
        st = self.stack
        port = mb.free_port()
        st.ingest = "tcp://127.0.0.1:%d" % port
        st.agentd()
        p = st.shim("--listen", "127.0.0.1:0", "--container-id", "thrtcp",
                    "--flush-interval", "200ms", cmd=["sleep", "3600"])
        mb.poll(lambda: "thrtcp" in query(st, "containers")["ids"], timeout=30,
                what="the shim delivering over tcp")
        t = threads(p.pid)
        self.assertIn("nng:resolver", t)
        self.assertLessEqual(len(t), 9 + EXTRA, t)


if __name__ == "__main__":
    unittest.main()
