#!/usr/bin/env python3
"""The operator's launch-day commands of invitegate (monitor, report cohorts,
reconcile, retention run), run as a process against a real Redis,
PostgreSQL, gateway and sync daemon."""

import csv
import io
import json
import os
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import unique_email, wait_until  # noqa: E402
from test_cli import run_cli  # noqa: E402

GATES = ["redemptions", "signups", "error_rate", "gateway_ready", "trust_gate", "sync_lag", "expiring"]


class OpsTestCase(harness.HarnessTestCase):
    def cli(self, args, check_rc=None):
        return run_cli(args, conf=self.h.conf_path, check_rc=check_rc)

    def cli_json(self, args, check_rc=None):
        rc, out, err = self.cli(["--json"] + args, check_rc=check_rc)
        try:
            return rc, json.loads(out)
        except ValueError:
            raise AssertionError("not JSON (rc %d): %r\nstderr: %s" % (rc, out, err))

    def join(self, email):
        r = self.h.http("POST", "/api/waitlist/join", {"email": email, "use_case": "a tool", "persona": "other"})
        self.assertIn(r.status, (200, 201), r)

    def event(self, email, kind):
        r = self.h.http("POST", "/api/users/%s/events" % urllib.parse.quote(email, safe="@"), {"type": kind},
                        token=self.h.admin_token)
        self.assertEqual(r.status, 202, r)


class MonitorTest(OpsTestCase):

    def gates(self, doc):
        self.assertEqual([g["name"] for g in doc["gates"]], GATES, doc)
        for g in doc["gates"]:
            self.assertIn(g["status"], ("green", "red", "unknown"), g)
            self.assertIsInstance(g["detail"], str)
        return {g["name"]: g for g in doc["gates"]}

    def test_healthy_then_backlog(self):
        codes = self.h.generate(3, cohort="press")
        for i, code in enumerate(codes[:2]):
            self.assertEqual(self.h.redeem(code, unique_email("m%d" % i)).status, 200)
        self.join(unique_email("joiner"))
        self.h.wait_synced()

        rc, doc = self.cli_json(["monitor", "--target-redemptions", "2", "--target-signups", "1"])
        gates = self.gates(doc)
        self.assertEqual(rc, 0, doc)
        self.assertEqual(doc["verdict"], "green")
        self.assertEqual(doc["exit"], 0)
        self.assertTrue(all(g["status"] == "green" for g in doc["gates"]), doc)
        self.assertEqual(gates["redemptions"]["value"], 2)
        self.assertEqual(gates["signups"]["value"], 1)
        self.assertEqual(gates["error_rate"]["requests"], 2)
        self.assertEqual(gates["error_rate"]["errors"], 0)
        self.assertEqual(gates["sync_lag"]["pending_events"], 0)
        self.assertFalse(gates["trust_gate"]["invites_paused"])
        self.assertEqual(gates["expiring"]["value"], 0)
        self.assertEqual(gates["gateway_ready"]["http_status"], 200)

        # A target not met is red; none given is unknown (exit 2 when nothing is red).
        rc, doc = self.cli_json(["monitor", "--target-redemptions", "3", "--target-signups", "1"])
        self.assertEqual((rc, self.gates(doc)["redemptions"]["status"]), (1, "red"), doc)
        rc, doc = self.cli_json(["monitor", "--gateway", "off"])
        gates = self.gates(doc)
        self.assertEqual((rc, doc["verdict"]), (2, "unknown"), doc)
        self.assertEqual(gates["redemptions"]["status"], "unknown")
        self.assertEqual(gates["gateway_ready"]["status"], "unknown")
        self.assertEqual(gates["sync_lag"]["status"], "green")

        # Unused invites expiring within the horizon, and a cap on them.
        rc, doc = self.cli_json(["monitor", "--expiring-days", "40", "--max-expiring", "0"])
        self.assertEqual(self.gates(doc)["expiring"]["value"], 1, doc)
        self.assertEqual(self.gates(doc)["expiring"]["status"], "red", doc)

        # The daemon stopped while codes are issued and redeemed: a backlog older than --max-lag.
        self.h.kill_sync()
        try:
            more = self.h.generate(4)
            for code in more:
                self.assertEqual(self.h.redeem(code, unique_email("lag")).status, 200)
            time.sleep(1.5)
            rc, doc = self.cli_json(["monitor", "--target-redemptions", "2", "--target-signups", "1", "--max-lag", "1"])
            lag = self.gates(doc)["sync_lag"]
            self.assertEqual(rc, 1, doc)
            self.assertEqual(doc["verdict"], "red")
            self.assertEqual(lag["status"], "red", lag)
            self.assertGreaterEqual(lag["pending_events"], 2, lag)
            self.assertGreaterEqual(lag["oldest_age_s"], 1.5, lag)
            self.assertGreaterEqual(lag["buckets_behind"], 1, lag)
            # The text form says the same.
            rc, out, _ = self.cli(["monitor", "--target-redemptions", "2", "--target-signups", "1", "--max-lag", "1"])
            self.assertEqual(rc, 1)
            self.assertRegex(out, "\U0001f534 sync_lag")
            self.assertIn("verdict: \U0001f534 red", out)
        finally:
            self.h.start_sync()
        self.h.wait_synced()
        rc, doc = self.cli_json(["monitor", "--target-redemptions", "6", "--target-signups", "1", "--max-lag", "1"])
        self.assertEqual(rc, 0, doc)

    def test_gateway_down_is_red_and_error_rate_unknown(self):
        rc, doc = self.cli_json(["monitor", "--gateway", "http://127.0.0.1:%d" % harness.free_port()])
        gates = self.gates(doc)
        self.assertEqual(rc, 1, doc)
        self.assertEqual(gates["gateway_ready"]["status"], "red")
        self.assertEqual(gates["error_rate"]["status"], "unknown")



