#!/usr/bin/env python3
"""An upgrade from the consumer-group daemon (migrations up to 009) to
high-water marks (010 on): the old record of applied events becomes each
bucket's mark, the old rows stay as they were, and a daemon started on the
upgraded database applies only the entries after the marks."""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import keys  # noqa: E402
from harness import wait_until  # noqa: E402

CODE_A = "A7F3E9D2B4C5HJKM"
CODE_B = "23456789ABCDEFGH"


class UpgradeTest(harness.HarnessTestCase):

    def test_marks_carry_the_old_record_forward(self):
        h = self.h
        h.kill_sync(signal.SIGTERM)
        url = self.h.old_database("upgrade", "009")

        def sql(q):
            return h.psql_db("upgrade", q)

        # What the consumer-group daemon left: ids in processed_events, and redemptions with their own.
        sql("INSERT INTO processed_events (event_id) VALUES ('0-1700000000000-5'), ('0-1700000000001-0'), "
            "('3-1700000000002-7'), ('3-1700000000002-1')")
        sql("INSERT INTO invites (code, batch_id, max_uses, use_count, expires_at) VALUES ('%s', 'old', 5, 1, now() + "
            "interval '1 day'), ('%s', 'old', 5, 0, now() + interval '1 day')" % (CODE_A, CODE_B))
        sql("INSERT INTO redemptions (event_id, code, email, use_number, client_addr, redeemed_at) VALUES "
            "('3-1700000000009-0', '%s', 'ann@example.com', 1, '192.0.2.1', now())" % CODE_A)

        new_conf = h.write_config("upgrade.conf", {"database_url": url})
        h._run([harness.SYNC_BIN, "-c", new_conf, "migrate"])
        self.assertEqual(sql("SELECT bucket, last_ms, last_seq FROM sync_progress ORDER BY bucket"),
                         [["0", "1700000000001", "0"], ["3", "1700000000009", "0"]])
        self.assertEqual(sql("SELECT to_regclass('processed_events') IS NULL"), [["t"]])
        self.assertEqual(sql("SELECT event_id, email, user_id IS NULL FROM redemptions"),
                         [["3-1700000000009-0", "ann@example.com", "t"]])
        self.assertEqual(sql("SELECT sum(redeemed) FROM redemption_minutes"), [["1"]])

        # Bucket 3's stream: the entry the old daemon applied, then a new one in the items form.
        items = lambda code, email, n: "%s\x00%s\x00%d\x00198.51.100.7\x00" % (code, email, n)  # noqa: E731
        h.redis("XADD", keys.events(3), "1700000000009-0", "t", "redeemed", "at", "1700000000009",
                "d", items(CODE_A, "ann@example.com", 1))
        h.redis("XADD", keys.events(3), "1700000000010-0", "t", "redeemed", "at", "1700000000010",
                "d", items(CODE_A, "bob@example.com", 2) + items(CODE_B, "cy@example.com", 1))
        env = h._child_env()
        daemon = h._spawn([harness.SYNC_BIN, "-c", new_conf], os.path.join(h.tmp, "sync-upgrade.log"), env=env)
        try:
            wait_until(lambda: sql("SELECT last_ms FROM sync_progress WHERE bucket = 3") == [["1700000000010"]], 30, 0.1,
                       "the new entry applied")
        finally:
            daemon.terminate()
            daemon.wait(20)
        self.assertEqual(sql("SELECT event_id, code, email, use_number FROM redemptions ORDER BY event_id"),
                         [["3-1700000000009-0", CODE_A, "ann@example.com", "1"],
                          ["3-1700000000010-0/0", CODE_A, "bob@example.com", "2"],
                          ["3-1700000000010-0/1", CODE_B, "cy@example.com", "1"]])
        self.assertEqual(sql("SELECT code, use_count FROM invites ORDER BY code"), [[CODE_B, "1"], [CODE_A, "2"]])

    def test_level_two_rows_are_added_for_existing_relationships(self):
        """Migration 014 writes the level-2 row of every chain of two direct relationships already there."""
        h = self.h
        url = self.h.old_database("upgrade14", "013")

        def sql(q):
            return h.psql_db("upgrade14", q)

        uid = lambda n: "00000000-0000-4000-8000-%012d" % n  # noqa: E731
        # 1 -> 2 -> 3 (ACTIVE), 2 -> 4, and a two-person ring 5 -> 6 -> 5.
        sql("INSERT INTO user_referral_relationships (referrer_user_id, referred_user_id, referral_code, status) VALUES "
            "('%s', '%s', 'C1', 'PENDING'), ('%s', '%s', 'C2', 'ACTIVE'), ('%s', '%s', 'C2', 'PENDING'), "
            "('%s', '%s', 'C5', 'PENDING'), ('%s', '%s', 'C6', 'PENDING')"
            % (uid(1), uid(2), uid(2), uid(3), uid(2), uid(4), uid(5), uid(6), uid(6), uid(5)))
        h._run([harness.SYNC_BIN, "-c", h.write_config("upgrade14.conf", {"database_url": url}), "migrate"])
        self.assertEqual(sql("SELECT referrer_user_id, referred_user_id, referral_code, status FROM user_referral_relationships "
                             "WHERE level = 2 ORDER BY referred_user_id"),
                         [[uid(1), uid(3), "C2", "ACTIVE"], [uid(1), uid(4), "C2", "PENDING"]])


if __name__ == "__main__":
    harness.main()
