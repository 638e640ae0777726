#!/usr/bin/env python3
"""The trust gate end to end: redemptions through the gateway, lifecycle
events, the sync daemon's evaluation, the flags every gateway obeys, the
hysteresis band, the operator's override, the history in PostgreSQL and the
state kept across a restart of the daemon; then the automatic fraud signals
(bursts from one network, disposable domains, referral rings), and the
counters they are computed from (migration 011)."""

import datetime
import json
import os
import secrets
import signal
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import keys  # noqa: E402
from harness import TIME_RE, unique_email, wait_until  # noqa: E402

GATE_KEYS = [keys.gate(b) for b in range(harness.BUCKETS)]
# SYNC_GATE_RECHECK_MINUTES of sync/gate_run.h.
RECHECK_MINUTES = 10
COLUMNS = "(event_id, code, email, use_number, client_addr, redeemed_at)"
TRUST_FIELDS = {"trust_score", "churn_rate", "fraud_rate", "engagement_rate", "invites_paused", "invites_allowed",
                "health_status", "mode", "metrics", "alerts", "evaluated_at"}


def sql_str(s):
    return "NULL" if s is None else "'" + s.replace("'", "''") + "'"


def minute_at(minutes_back, seconds=0):
    """SQL for a time seconds into the minute minutes_back minutes before the current one: the burst signal works
    on whole minutes, so a row lands in the minute the test means, whenever it runs."""
    return "date_trunc('minute', now()) - %d * interval '1 minute' + %s * interval '1 second'" % (minutes_back, seconds)


def redemption_values(rows):
    """VALUES rows of redemptions as the sync daemon writes them, from (address or None, time SQL, e-mail or None)."""
    return ",".join("(%s, %s, %s, 1, %s, %s)" % (
        sql_str("test-" + secrets.token_hex(8)), sql_str("T" + secrets.token_hex(8).upper()),
        sql_str(email or unique_email("net")), sql_str(addr), at) for addr, at, email in rows)


class GateTestCase(harness.HarnessTestCase):
    """Helpers shared by both classes."""

    def trust(self):
        raw = self.h.redis("GET", keys.TRUST)
        return json.loads(raw) if raw is not None else None

    def wait_trust(self, pred, what, timeout=15.0):
        """Waits for an evaluation for which pred(doc) holds; returns it."""
        last = [None]

        def check():
            doc = self.trust()
            last[0] = doc
            return doc if doc is not None and pred(doc) else None
        return wait_until(check, timeout, 0.05, lambda: "%s; last evaluation: %s" % (what, json.dumps(last[0])))

    def flags(self):
        return [self.h.redis("GET", k) for k in GATE_KEYS]

    def assertClosed(self, doc):
        self.assertTrue(doc["invites_paused"], doc)
        self.assertFalse(doc["invites_allowed"], doc)
        self.assertEqual(doc["health_status"], "paused", doc)
        # The flags are written before the document, in the same pipeline.
        self.assertEqual(self.flags(), ["closed"] * harness.BUCKETS)

    def assertOpen(self, doc):
        self.assertFalse(doc["invites_paused"], doc)
        self.assertTrue(doc["invites_allowed"], doc)
        self.assertEqual(self.flags(), [None] * harness.BUCKETS)

    def redeem_many(self, n, domain="example.com"):
        code = self.h.generate(1, max_uses=1000)[0]
        for _ in range(n):
            email = "u-%s@%s" % (secrets.token_hex(6), domain)
            r = self.h.redeem(code, email)
            self.assertEqual(r.status, 200, r)

    def wait_redemptions(self, n):
        q = "SELECT count(*) FROM redemptions"
        wait_until(lambda: self.h.psql_value(q) == str(n), 15, 0.1, lambda: "redemptions: %s, want %d" % (self.h.psql_value(q), n))

    def lifecycle(self, emails, kind):
        """Reports a lifecycle event per e-mail (POST /api/users/{email}/events),
        then waits until PostgreSQL has them."""
        q = "SELECT count(DISTINCT user_id) FROM user_lifecycle_events WHERE kind = %s" % sql_str(kind)
        want = int(self.h.psql_value(q)) + len(emails)
        for email in emails:
            r = self.h.http("POST", "/api/users/%s/events" % urllib.parse.quote(email, safe="@"), {"type": kind},
                            token=self.h.admin_token)
            if r.status in (404, 405):
                # A gateway without the endpoint: the row the sync daemon would write for the event.
                self.h.psql("INSERT INTO user_lifecycle_events (event_id, user_id, kind, at) VALUES (%s, md5(%s)::uuid, %s,"
                            " now())" % (sql_str("test-" + secrets.token_hex(8)), sql_str(email), sql_str(kind)))
                continue
            self.assertEqual(r.status, 202, r)
        wait_until(lambda: int(self.h.psql_value(q)) >= want, 15, 0.1,
                   lambda: "%s users: %s, want %d" % (kind, self.h.psql_value(q), want))


