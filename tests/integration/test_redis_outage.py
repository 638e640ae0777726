#!/usr/bin/env python3
"""Redis goes away and comes back on the same port: /ready and redeem answer
503 unavailable meanwhile, and the gateway recovers on its own. Redis hung
(SIGSTOP) costs a request one redis_timeout_ms, queued or not; Redis loading
its data set gets no calls and no error line per request."""

import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import code_body, unique_email, wait_until  # noqa: E402


class RedisOutageTest(harness.HarnessTestCase):

    def check_down(self):
        r = self.h.http("GET", "/ready")
        self.assertError(r, 503, "unavailable")
        code = self.codes.pop()
        t0 = time.monotonic()
        r = self.h.redeem(code, unique_email())
        self.assertLess(time.monotonic() - t0, 5, "redeem took too long with Redis down")
        self.assertError(r, 503, "unavailable")
        self.assertIsNotNone(r.headers.get("Retry-After"), r.headers)
        # The process-local endpoints still answer.
        self.assertJson(self.h.http("GET", "/health"), 200)
        self.assertEqual(self.h.http("GET", "/metrics").status, 200)
        self.assertTrue(self.h.gateway.alive())

    def check_recovered(self):
        wait_until(lambda: self.h.http("GET", "/ready").status == 200, 5, 0.1, "/ready did not return to 200")
        code = self.codes.pop()
        email = unique_email()
        self.assertJson(self.h.redeem(code, email), 200)
        self.assertEqual(self.assertJson(self.h.status(code), 200).get("uses"), 1)
        return code

    def test_outage_and_recovery(self):
        self.codes = self.h.generate(20)
        before = self.codes.pop()
        self.assertJson(self.h.redeem(before, unique_email()), 200)

        # A clean shutdown, then a restart on the same port with the same data.
        self.h.stop_redis()
        self.check_down()
        self.h.start_redis()
        self.check_recovered()
        # The data survived (AOF): the earlier redemption still counts.
        self.assertEqual(self.assertJson(self.h.status(before), 200).get("uses"), 1)

        # kill -9 (appendfsync always: nothing acknowledged is lost).
        acked = self.codes.pop()
        self.assertJson(self.h.redeem(acked, unique_email()), 200)
        self.h.kill_redis()
        self.check_down()
        self.h.start_redis()
        last = self.check_recovered()
        self.assertEqual(self.assertJson(self.h.status(acked), 200).get("uses"), 1)

        # The functions were reloaded/persisted and the sync daemon carries on:
        # the last redemption reaches PostgreSQL.
        q = "SELECT count(*) FROM redemptions WHERE code = '%s'" % code_body(last)
        wait_until(lambda: self.h.psql_value(q) == "1", 15, 0.2,
                   lambda: "redemption not in PostgreSQL; sync alive: %s" % self.h.sync_alive())

    def test_hung_redis_answers_queued_requests_within_one_timeout(self):
        # Redemptions are coalesced: a request that arrives while its thread's
        # round is out waits for that round. With Redis hung, the wait and its
        # own call share one redis_timeout_ms (1 s), not one each.
        codes = self.h.generate(24)
        latencies, statuses, lock = {}, [], threading.Lock()

        def redeem(code, wave):
            client = harness.HttpClient(self.h.port, timeout=10.0)
            try:
                t0 = time.monotonic()
                r = client.request("POST", "/api/invites/redeem", {"code": code, "email": unique_email()})
                with lock:
                    latencies.setdefault(wave, []).append(time.monotonic() - t0)
                    statuses.append(r.status)
            finally:
                client.close()

        os.kill(self.h.redis_proc.pid, signal.SIGSTOP)
        try:
            first = [threading.Thread(target=redeem, args=(c, 1)) for c in codes[:12]]
            for t in first:
                t.start()
            time.sleep(0.3)  # the first rounds are out and hung
            second = [threading.Thread(target=redeem, args=(c, 2)) for c in codes[12:]]
            for t in second:
                t.start()
            for t in first + second:
                t.join()
        finally:
            os.kill(self.h.redis_proc.pid, signal.SIGCONT)
        self.assertEqual(statuses, [503] * 24)
        # Queued behind a hung round they took ~1.7 s before; one budget is ~1 s.
        self.assertLess(max(latencies[2]), 1.5, sorted(latencies[2]))
        wait_until(lambda: self.h.http("GET", "/ready").status == 200, 5, 0.1, "/ready did not return to 200")
        # A code whose first attempt may have run in Redis after its 503 is redeemable again (idempotent per e-mail).
        self.assertJson(self.h.redeem(self.h.generate(1)[0], unique_email()), 200)

    def test_no_calls_while_redis_loads(self):
        # A data set that takes seconds to load (key-load-delay: µs per key),
        # Redis answering (LOADING) between every KiB of it.
        self.h.redis("EVAL", "for i = 1, 10000 do redis.call('SET', 'pad:' .. i, string.rep('x', 100)) end return 1", 0)
        self.h.redis("BGREWRITEAOF")
        wait_until(lambda: "aof_rewrite_in_progress:0" in self.h.redis("INFO", "persistence")
                   and "aof_rewrite_scheduled:0" in self.h.redis("INFO", "persistence"), 20, 0.1, "AOF rewrite")
        code = self.h.generate(1)[0]
        self.h.stop_redis()
        self.h.start_redis(extra_args=["--key-load-delay", "300", "--loading-process-events-interval-bytes", "1024"], wait=False)
        probe = harness.RedisClient(self.h.redis_port, timeout=1.0)
        try:
            wait_until(lambda: "LOADING" in str(self._ping(probe)), 10, 0.02, "Redis never reported LOADING")
            log_before = os.path.getsize(self.h.gateway.log_path)
            answered, t0 = 0, time.monotonic()
            while "LOADING" in str(self._ping(probe)) and answered < 300:
                r = self.h.status(code)
                self.assertError(r, 503, "unavailable")
                answered += 1
            self.assertGreater(answered, 20, "Redis loaded too fast to test (%.2f s)" % (time.monotonic() - t0))
            with open(self.h.gateway.log_path, "rb") as f:
                f.seek(log_before)
                grown = f.read().decode("utf-8", "replace").splitlines()
            # The connection's own lines (reconnect, library load retried) are few; none per request.
            self.assertLess(len(grown), 10, "\n".join(grown[:20]))
        finally:
            probe.close()
        wait_until(lambda: self.h.http("GET", "/ready").status == 200, 20, 0.1, "/ready did not return to 200")
        self.assertJson(self.h.redeem(code, unique_email()), 200)
        self.h.redis("EVAL", "for i = 1, 10000 do redis.call('DEL', 'pad:' .. i) end return 1", 0)

    @staticmethod
    def _ping(probe):
        try:
            return probe.call("PING")
        except Exception as exc:  # LOADING comes back as an error reply
            return exc


if __name__ == "__main__":
    harness.main()