class MonitorGateTest(MonitorTest):
    """A forced gate (its own servers: the gate stays as the test leaves it)."""

    test_healthy_then_backlog = None
    test_gateway_down_is_red_and_error_rate_unknown = None

    def test_closed_gate_is_red(self):
        r = self.h.http("POST", "/api/quality/evaluate-gate", {"force": "closed"}, token=self.h.admin_token)
        self.assertEqual(r.status, 200, r)
        rc, doc = self.cli_json(["monitor", "--gateway", "off"])
        gate = self.gates(doc)["trust_gate"]
        self.assertEqual((rc, gate["status"], gate["invites_paused"], gate["mode"]), (1, "red", True, "closed"), gate)


class ReportTest(OpsTestCase):

    def test_cohorts_exact_numbers(self):
        h = self.h
        press = h.generate(4, batch_id="P1", cohort="press")
        c1 = h.generate(2, batch_id="C1", cohort="creator")
        c2 = h.generate(1, batch_id="C2", cohort="creator", max_uses=3)
        h.generate(1, batch_id="N1")
        who = {k: unique_email(k) for k in "abcdef"}
        uses = [(press[0], "a", 60), (press[1], "b", 120), (press[2], "c", 600), (c1[0], "d", 300), (c2[0], "e", 30),
                (c2[0], "f", None)]
        for code, k, _ in uses:
            self.assertEqual(h.redeem(code, who[k]).status, 200)
        for k, kind in (("a", "activated"), ("a", "paid"), ("b", "activated"), ("c", "fraud_flagged"), ("d", "activated"),
                        ("e", "activated"), ("e", "paid"), ("e", "activated")):
            self.event(who[k], kind)
        h.wait_synced()
        # Known times from issue to first use.
        for code, _, seconds in uses:
            if seconds is not None:
                h.psql("UPDATE invites SET created_at = used_at - interval '%d seconds' WHERE code = '%s'"
                       % (seconds, harness.code_body(code)))

        rc, doc = self.cli_json(["report", "cohorts"], check_rc=0)
        rows = [(r["level"], r["cohort"], r["batch"], r["sent"], r["redeemed"], round(r["rate"], 4), r["redemptions"],
                 r["median_redeem_s"], r["activated"], r["paid"], r["fraud_flagged"]) for r in doc["cohorts"]]
        self.assertEqual(rows, [
            ("cohort", "creator", None, 3, 2, 0.6667, 3, 165.0, 2, 1, 0),
            ("batch", "creator", "C1", 2, 1, 0.5, 1, 300.0, 1, 0, 0),
            ("batch", "creator", "C2", 1, 1, 1.0, 2, 30.0, 1, 1, 0),
            ("cohort", "press", None, 4, 3, 0.75, 3, 120.0, 2, 1, 1),
            ("batch", "press", "P1", 4, 3, 0.75, 3, 120.0, 2, 1, 1),
            ("cohort", None, None, 1, 0, 0.0, 0, None, 0, 0, 0),
            ("batch", None, "N1", 1, 0, 0.0, 0, None, 0, 0, 0),
            ("total", None, None, 8, 5, 0.625, 6, 120.0, 4, 2, 1),
        ])

        rc, out, _ = self.cli(["report", "cohorts", "--format", "csv"], check_rc=0)
        table = list(csv.reader(io.StringIO(out)))
        self.assertEqual(table[0], ["cohort", "batch", "sent", "redeemed", "rate", "redemptions", "median_redeem_s", "activated",
                                    "paid", "fraud_flagged"])
        self.assertEqual(table[2], ["creator", "C1", "2", "1", "0.5000", "1", "300", "1", "0", "0"])
        self.assertEqual(table[6], ["(none)", "*", "1", "0", "0.0000", "0", "", "0", "0", "0"])
        self.assertEqual(table[8], ["*", "*", "8", "5", "0.6250", "6", "120", "4", "2", "1"])

        rc, out, _ = self.cli(["report", "cohorts"], check_rc=0)
        self.assertRegex(out, r"press +P1 +4 +3 +75\.0% +3 +2m 00s +2 +1 +1")
        self.assertEqual(self.cli(["report", "cohorts", "--format", "xml"])[0], 64)


