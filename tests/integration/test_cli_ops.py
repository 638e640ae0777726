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


if __name__ == "__main__":
    harness.main()
