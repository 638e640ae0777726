#!/usr/bin/env python3
"""Referral relationships, the points ledger and its balances in PostgreSQL,
driven over HTTP through the gateway and the sync daemon: a scripted story
over simulated months with the exact rows the referral rules give, expiry
with the daemon's clock moved forward, and a randomised run after which every
balance still equals its ledger (SPEC invariant 5)."""

import calendar
import datetime
import hashlib
import os
import random
import signal
import struct
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import keys  # noqa: E402
from harness import unique_email, wait_until  # noqa: E402

DAY = 86400
# The defaults of common/ig_config.c, set here so the expected rows do not drift.
POINTS = {"points_welcome": "50", "points_first_payment": "500", "points_recurring": "100",
          "points_recurring_months": "12", "points_l2": "50", "points_l2_months": "6", "referral_expire_days": "90"}


def add_months(ts, k):
    """Unix time ts plus k calendar months (UTC; a month end clamps, as PostgreSQL's interval arithmetic does)."""
    t = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    y, m = divmod(t.month - 1 + k, 12)
    y, m = t.year + y, m + 1
    return int(t.replace(year=y, month=m, day=min(t.day, calendar.monthrange(y, m)[1])).timestamp())


def path_email(email):
    return urllib.parse.quote(email, safe="")


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