class ReportIssueRunTest(OpsTestCase):
    """Codes of `invites issue` (its own servers: the report counts every invite)."""

    def test_cohorts_count_an_issue_run_as_its_batch(self):
        # `invites issue --batch LAUNCH-9` issues each recipient in a batch of their own
        # (LAUNCH-9-<12 hex digits>, so that a rerun finds their code): the report counts
        # them as the operator's LAUNCH-9, not one row per recipient.
        h = self.h
        rows = [(unique_email("rep%d" % i), "creator-vinyl" if i < 3 else "press-local") for i in range(5)]
        path = os.path.join(h.tmp, "report-cohort.csv")
        with open(path, "w") as f:
            f.write("email,cohort\n" + "".join("%s,%s\n" % r for r in rows))
        out = os.path.join(h.tmp, "out-report")
        env = {"INVITEGATE_TOKEN": h.admin_token, "INVITEGATE_GATEWAY": "http://%s:%d" % (harness.HOST, h.gateway_port)}
        run_cli(["invites", "issue", path, "--batch", "LAUNCH-9", "--out", out], conf=h.conf_path, env=env, check_rc=0)
        with open(os.path.join(out, "issued.csv")) as f:
            issued = list(csv.DictReader(f))
        self.assertEqual(h.redeem(issued[0]["code"], issued[0]["email"]).status, 200)
        self.assertEqual(h.redeem(issued[3]["code"], issued[3]["email"]).status, 200)
        # A batch of the API whose id merely ends in hex digits keeps its name.
        h.generate(1, batch_id="API-0123456789", cohort="press-local")
        h.wait_synced()

        rc, doc = self.cli_json(["report", "cohorts"], check_rc=0)
        rows = [(r["level"], r["cohort"], r["batch"], r["sent"], r["redeemed"], r["redemptions"]) for r in doc["cohorts"]]
        self.assertEqual(rows, [
            ("cohort", "creator-vinyl", None, 3, 1, 1),
            ("batch", "creator-vinyl", "LAUNCH-9", 3, 1, 1),
            ("cohort", "press-local", None, 3, 1, 1),
            ("batch", "press-local", "API-0123456789", 1, 0, 0),
            ("batch", "press-local", "LAUNCH-9", 2, 1, 1),
            ("total", None, None, 6, 2, 2),
        ])
        rc, out, _ = self.cli(["report", "cohorts"], check_rc=0)
        self.assertRegex(out, r"creator-vinyl +LAUNCH-9 +3 +1 +33\.3%")
        self.assertNotRegex(out, r"LAUNCH-9-[0-9a-f]{12}")


