"""test_agentd_sockets: agentd's listeners are created once and never re-created: an idle agentd
with a bridge and a shim connected opens and closes no socket; after HTTP load on the bridge
and a storm of peers that connect and close before the handshake, agentd still answers and
stops at once on TERM; what the listeners saw is in agentd's own counters."""
import http.client
import os
import threading
import time
import unittest

import mbharness as mb
from agentd_util import half_open, self_total, send_batch, sock_path, wait_exit


def socket_inodes(pid):
    """The socket inodes among a process's open descriptors."""
    out = set()
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            t = os.readlink(os.path.join(d, fd))
        except OSError:
            continue
        if t.startswith("socket:["):
            out.add(t)
    return out


def http_load(port, seconds, conns=16, path="/v0/node"):
    """wrk -c16 in Python: conns keep-alive connections asking path back to back for seconds.
    Returns (answers by status, transport errors)."""
    end = time.monotonic() + seconds
    counts, errors = {}, [0]
    lock = threading.Lock()

    def worker():
        c = None
        while time.monotonic() < end:
            try:
                if c is None:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                c.request("GET", path)
                r = c.getresponse()
                r.read()
                with lock:
                    counts[r.status] = counts.get(r.status, 0) + 1
            except (OSError, http.client.HTTPException):
                with lock:
                    errors[0] += 1
                if c is not None:
                    c.close()
                c = None
        if c is not None:
            c.close()
    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts, errors[0]


def term_seconds(p):
    """Sends TERM and returns how long agentd took to exit (None if it did not)."""
    t0 = time.monotonic()
    p.terminate()
    rc = wait_exit(p, timeout=20)
    return (time.monotonic() - t0) if rc is not None else None, rc


class AgentdSockets(mb.StackTest):
    def test_idle_agentd_with_peers_never_relistens(self):
        """The old half-open watchdog re-listened on an idle agentd every ~6 s, dropping every
        connected peer. Now nothing happens on an idle agentd's sockets: over 20 s with a
        bridge and a shim connected, it opens and closes no socket, and says nothing about
        its listeners."""
        st = self.stack
        p = st.agentd("--node-interval", "1s")
        st.api()
        shim = st.shim("--flush-interval", "1s", "--container-id", "idle1",
                       cmd=["sleep", "3600"])
        # both peers connected: a bridge request and the shim's first batch went through
        self.assertEqual(st.http("/v0/node")[0], 200)
        # asked through the bridge: a one-off query client's pipe would close on agentd's
        # side only after it exits, inside the window watched below
        mb.poll(lambda: "idle1" in (st.http_json("/v0/containers")[1] or []), timeout=30,
                what="the shim's first batch")
        before = socket_inodes(p.pid)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.assertIsNone(p.poll(), st.log_of(p))
            self.assertIsNone(shim.poll(), st.log_of(shim))
            time.sleep(0.5)  # watching an idle process, not waiting for an event
        after = socket_inodes(p.pid)
        self.assertEqual(before, after, "agentd opened or closed sockets while idle")
        self.assertEqual(st.http("/v0/node")[0], 200)
        log = st.log_of(p)
        self.assertNotIn("listening again", log)
        self.assertNotIn("listener", log)

    def test_term_after_http_load_and_half_open_storm(self):
        """wrk -c16 on the bridge's /v0/node, then 300 peers per socket that close before the
        handshake: agentd answers a batch and a query at once, its counters show the storm,
        and TERM stops it promptly (nothing to drain)."""
        st = self.stack
        p = st.agentd("--node-interval", "500ms")
        st.api()
        counts, errors = http_load(st.http_port, 8 if not mb.SANITIZED else 4)
        print("\n  /v0/node under 16 connections: %s, %d transport errors" % (counts, errors),
              end=" ")
        self.assertGreater(counts.get(200, 0), 0, counts)
        self.assertEqual(errors, 0)
        for url in (st.ingest, st.query):
            half_open(sock_path(url), times=150)
            half_open(sock_path(url), times=150, send=b"\x00SP\x00")
        a = send_batch(st, "c:after:1", cid="storm", inst=1, seq=1, timeout=10000)
        self.assertEqual(a["st"], 0, a)
        self.assertEqual(st.http("/v0/node")[0], 200)
        # what the listeners saw: nng's own counts, exported by agentd
        for sock in ("ingest", "query"):
            mb.poll(lambda: self_total(st, "agentd.listener.half_open", tags="socket:" + sock) > 0,
                    timeout=30, what="half-open peers counted on " + sock)
            self.assertGreater(self_total(st, "agentd.listener.accepted",
                                          tags="socket:" + sock), 0)
        secs, rc = term_seconds(p)
        print("stopped in %.3f s" % (secs or -1), end=" ")
        self.assertIsNotNone(secs, "agentd did not stop on TERM:\n" + st.log_of(p))
        self.assertEqual(rc, 0)
        # prompt: far below the 4 s the watchdog's probes used to hold it (generous for load)
        self.assertLess(secs, 3 * (mb.SLOW if mb.SANITIZED else 1), st.log_of(p))
        self.assertIn("stopped", st.log_of(p))

    def test_term_when_idle_is_prompt(self):
        st = self.stack
        p = st.agentd()
        secs, rc = term_seconds(p)
        print("\n  idle agentd stopped in %.3f s" % (secs or -1), end=" ")
        self.assertEqual(rc, 0)
        self.assertLess(secs, 3 * (mb.SLOW if mb.SANITIZED else 1))


if __name__ == "__main__":
    unittest.main()
