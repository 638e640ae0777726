#!/usr/bin/env python3
"""invitegate retention run: addresses of old invites that can no longer be
redeemed are anonymised, expired unused codes are swept from Redis, and
nothing else changes."""

import json
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import unique_email, wait_until  # noqa: E402
from test_cli import run_cli  # noqa: E402

# Sets the expiry (Unix seconds, ARGV[2]) of the code record ARGV[1] of hash KEYS[1].
SET_EXPIRY = ("local a, b, c, d, e, f = cmsgpack.unpack(redis.call('HGET', KEYS[1], ARGV[1])) "
              "redis.call('HSET', KEYS[1], ARGV[1], cmsgpack.pack(a, b, tonumber(ARGV[2]), d, e, f))")


class RetentionTest(harness.HarnessTestCase):
    def cli_json(self, args):
        rc, out, err = run_cli(["--json"] + args, conf=self.h.conf_path)
        self.assertEqual(rc, 0, err)
        return json.loads(out)

    def rows(self):
        return {r[0]: r[1] for r in self.h.psql("SELECT code, coalesce(issued_to, '-') FROM invites ORDER BY code")}

    def backdate(self, code, days, expire=True):
        body = harness.code_body(code)
        self.h.psql("UPDATE invites SET created_at = now() - interval '%d days'%s WHERE code = '%s'"
                    % (days, ", expires_at = now() - interval '1 day'" if expire else "", body))
        if expire:
            key, field = harness.code_location(body)
            self.h.redis("EVAL", SET_EXPIRY, "1", key, field, "1000")

    def test_run(self):
        h = self.h
        who = [unique_email("ret%d" % i) for i in range(6)]
        codes = [h.generate(1, cohort="press", issued_to=[e])[0] for e in who]
        opened = h.generate(1, cohort="press")[0]
        # 0 expired 40 days ago; 1 revoked; 2 redeemed then expired; 3 still valid but old;
        # 4 expired but young; 5 expired, old; opened: an open code, expired, old.
        self.assertEqual(h.redeem(codes[2], who[2]).status, 200)
        r = h.http("POST", "/api/invites/%s/revoke" % codes[1], {}, token=h.admin_token)
        self.assertEqual(r.status, 200, r)
        h.wait_synced()
        for i in (0, 2, 5):
            self.backdate(codes[i], 40)
        self.backdate(codes[1], 40, expire=False)
        self.backdate(codes[3], 40, expire=False)
        self.backdate(codes[4], 5)
        self.backdate(opened, 40)
        before = self.rows()
        body = [harness.code_body(c) for c in codes]
        report = self.cli_json(["report", "cohorts"])["cohorts"]

        doc = self.cli_json(["retention", "run", "--dry-run", "--days", "30"])
        self.assertEqual((doc["eligible"], doc["anonymised"], doc["swept"]), (4, 3, 3), doc)
        self.assertEqual(self.rows(), before)
        key, field = harness.code_location(body[0])
        self.assertIsNotNone(h.redis("HGET", key, field))

        doc = self.cli_json(["retention", "run", "--days", "30"])
        self.assertEqual((doc["eligible"], doc["anonymised"], doc["swept"]), (4, 3, 3), doc)
        after = self.rows()
        for i in (0, 1, 5):
            self.assertTrue(after[body[i]].startswith("erased:"), after[body[i]])
            self.assertNotEqual(after[body[i]], before[body[i]])
        for i in (2, 3, 4):
            self.assertEqual(after[body[i]], who[i])
        self.assertEqual(after[harness.code_body(opened)], "-")
        self.assertEqual(len(after), len(before))
        # Swept: the expired unused records; the revoked one still answers revoked.
        for c in (codes[0], codes[5], opened):
            k, f = harness.code_location(harness.code_body(c))
            self.assertIsNone(h.redis("HGET", k, f))
        for c in (codes[1], codes[2], codes[3], codes[4]):
            k, f = harness.code_location(harness.code_body(c))
            self.assertIsNotNone(h.redis("HGET", k, f))
        # Same placeholder as an erasure: derived from the address, so it differs per person.
        self.assertNotEqual(after[body[0]], after[body[5]])

        doc = self.cli_json(["retention", "run", "--days", "30"])
        self.assertEqual((doc["anonymised"], doc["swept"]), (0, 0), doc)
        self.assertEqual(self.rows(), after)
        self.assertEqual(self.cli_json(["report", "cohorts"])["cohorts"], report)

    def test_the_sync_daemon_applies_it_on_its_schedule(self):
        h = self.h
        email = unique_email("ret-daemon")
        code = h.generate(1, cohort="press", issued_to=[email])[0]
        h.wait_synced()
        self.backdate(code, 40)
        body = harness.code_body(code)
        self.assertEqual(self.rows()[body], email)
        # The harness runs the daemon with retention_days = 0 (off); restarted with 30 it applies the rule on its own.
        h.kill_sync(signal.SIGTERM)
        h.start_sync(env_overrides={"IG_RETENTION_DAYS": "30"})
        try:
            wait_until(lambda: self.rows()[body].startswith("erased:"), 30, 0.2,
                       lambda: "not anonymised by the daemon: %r" % self.rows()[body])
            key, field = harness.code_location(body)
            wait_until(lambda: h.redis("HGET", key, field) is None, 10, 0.2, "expired record not swept")
        finally:
            h.kill_sync(signal.SIGTERM)
            h.start_sync()

    def test_usage(self):
        self.assertEqual(run_cli(["retention", "run", "--days", "0"], conf=self.h.conf_path)[0], 64)
        self.assertEqual(run_cli(["retention", "run", "extra"], conf=self.h.conf_path)[0], 64)


if __name__ == "__main__":
    unittest.main()