# Adds ARGV[2] to the use count of the code record ARGV[1] of hash KEYS[1] (a drift injected by hand).
BUMP_USES = ("local a, b, c, d, e, f = cmsgpack.unpack(redis.call('HGET', KEYS[1], ARGV[1])) "
             "redis.call('HSET', KEYS[1], ARGV[1], cmsgpack.pack(a, b + tonumber(ARGV[2]), c, d, e, f))")


class ReconcileTest(OpsTestCase):

    def test_clean_then_injected_drift(self):
        h = self.h
        codes = h.generate(5, max_uses=2)
        for i, code in enumerate(codes[:3]):
            self.assertEqual(h.redeem(code, unique_email("r%d" % i)).status, 200)
        joiners = [unique_email("w%d" % i) for i in range(3)]
        for e in joiners:
            self.join(e)
        h.wait_synced()

        rc, doc = self.cli_json(["reconcile"], check_rc=0)
        self.assertEqual(doc["drift"], 0, doc)
        self.assertEqual(doc["codes"]["checked"], 5, doc)
        self.assertEqual(doc["waitlist"]["checked"], 3, doc)

        # A use count changed in Redis behind the daemon's back.
        key, field = harness.code_location(harness.code_body(codes[4]))
        h.redis("EVAL", BUMP_USES, "1", key, field, "1")
        rc, doc = self.cli_json(["reconcile"], check_rc=1)
        self.assertEqual(doc["drift"], 1, doc)
        self.assertEqual(doc["codes"]["use_count"], 1, doc)
        item = doc["codes"]["items"][0]
        self.assertEqual((item["kind"], item["redis_uses"], item["postgresql_uses"]), ("use_count", 1, 0), item)
        self.assertEqual(item["code"], harness.code_body(codes[4])[:6])
        rc, out, _ = self.cli(["reconcile"], check_rc=1)
        self.assertIn("drift: 1", out)
        self.assertNotIn(harness.code_body(codes[4]), out)
        h.redis("EVAL", BUMP_USES, "1", key, field, "-1")
        self.cli(["reconcile"], check_rc=0)

        # A person admitted in PostgreSQL only: still waiting in Redis.
        h.psql("UPDATE waitlist SET invited_at = now() WHERE email = '%s'" % joiners[1])
        rc, doc = self.cli_json(["reconcile"], check_rc=1)
        self.assertEqual((doc["drift"], doc["waitlist"].get("waiting_only_in_redis")), (1, 1), doc)
        self.assertNotIn(joiners[1], json.dumps(doc))
        h.psql("UPDATE waitlist SET invited_at = NULL WHERE email = '%s'" % joiners[1])

        # A code in Redis that PostgreSQL lacks.
        h.psql("DELETE FROM invites WHERE code = '%s'" % harness.code_body(codes[3]))
        rc, doc = self.cli_json(["reconcile"], check_rc=1)
        self.assertEqual((doc["drift"], doc["codes"].get("missing_in_postgresql")), (1, 1), doc)

    def test_sync_behind_is_not_drift(self):
        self.h.kill_sync()
        try:
            self.h.generate(2)
            rc, out, err = self.cli(["reconcile", "--wait", "1"], check_rc=1)
            self.assertIn("did not catch up", err)
        finally:
            self.h.start_sync()
        self.h.wait_synced()


if __name__ == "__main__":
    harness.main()
