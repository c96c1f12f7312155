"""test_remote_write_faults: agentd's remote write against a small real receiver of our own
(tests/integration/rwlib.py) that refuses, fails, throttles, hangs or redirects on purpose: only
refused samples are lost, 5xx that persists is searched and 429 retried, a hung connection,
a 10 MiB error body and a redirect loop do no harm, the token file is sent and re-read, slots
past --remote-write-max-behind are dropped and counted, late points counted, a backlog that could
not be shipped exactly refused at start-up, a receiver added later given the same totals."""
import os
import time
import unittest

import agentd_util as au
import mbharness as mb
import rwlib
from rwlib import FAST, RES, Feeder, contiguous, shim


class OwnReceiver(mb.StackTest):
    def test_an_outage_past_max_behind_drops_old_slots_and_counts_them(self):
        s = self.stack
        state = {"down": False}
        rcv = rwlib.Receiver(lambda h, series: (503, "down") if state["down"] else None)
        self.addCleanup(rcv.close)
        a = s.agentd("--remote-write", rcv.url, "--remote-write-max-behind", "20s", *FAST)
        p, port = shim(s)
        feed = Feeder(port, lambda i: ["hits:1|c"])
        try:
            mb.poll(lambda: rcv.series("hits_total"), timeout=40, what="first samples")
            state["down"] = True
            t_down = time.time() * 1000
            mb.poll(lambda: "older than --remote-write-max-behind" in s.log_of(a),
                    timeout=90, interval=0.5, what="old slots dropped")
            state["down"] = False
            t_up = time.time() * 1000
            mb.poll(lambda: max(rcv.series("hits_total")) > t_up, timeout=60, interval=0.5,
                    what="shipping again after the outage")
        finally:
            feed.stop()
        times = sorted(rcv.series("hits_total"))
        gap = [t for t in times if t > t_down + RES * 1000 and t < t_up - 40000]
        self.assertEqual(gap, [], "slots older than max-behind were never sent")
        # the running total is still exact: what was dropped is slots, not counts
        mb.poll(lambda: max(rcv.series("hits_total").values()) == feed.sent, timeout=60,
                interval=0.5, what="the total catches up")
        mb.poll(lambda: au.self_total(s, "agentd.remote_write.slots.dropped") >= 1,
                timeout=30, what="dropped slots counted")

    def test_start_up_refuses_a_backlog_it_could_not_ship_exactly(self):
        s = self.stack
        rcv = rwlib.Receiver()
        self.addCleanup(rcv.close)
        ret = ["--retention", "10s:1h,1m:7d", "--remote-write", rcv.url]
        # 1-minute slots 2 h back: in the 1m window, but counters' totals read the finest
        # slots after each slot shipped, and the 10 s window holds 1 h only
        for args, words in (([*ret, "--remote-write-resolution", "1m", "--remote-write-max-behind", "2h"],
                             "and the finest window"),
                            ([*ret, "--remote-write-resolution", "5m"], "is not a resolution of --retention")):
            p = s.agentd(*args, wait=False)
            self.assertNotEqual(p.wait(timeout=30), 0, args)
            self.assertIn(words, s.log_of(p))
        # 20 min + the settle time + a request's range of 30 one-minute slots: inside both
        a = s.agentd(*ret, "--remote-write-resolution", "1m", "--remote-write-max-behind", "20m")
        self.assertIsNone(a.poll())

    def test_a_receiver_added_later_gets_the_same_totals(self):
        s = self.stack
        first, later = rwlib.Receiver(), rwlib.Receiver()
        self.addCleanup(first.close)
        self.addCleanup(later.close)
        a = s.agentd("--remote-write", first.url, *FAST)
        p, port = shim(s)
        feed = Feeder(port, lambda i: ["hits:1|c"])
        try:
            mb.poll(lambda: len(first.series("hits_total")) >= 2, timeout=40, interval=0.5,
                    what="shipping to the first receiver")
            s.stop(a)
            s.agentd("--remote-write", first.url, "--remote-write", later.url, *FAST)
            mb.poll(lambda: len(later.series("hits_total")) >= 3, timeout=60, interval=0.5,
                    what="shipping to the receiver added later")
        finally:
            feed.stop()
        mb.poll(lambda: all(r.series("hits_total") and max(r.series("hits_total").values()) == feed.sent
                            for r in (first, later)), timeout=60, interval=0.5,
                what="both at the total sent (%d)" % feed.sent)
        # the counter's totals come from the store, not from what each receiver was sent: the
        # same value at every slot both have, and the later one starts at the whole total
        f, lt = first.series("hits_total"), later.series("hits_total")
        both = sorted(set(f) & set(lt))
        self.assertGreaterEqual(len(both), 3)
        self.assertEqual([f[t] for t in both], [lt[t] for t in both])
        self.assertGreater(lt[min(lt)], 1)
        self.assertTrue(contiguous(f) and contiguous(lt))

    def test_late_points_counted_and_late_counts_folded_into_the_next_sample(self):
        s = self.stack
        rcv = rwlib.Receiver()
        self.addCleanup(rcv.close)
        s.agentd("--remote-write", rcv.url, *FAST)
        mb.poll(lambda: rcv.series("agentd_batches_received_total"), timeout=40,
                what="shipping under way")
        # a batch filed a minute back, in slots already shipped (a shim's late backlog)
        old = int(time.time() * 1000) - 60000
        self.assertEqual(au.send_batch(s, "g:late.gauge:5", "c:late.count:4", cid="old",
                                       time=old)["st"], 0)
        mb.poll(lambda: au.self_total(s, "agentd.remote_write.points.late") >= 1, timeout=30,
                what="the late gauge point counted")
        # the count is not lost: the counter's next sample carries it
        mb.poll(lambda: 4 in rcv.series("late_count_total").values(), timeout=30,
                what="the late count in the next sample")
        self.assertTrue(all(t > old for t in rcv.series("late_count_total")))
        self.assertEqual(rcv.series("late_gauge"), {})  # a shipped slot is not sent again

    def test_token_file_is_sent_and_reread(self):
        s = self.stack
        tok = os.path.join(s.dir, "token")
        with open(tok, "w") as f:
            f.write("first-token\n")
        seen = []

        def behave(h, series):
            seen.append(h.headers.get("Authorization"))
            return None
        rcv = rwlib.Receiver(behave)
        self.addCleanup(rcv.close)
        s.agentd("--remote-write", rcv.url, "--remote-write-token-file", tok, *FAST)
        mb.poll(lambda: "Bearer first-token" in seen, timeout=30, what="the first token")
        h = rcv.headers[-1]
        self.assertEqual(h.get("Content-Encoding"), "snappy")
        self.assertEqual(h.get("X-Prometheus-Remote-Write-Version"), "0.1.0")
        self.assertEqual(h.get("Content-Type"), "application/x-protobuf")
        with open(tok + ".new", "w") as f:
            f.write("second-token")
        os.rename(tok + ".new", tok)
        mb.poll(lambda: "Bearer second-token" in seen, timeout=30, what="the rotated token")

    def test_a_refused_sample_is_the_only_one_lost(self):
        s = self.stack
        bad_times = []

        def behave(h, series):
            # one sample of the poison gauge refused (like a receiver's out-of-bounds sample):
            # the whole request is refused, as Prometheus and Mimir do
            for labels, samples in series:
                if labels.get("__name__") == "poison":
                    for t, v in samples:
                        if v == 13:
                            bad_times.append(t)
                            return (400, "out of bounds: poison at %d" % t)
            return None
        rcv = rwlib.Receiver(behave)
        self.addCleanup(rcv.close)
        a = s.agentd("--remote-write", rcv.url, *FAST)
        p, port = shim(s)
        feed = Feeder(port, lambda i: ["good:1|c", "poison:%d|g" % (13 if i < 25 else 1)])
        try:
            mb.poll(lambda: rcv.series("poison").get(max(rcv.series("poison") or [0])) == 1,
                    timeout=60, interval=0.5, what="shipping past the refused samples")
        finally:
            feed.stop()
        good = rcv.series("good_total")
        self.assertTrue(contiguous(good), sorted(good))
        self.assertTrue(bad_times, "the receiver refused something")
        refused = set(bad_times)
        poison = rcv.series("poison")
        self.assertFalse(refused & set(poison), "no refused sample is stored")
        self.assertTrue(all(v == 1 for v in poison.values()))
        log = s.log_of(a)
        self.assertIn("refused, dropped: out of bounds: poison", log)
        mb.poll(lambda: au.self_total(s, "agentd.remote_write.samples.refused") >= 1,
                timeout=30, what="refused samples counted")

    def test_5xx_that_persists_is_searched_and_429_retried(self):
        s = self.stack
        state = {"n": 0}

        def behave(h, series):
            state["n"] += 1
            if state["n"] <= 3:
                return (429, "slow down")
            for labels, samples in series:
                if labels.get("__name__") == "old" and any(v == 99 for _, v in samples):
                    return (500, "too old")  # Prometheus 2.42 answers 500 for these
            return None
        rcv = rwlib.Receiver(behave)
        self.addCleanup(rcv.close)
        a = s.agentd("--remote-write", rcv.url, *FAST)
        p, port = shim(s)
        feed = Feeder(port, lambda i: ["hits:2|c", "old:%d|g" % (99 if i < 25 else 5)])
        try:
            mb.poll(lambda: 5 in rcv.series("old").values(), timeout=90, interval=0.5,
                    what="shipping past the 500s")
        finally:
            feed.stop()
        self.assertNotIn(99, rcv.series("old").values())
        self.assertTrue(contiguous(rcv.series("hits_total")))
        log = s.log_of(a)
        self.assertIn("HTTP 429 (slow down): retrying", log)
        self.assertIn("refused, dropped: too old", log)

    def test_hung_connection_huge_error_body_and_redirect_loop_do_no_harm(self):
        s = self.stack
        mode = {"m": "hang"}

        def behave(h, series):
            m = mode["m"]
            if m == "hang":
                return "hang"
            if m == "huge":
                return (503, b"x" * (10 << 20))
            if m == "redirect":
                return (302, "see elsewhere")
            return None
        rcv = rwlib.Receiver(behave)
        self.addCleanup(rcv.close)
        a = s.agentd("--remote-write", rcv.url, "--remote-write-timeout", "2s", *FAST)
        p, port = shim(s)
        feed = Feeder(port, lambda i: ["hits:1|c"])
        try:
            for m in ("hang", "huge", "redirect"):
                mode["m"] = m
                n0 = rcv.requests
                mb.poll(lambda: rcv.requests >= n0 + 2, timeout=60, interval=0.2,
                        what=f"two requests answered '{m}'")
                self.assertTrue(s.cli_ok("containers"), "agentd still answers")
            mode["m"] = "ok"
            sent0 = feed.sent
            mb.poll(lambda: rcv.series("hits_total") and
                    max(rcv.series("hits_total").values()) >= sent0, timeout=90, interval=0.5,
                    what="catching up once the receiver behaves")
        finally:
            feed.stop()
        self.assertTrue(contiguous(rcv.series("hits_total")))
        log = s.log_of(a)
        self.assertIn("Timeout was reached", log)
        self.assertIn("HTTP 503 (xxxx", log)
        self.assertIn("HTTP 302", log)
        self.assertIsNone(a.poll())


if __name__ == "__main__":
    unittest.main()