class ReferralsPointsTest(harness.HarnessTestCase):
    HARNESS_OVERRIDES = dict(POINTS, waitlist_referral_boost="1", referral_earn_after="1000")

    # -- helpers ----------------------------------------------------------

    def join(self, email, ref=None):
        body = {"email": email, "persona": "small_team", "use_case": "a tool"}
        if ref is not None:
            body["referral_code"] = ref
        return self.assertJson(self.h.http("POST", "/api/waitlist/join", body), 201)["referral_code"]

    def event(self, email, kind, at=None, amount=None):
        body = {"type": kind}
        if at is not None:
            body["at"] = at
        if amount is not None:
            body["amount_cents"] = amount
        r = self.h.http("POST", "/api/users/%s/events" % path_email(email), body, token=self.h.admin_token)
        self.assertEqual(r.status, 202, r)

    def spend(self, email, amount, kind="REDEMPTION_QUOTA", note=None):
        body = {"amount": amount, "type": kind}
        if note is not None:
            body["note"] = note
        return self.h.http("POST", "/api/points/%s/spend" % path_email(email), body, token=self.h.admin_token)

    def points(self, email):
        return self.assertJson(self.h.http("GET", "/api/points/%s" % path_email(email), token=self.h.admin_token), 200)

    def uid(self, email):
        return self.h.psql_value("SELECT user_id FROM user_emails WHERE email = %s" % sql_str(email))

    def wait_uid(self, email):
        return wait_until(lambda: self.uid(email), 20, 0.1, "user_emails row for a join")

    def ledger(self, email):
        """(type, delta) of the user's ledger rows, oldest first."""
        return [(t, int(d)) for t, d in self.h.psql(
            "SELECT t.type, t.delta FROM user_point_transactions t JOIN user_emails e USING (user_id) "
            "WHERE e.email = %s ORDER BY t.created_at, t.seq" % sql_str(email))]

    def balance(self, email):
        row = self.h.psql("SELECT b.balance, b.total_earned, b.total_spent FROM user_point_balances b "
                          "JOIN user_emails e USING (user_id) WHERE e.email = %s" % sql_str(email))
        return tuple(int(x) for x in row[0]) if row else (0, 0, 0)

    def lifecycle_count(self):
        return int(self.h.psql_value("SELECT count(*) FROM user_lifecycle_events"))

    def wait_lifecycle(self, n):
        wait_until(lambda: self.lifecycle_count() >= n, 30, 0.1,
                   lambda: "lifecycle events in PostgreSQL: %d of %d" % (self.lifecycle_count(), n))

    def relationship(self, referred_email, level=1):
        return self.h.psql_value("SELECT r.status FROM user_referral_relationships r JOIN user_emails e "
                                 "ON e.user_id = r.referred_user_id WHERE e.email = %s AND r.level = %d"
                                 % (sql_str(referred_email), level))

    def referrers(self, referred_email):
        """(referrer's e-mail, level, status) of every relationship row of a referred user, by level."""
        return [(e, int(lv), st) for e, lv, st in self.h.psql(
            "SELECT f.email, r.level, r.status FROM user_referral_relationships r JOIN user_emails e "
            "ON e.user_id = r.referred_user_id JOIN user_emails f ON f.user_id = r.referrer_user_id "
            "WHERE e.email = %s ORDER BY r.level" % sql_str(referred_email))]

    def assert_balances_match_ledger(self):
        bad = self.h.psql(
            "SELECT b.user_id, b.balance, b.total_earned, b.total_spent, l.sum, l.earned, l.spent "
            "FROM user_point_balances b LEFT JOIN (SELECT user_id, sum(delta) AS sum, "
            "COALESCE(sum(delta) FILTER (WHERE delta > 0), 0) AS earned, "
            "COALESCE(sum(delta) FILTER (WHERE delta < 0), 0) AS spent FROM user_point_transactions GROUP BY user_id) l "
            "USING (user_id) WHERE b.balance <> COALESCE(l.sum, 0) OR b.total_earned <> COALESCE(l.earned, 0) "
            "OR b.total_spent <> COALESCE(l.spent, 0)")
        self.assertEqual(bad, [], "balances that differ from their ledger")
        missing = self.h.psql("SELECT DISTINCT user_id FROM user_point_transactions "
                              "EXCEPT SELECT user_id FROM user_point_balances")
        self.assertEqual(missing, [], "ledger rows without a balance")

    def restart_sync(self, offset_s):
        """Restarts the sync daemon with its clock moved offset_s seconds ahead."""
        h = self.h
        h.kill_sync(signal.SIGTERM)
        env = h._child_env()
        env["IG_SYNC_CLOCK_OFFSET_S"] = str(offset_s)
        h.sync_proc = h._spawn([harness.SYNC_BIN, "-c", h.conf_path], h.sync_log, env=env)

    # -- (a) the scripted story ------------------------------------------

    def test_referral_story_over_simulated_months(self):
        h = self.h
        a, b, c, d, e = (unique_email(n) for n in ("ann", "bob", "cy", "dee", "eve"))
        code_a = self.join(a)
        code_b = self.join(b, ref=code_a)
        self.join(c, ref=code_b)
        self.join(d, ref=code_a)  # never activates: expires
        self.join(e, ref=code_a)  # activates too late
        for x in (a, b, c, d, e):
            self.wait_uid(x)
        wait_until(lambda: self.relationship(e) == "PENDING", 20, 0.1, "relationships")
        self.assertIsNone(self.relationship(a))
        self.assertEqual(h.psql_value(
            "SELECT count(*) FROM user_referral_relationships r JOIN user_emails e ON e.user_id = r.referrer_user_id "
            "WHERE e.email = %s AND r.level = 1" % sql_str(a)), "3")
        self.assertEqual(h.psql_value("SELECT code FROM user_referral_codes WHERE user_id = %s" % sql_str(self.uid(a))),
                         code_a)

        t0 = int(h.psql_value("SELECT extract(epoch FROM max(created_at))::bigint FROM waitlist"))
        n = self.lifecycle_count()
        self.event(b, "activated", t0 + DAY)
        self.event(c, "activated", t0 + 2 * DAY)
        self.event(e, "activated", t0 + 100 * DAY)  # past referral_expire_days: nothing
        self.event(b, "paid", t0 + 3 * DAY, 1999)  # ann's first payment reward
        for k in range(14):  # cy pays monthly: bob first + 12 recurring, ann 6 level-2
            self.event(c, "paid", add_months(t0 + 5 * DAY, k), 1999)
        self.event(c, "churned", t0 + 430 * DAY)
        self.event(c, "paid", t0 + 431 * DAY, 1999)  # after churn: nobody earns
        n += 3 + 1 + 14 + 2
        self.wait_lifecycle(n)

        self.assertEqual(self.ledger(a), [("REFERRAL_FIRST_PAYMENT", 500)] + [("REFERRAL_L2", 50)] * 6)
        self.assertEqual(self.ledger(b), [("REFERRAL_WELCOME", 50), ("REFERRAL_FIRST_PAYMENT", 500)] +
                         [("REFERRAL_RECURRING", 100)] * 12)
        self.assertEqual(self.ledger(c), [("REFERRAL_WELCOME", 50)])
        self.assertEqual(self.ledger(d), [])
        self.assertEqual(self.ledger(e), [])
        self.assertEqual(self.balance(a), (800, 800, 0))
        self.assertEqual(self.balance(b), (1750, 1750, 0))
        self.assertEqual(self.balance(c), (50, 50, 0))
        self.assertEqual((self.relationship(b), self.relationship(c), self.relationship(d), self.relationship(e)),
                         ("REWARDED", "REWARDED", "PENDING", "EXPIRED"))
        # Each reward row names the relationship and month it pays for.
        self.assertEqual(h.psql("SELECT type, period FROM user_point_transactions t JOIN user_emails e USING (user_id) "
                                "WHERE e.email = %s AND type = 'REFERRAL_RECURRING' ORDER BY period" % sql_str(b)),
                         [["REFERRAL_RECURRING", str(p)] for p in range(1, 13)])

        # Written back to Redis after the COMMIT: earned, the last 20 rows newest first.
        body = wait_until(lambda: (lambda p: p if p["total_earned"] == 1750 else None)(self.points(b)), 20, 0.2,
                          lambda: "points of bob in Redis: %r" % (self.points(b),))
        self.assertEqual(body["balance"], 1750)
        tx = body["transactions"]
        self.assertEqual(len(tx), 14)
        self.assertEqual([t["type"] for t in tx], ["REFERRAL_RECURRING"] * 12 + ["REFERRAL_FIRST_PAYMENT", "REFERRAL_WELCOME"])
        self.assertEqual(tx[0]["delta"], 100)
        self.assertRegex(tx[0]["at"], harness.TIME_RE)
        self.assertGreater(tx[0]["at"], tx[-1]["at"])

        # A spend: Redis deducts, the ledger follows with a negative row.
        wait_until(lambda: self.points(a)["total_earned"] == 800, 20, 0.2, "points of ann in Redis")
        r = self.spend(a, 200, note="more quota")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.spend(a, 601).status, 409)
        wait_until(lambda: self.balance(a) == (600, 800, -200), 20, 0.1, lambda: "ann's balance %r" % (self.balance(a),))
        self.assertIn(("REDEMPTION_QUOTA", -200), self.ledger(a))
        self.assertEqual(h.psql_value("SELECT note FROM user_point_transactions WHERE delta = -200 AND user_id = %s"
                                      % sql_str(self.uid(a))), "more quota")
        self.assertEqual(self.points(a)["balance"], 600)

        # A restarted daemon reads on from the high-water mark: nothing is applied twice (exactly once).
        rows = h.psql_value("SELECT count(*) FROM user_point_transactions")
        mark = h.marks()[0]
        self.restart_sync(0)
        self.event(a, "activated", t0 + 500 * DAY)
        h.wait_synced(what="the event after the restart")
        self.assertGreater(h.marks()[0], mark)
        self.assertEqual(h.psql_value("SELECT count(*) FROM user_point_transactions"), rows)
        self.assert_balances_match_ledger()

        # Expiry by the daemon's clock: 91 days on, the PENDING relationship has expired.
        self.restart_sync(91 * DAY)
        wait_until(lambda: self.relationship(d) == "EXPIRED", 30, 0.2, lambda: "dee's relationship: %s" % self.relationship(d))
        self.event(d, "activated", t0 + 2 * DAY)
        self.wait_lifecycle(n + 2)
        self.assertEqual(self.ledger(d), [])
        self.assertEqual((self.relationship(b), self.relationship(c)), ("REWARDED", "REWARDED"))
        self.restart_sync(0)

    # -- erasure -------------------------------------------------------------

    def test_level_two_relationships_are_rows(self):
        a, b, c, d = (unique_email(n) for n in ("lia", "leo", "lou", "lex"))
        code_a = self.join(a)
        code_b = self.join(b, ref=code_a)
        self.join(c, ref=code_b)
        # dee is referred by a share from an inviter who joins (referred by lia) only afterwards.
        x = unique_email("late")
        self.assertJson(self.h.http("POST", "/api/referrals/share", {"inviter_email": x, "recipient_email": d}), 201)
        self.join(d)
        self.h.wait_synced()
        self.join(x, ref=code_a)
        self.h.wait_synced()
        self.assertEqual(self.referrers(b), [(a, 1, "PENDING")])
        self.assertEqual(self.referrers(c), [(b, 1, "PENDING"), (a, 2, "PENDING")])
        self.assertEqual(self.referrers(d), [(x, 1, "PENDING"), (a, 2, "PENDING")])
        self.assertEqual(self.referrers(a), [])
        # Both levels move together; the level-2 row is what pays lia REFERRAL_L2.
        t0 = int(self.h.psql_value("SELECT extract(epoch FROM max(created_at))::bigint FROM waitlist")) + DAY
        n = self.lifecycle_count()
        self.event(c, "activated", t0)
        self.event(c, "paid", t0 + DAY, 1999)
        self.wait_lifecycle(n + 2)
        self.assertEqual(self.referrers(c), [(b, 1, "REWARDED"), (a, 2, "REWARDED")])
        self.assertEqual(self.ledger(a), [("REFERRAL_L2", 50)])
        self.assertEqual(self.ledger(b), [("REFERRAL_FIRST_PAYMENT", 500)])
        # Referral counts (quality, points) stay direct: lia referred leo and the late inviter only.
        self.assertEqual(self.h.psql_value(
            "SELECT count(*) FROM user_referral_relationships r JOIN user_emails e ON e.user_id = r.referrer_user_id "
            "WHERE e.email = %s AND r.level = 1" % sql_str(a)), "2")
        self.assertEqual(self.assertJson(self.h.http("GET", "/api/referrals/%s/quality" % path_email(a)), 200)
                         ["referred_count"], 2)

    def test_monthly_caps_count_billing_months_not_payments(self):
        a, b, c = (unique_email(n) for n in ("mia", "max", "mo"))
        code_a = self.join(a)
        self.join(c, ref=self.join(b, ref=code_a))
        for x in (a, b, c):
            self.wait_uid(x)
        wait_until(lambda: self.relationship(c) == "PENDING", 20, 0.1, "relationships")
        t0 = int(self.h.psql_value("SELECT extract(epoch FROM max(created_at))::bigint FROM waitlist")) + DAY
        n = self.lifecycle_count()
        # Sixteen payments within one minute: one billing month, the first payment's.
        for k in range(16):
            self.event(c, "paid", t0 + 3 * k, 1999)
        self.wait_lifecycle(n + 16)
        self.assertEqual(self.ledger(b), [("REFERRAL_FIRST_PAYMENT", 500)])
        self.assertEqual(self.ledger(a), [("REFERRAL_L2", 50)])
        # The next billing month starts a calendar month after the first payment: one reward each, however many
        # payments fall in it; a payment a day before it is still in the first month.
        self.event(c, "paid", add_months(t0, 1) - DAY, 1999)
        for k in range(3):
            self.event(c, "paid", add_months(t0, 1) + k * DAY, 1999)
        self.wait_lifecycle(n + 20)
        self.assertEqual(self.ledger(b), [("REFERRAL_FIRST_PAYMENT", 500), ("REFERRAL_RECURRING", 100)])
        self.assertEqual(self.ledger(a), [("REFERRAL_L2", 50)] * 2)
        self.assertEqual(self.h.psql("SELECT type, period FROM user_point_transactions WHERE user_id IN (%s, %s) "
                                     "AND type <> 'REFERRAL_FIRST_PAYMENT' ORDER BY type, period"
                                     % (sql_str(self.uid(a)), sql_str(self.uid(b)))),
                         [["REFERRAL_L2", "1"], ["REFERRAL_L2", "2"], ["REFERRAL_RECURRING", "1"]])
        self.assert_balances_match_ledger()

    def grant(self, email, points, reason, key=None):
        headers = {"Idempotency-Key": key} if key else None
        return self.h.http("POST", "/api/points/%s/grant" % path_email(email), {"points": points, "reason": reason},
                           token=self.h.admin_token, headers=headers)

    def test_admin_grant_gives_and_takes_back_with_a_reason(self):
        a = unique_email("gr")
        self.join(a)
        r = self.grant(a, 300, "launch-day apology", key="grant-1")
        self.assertEqual(self.assertJson(r, 200), {"status": "success", "granted": 300, "type": "ADMIN_GRANT", "balance": 300})
        # A retry with the same key is answered alike and counted once.
        self.assertEqual(self.assertJson(self.grant(a, 300, "launch-day apology", key="grant-1"), 200)["balance"], 300)
        self.assertEqual(self.spend(a, 100).status, 200)
        self.assertEqual(self.assertJson(self.grant(a, -150, "reward given twice"), 200)["balance"], 50)
        self.assertError(self.grant(a, -51, "too much"), 409, "insufficient_points")
        for bad in ({"points": 0, "reason": "x"}, {"points": 5}, {"points": 5, "reason": ""}):
            self.assertError(self.h.http("POST", "/api/points/%s/grant" % path_email(a), bad, token=self.h.admin_token),
                             400, "invalid_field")
        self.assertError(self.h.http("POST", "/api/points/%s/grant" % path_email(a), {"points": 5, "reason": "x"}), 401,
                         "unauthorized")
        wait_until(lambda: self.balance(a) == (50, 300, -250), 20, 0.1, lambda: "balance %r" % (self.balance(a),))
        self.assertEqual(sorted(self.h.psql("SELECT type, delta, note FROM user_point_transactions WHERE user_id = %s"
                                            % sql_str(self.uid(a)))),
                         [["ADMIN_GRANT", "-150", "reward given twice"], ["ADMIN_GRANT", "300", "launch-day apology"],
                          ["REDEMPTION_QUOTA", "-100", ""]])
        body = wait_until(lambda: (lambda p: p if len(p["transactions"]) == 3 else None)(self.points(a)), 20, 0.2,
                          "transactions in Redis")
        self.assertEqual((body["balance"], body["total_earned"], body["total_spent"]), (50, 300, -250))
        self.assert_balances_match_ledger()

    def test_erasure_keeps_user_ids_and_rewards(self):
        h = self.h
        a, b = unique_email("era"), unique_email("erb")
        self.join(b, ref=self.join(a))
        uid_b = self.wait_uid(b)
        n = self.lifecycle_count()
        self.event(b, "activated")
        self.wait_lifecycle(n + 1)
        r = h.http("DELETE", "/api/users/%s" % path_email(b), token=h.admin_token)
        self.assertEqual(r.status, 202, r)
        wait_until(lambda: h.psql_value("SELECT email IS NULL FROM user_emails WHERE user_id = %s" % sql_str(uid_b)) == "t",
                   20, 0.1, "erasure")
        self.assertEqual(h.psql_value("SELECT email FROM waitlist WHERE id = %s" % sql_str(uid_b)), "erased:" + uid_b)
        self.assertEqual(h.psql_value("SELECT count(*) FROM waitlist WHERE email = %s" % sql_str(b)), "0")
        self.assertEqual(self.relationship(a), None)
        self.assertEqual(h.psql_value("SELECT status FROM user_referral_relationships WHERE referred_user_id = %s"
                                      % sql_str(uid_b)), "ACTIVE")
        self.assertEqual(h.psql_value("SELECT sum(delta) FROM user_point_transactions WHERE user_id = %s" % sql_str(uid_b)),
                         "50")

    # -- one batch of raw events -------------------------------------------

    def subkey(self, kdf_id):
        """crypto_kdf_derive_from_key(32 bytes, kdf_id, "invgate_", secret_key), as common/ig_user.c derives."""
        return hashlib.blake2b(b"", digest_size=32, key=bytes.fromhex(self.h.secret_key),
                               salt=struct.pack("<Q", kdf_id) + bytes(8), person=b"invgate_" + bytes(8)).digest()

    def ids(self, email):
        """(user_id, referral code) of an e-mail, as the gateway and the daemon derive them."""
        b = bytearray(hashlib.blake2b(email.encode(), digest_size=16, key=self.subkey(4)).digest())
        b[6] = (b[6] & 0x0F) | 0x80
        b[8] = (b[8] & 0x3F) | 0x80
        h = b.hex()
        uid = "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])
        alphabet = "23456789ABCDEFGHJKMNOPQRSTUVWXYZ"
        code = "".join(alphabet[x & 31] for x in hashlib.blake2b(email.encode(), digest_size=8, key=self.subkey(5)).digest())
        return uid, code

    def apply_as_one_batch(self, events):
        """Stops the daemon, appends events to keys.WL_EVENTS, restarts it (so they are read as one
        batch) and waits until every one is applied."""
        h = self.h
        h.kill_sync(signal.SIGTERM)
        at = int(h.psql_value("SELECT (extract(epoch FROM now()) * 1000)::bigint"))
        for i, fields in enumerate(events):
            args = []
            for k, v in dict(fields, at=str(at + i)).items():
                args += [k, v]
            h.redis("XADD", keys.WL_EVENTS, "*", *args)
        h.start_sync()
        h.wait_synced(what="the batch in PostgreSQL")

    def joined(self, email, ref_email=None, seq=1):
        ev = {"t": "joined", "email": email, "persona": "dev", "use_case": "tests", "score": "3", "seq": str(seq),
              "ip": "192.0.2.1"}
        if ref_email is not None:
            ev.update(ref=self.ids(ref_email)[1], ref_email=ref_email)
        return ev

    def test_one_batch_of_dependent_events_applies_in_stream_order(self):
        h = self.h
        a, b, c, d, e, f, g, x, z = (unique_email(n) for n in ("ba", "bb", "bc", "bd", "be", "bf", "bg", "bx", "bz"))
        ua, ub, uc, ud, ue, uf, ug, ux, uz = (self.ids(p)[0] for p in (a, b, c, d, e, f, g, x, z))
        code_f = self.ids(f)[1]
        self.apply_as_one_batch([
            # Two shares to d: e's is the earlier.
            {"t": "shared", "id": "00000000-0000-4000-8000-%012d" % 1, "inviter": e, "recipient": d},
            {"t": "shared", "id": "00000000-0000-4000-8000-%012d" % 2, "inviter": a, "recipient": d},
            # a is referred by b (who has not joined yet); b's join with a's code would close a cycle.
            self.joined(a, ref_email=b),
            self.joined(b, ref_email=a),
            # c is referred by a, who joined earlier in this batch.
            self.joined(c, ref_email=a),
            # d refers e, so the share from e cannot make e d's referrer: a's share does.
            self.joined(e, ref_email=d),
            self.joined(d),
            # A click before f's code exists counts nothing, one after it does.
            {"t": "clicked", "ref": code_f},
            self.joined(f, ref_email=f),
            {"t": "clicked", "ref": code_f},
            {"t": "clicked", "ref": code_f},
            # An admission before the join finds no entry; of two after it, the first counts.
            {"t": "admitted", "email": g, "code": "A" * 16},
            self.joined(g),
            {"t": "admitted", "email": g, "code": "B" * 16},
            {"t": "admitted", "email": g, "code": "C" * 16},
            # Joined then erased in the one batch; z joins twice: the first join makes the entry, and
            # the second's referral still counts, z being referred by nobody yet.
            self.joined(x, ref_email=c),
            {"t": "erased", "uid": ux},
            self.joined(z, seq=7),
            self.joined(z, seq=8, ref_email=a),
        ])

        rel = dict((r[1], (r[0], r[2])) for r in h.psql(
            "SELECT referrer_user_id, referred_user_id, referral_code FROM user_referral_relationships "
            "WHERE level = 1 AND referred_user_id IN (%s)" % ", ".join(sql_str(u) for u in (ua, ub, uc, ud, ue, uf, ug, ux, uz))))
        self.assertEqual(rel, {ua: (ub, self.ids(b)[1]), uc: (ua, self.ids(a)[1]), ue: (ud, self.ids(d)[1]),
                               ud: (ua, self.ids(a)[1]), ux: (uc, self.ids(c)[1]), uz: (ua, self.ids(a)[1])})
        # Level 2: the referrer's referrer, also where the link above came later in the batch (a -> d, then d -> e).
        rel2 = dict((r[1], r[0]) for r in h.psql(
            "SELECT referrer_user_id, referred_user_id FROM user_referral_relationships "
            "WHERE level = 2 AND referred_user_id IN (%s)" % ", ".join(sql_str(u) for u in (ua, ub, uc, ud, ue, uf, ug, ux, uz))))
        self.assertEqual(rel2, {uc: ub, ud: ub, ue: ua, ux: ua, uz: ub})
        # The referrer known only by their code got a user_emails row and a referral code row.
        self.assertEqual(h.psql_value("SELECT code FROM user_referral_codes WHERE user_id = %s" % sql_str(ub)), self.ids(b)[1])
        self.assertEqual(h.psql_value("SELECT click_count FROM user_referral_codes WHERE code = %s" % sql_str(code_f)), "2")
        self.assertEqual(h.psql("SELECT admitted_code, invited_at IS NOT NULL FROM waitlist WHERE id = %s" % sql_str(ug)),
                         [["B" * 16, "t"]])
        self.assertEqual(h.psql_value("SELECT count(*) FROM waitlist_admissions WHERE user_id = %s" % sql_str(ug)), "3")
        # Erased after its join: the waitlist row and the map keep no address.
        self.assertEqual(h.psql("SELECT email, joined_ip FROM waitlist WHERE id = %s" % sql_str(ux)), [["erased:" + ux, ""]])
        self.assertEqual(h.psql_value("SELECT email IS NULL FROM user_emails WHERE user_id = %s" % sql_str(ux)), "t")
        self.assertEqual(h.psql("SELECT seq, referred_by_code FROM waitlist WHERE id = %s" % sql_str(uz)), [["7", ""]])
        self.assertEqual(h.psql_value("SELECT count(*) FROM waitlist WHERE id IN (%s)"
                                      % ", ".join(sql_str(u) for u in (ua, uc, ud, ue, uf, ug, ux, uz))), "8")

        # A restarted daemon applies only what follows the mark: one more click, nothing of the batch again.
        tables = ("waitlist", "user_emails", "user_referral_codes", "waitlist_admissions")
        before = [h.psql("SELECT * FROM %s ORDER BY 1, 2" % t) for t in tables]
        rels = h.psql("SELECT referrer_user_id, referred_user_id, status FROM user_referral_relationships ORDER BY 2")
        self.apply_as_one_batch([{"t": "clicked", "ref": code_f}])
        self.assertEqual(h.psql_value("SELECT click_count FROM user_referral_codes WHERE code = %s" % sql_str(code_f)), "3")
        before[2] = [r if r[1] != code_f else r[:2] + ["3"] + r[3:] for r in before[2]]
        self.assertEqual([h.psql("SELECT * FROM %s ORDER BY 1, 2" % t) for t in tables], before)
        self.assertEqual(h.psql("SELECT referrer_user_id, referred_user_id, status FROM user_referral_relationships "
                                "ORDER BY 2"), rels)

    # -- (b) randomised ----------------------------------------------------

    def test_random_events_keep_every_balance_equal_to_its_ledger(self):
        h = self.h
        rng = random.Random(20240501)
        users, codes = [], {}
        for i in range(40):
            email = unique_email("rnd%d" % i)
            ref = codes[rng.choice(users)] if users and rng.random() < 0.8 else None
            codes[email] = self.join(email, ref=ref)
            users.append(email)
        for u in users:
            self.wait_uid(u)
        n = self.lifecycle_count()
        spends = int(h.psql_value("SELECT count(*) FROM user_point_transactions WHERE delta < 0"))
        t = int(h.psql_value("SELECT extract(epoch FROM now())::bigint"))
        kinds = ["activated"] * 3 + ["paid"] * 6 + ["churned", "fraud_flagged"]
        accepted = 0
        for i in range(1000):
            u = rng.choice(users)
            t += rng.randint(0, 2 * DAY)
            if rng.random() < 0.25:
                r = self.spend(u, rng.randint(1, 120), rng.choice(["REDEMPTION_QUOTA", "REDEMPTION_UNLOCK"]))
                self.assertIn(r.status, (200, 409), r)
                accepted += r.status == 200
            else:
                self.event(u, rng.choice(kinds), t, rng.randint(0, 5000))
                n += 1
        self.wait_lifecycle(n)
        wait_until(lambda: int(h.psql_value("SELECT count(*) FROM user_point_transactions WHERE delta < 0")) ==
                   spends + accepted, 30, 0.1, "spends in the ledger")
        self.assert_balances_match_ledger()
        self.assertEqual(h.psql_value("SELECT count(*) FROM user_point_balances WHERE balance < 0"), "0")
        kinds = dict(h.psql("SELECT type, count(*) FROM user_point_transactions GROUP BY type"))
        for kind in ("REFERRAL_WELCOME", "REFERRAL_FIRST_PAYMENT", "REFERRAL_RECURRING", "REFERRAL_L2", "REDEMPTION_QUOTA"):
            self.assertIn(kind, kinds, "the run should exercise every rule: %r" % kinds)
        # The caps hold per relationship.
        over = h.psql("SELECT ref_id, type, user_id, count(*) FROM user_point_transactions WHERE ref_id IS NOT NULL "
                      "GROUP BY 1, 2, 3 HAVING count(*) > CASE type WHEN 'REFERRAL_RECURRING' THEN 12 "
                      "WHEN 'REFERRAL_L2' THEN 6 ELSE 1 END")
        self.assertEqual(over, [])
        self.assertEqual(h.psql("SELECT user_id, event_id, type FROM user_point_transactions WHERE event_id IS NOT NULL "
                                "GROUP BY 1, 2, 3 HAVING count(*) > 1"), [])
        # Redis agrees with PostgreSQL once the write-back has run.
        for u in rng.sample(users, 10):
            want = self.balance(u)
            wait_until(lambda: (lambda p: (p["balance"], p["total_earned"], p["total_spent"]) == want)(self.points(u)),
                       20, 0.2, lambda: "points of a user: redis %r, postgresql %r" % (self.points(u), want))


