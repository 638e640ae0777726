#!/usr/bin/env python3
"""
The sync daemon on a Redis Cluster: it reads each bucket's stream from the
master that serves the bucket, so PostgreSQL holds exactly what the clients
were told, with two gateways and two daemons at once, and when a bucket's
slot moves to another master under load (the daemon meets MOVED, opens its
connections again from a fresh slot map and reads on from its marks).

Every client retries a 503 with the same e-mail (a redemption is idempotent
per e-mail), so each e-mail ends with one 200: PostgreSQL must hold one
redemption per such e-mail, no more, no less.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_cluster  # noqa: E402
from harness import code_body, unique_email, wait_until  # noqa: E402


class ClusterSyncTest(test_cluster.ClusterCase):
    def assert_persisted(self, loads):
        """PostgreSQL holds one redemption per e-mail answered 200, per code, and its use count."""
        self.h.wait_synced(60)
        for code in loads[0].codes:
            emails = set()
            for load in loads:
                self.assertEqual(load.other, [], "answers other than 200/503")
                emails |= load.ok[code]
            rows = self.h.psql("SELECT email FROM redemptions WHERE code = '%s'" % code_body(code))
            self.assertEqual(sorted(r[0] for r in rows), sorted(emails), "code %s: PostgreSQL vs the clients" % code)
            self.assertEqual(self.h.psql_value("SELECT use_count FROM invites WHERE code = '%s'" % code_body(code)),
                             str(len(emails)))
            self.assertEqual(self.uses(code), len(emails), "code %s: Redis vs the clients" % code)

    def test_two_gateways_and_two_daemons(self):
        h = self.h
        codes = list(self.codes_by_bucket(64).values())
        second = h.start_gateway({})
        env = h._child_env()
        env["IG_SYNC_CONSUMER"] = "second"
        standby_log = os.path.join(h.tmp, "sync-second.log")
        standby = h._spawn([harness.SYNC_BIN, "-c", h.conf_path], standby_log, env=env)
        try:
            loads = [test_cluster.Load(h.port, codes).start(), test_cluster.Load(second.port, codes).start()]
            wait_until(lambda: all(load.answered() >= 300 for load in loads), 60, 0.05, "both gateways answering")
            # The first daemon dies under load; the second takes its buckets over from the marks.
            h.kill_sync()
            before = sum(load.answered() for load in loads)
            wait_until(lambda: sum(load.answered() for load in loads) >= before + 300, 60, 0.05, "load after the kill")
            for load in loads:
                load.stop()
            wait_until(lambda: open(standby_log).read().count("msg=\"lease taken") == harness.BUCKETS, 30, 0.1,
                       "the second daemon holds every bucket")
            self.assert_persisted(loads)
            self.assertEqual(h.psql_value("SELECT count(*) - count(DISTINCT event_id) FROM redemptions"), "0")
        finally:
            standby.terminate()
            standby.wait(20)
            h.start_sync()

    def test_a_moved_bucket_is_read_from_its_new_master(self):
        h = self.h
        codes = self.codes_by_bucket(64)
        buckets = sorted(codes)[:2]
        for b in buckets:
            self.assertEqual(h.redeem(codes[b], unique_email()).status, 200)
        h.wait_synced()
        load = test_cluster.Load(h.port, [codes[b] for b in buckets]).start()
        wait_until(lambda: load.answered() >= 100, 30, 0.05, "load running")
        for b in buckets:
            test_cluster.ReshardTest.migrate_slot(self, h.cluster.keyslot("{%d}" % b))
        before = load.answered()
        wait_until(lambda: load.answered() >= before + 100, 30, 0.05, "load after the move")
        load.stop()
        # The first redemption of each code, before the load, is in PostgreSQL too.
        for b in buckets:
            first = h.psql_value("SELECT email FROM redemptions WHERE code = '%s' ORDER BY use_number LIMIT 1"
                                 % code_body(codes[b]))
            load.ok[codes[b]].add(first)
        self.assert_persisted([load])


if __name__ == "__main__":
    harness.main()
