#!/usr/bin/env python3
"""Redis goes away and comes back on the same port: /ready and redeem answer
503 unavailable meanwhile, and the gateway recovers on its own."""

import os
import sys
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


if __name__ == "__main__":
    harness.main()