class PointsExpiryTest(harness.HarnessTestCase):
    """points_expire_days: points unused that long expire (ledger type EXPIRY), oldest first, by the sync daemon."""

    HARNESS_OVERRIDES = {"points_expire_days": "30"}

    def test_unused_points_expire_oldest_first(self):
        h = self.h
        a = unique_email("exp")
        self.assertEqual(h.http("POST", "/api/waitlist/join", {"email": a, "persona": "other", "use_case": "x"}).status, 201)
        grant = lambda n: h.http("POST", "/api/points/%s/grant" % path_email(a),  # noqa: E731
                                 {"points": n, "reason": "test"}, token=h.admin_token)
        points = lambda: self.assertJson(h.http("GET", "/api/points/%s" % path_email(a), token=h.admin_token), 200)  # noqa: E731
        self.assertEqual(grant(300).status, 200)
        r = h.http("POST", "/api/points/%s/spend" % path_email(a), {"amount": 100, "type": "REDEMPTION_QUOTA"},
                   token=h.admin_token)
        self.assertEqual(r.status, 200, r)
        q = "SELECT count(*) FROM user_point_transactions"
        wait_until(lambda: h.psql_value(q) == "2", 20, 0.1, "ledger rows")
        # Nothing is 30 days old yet.
        self.assertEqual(h.psql_value("SELECT count(*) FROM user_point_transactions WHERE type = 'EXPIRY'"), "0")
        # 31 days on (the daemon's clock): the 200 points left of the grant expire, once.
        h.kill_sync(signal.SIGTERM)
        env = h._child_env()
        env["IG_SYNC_CLOCK_OFFSET_S"] = str(31 * DAY)
        h.sync_proc = h._spawn([harness.SYNC_BIN, "-c", h.conf_path], h.sync_log, env=env)
        wait_until(lambda: h.psql_value(q) == "3", 30, 0.1, "the EXPIRY row")
        self.assertEqual(h.psql("SELECT type, delta FROM user_point_transactions WHERE type = 'EXPIRY'"), [["EXPIRY", "-200"]])
        self.assertEqual(wait_until(lambda: (lambda p: p if p["balance"] == 0 else None)(points()), 20, 0.2,
                                    "balance in Redis")["total_spent"], -300)
        # Points granted now are not old: they stay.
        self.assertEqual(self.assertJson(grant(50), 200)["balance"], 50)
        wait_until(lambda: h.psql_value(q) == "4", 20, 0.1, "the new grant's row")
        self.assertEqual(h.psql_value("SELECT sum(delta) FROM user_point_transactions"), "50")
        self.assertEqual(h.psql_value("SELECT balance FROM user_point_balances"), "50")
        h.kill_sync(signal.SIGTERM)
        h.start_sync()


if __name__ == "__main__":
    harness.main()
