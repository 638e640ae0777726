#!/usr/bin/env python3
"""The waitlist, referral, points and trust-gate endpoints of the gateway
against a real Redis (API.md): answers, ordering, admission, referral
attribution, spending and the gate override."""

import os
import random
import signal
import sys
import threading
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import keys  # noqa: E402
from harness import CODE_RE, code_body, unique_email  # noqa: E402

JOIN = "/api/waitlist/join"
ADMIT = "/api/waitlist/admit"
PERSONAS = {"solo_founder": 10, "small_team": 15, "agency": 20, "content_creator": 8, "other": 5}
LONG_USE_CASE = " ".join(["word"] * 21)


def seed_score(persona, use_case):
    """seed 004's calculate_priority_score."""
    score = PERSONAS.get(persona, 5)
    if len(use_case.split()) > 20:
        score += 10
    if any(w in use_case.lower() for w in ["marketing", "content", "automation", "time"]):
        score += 5
    return score


def path_email(email):
    return urllib.parse.quote(email, safe="")


class WaitlistApiTest(harness.HarnessTestCase):
    HARNESS_OVERRIDES = {"waitlist_referral_boost": "5", "referral_earn_after": "3", "referral_earn_codes": "3",
                         "signup_url": "https://app.example.com/signup"}

    def setUp(self):
        # Each test starts from an empty waitlist and an open gate.
        for key in self.h.redis_scan(keys.WL_PREFIX + "*"):
            if not key.startswith(keys.WL_PREFIX + "c:") and key != keys.WL_EVENTS:
                self.h.redis("DEL", key)
        for b in range(harness.BUCKETS):
            self.h.redis("DEL", keys.gate(b))

    def join(self, email, persona="other", use_case="a tool", **extra):
        body = {"email": email, "persona": persona, "use_case": use_case}
        body.update(extra)
        return self.h.http("POST", JOIN, body)

    def admit(self, count, token=None):
        return self.h.http("POST", ADMIT, {"count": count}, token=token or self.h.admin_token)

    def waiting_order(self, emails):
        """The given e-mails (all waiting) in waitlist order, by their positions."""
        positions = {}
        for e in emails:
            body = self.assertJson(self.h.http("GET", "/api/waitlist/%s/position" % path_email(e)), 200)
            positions[body["position"]] = e
        self.assertEqual(sorted(positions), list(range(1, len(emails) + 1)))
        return [positions[p] for p in sorted(positions)]

    # -- join, position, stats ----------------------------------------------

    def test_join_answers_position_and_referral_code(self):
        email = unique_email("join")
        body = self.assertJson(self.join(email, "agency", "Marketing automation for my startup"), 201)
        self.assertEqual(body["status"], "success")
        self.assertEqual(body["position"], 1)
        self.assertEqual(body["total_waiting"], 1)
        self.assertEqual(body["estimated_wait"], "unknown")
        self.assertEqual(body["priority_score"], 25)
        self.assertRegex(body["referral_code"], r"^[2-9A-HJKMN-Z]{8}$")
        again = self.assertJson(self.join(email.upper(), "agency", "whatever"), 200)
        self.assertEqual(again["status"], "already_joined")
        self.assertEqual(again["position"], 1)
        self.assertEqual(again["referral_code"], body["referral_code"])
        pos = self.assertJson(self.h.http("GET", "/api/waitlist/%s/position" % path_email(email)), 200)
        self.assertEqual((pos["position"], pos["total_waiting"]), (1, 1))
        stats = self.assertJson(self.h.http("GET", "/api/waitlist/stats"), 200)
        self.assertEqual((stats["total"], stats["processed_today"], stats["joined_today"]), (1, 0, 1))

    def test_normalisation_makes_one_entry(self):
        self.assertEqual(self.join("First.Last+news@gmail.com").status, 201)
        for alias in ["firstlast@gmail.com", "first.last@googlemail.com", "FIRST.LAST+other@GMAIL.COM"]:
            self.assertEqual(self.assertJson(self.join(alias), 200)["status"], "already_joined", alias)
        # Other providers keep dots and tags.
        self.assertEqual(self.join("first.last@example.com").status, 201)
        self.assertEqual(self.join("firstlast@example.com").status, 201)
        self.assertEqual(self.assertJson(self.h.http("GET", "/api/waitlist/stats"), 200)["total"], 3)

    def test_bad_joins(self):
        self.assertError(self.join("not-an-email"), 422, "invalid_email")
        self.assertError(self.join("someone@mailinator.com"), 422, "disposable_email")
        self.assertError(self.h.http("POST", JOIN, {"email": unique_email(), "persona": "agency"}), 400, "invalid_field",
                         "use_case")
        self.assertError(self.h.http("POST", JOIN, {"email": unique_email(), "use_case": 3, "persona": "x"}), 400,
                         "invalid_field", "use_case")
        self.assertError(self.join(unique_email(), referral_code="bad!"), 422, "invalid_code")
        self.assertError(self.join(unique_email(), referral_code="ZZZZZZZZ"), 422, "invalid_code")
        self.assertError(self.h.http("POST", JOIN, raw=b"{", headers={"Content-Type": "application/json"}), 400,
                         "invalid_json")
        self.assertEqual(self.assertJson(self.h.http("GET", "/api/waitlist/stats"), 200)["total"], 0)
        self.assertError(self.h.http("GET", "/api/waitlist/%s/position" % path_email(unique_email())), 404,
                         "not_found")
        self.assertError(self.h.http("GET", "/api/waitlist/nobody/position"), 422, "invalid_email")

    def test_order_of_10000_entries_matches_a_reference_sort(self):
        rng = random.Random(4)
        words = ["marketing", "content", "plan", "team", "time", "build", "ship", "automation", "sales", "notes"]
        entries = []
        for i in range(10000):
            persona = rng.choice(list(PERSONAS) + ["unknown_persona"])
            use_case = " ".join(rng.choice(words) for _ in range(rng.choice([3, 12, 21, 30])))
            email = "order-%05d@example.com" % i
            r = self.join(email, persona, use_case)
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.body["priority_score"], seed_score(persona, use_case))
            entries.append((seed_score(persona, use_case), i, email))
        expected = [e for _, _, e in sorted(entries, key=lambda t: (-t[0], t[1]))]
        for k in range(0, 10000, 97):
            pos = self.assertJson(self.h.http("GET", "/api/waitlist/%s/position" % path_email(expected[k])), 200)
            self.assertEqual((pos["position"], pos["total_waiting"]), (k + 1, 10000))
        # Admission takes them in exactly that order.
        admitted = []
        for _ in range(10):
            admitted.extend(a["email"] for a in self.assertJson(self.admit(1000), 200)["admitted"])
        self.assertEqual(admitted, expected)

    # -- admit -----------------------------------------------------------------

    def test_admit_pops_the_head_with_bound_codes(self):
        emails = [unique_email("adm") for _ in range(5)]
        for i, e in enumerate(emails):
            self.assertEqual(self.join(e, "agency" if i == 3 else "other").status, 201)
        self.assertError(self.h.http("POST", ADMIT, {"count": 2}), 401, "unauthorized")
        self.assertError(self.admit(2, token=self.h.reader_token), 403, "forbidden")
        self.assertError(self.h.http("POST", ADMIT, {"count": 0}, token=self.h.admin_token), 400, "invalid_field")
        body = self.assertJson(self.admit(2), 200)
        got = [(a["email"], a["code"]) for a in body["admitted"]]
        self.assertEqual([e for e, _ in got], [emails[3], emails[0]])
        for email, code in got:
            self.assertRegex(code, CODE_RE)
            self.assertError(self.h.redeem(code, unique_email()), 403, "wrong_account")
            self.assertEqual(self.h.redeem(code, email).status, 200)
            pos = self.assertJson(self.h.http("GET", "/api/waitlist/%s/position" % path_email(email)), 200)
            self.assertEqual(pos["status"], "admitted")
            self.assertTrue(self.assertJson(self.join(email), 200)["admitted"])
        stats = self.assertJson(self.h.http("GET", "/api/waitlist/stats"), 200)
        self.assertEqual((stats["total"], stats["processed_today"], stats["admitted_total"]), (3, 2, 2))
        pos = self.assertJson(self.h.http("GET", "/api/waitlist/%s/position" % path_email(emails[1])), 200)
        self.assertEqual(pos["position"], 1)
        self.assertNotEqual(pos["estimated_wait"], "unknown")
        # Asking for more than are waiting admits the rest.
        self.assertEqual(len(self.assertJson(self.admit(10), 200)["admitted"]), 3)
        self.assertEqual(self.assertJson(self.admit(10), 200)["admitted"], [])

    def test_concurrent_admits_never_admit_twice_or_skip(self):
        emails = [unique_email("cc") for _ in range(300)]
        for e in emails:
            self.assertEqual(self.join(e).status, 201)
        results, lock = [], threading.Lock()

        def worker():
            client = harness.HttpClient(self.h.port)
            try:
                for _ in range(6):
                    r = client.request("POST", ADMIT, {"count": 7}, token=self.h.admin_token)
                    with lock:
                        results.append(r)
            finally:
                client.close()

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        admitted = []
        for r in results:
            self.assertEqual(r.status, 200, r)
            admitted.extend(a["email"] for a in r.body["admitted"])
        self.assertEqual(len(admitted), len(set(admitted)))
        self.assertEqual(sorted(admitted), sorted(emails[:8 * 6 * 7]))
        self.assertEqual(self.waiting_order(emails[8 * 6 * 7:]), emails[8 * 6 * 7:])

    def test_concurrent_joins_count_each_person_once(self):
        # Joins arriving together share one call; each person still joins once.
        people = [unique_email("cj") for _ in range(120)]
        statuses, lock = {}, threading.Lock()

        def worker(k):
            client = harness.HttpClient(self.h.port)
            try:
                for i in range(60):
                    email = people[(k * 37 + i) % len(people)]
                    r = client.request("POST", JOIN, {"email": email, "persona": "other", "use_case": "x"})
                    with lock:
                        statuses.setdefault(email, []).append(r.status)
            finally:
                client.close()

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for email, got in statuses.items():
            self.assertEqual(got.count(201), 1, (email, got))
            self.assertEqual(set(got) - {200, 201}, set(), (email, got))
        self.assertEqual(self.waiting_order(list(statuses)), sorted(statuses, key=lambda e: self.position(e)))
        stats = self.assertJson(self.h.http("GET", "/api/waitlist/stats"), 200)
        self.assertEqual((stats["total"], stats["joined_total"]), (len(statuses), len(statuses)))

    def position(self, email):
        return self.assertJson(self.h.http("GET", "/api/waitlist/%s/position" % path_email(email)), 200)["position"]

    # -- referrals -------------------------------------------------------------

    def test_referral_boost_earn_and_quality(self):
        a = unique_email("ra")
        others = [unique_email("early") for _ in range(3)]
        for e in others:
            self.join(e, "agency", LONG_USE_CASE + " marketing")  # 35 points each
        code = self.assertJson(self.join(a, "other"), 201)["referral_code"]  # 5 points, last
        self.assertEqual(self.waiting_order(others + [a])[-1], a)
        not_yet = self.assertJson(self.h.http("POST", "/api/referrals/earn", {"user_email": a}), 200)
        self.assertEqual((not_yet["earned"], not_yet["referrals_needed"]), (False, 3))
        friends = [unique_email("friend") for _ in range(3)]
        for f in friends:
            self.assertEqual(self.join(f, referral_code=code.lower()).status, 201)
        # 5 + 3 * 5 = 20 points: still behind the 35-point entries, ahead of the friends (5 each).
        self.assertEqual(self.waiting_order(others + [a] + friends), others + [a] + friends)
        earned = self.assertJson(self.h.http("POST", "/api/referrals/earn", {"user_email": a}), 200)
        self.assertTrue(earned["earned"], earned)
        self.assertEqual(earned["codes_available"], 3)
        self.assertEqual(len(earned["codes"]), 3)
        for c in earned["codes"]:
            self.assertEqual(self.h.status(c).body["status"], "active")
        again = self.assertJson(self.h.http("POST", "/api/referrals/earn", {"user_email": a}), 200)
        self.assertFalse(again["earned"])
        quality = self.assertJson(self.h.http("GET", "/api/referrals/%s/quality" % path_email(a)), 200)
        self.assertEqual(quality["referred_count"], 3)
        self.assertEqual(quality["rewards"], [{"type": "invite_codes", "amount": 3, "reason": "First 3 referrals"}])

    def test_quality_of_an_unknown_address_is_404(self):
        # API.md: 404 for an unknown e-mail; a person who joined (no referrals yet) is known.
        self.assertError(self.h.http("GET", "/api/referrals/%s/quality" % path_email(unique_email("nobody"))), 404,
                         "not_found")
        known = unique_email("known")
        self.assertEqual(self.join(known).status, 201)
        q = self.assertJson(self.h.http("GET", "/api/referrals/%s/quality" % path_email(known)), 200)
        self.assertEqual((q["referred_count"], q["quality_score"], q["rewards"]), (0, 0, []))

    def test_a_redeemer_gets_a_working_referral_code(self):
        redeemer, friend = unique_email("redeemer"), unique_email("their-friend")
        code = self.h.generate(1)[0]
        r = self.assertJson(self.h.redeem(code, redeemer), 200)
        ref = r["referral_code"]
        self.assertRegex(ref, r"^[2-9A-HJKMN-Z]{8}$")
        # The sync daemon registers the redeemer's code as it applies the redemption.
        self.h.wait_synced()
        r = self.h.http("GET", "/r/%s" % ref)
        self.assertEqual((r.status, r.headers.get("Location")), (302, "https://app.example.com/signup?ref=%s" % ref))
        self.assertEqual(self.join(friend, referral_code=ref).status, 201)
        q = self.assertJson(self.h.http("GET", "/api/referrals/%s/quality" % path_email(redeemer)), 200)
        self.assertEqual(q["referred_count"], 1)
        # The redeemer is not put on the waitlist by it.
        self.assertError(self.h.http("GET", "/api/waitlist/%s/position" % path_email(redeemer)), 404, "not_found")

    def test_share_attributes_a_later_join(self):
        inviter, friend = unique_email("inv"), unique_email("fr")
        self.assertEqual(self.join(inviter).status, 201)
        r = self.assertJson(self.h.http("POST", "/api/referrals/share",
                                        {"inviter_email": inviter, "recipient_email": friend}), 201)
        self.assertEqual(r["status"], "success")
        self.assertRegex(r["referral_id"], r"^[0-9a-f-]{36}$")
        self.assertError(self.h.http("POST", "/api/referrals/share", {"inviter_email": inviter, "recipient_email": inviter}),
                         400, "invalid_field")
        self.assertEqual(self.join(friend).status, 201)
        q = self.assertJson(self.h.http("GET", "/api/referrals/%s/quality" % path_email(inviter)), 200)
        self.assertEqual(q["referred_count"], 1)

    def test_referral_link_counts_and_redirects(self):
        code = self.assertJson(self.join(unique_email("link")), 201)["referral_code"]
        r = self.h.http("GET", "/r/%s" % code)
        self.assertEqual(r.status, 302, r)
        self.assertEqual(r.headers.get("Location"), "https://app.example.com/signup?ref=%s" % code)
        r = self.h.http("GET", "/r/ZZZZZZZZ")
        self.assertEqual((r.status, r.headers.get("Location")), (302, "https://app.example.com/signup"))
        self.assertError(self.h.http("GET", "/r/nope"), 404, "not_found")
        # HEAD (link previews, checkers) gets the same redirect and counts no click.
        r = self.h.http("HEAD", "/r/%s" % code)
        self.assertEqual((r.status, r.headers.get("Location")), (302, "https://app.example.com/signup?ref=%s" % code))
        self.h.wait_synced()
        self.assertEqual(self.h.psql_value("SELECT click_count FROM user_referral_codes WHERE code = '%s'" % code), "1")

    # -- points, lifecycle, erasure ----------------------------------------------

    def test_spend_never_goes_negative(self):
        self.h.need_sync()  # the sync daemon credits the points
        referrer, email = unique_email("ref"), unique_email("pts")
        url = "/api/points/%s" % path_email(email)
        body = self.assertJson(self.h.http("GET", url, token=self.h.admin_token), 200)
        self.assertEqual((body["balance"], body["transactions"]), (0, []))
        self.assertError(self.h.http("GET", url), 401, "unauthorized")
        spend = {"amount": 30, "type": "REDEMPTION_QUOTA"}
        self.assertError(self.h.http("POST", url + "/spend", spend, token=self.h.admin_token), 409, "insufficient_points")
        self.assertError(self.h.http("POST", url + "/spend", {"amount": 30, "type": "GIFT"}, token=self.h.admin_token), 400,
                         "invalid_field")
        self.assertError(self.h.http("POST", url + "/spend", {"amount": -1, "type": "REDEMPTION_QUOTA"},
                                     token=self.h.admin_token), 400, "invalid_field")
        # A referred newcomer earns the welcome bonus when they activate: the
        # sync daemon writes the ledger row, then the balance back to Redis.
        code = self.assertJson(self.join(referrer), 201)["referral_code"]
        self.assertEqual(self.join(email, referral_code=code).status, 201)
        self.assertEqual(self.h.http("POST", "/api/users/%s/events" % path_email(email), {"type": "activated"},
                                     token=self.h.admin_token).status, 202)
        harness.wait_until(lambda: self.h.http("GET", url, token=self.h.admin_token).body["balance"] == 50,
                           message="welcome bonus credited")
        ok = self.assertJson(self.h.http("POST", url + "/spend", spend, token=self.h.admin_token), 200)
        self.assertEqual(ok["balance"], 20)
        self.assertError(self.h.http("POST", url + "/spend", spend, token=self.h.admin_token), 409, "insufficient_points")
        body = self.assertJson(self.h.http("GET", url, token=self.h.admin_token), 200)
        self.assertEqual((body["balance"], body["total_earned"], body["total_spent"]), (20, 50, -30))
        # PostgreSQL's ledger agrees once the spend is applied, and the
        # transactions come back newest first.
        harness.wait_until(lambda: str(self.h.psql_value(
            "SELECT b.balance FROM user_point_balances b JOIN user_emails e USING (user_id) WHERE e.email = '%s'" % email))
            == "20", message="spend in the ledger")
        harness.wait_until(lambda: [t["type"] for t in self.h.http("GET", url, token=self.h.admin_token).body["transactions"]]
                           == ["REDEMPTION_QUOTA", "REFERRAL_WELCOME"], message="transactions written back")

    def test_lifecycle_events_are_accepted(self):
        url = "/api/users/%s/events" % path_email(unique_email("life"))
        for body in [{"type": "activated"}, {"type": "paid", "amount_cents": 1999, "at": "2026-01-05T10:00:00Z"},
                     {"type": "churned", "at": 1767225600}, {"type": "fraud_flagged"}]:
            r = self.assertJson(self.h.http("POST", url, body, token=self.h.admin_token), 202)
            self.assertEqual(r["type"], body["type"])
        self.assertEqual(self.h.http("POST", url, {"type": "paid", "at": "2026-01-05T10:00:00Z"},
                                     token=self.h.admin_token).body["at"], "2026-01-05T10:00:00Z")
        self.assertError(self.h.http("POST", url, {"type": "visited"}, token=self.h.admin_token), 400, "invalid_field")
        self.assertError(self.h.http("POST", url, {"type": "paid", "at": "yesterday"}, token=self.h.admin_token), 400,
                         "invalid_field")
        self.assertError(self.h.http("POST", url, {"type": "paid"}), 401, "unauthorized")

    def test_erase_removes_the_address(self):
        email, behind = unique_email("erase"), unique_email("behind")
        code = self.assertJson(self.join(email), 201)["referral_code"]
        self.assertEqual(self.assertJson(self.join(behind), 201)["position"], 2)
        r = self.assertJson(self.h.http("DELETE", "/api/users/%s" % path_email(email), token=self.h.admin_token), 202)
        self.assertTrue(r["removed_from_waitlist"])
        self.assertError(self.h.http("GET", "/api/waitlist/%s/position" % path_email(email)), 404, "not_found")
        self.assertEqual(self.assertJson(self.h.http("GET", "/api/waitlist/%s/position" % path_email(behind)), 200)["position"],
                         1)
        self.assertEqual(self.h.http("GET", "/r/%s" % code).headers.get("Location"), "https://app.example.com/signup")
        for key in self.h.redis_scan(keys.WL_PREFIX + "*"):
            if key == keys.WL_EVENTS:
                continue
            if self.h.redis("TYPE", key) == "hash":
                self.assertFalse(any(email.encode() in v for v in self.h.redis("HGETALL", key, raw=True)), key)

    def test_erase_anonymises_redemptions_in_postgresql(self):
        """Redemptions reach PostgreSQL with the redeemer's user id; an erasure anonymises those from before it,
        whether their lane applies them before or after the erasure, and keeps a later one in clear."""
        h = self.h
        email = unique_email("erase-pg")
        codes = h.generate(3, max_uses=1)
        self.assertEqual(h.redeem(codes[0], email).status, 200)
        h.wait_synced()
        uid = h.psql_value("SELECT user_id FROM redemptions WHERE code = '%s'" % code_body(codes[0]))
        self.assertIsNotNone(uid)
        # With the daemon stopped, a second redemption and then the erasure wait in their streams: the lanes
        # apply them in either order when it comes back.
        h.kill_sync(signal.SIGTERM)
        self.assertEqual(h.redeem(codes[1], email).status, 200)
        self.assertJson(h.http("DELETE", "/api/users/%s" % path_email(email), token=h.admin_token), 202)
        h.start_sync()
        h.wait_synced()
        rows = h.psql("SELECT code, email, user_id FROM redemptions WHERE code IN ('%s', '%s') ORDER BY redeemed_at"
                      % (code_body(codes[0]), code_body(codes[1])))
        self.assertEqual([r[1] for r in rows], ["erased:" + uid] * 2, rows)
        self.assertEqual({r[2] for r in rows}, {uid})
        self.assertEqual(h.psql("SELECT email IS NULL, erased_at IS NOT NULL FROM user_emails WHERE user_id = '%s'" % uid),
                         [["t", "t"]])
        # The same person redeeming after the erasure is a new record, in clear.
        self.assertEqual(h.redeem(codes[2], email).status, 200)
        h.wait_synced()
        self.assertEqual(h.psql_value("SELECT email FROM redemptions WHERE code = '%s'" % code_body(codes[2])), email)

    # -- trust gate ----------------------------------------------------------

    def test_trust_score_and_forced_gate(self):
        self.h.need_sync()
        # The sync daemon evaluates the gate every second and writes keys.TRUST.
        harness.wait_until(lambda: self.h.redis("EXISTS", keys.TRUST) == 1, message="first gate evaluation")
        r = self.h.http("GET", "/api/quality/trust-score")
        body = self.assertJson(r, 200)
        raw = r.raw.decode() if isinstance(r.raw, bytes) else str(r.raw)
        self.assertNotRegex(raw, r"[0-9]\.[0-9]{7,}", "rates are rounded, not printed as binary floats")
        for k in ["trust_score", "churn_rate", "fraud_rate", "engagement_rate", "invites_paused", "health_status"]:
            self.assertIn(k, body)
        self.assertFalse(body["invites_paused"])
        code = self.h.generate(1)[0]
        waiting = unique_email("gate")
        self.assertEqual(self.join(waiting).status, 201)
        url = "/api/quality/evaluate-gate"
        self.assertError(self.h.http("POST", url, {"force": "closed"}), 401, "unauthorized")
        self.assertError(self.h.http("POST", url, {"force": "shut"}, token=self.h.admin_token), 400, "invalid_field")
        closed = self.assertJson(self.h.http("POST", url, {"force": "closed"}, token=self.h.admin_token), 200)
        self.assertFalse(closed["invites_allowed"])
        self.assertEqual(closed["mode"], "closed")
        self.assertError(self.h.redeem(code, unique_email()), 503, "invites_paused")
        self.assertError(self.admit(1), 503, "invites_paused")
        self.assertEqual(self.join(unique_email("still")).status, 201)  # joins go on
        self.assertTrue(self.assertJson(self.h.http("GET", "/api/quality/trust-score"), 200)["invites_paused"])
        opened = self.assertJson(self.h.http("POST", url, {"force": "open"}, token=self.h.admin_token), 200)
        self.assertTrue(opened["invites_allowed"])
        self.assertEqual(self.h.redeem(code, unique_email()).status, 200)
        self.assertEqual(self.assertJson(self.h.http("POST", url, {"force": "auto"}, token=self.h.admin_token), 200)["mode"],
                         "auto")


if __name__ == "__main__":
    harness.main()
