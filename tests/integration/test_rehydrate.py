#!/usr/bin/env python3
"""invitegate rehydrate: Redis's invite codes rebuilt from PostgreSQL after
Redis lost its data answer as before; a Redis that survived keeps what is
newer than PostgreSQL."""

import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import keys  # noqa: E402
from harness import unique_email, wait_until  # noqa: E402
from test_cli import run_cli  # noqa: E402

# The use count and revoked_at of the code record ARGV[1] of hash KEYS[1].
READ_RECORD = ("local a, b, c, d = cmsgpack.unpack(redis.call('HGET', KEYS[1], ARGV[1])) "
               "return {b, d}")
# Sets use count ARGV[2] and revoked_at ARGV[3] of the code record ARGV[1] of hash KEYS[1].
SET_RECORD = ("local a, b, c, d, e, f = cmsgpack.unpack(redis.call('HGET', KEYS[1], ARGV[1])) "
              "redis.call('HSET', KEYS[1], ARGV[1], cmsgpack.pack(a, tonumber(ARGV[2]), c, tonumber(ARGV[3]), e, f))")


def points_path(email, what=""):
    return "/api/points/%s%s" % (urllib.parse.quote(email, safe=""), what)


class RehydrateTest(harness.HarnessTestCase):
    def cli_json(self, args, check_rc):
        rc, out, err = run_cli(["--json"] + args, conf=self.h.conf_path)
        self.assertEqual(rc, check_rc, out + err)
        return json.loads(out), err

    def record(self, code):
        key, field = harness.code_location(harness.code_body(code))
        return self.h.redis("EVAL", READ_RECORD, "1", key, field)

    def statuses(self, codes):
        out = {}
        for c in codes:
            r = self.h.status(c)
            self.assertEqual(r.status, 200, r)
            out[c] = r.body
        return out

    def test_after_flushall(self):
        h = self.h
        single, fresh, revoked = h.generate(3)
        multi = h.generate(1, max_uses=3)[0]
        full = h.generate(1, max_uses=2)[0]
        owner = unique_email("owner")
        bound = h.generate(1, issued_to=[owner])[0]
        first, m1, m2, f1, f2 = (unique_email(t) for t in ("first", "m1", "m2", "f1", "f2"))
        for code, email in ((single, first), (multi, m1), (multi, m2), (full, f1), (full, f2)):
            self.assertEqual(h.redeem(code, email).status, 200)
        self.assertEqual(h.http("POST", "/api/invites/%s/revoke" % revoked, {}, token=h.admin_token).status, 200)
        codes = (single, fresh, revoked, multi, full, bound)
        before = self.statuses(codes)
        self.assertEqual([before[c]["status"] for c in codes], ["used", "active", "revoked", "active", "exhausted", "active"])
        # Points: 300 granted, 100 spent.
        saver = unique_email("saver")
        r = h.http("POST", points_path(saver, "/grant"), {"points": 300, "reason": "launch"}, token=h.admin_token)
        self.assertEqual(r.status, 200, r)
        r = h.http("POST", points_path(saver, "/spend"), {"amount": 100, "type": "REDEMPTION_QUOTA"}, token=h.admin_token)
        self.assertEqual(r.status, 200, r)
        h.wait_synced()
        points = lambda: h.http("GET", points_path(saver), token=h.admin_token).body  # noqa: E731
        wait_until(lambda: len(points().get("transactions", [])) == 2, 20, 0.1, "the ledger written back to Redis")
        points_before = points()
        self.assertEqual(points_before["balance"], 200, points_before)

        # Redis loses everything, its functions too (a new instance).
        h.redis("FLUSHALL")
        h.redis("FUNCTION", "FLUSH")
        self.assertEqual(h.redis_scan(keys.pattern(None, "c")), [])

        doc, err = self.cli_json(["rehydrate", "--check"], 1)
        self.assertIn("loaded the Lua library", err)
        self.assertEqual((doc["check"], doc["codes"]["checked"], doc["codes"]["created"]), (True, 6, 6), doc)
        self.assertEqual(doc["codes"]["redeemers_added"], 4, doc)  # m1, m2, f1, f2
        self.assertEqual(h.redis_scan(keys.pattern(None, "c")), [], "--check wrote")
        self.assertNotIn(harness.code_body(single), json.dumps(doc))
        self.assertEqual((doc["points"]["checked"], doc["points"]["created"]), (1, 1), doc)

        doc, _ = self.cli_json(["rehydrate"], 0)
        self.assertEqual((doc["check"], doc["codes"]["created"], doc["codes"]["updated"], doc["codes"]["redeemers_added"]),
                         (False, 6, 0, 4), doc)
        after = self.statuses(codes)
        for c in codes:
            self.assertEqual(after[c], before[c], c)
        self.assertEqual(doc["points"]["created"], 1, doc)
        self.assertEqual(points(), points_before)
        run_cli(["reconcile"], conf=h.conf_path, check_rc=0)

        # Running it again finds nothing to write.
        doc, _ = self.cli_json(["rehydrate", "--check"], 0)
        self.assertEqual((doc["codes"]["created"], doc["codes"]["updated"], doc["codes"]["redeemers_added"]), (0, 0, 0), doc)
        doc, _ = self.cli_json(["rehydrate"], 0)
        self.assertEqual((doc["codes"]["created"], doc["codes"]["updated"], doc["codes"]["redeemers_added"]), (0, 0, 0), doc)
        self.assertEqual((doc["points"]["created"], doc["points"]["updated"]), (0, 0), doc)
        rc, out, _ = run_cli(["rehydrate"], conf=h.conf_path, check_rc=0)
        self.assertIn("nothing to write", out)

        # The rebuilt records refuse and accept as the lost ones did.
        self.assertError(h.redeem(single, unique_email("late")), 409, "exhausted")
        self.assertError(h.redeem(bound, unique_email("other")), 403, "wrong_account")
        self.assertError(h.redeem(full, unique_email("late")), 409, "exhausted")
        self.assertError(h.redeem(revoked, unique_email("late")), 410, "revoked")
        r = h.redeem(single, first)  # the first redeemer again: counted once
        self.assertEqual(r.status, 200, r)
        r = h.redeem(multi, m2)  # a redeemer of a multi-use code again: counted once
        self.assertEqual(r.status, 200, r)
        self.assertEqual(h.status(multi).body["uses"], 2)
        self.assertEqual(h.redeem(multi, unique_email("m3")).status, 200)
        self.assertEqual(h.status(multi).body["status"], "exhausted")
        self.assertEqual(h.redeem(bound, owner).status, 200)
        # What was spent stays spent.
        r = h.http("POST", points_path(saver, "/spend"), {"amount": 201, "type": "REDEMPTION_QUOTA"}, token=h.admin_token)
        self.assertError(r, 409, "insufficient_points")
        h.wait_synced()
        run_cli(["reconcile"], conf=h.conf_path, check_rc=0)

    def test_survivor_keeps_newer_state(self):
        h = self.h
        multi = h.generate(1, max_uses=5)[0]
        fresh = h.generate(1)[0]
        for i in range(2):
            self.assertEqual(h.redeem(multi, unique_email("s%d" % i)).status, 200)
        h.wait_synced()
        # Redis ahead of PostgreSQL: one more use, and a revocation PostgreSQL has not seen.
        key, field = harness.code_location(harness.code_body(multi))
        h.redis("EVAL", SET_RECORD, "1", key, field, "3", "0")
        key, field = harness.code_location(harness.code_body(fresh))
        h.redis("EVAL", SET_RECORD, "1", key, field, "0", "1700000000")

        run_cli(["rehydrate"], conf=h.conf_path, check_rc=0)
        self.assertEqual(self.record(multi), [3, 0])
        self.assertEqual(self.record(fresh), [0, 1700000000])

        # Behind PostgreSQL: raised to its count, and its revocation applied.
        h.redis("EVAL", SET_RECORD, "1", key, field, "0", "0")
        h.psql("UPDATE invites SET revoked_at = to_timestamp(1700000001) WHERE code = '%s'" % harness.code_body(fresh))
        key, field = harness.code_location(harness.code_body(multi))
        h.redis("EVAL", SET_RECORD, "1", key, field, "1", "0")
        doc, _ = self.cli_json(["rehydrate", "--check"], 1)
        self.assertEqual(self.record(multi), [1, 0], "--check wrote")
        doc, _ = self.cli_json(["rehydrate"], 0)
        self.assertEqual(doc["codes"]["updated"], 2, doc)
        self.assertEqual(self.record(multi), [2, 0])
        self.assertEqual(self.record(fresh), [0, 1700000001])


if __name__ == "__main__":
    harness.main()