class TrustGateTest(GateTestCase):
    """One launch, step by step (the tests run in name order and build on each other)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if cls.h.psql_value("SELECT to_regclass('user_lifecycle_events') IS NOT NULL") != "t":
            cls.tearDownClass()
            raise harness.unittest.SkipTest("lifecycle events need the tables of migration 006")

    HARNESS_OVERRIDES = {"gate_interval_ms": "200"}
    emails = []
    spare = None

    def redeem_people(self, n):
        code = self.h.generate(1, max_uses=1000)[0]
        for _ in range(n):
            email = unique_email("launch")
            self.assertEqual(self.h.redeem(code, email).status, 200)
            TrustGateTest.emails.append(email)

    def test_1_no_data(self):
        doc = self.wait_trust(lambda d: True, "no evaluation written")
        self.assertEqual(set(doc), TRUST_FIELDS)
        self.assertEqual(doc["health_status"], "no_data", doc)
        self.assertEqual(doc["mode"], "auto", doc)
        self.assertRegex(doc["evaluated_at"], TIME_RE)
        self.assertEqual(doc["alerts"], [])
        for k in ("redeemed", "activated", "churned", "fraud_flagged", "signalled", "window_days"):
            self.assertIn(k, doc["metrics"], doc)
        self.assertEqual(doc["metrics"]["window_days"], 7)
        self.assertOpen(doc)
        # 19 redemptions are still below gate_min_redemptions (20).
        self.redeem_people(19)
        self.wait_redemptions(19)
        doc = self.wait_trust(lambda d: d["metrics"]["redeemed"] == 19, "19 redemptions not counted")
        self.assertEqual(doc["health_status"], "no_data", doc)
        r = self.h.http("GET", "/api/quality/trust-score")
        body = self.assertJson(r, 200)
        self.assertEqual(body.get("health_status"), "no_data", body)
        self.assertIs(body.get("invites_paused"), False, body)

    def test_2_healthy(self):
        self.redeem_people(1)
        self.wait_redemptions(20)
        # Nobody activated yet: 0.4 * 0 + 0.3 + 0.3 = 0.6, open but degraded (at the reopen level).
        doc = self.wait_trust(lambda d: d["metrics"]["redeemed"] == 20, "20 redemptions not counted")
        self.assertEqual(doc["trust_score"], 0.6, doc)
        self.assertEqual(doc["health_status"], "degraded", doc)
        self.assertOpen(doc)
        # 16 of 20 activated: 0.4 * 0.8 + 0.3 + 0.3 = 0.92.
        self.lifecycle(self.emails[:16], "activated")
        doc = self.wait_trust(lambda d: d["metrics"]["activated"] == 16, "activations not counted")
        self.assertEqual(doc["engagement_rate"], 0.8, doc)
        self.assertEqual(doc["trust_score"], 0.92, doc)
        self.assertEqual(doc["health_status"], "healthy", doc)
        self.assertOpen(doc)
        TrustGateTest.spare = self.h.generate(1, max_uses=100)[0]

    def test_3_fraud_closes(self):
        # 5 of 20 flagged: fraud 0.25 > 0.2 closes the gate although the score (0.845) is high.
        self.lifecycle(self.emails[15:20], "fraud_flagged")
        doc = self.wait_trust(lambda d: d["invites_paused"], "gate not closed by the fraud rate")
        self.assertEqual(doc["fraud_rate"], 0.25, doc)
        self.assertIn("fraud_rate", [a["type"] for a in doc["alerts"]], doc)
        self.assertClosed(doc)
        self.assertError(self.h.redeem(self.spare, unique_email()), 503, "invites_paused")
        r = self.h.http("POST", "/api/invites/generate", {"batch_size": 1, "batch_id": "B-" + secrets.token_hex(6)},
                        token=self.h.admin_token)
        self.assertError(r, 503, "invites_paused")
        # Churn 12 of the 16 activated: the score falls to 0.62; fraud still over the maximum.
        self.lifecycle(self.emails[:12], "churned")
        doc = self.wait_trust(lambda d: d["metrics"]["churned"] == 12, "churn not counted")
        self.assertEqual(doc["churn_rate"], 0.75, doc)
        self.assertClosed(doc)

    def test_4_override_open(self):
        self.h.redis("SET", keys.GATE_MODE, "open")
        doc = self.wait_trust(lambda d: d["mode"] == "open", "override not seen")
        self.assertOpen(doc)
        self.assertIn("override", [a["type"] for a in doc["alerts"]], doc)
        self.assertEqual(doc["health_status"], "degraded", doc)
        # Five more people while forced open: 25 redeemed, 5 flagged = 0.2, the maximum itself.
        self.redeem_people(5)
        self.wait_redemptions(25)
        self.wait_trust(lambda d: d["metrics"]["redeemed"] == 25, "25 redemptions not counted")

    def test_5_band_keeps_closed(self):
        # Back to auto. 0.4 * 16/25 + 0.3 * 4/16 + 0.3 * 0.8 = 0.571: inside the band (0.5, 0.6), and the
        # automatic state was closed all along, so the gate closes again and stays closed.
        self.h.redis("DEL", keys.GATE_MODE)
        doc = self.wait_trust(lambda d: d["mode"] == "auto", "auto mode not seen")
        self.assertEqual(doc["trust_score"], 0.571, doc)
        self.assertEqual(doc["fraud_rate"], 0.2, doc)
        self.assertClosed(doc)
        first = doc["evaluated_at"]
        doc = self.wait_trust(lambda d: d["evaluated_at"] > first, "no later evaluation")
        self.assertClosed(doc)
        self.assertError(self.h.redeem(self.spare, unique_email()), 503, "invites_paused")

        # A restart of the daemon reads the state back: still closed inside the band.
        self.h.kill_sync(signal.SIGTERM)
        before = self.trust()["evaluated_at"]
        self.h.start_sync()
        doc = self.wait_trust(lambda d: d["evaluated_at"] > before, "no evaluation after the restart", 30)
        self.assertClosed(doc)
        self.assertEqual(doc["trust_score"], 0.571, doc)
        with open(self.h.sync_log, "rb") as f:
            self.assertIn(b"trust gate state restored", f.read())

    def test_6_reopens_above_the_band(self):
        # Five more activated: 0.4 * 21/25 + 0.3 * 9/21 + 0.24 = 0.7046 > 0.6, fraud 0.2: reopens.
        self.lifecycle(self.emails[20:25], "activated")
        doc = self.wait_trust(lambda d: not d["invites_paused"], "gate not reopened")
        self.assertEqual(doc["trust_score"], 0.7046, doc)
        self.assertOpen(doc)
        code = self.h.generate(1)[0]
        self.assertEqual(self.h.redeem(code, unique_email()).status, 200)

    def test_7_history(self):
        rows = self.h.psql("SELECT invites_paused, auto_paused, mode, health_status, trust_score::text, fraud_rate::text,"
                           " metrics->>'redeemed', jsonb_typeof(alerts) FROM gate_evaluations ORDER BY id")
        self.assertGreater(len(rows), 5, rows)
        states = [(r[0], r[2], r[3]) for r in rows]
        self.assertIn(("f", "auto", "no_data"), states)
        self.assertIn(("f", "auto", "healthy"), states)
        self.assertIn(("t", "auto", "paused"), states)
        self.assertIn(("f", "open", "degraded"), states)
        # Forced open while the metrics said closed: the automatic state is kept underneath.
        self.assertTrue(any(r[0] == "f" and r[1] == "t" and r[2] == "open" for r in rows), rows)
        self.assertTrue(any(r[0] == "t" and r[4] == "0.5710" for r in rows), rows)
        self.assertEqual(rows[-1][0], "f", rows[-1])
        self.assertTrue(all(r[7] == "array" for r in rows), rows)
        # Consecutive rows differ in something (the test is shorter than the minute that would record anyway),
        # except the first evaluation after the restart, which is always recorded.
        same = [a for a, b in zip(rows, rows[1:]) if a == b]
        self.assertLessEqual(len(same), 1, rows)


class TrustSignalsTest(GateTestCase):
    """Bursts from one network, disposable domains and referral rings raise the fraud rate."""

    HARNESS_OVERRIDES = {"gate_interval_ms": "200", "gate_burst_per_network": "30", "gate_burst_window_s": "60"}

    def insert_redemptions(self, rows):
        """Redemptions as the sync daemon writes them (address, time SQL), for client networks the test cannot
        connect from. The trigger of migration 011 counts them."""
        self.h.psql("INSERT INTO redemptions %s VALUES %s" % (COLUMNS, redemption_values((a, t, None) for a, t in rows)))

    def test_networks(self):
        net = lambda a: self.h.psql_value("SELECT coalesce(gate_network(%s), 'NULL')" % sql_str(a))  # noqa: E731
        self.assertEqual(net("198.51.100.77"), "198.51.100.0/24")
        self.assertEqual(net("::ffff:198.51.100.77"), "198.51.100.0/24")
        self.assertEqual(net("2001:db8:7:1::5"), "2001:db8:7::/48")
        self.assertEqual(net("2001:DB8::1"), "2001:db8:0::/48")
        self.assertEqual(net("fe80::1"), "fe80:0:0::/48")
        for a in ("127.0.0.1", "::1", "::ffff:127.0.0.1", "", "not an address", "1.2.3"):
            self.assertEqual(net(a), "NULL", a)

    def test_signals(self):
        # 40 redemptions through the gateway within seconds, all from 127.0.0.1: loopback is no client network,
        # so no burst although 40 > 30.
        self.redeem_many(40)
        self.wait_redemptions(40)
        doc = self.wait_trust(lambda d: d["metrics"]["redeemed"] == 40, "40 redemptions not counted")
        self.assertEqual(doc["metrics"]["signals"]["burst"], 0, doc)
        self.assertOpen(doc)

        # 35 from one /24 within 10 s of one minute, 31 from one /48 within 30 s of another: bursts (more than 30
        # in a minute). 31 from another /24, 3 s apart over 90 s: whatever the minute boundaries, no minute holds
        # more than 20 of them, no burst. All within the minutes every evaluation rechecks.
        rows = [("198.51.100.%d" % (i + 1), minute_at(5, i * 10 // 35)) for i in range(35)]
        rows += [("2001:db8:7:%x::%x" % (i, i + 1), minute_at(7, i)) for i in range(31)]
        rows += [("192.0.2.%d" % (i + 1), minute_at(3, 3 * i)) for i in range(31)]
        self.insert_redemptions(rows)
        doc = self.wait_trust(lambda d: d["metrics"]["redeemed"] == 137, "inserted redemptions not counted")
        signals = doc["metrics"]["signals"]
        self.assertEqual(signals["burst"], 66, doc)
        self.assertEqual(signals["burst_networks"], 2, doc)
        self.assertIn("burst", [a["type"] for a in doc["alerts"]], doc)
        # 66 / 137 = 0.4818 > 0.2: closed.
        self.assertEqual(doc["fraud_rate"], 0.4818, doc)
        self.assertClosed(doc)

        # Forced open to take disposable addresses through the gateway (the gate refuses them while closed).
        self.h.redis("SET", keys.GATE_MODE, "open")
        self.wait_trust(lambda d: d["mode"] == "open", "override not seen")
        self.redeem_many(3, "mailinator.com")
        self.wait_redemptions(140)
        doc = self.wait_trust(lambda d: d["metrics"]["redeemed"] == 140, "disposable redemptions not counted")
        self.assertEqual(doc["metrics"]["signals"]["disposable_domain"], 3, doc)
        self.assertEqual(doc["metrics"]["signalled"], 69, doc)
        self.assertIn("disposable_domain", [a["type"] for a in doc["alerts"]], doc)
        self.assertOpen(doc)
        self.h.redis("SET", keys.GATE_MODE, "auto")
        doc = self.wait_trust(lambda d: d["mode"] == "auto", "auto mode not seen")
        self.assertClosed(doc)

        # Referral cycles: A and B referred each other; C -> D -> E -> C. Five users on cycles.
        if self.h.psql_value("SELECT to_regclass('user_referral_relationships') IS NOT NULL") != "t":
            return
        u = [self.h.psql_value("SELECT gen_random_uuid()") for _ in range(5)]
        pairs = [(u[0], u[1]), (u[1], u[0]), (u[2], u[3]), (u[3], u[4]), (u[4], u[2])]
        self.h.psql("INSERT INTO user_referral_relationships (referrer_user_id, referred_user_id, referral_code) VALUES "
                    + ",".join("(%s, %s, 'RINGTEST')" % (sql_str(a), sql_str(b)) for a, b in pairs))
        doc = self.wait_trust(lambda d: d["metrics"]["signals"]["referral_ring"] == 5, "ring not counted")
        self.assertEqual(doc["metrics"]["signalled"], 74, doc)
        self.assertIn("referral_ring", [a["type"] for a in doc["alerts"]], doc)


class GateCountsTest(GateTestCase):
    """The counters the signals are computed from (migration 011): redemptions counted per minute and client
    network by a trigger, whichever session inserts them; bursts found in the minutes every evaluation rechecks,
    and in the whole window after a restart; the disposable domains following the configuration. The tests run in
    name order and build on each other."""

    HARNESS_OVERRIDES = {"gate_interval_ms": "200", "gate_burst_per_network": "30", "gate_burst_window_s": "60",
                         "disposable_domains": "mailinator.com Throwaway.TEST"}

    def psql_args(self):
        return ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", harness.HOST, "-p", str(self.h.pg_port),
                "-U", "postgres", "-d", "invitegate"]

    def insert(self, rows, prefix=""):
        self.h.psql(prefix + "INSERT INTO redemptions %s VALUES %s" % (COLUMNS, redemption_values(rows)))

    def total(self):
        return int(self.h.psql_value("SELECT count(*) FROM redemptions"))

    def domains(self):
        return [r[0] for r in self.h.psql("SELECT domain FROM gate_disposable_domains ORDER BY domain")]

    def counted(self, redeemed):
        """The first evaluation that counts redeemed redemptions."""
        return self.wait_trust(lambda d: d["metrics"]["redeemed"] == redeemed, "%d redemptions not counted" % redeemed)

    def evaluations(self, n):
        """Waits for n more evaluations; returns the last."""
        doc = self.trust()
        for _ in range(n):
            at = doc["evaluated_at"]
            doc = self.wait_trust(lambda d: d["evaluated_at"] > at, "no evaluation after %s" % at)
        return doc

    def restart_sync(self):
        """Stops the sync daemon and starts it again; returns its first evaluation."""
        self.h.kill_sync(signal.SIGTERM)
        before = self.trust()["evaluated_at"]
        self.h.start_sync()
        return self.wait_trust(lambda d: d["evaluated_at"] > before, "no evaluation after the restart", 30)

    def sync_log(self):
        with open(self.h.sync_log, "rb") as f:
            return f.read()

    def assertCountersTrue(self):
        """The counters hold what redemptions hold, minute by minute and network by network."""
        disposable = "count(*) FILTER (WHERE split_part(email, '@', 2) IN (SELECT domain FROM gate_disposable_domains))"
        want = self.h.psql("SELECT date_trunc('minute', redeemed_at) AS m, count(*), %s FROM redemptions"
                           " GROUP BY m ORDER BY m" % disposable)
        got = self.h.psql("SELECT minute, sum(redeemed), sum(disposable) FROM redemption_minutes GROUP BY minute ORDER BY minute")
        self.assertEqual(got, want)
        want = self.h.psql("SELECT date_trunc('minute', redeemed_at) AS m, gate_network(client_addr) AS net, count(*), %s"
                           " FROM redemptions WHERE gate_network(client_addr) IS NOT NULL GROUP BY m, net ORDER BY m, net"
                           % disposable)
        got = self.h.psql("SELECT minute, net, sum(redeemed), sum(disposable) FROM network_minutes GROUP BY minute, net"
                          " ORDER BY minute, net")
        self.assertEqual(got, want)
        return want

    def test_1_two_sessions(self):
        # The gate wrote the configured list at start, in lower case as the configuration keeps it.
        wait_until(lambda: self.domains() == ["mailinator.com", "throwaway.test"], 15, 0.1,
                   lambda: "disposable domains: %r" % self.domains())

        # One session's transaction has counted a redemption of a minute, a network and a disposable domain...
        held = subprocess.Popen(self.psql_args(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.h._child_env(),
                                text=True)
        try:
            held.stdin.write("BEGIN;\nINSERT INTO redemptions %s VALUES %s;\nSELECT 'ready';\n" % (
                COLUMNS, redemption_values([("10.9.8.7", minute_at(2, 5), "held-%s@mailinator.com" % secrets.token_hex(4))])))
            held.stdin.flush()
            self.assertEqual(held.stdout.readline().strip(), "ready")
            # ...and another session counts one of the same minute, network and domain without waiting for its
            # COMMIT (a wait would fail on the lock timeout).
            self.insert([("10.9.8.6", minute_at(2, 6), "other-%s@mailinator.com" % secrets.token_hex(4))],
                        "SET lock_timeout = '2s'; ")
            held.stdin.write("COMMIT;\n")
            held.stdin.close()
            self.assertEqual(held.wait(15), 0)
        finally:
            if held.poll() is None:
                held.kill()
                held.wait()
            held.stdout.close()

        # Two sessions at once, each a run of small transactions over 20 minutes, 12 networks, loopback and
        # unknown addresses and both disposable domains; one ends with a COPY, the other with a transaction that
        # rolls back (and counts nothing).
        addrs = ["10.1.%d.%d" % (n, n + 1) for n in range(10)] + ["2001:db8:%x::1" % n for n in range(2)]
        addrs += ["127.0.0.1", None]
        domains = ["mailinator.com", "throwaway.test"] + ["example.com"] * 5
        procs = []
        for session in range(2):
            script = []
            for t in range(30):
                rows = [(addrs[(t * 7 + r + session) % len(addrs)], minute_at((t * 10 + r) % 20, (t * 3 + r) % 60),
                         "s%d-%s@%s" % (session, secrets.token_hex(6), domains[(t + r) % len(domains)])) for r in range(10)]
                script.append("BEGIN;\nINSERT INTO redemptions %s VALUES %s;\nCOMMIT;" % (COLUMNS, redemption_values(rows)))
            if session == 0:
                now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
                script.append("COPY redemptions %s FROM STDIN;" % COLUMNS)
                for r in range(20):
                    at = now - datetime.timedelta(minutes=r % 4, seconds=-r)
                    script.append("copy-%s\tTCOPY%d\tc-%s@%s\t1\t%s\t%s" % (
                        secrets.token_hex(6), r, secrets.token_hex(6), domains[r % len(domains)],
                        "10.1.%d.9" % (r % 3) if r % 5 else "\\N", at.isoformat()))
                script.append("\\.")
            else:
                script.append("BEGIN;\nINSERT INTO redemptions %s VALUES %s;\nROLLBACK;" % (
                    COLUMNS, redemption_values([("10.1.0.1", minute_at(1), "gone-%s@mailinator.com" % secrets.token_hex(4))])))
            path = os.path.join(self.h.tmp, "session%d.sql" % session)
            with open(path, "w") as f:
                f.write("\n".join(script) + "\n")
            procs.append(subprocess.Popen(self.psql_args() + ["-f", path], stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, env=self.h._child_env(), text=True))
        for p in procs:
            out = p.communicate(timeout=60)[0]
            self.assertEqual(p.returncode, 0, out)

        total = self.total()
        self.assertEqual(total, 2 + 600 + 20)
        minutes = self.assertCountersTrue()
        self.assertGreater(len(minutes), 20, minutes)
        # Each session counted into rows of its own.
        self.assertGreaterEqual(int(self.h.psql_value("SELECT count(DISTINCT writer) FROM redemption_minutes")), 3)
        doc = self.counted(total)
        disposable = int(self.h.psql_value("SELECT count(*) FROM redemptions WHERE split_part(email, '@', 2)"
                                           " IN ('mailinator.com', 'throwaway.test')"))
        self.assertEqual(doc["metrics"]["signals"]["disposable_domain"], disposable, doc)
        self.assertEqual(doc["metrics"]["signals"]["burst"], 0, doc)

    def test_2_late_burst_is_found(self):
        # 35 from one /24 within one minute, applied RECHECK_MINUTES - 2 minutes after it: inside the minutes every
        # evaluation recomputes, so found although the daemon has long finished its first evaluation.
        total = self.total()
        self.insert([("198.51.100.%d" % (i + 1), minute_at(RECHECK_MINUTES - 2, i), None) for i in range(35)])
        doc = self.wait_trust(lambda d: d["metrics"]["signals"]["burst"] == 35, "late burst not found")
        self.assertEqual(doc["metrics"]["redeemed"], total + 35, doc)
        self.assertEqual(doc["metrics"]["signals"]["burst_networks"], 1, doc)
        self.assertEqual(self.h.psql_value("SELECT sum(redeemed) FROM network_bursts WHERE net = '198.51.100.0/24'"), "35")

    def test_3_restart_keeps_the_counts(self):
        metrics = self.evaluations(1)["metrics"]
        doc = self.restart_sync()
        self.assertEqual(doc["metrics"], metrics)
        self.assertEqual(self.sync_log().count(b"trust gate bursts rebuilt from the window"), 2)
        self.assertCountersTrue()

    def test_4_too_late_until_restart(self):
        # 35 from another /24 within one minute, applied RECHECK_MINUTES + 5 minutes after it: counted at once,
        # but past the minutes that are rechecked, so no burst...
        total = self.total()
        self.insert([("203.0.113.%d" % (i + 1), minute_at(RECHECK_MINUTES + 5, i), None) for i in range(35)])
        self.counted(total + 35)
        doc = self.evaluations(3)
        self.assertEqual(doc["metrics"]["redeemed"], total + 35, doc)
        self.assertEqual(doc["metrics"]["signals"]["burst"], 35, doc)
        # ...until the next start recomputes the whole window.
        self.restart_sync()
        doc = self.wait_trust(lambda d: d["metrics"]["signals"]["burst"] == 70, "burst not found by the rebuild")
        self.assertEqual(doc["metrics"]["signals"]["burst_networks"], 2, doc)

    def test_5_domains_follow_the_configuration(self):
        self.h.write_config("invitegate.conf", {"listen": "%s:%d" % (harness.HOST, self.h.gateway_port),
                                                "disposable_domains": "throwaway.test,other.example"})
        before = self.restart_sync()["metrics"]
        wait_until(lambda: self.domains() == ["other.example", "throwaway.test"], 15, 0.1,
                   lambda: "disposable domains: %r" % self.domains())
        self.assertIn(b"trust gate disposable domains written\" removed=1 added=1", self.sync_log())
        # New redemptions count by the new list; the ones counted before keep the flag they were counted with.
        self.insert([("127.0.0.1", minute_at(0), "a-%s@%s" % (secrets.token_hex(4), d))
                     for d in ("mailinator.com", "other.example", "throwaway.test")])
        doc = self.counted(before["redeemed"] + 3)
        self.assertEqual(doc["metrics"]["signals"]["disposable_domain"], before["signals"]["disposable_domain"] + 2, doc)


class ForcedGateTest(GateTestCase):
    """POST /api/quality/evaluate-gate {"force": ...} takes effect on every bucket before it answers, whatever the
    mode, without waiting for the daemon's next evaluation (an hour away here), and a force made while the daemon
    was evaluating is not undone by that evaluation."""

    HARNESS_OVERRIDES = {"gate_interval_ms": "3600000"}

    def force(self, mode):
        return self.assertJson(self.h.http("POST", "/api/quality/evaluate-gate", {"force": mode}, token=self.h.admin_token),
                               200)

    def test_1_auto_takes_effect_at_once(self):
        self.wait_trust(lambda d: True, "no evaluation written")
        code = self.h.generate(1, max_uses=100)[0]
        closed = self.force("closed")
        self.assertTrue(closed["invites_paused"], closed)
        self.assertError(self.h.redeem(code, unique_email()), 503, "invites_paused")
        # Back to auto: the daemon's last evaluation found the gate open, so it opens now.
        back = self.force("auto")
        self.assertEqual((back["mode"], back["invites_paused"], back["invites_allowed"]), ("auto", False, True), back)
        self.assertEqual(self.flags(), [None] * harness.BUCKETS)
        self.assertEqual(self.h.redeem(code, unique_email()).status, 200)
        # Auto when the last evaluation's automatic state was closed (as the daemon writes it): closed at once.
        self.h.redis("SET", keys.GATE_AUTO, "closed")
        try:
            self.assertFalse(self.force("open")["invites_paused"])
            self.assertEqual(self.h.redeem(code, unique_email()).status, 200)
            back = self.force("auto")
            self.assertTrue(back["invites_paused"], back)
            self.assertEqual(self.flags(), ["closed"] * harness.BUCKETS)
            self.assertError(self.h.redeem(code, unique_email()), 503, "invites_paused")
        finally:
            self.h.redis("DEL", keys.GATE_AUTO)
            self.force("auto")

    def test_2_open_during_an_evaluation_stays_open(self):
        h = self.h
        self.wait_trust(lambda d: True, "no evaluation written")
        self.force("open")
        code = h.generate(1, max_uses=100)[0]
        self.force("closed")
        before = self.trust()["evaluated_at"]
        h.kill_sync(signal.SIGTERM)
        # The restarted daemon evaluates at once; it reads the mode (closed), then waits for this lock.
        lock = subprocess.Popen(["psql", "-X", "-q", "-h", harness.HOST, "-p", str(h.pg_port), "-U", "postgres", "-d",
                                 "invitegate"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, env=h._child_env())
        try:
            lock.stdin.write(b"BEGIN; LOCK TABLE user_lifecycle_events IN ACCESS EXCLUSIVE MODE; SELECT 1;\n")
            lock.stdin.flush()
            wait_until(lambda: h.psql_value("SELECT count(*) FROM pg_locks WHERE relation = 'user_lifecycle_events'::regclass"
                                            " AND mode = 'AccessExclusiveLock' AND granted") == "1", 15, 0.05, "the lock")
            h.start_sync()
            waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%kind = %activated%'"
            wait_until(lambda: h.psql_value(waiting) != "0", 30, 0.05, "the gate's evaluation waiting for the lock")
            opened = self.force("open")
            self.assertFalse(opened["invites_paused"], opened)
            self.assertEqual(self.flags(), [None] * harness.BUCKETS)
        finally:
            lock.stdin.write(b"COMMIT;\n")
            lock.stdin.close()
            lock.wait(30)
        # The evaluation that read "closed" publishes, sees the mode changed, and publishes for "open".
        doc = self.wait_trust(lambda d: d["evaluated_at"] > before and d["mode"] == "open", "no evaluation for the open mode")
        self.assertOpen(doc)
        self.assertEqual(h.redeem(code, unique_email()).status, 200)
        self.force("auto")


if __name__ == "__main__":
    harness.main()
