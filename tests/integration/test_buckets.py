#!/usr/bin/env python3
"""The bucket count chosen at install (configuration key buckets): an
install of 64 buckets works end to end (codes in every bucket, streams of
every bucket applied, admissions in bucket 0), the count is recorded in
Redis and PostgreSQL, and the gateway, the sync daemon, migrate and the
operator's tool refuse to run with another count (status 78, EX_CONFIG).
An install that held data before the count was recorded is recorded as 16."""

import collections
import os
import sys

# Every configuration the harness writes, and keys.py's builders, use 64 buckets.
os.environ["IG_TEST_BUCKETS"] = "64"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import keys  # noqa: E402
from harness import code_body, unique_email, wait_until  # noqa: E402
from test_cli import CLI_BIN  # noqa: E402

BUCKETS = 64
REFUSED = 78


class BucketCountTest(harness.HarnessTestCase):

    def refused(self, argv, log_name, conf_extra=None):
        """Runs argv (its config written with buckets = 32 and conf_extra) to its exit; returns (rc, output)."""
        h = self.h
        conf = h.write_config(log_name + ".conf", dict({"buckets": "32"}, **(conf_extra or {})))
        res = h._run([a if a != "CONF" else conf for a in argv], check=False, timeout=30)
        return res.returncode, res.stdout.decode("utf-8", "replace")

    def assert_refused(self, rc, out, store):
        self.assertEqual(rc, REFUSED, out)
        self.assertIn("refusing to run: the bucket count differs", out)
        self.assertIn("%s records 64 buckets and this configuration says buckets = 32" % store, out)

    def test_recorded_in_redis_and_postgresql(self):
        self.assertEqual(keys.BUCKETS, BUCKETS)
        self.assertEqual(self.h.redis("GET", keys.BUCKETS_KEY), "64")
        self.assertEqual(self.h.psql("SELECT buckets FROM layout"), [["64"]])

    def test_codes_in_every_bucket_are_served_and_persisted(self):
        h = self.h
        by_bucket = {}
        while len(by_bucket) < BUCKETS:
            for code in h.generate(500):
                by_bucket.setdefault(keys.code_bucket(code_body(code)), code)
        self.assertEqual(sorted(by_bucket), list(range(BUCKETS)))
        # Past 32 buckets the second character counts: bucket 40 is not the first character's value mod 32.
        for bucket, code in by_bucket.items():
            key, field = keys.code_location(code_body(code))
            self.assertTrue(key.startswith("ig:{%d}:c:" % bucket), key)
            self.assertEqual(h.redis("HEXISTS", key, field), 1, code)
        redeemed = collections.Counter()
        for bucket, code in sorted(by_bucket.items()):
            email = unique_email("b%d" % bucket)
            self.assertJson(h.redeem(code, email), 200)
            redeemed[code_body(code)] += 1
        # The sync daemon reads all 64 streams: every redemption reaches PostgreSQL once.
        h.wait_synced()
        rows = collections.Counter(code for code, _, n in h.psql("SELECT code, email, count(*) FROM redemptions GROUP BY 1, 2")
                                   for _ in range(int(n)))
        for body, n in redeemed.items():
            self.assertEqual(rows[body], n, body)
        marks = h.psql("SELECT count(*) FROM sync_progress WHERE bucket >= 32 AND last_ms > 0")
        self.assertGreater(int(marks[0][0]), 0)
        self.assertEqual(int(h.psql_value("SELECT max(bucket) FROM sync_progress")), BUCKETS - 1)

    def test_admissions_issue_codes_of_bucket_0(self):
        h = self.h
        emails = [unique_email("wl") for _ in range(6)]
        for e in emails:
            self.assertJson(h.http("POST", "/api/waitlist/join", {"email": e, "persona": "other", "use_case": "x"}), 201)
        body = self.assertJson(h.http("POST", "/api/waitlist/admit", {"count": 6}, token=h.admin_token), 200)
        self.assertEqual(len(body["admitted"]), 6)
        for a in body["admitted"]:
            self.assertEqual(keys.code_bucket(code_body(a["code"])), keys.WL_BUCKET, a["code"])
            self.assertJson(h.redeem(a["code"], a["email"]), 200)

    def test_a_gateway_configured_otherwise_refuses(self):
        rc, out = self.refused([harness.GATEWAY_BIN, "-c", "CONF"], "gw32", {"listen": "%s:%d" % (harness.HOST,
                                                                                                  harness.free_port())})
        self.assert_refused(rc, out, "Redis (%s)" % keys.BUCKETS_KEY)
        # The first gateway goes on serving.
        self.assertEqual(self.h.http("GET", "/ready").status, 200)

    def test_a_sync_daemon_configured_otherwise_refuses(self):
        rc, out = self.refused([harness.SYNC_BIN, "-c", "CONF"], "sync32",
                               {"sync_metrics_listen": "%s:%d" % (harness.HOST, harness.free_port())})
        self.assertEqual(rc, REFUSED, out)
        self.assertIn("records 64 buckets and this configuration says buckets = 32", out)
        self.assertTrue(self.h.sync_alive())

    def test_migrate_and_the_tool_configured_otherwise_refuse(self):
        rc, out = self.refused([harness.SYNC_BIN, "-c", "CONF", "migrate"], "migrate32")
        self.assert_refused(rc, out, "PostgreSQL (table layout)")
        rc, out = self.refused([CLI_BIN, "--config", "CONF", "report", "cohorts"], "report32")
        self.assert_refused(rc, out, "PostgreSQL (table layout)")
        rc, out = self.refused([CLI_BIN, "--config", "CONF", "retention", "run", "--dry-run"], "retention32")
        self.assertEqual(rc, REFUSED, out)
        self.assertIn("records 64 buckets and this configuration says buckets = 32", out)

    def test_a_lost_record_is_written_again_on_reconnect(self):
        """A Redis that lost its data gets the count again from the first
        process that connects to it: each compares (and records) on every
        connect, not only at start."""
        h = self.h
        self.assertEqual(h.redis("DEL", keys.BUCKETS_KEY), 1)
        # The running gateway records its count again when it reconnects (CLIENT KILL drops its connections).
        h.redis("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        wait_until(lambda: h.redis("GET", keys.BUCKETS_KEY) == "64", 10, 0.05, "the count recorded again")
        h.gateway.wait_ready()

    # -- migration 016 on a database made before the count was recorded --

    def database(self, db, with_data):
        """A database as an install before migration 016 left it: empty, or holding an invite."""
        h = self.h
        url = h.old_database(db, "015")
        if with_data:
            h.psql_db(db, "INSERT INTO invites (code, batch_id, max_uses, use_count, expires_at) VALUES "
                          "('A7F3E9D2B4C5HJKM', 'old', 5, 0, now() + interval '1 day')")
        return url

    def test_an_install_with_data_was_made_with_16_buckets(self):
        h = self.h
        url = self.database("withdata", True)
        res = h._run([harness.SYNC_BIN, "-c", h.write_config("withdata64.conf", {"database_url": url}), "migrate"], check=False)
        out = res.stdout.decode()
        self.assertEqual(res.returncode, REFUSED, out)
        self.assertIn("PostgreSQL (table layout) records 16 buckets and this configuration says buckets = 64", out)
        h._run([harness.SYNC_BIN, "-c", h.write_config("withdata16.conf", {"database_url": url, "buckets": "16"}), "migrate"])
        self.assertEqual(h.psql_db("withdata", "SELECT buckets FROM layout"), [["16"]])

    def test_an_empty_install_takes_the_configured_count(self):
        h = self.h
        url = self.database("empty", False)
        h._run([harness.SYNC_BIN, "-c", h.write_config("empty64.conf", {"database_url": url}), "migrate"])
        self.assertEqual(h.psql_db("empty", "SELECT buckets FROM layout"), [["64"]])


if __name__ == "__main__":
    import unittest
    unittest.main()
