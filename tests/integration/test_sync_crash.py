#!/usr/bin/env python3
"""kill -9 of the sync daemon under load: every redemption acknowledged with
200 reaches PostgreSQL exactly once (SPEC invariant 4)."""

import collections
import os
import random
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import code_body, wait_until  # noqa: E402

CODES = 1000
MAX_USES = 10
BATCHES = 4
THREADS = 16
KILLS = 4
# After kill #1 the daemon comes back under its own name; from kill #2 on
# under another one. Either way nothing of the dead process carries over but
# PostgreSQL's high-water marks: its leases died with its connections, and
# whatever it had read and not committed is read again from the marks.
SECOND_CONSUMER = "test-b"


class SyncCrashTest(harness.HarnessTestCase):

    def test_kill9_sync_under_load(self):
        h = self.h
        codes = []
        for i in range(BATCHES):
            codes += h.generate(CODES // BATCHES, batch_id="crash-%d" % i, max_uses=MAX_USES)
        self.assertEqual(len(set(codes)), CODES)
        wait_until(lambda: h.psql_value("SELECT count(*) FROM invites") == str(CODES), 30, 0.2,
                   lambda: "invites in PostgreSQL: %s" % h.psql_value("SELECT count(*) FROM invites"))

        tasks = [(c, "u%d-%d@example.com" % (i, k)) for i, c in enumerate(codes) for k in range(MAX_USES)]
        random.Random(7).shuffle(tasks)
        next_task = iter(tasks)
        lock = threading.Lock()
        ok = []            # (code, email) answered 200
        others = collections.Counter()
        samples = {}

        def worker():
            client = harness.HttpClient(h.port, timeout=30)
            while True:
                with lock:
                    task = next(next_task, None)
                if task is None:
                    break
                try:
                    r = client.request("POST", "/api/invites/redeem", {"code": task[0], "email": task[1]})
                    status = r.status
                except AssertionError as exc:
                    status, r = "exception", exc
                with lock:
                    if status == 200:
                        ok.append(task)
                    else:
                        others[status] += 1
                        samples.setdefault(status, repr(r))
            client.close()

        threads = [threading.Thread(target=worker) for _ in range(THREADS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()

        # Kill the sync daemon while the load runs, each time after it has
        # committed more redemptions; restart it at once.
        def committed():
            return int(h.psql_value("SELECT count(*) FROM redemptions"))
        kills, last = 0, 0
        while kills < KILLS:
            target = last + (1 if kills == 0 else 150)
            wait_until(lambda: committed() >= target, 30, 0.02,
                       lambda: "sync daemon committed nothing new (alive: %s)" % h.sync_alive())
            time.sleep(random.uniform(0, 0.05))
            h.kill_sync(signal.SIGKILL)
            kills += 1
            last = committed()
            print("kill -9 #%d of the sync daemon at %.2fs: %d redemptions committed, %d answered 200, "
                  "%d streams behind" % (kills, time.monotonic() - t0, last, len(ok), h.streams_behind()),
                  file=sys.stderr)
            time.sleep(0.2)
            h.start_sync(SECOND_CONSUMER if kills >= 2 else None)

        for t in threads:
            t.join(120)
        n200 = len(ok)
        print("load done in %.2fs: %d x 200, others %r" % (time.monotonic() - t0, n200, dict(others)),
              file=sys.stderr)
        self.assertGreater(n200, 0)

        wait_until(lambda: committed() >= n200, 60, 0.2,
                   lambda: "redemptions %d of %d (sync alive: %s)" % (committed(), n200, h.sync_alive()))
        time.sleep(1.0)  # anything extra (a double apply) would show up now
        # The rows are exactly the acknowledged redemptions, each once: the
        # clients' tally, not a constraint of the schema, says what is right.
        rows = h.redemption_rows()
        want = collections.Counter((code_body(c), e) for c, e in ok)
        self.assertEqual(rows, want, "rows not acknowledged or doubled: %r; acknowledged, missing: %r"
                         % (list((rows - want).items())[:5], list(want - rows)[:5]))
        self.assertEqual(h.psql_value("SELECT SUM(use_count) FROM invites"), str(n200))
        over = h.psql("SELECT code, use_count, max_uses FROM invites WHERE use_count > max_uses LIMIT 5")
        self.assertEqual(over, [], "use_count above max_uses")

        gaps = h.psql("SELECT code, count(*), count(DISTINCT use_number), max(use_number) FROM redemptions "
                      "GROUP BY code HAVING count(DISTINCT use_number) <> count(*) OR max(use_number) <> count(*) "
                      "LIMIT 5")
        self.assertEqual(gaps, [], "use_number not 1..n per code")

        # Redis and PostgreSQL's use counts agree with the tally, code by code.
        acked = collections.Counter(code_body(c) for c, _ in ok)
        pg_uses = dict(h.psql("SELECT code, use_count FROM invites"))
        for c in codes:
            st = self.assertJson(h.status(c), 200)
            want = acked[code_body(c)]
            self.assertEqual((st["uses"], pg_uses.get(code_body(c))), (want, str(want)), c)

        h.wait_synced(20)
        self.assertTrue(h.sync_alive(), "sync daemon exited")

        # Every code had exactly MAX_USES distinct e-mails: all must succeed.
        self.assertEqual(dict(others), {}, samples)
        self.assertEqual(n200, CODES * MAX_USES)

    def test_second_daemon_takes_over_the_leases(self):
        """A second daemon beside the first idles while the first holds every
        bucket's lease, takes the leases over when the first is killed, and
        reads on from the high-water marks: every redemption exactly once."""
        h = self.h
        codes = h.generate(100, batch_id="takeover", max_uses=4)
        h.wait_synced()
        env = h._child_env()
        env["IG_SYNC_CONSUMER"] = "standby"
        standby_log = os.path.join(h.tmp, "sync-standby.log")
        standby = h._spawn([harness.SYNC_BIN, "-c", h.conf_path], standby_log, env=env)
        wait_until(lambda: os.path.exists(standby_log) and "connected to postgresql" in open(standby_log).read(), 20, 0.1,
                   "the standby daemon connected")

        def redeem_round(k):
            for i, c in enumerate(codes):
                self.assertJson(h.redeem(c, "r%d-%d@example.com" % (k, i)), 200)

        redeem_round(0)
        h.wait_synced()
        self.assertNotIn("lease taken", open(standby_log).read(), "the standby took a lease the first daemon holds")
        # The periodic jobs too: one daemon evaluates the trust gate.
        wait_until(lambda: "another daemon evaluates it" in open(standby_log).read(), 20, 0.1, "the standby's gate job waits")
        h.kill_sync(signal.SIGKILL)
        redeem_round(1)
        h.wait_synced(30, "the standby took over")
        wait_until(lambda: "trust gate: job lease taken" in open(standby_log).read(), 20, 0.1, "the standby evaluates the gate")
        self.assertEqual(open(standby_log).read().count("msg=\"lease taken"), harness.BUCKETS)
        mine = "(%s)" % ", ".join("'%s'" % code_body(c) for c in codes)
        self.assertEqual(h.psql_value("SELECT count(*) FROM redemptions WHERE code IN %s" % mine), str(2 * len(codes)))
        self.assertEqual(h.psql("SELECT code, count(*) FROM redemptions WHERE code IN %s GROUP BY 1 HAVING count(*) <> 2"
                                % mine), [])
        self.assertEqual(h.psql_value("SELECT sum(use_count) FROM invites WHERE code IN %s" % mine), str(2 * len(codes)))
        standby.terminate()
        standby.wait(20)


if __name__ == "__main__":
    harness.main()
