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
        # A code imported from an earlier system (12 hex digits), used once of twice.
        legacy = os.path.join(h.tmp, "legacy.csv")
        with open(legacy, "w") as f:
            f.write("code,max_uses,expires_at,issued_to,cohort\nVOBEE-5A5A5A5A5A5A,2,,,legacy\n")
        run_cli(["invites", "import", legacy], conf=h.conf_path, check_rc=0)
        imported = "VOBEE-5A5A5A5A5A5A"
        self.assertEqual(h.redeem(imported, unique_email("legacy")).status, 200)
        codes = (single, fresh, revoked, multi, full, bound, imported)
        before = self.statuses(codes)
        self.assertEqual([before[c]["status"] for c in codes],
                         ["used", "active", "revoked", "active", "exhausted", "active", "active"])
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
        self.assertEqual(h.redis_scan("ig:{*}:c:*"), [])

        doc, err = self.cli_json(["rehydrate", "--check"], 1)
        self.assertIn("loaded the Lua library", err)
        self.assertEqual((doc["check"], doc["codes"]["checked"], doc["codes"]["created"]), (True, 7, 7), doc)
        self.assertEqual(doc["codes"]["redeemers_added"], 5, doc)  # m1, m2, f1, f2 and the legacy code's
        self.assertEqual(h.redis_scan("ig:{*}:c:*"), [], "--check wrote")
        self.assertNotIn(harness.code_body(single), json.dumps(doc))
        self.assertEqual((doc["points"]["checked"], doc["points"]["created"]), (1, 1), doc)

        doc, _ = self.cli_json(["rehydrate"], 0)
        self.assertEqual((doc["check"], doc["codes"]["created"], doc["codes"]["updated"], doc["codes"]["redeemers_added"]),
                         (False, 7, 0, 5), doc)
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


def path_email(email):
    return urllib.parse.quote(email, safe="")


LONG_USE_CASE = " ".join(["word"] * 21) + " marketing"


class RehydratePeopleTest(harness.HarnessTestCase):
    """The waitlist, referrals and their counters come back: every answer is
    the same after FLUSHALL and rehydrate, and the system goes on from there."""
    HARNESS_OVERRIDES = {"waitlist_referral_boost": "5", "referral_earn_after": "3", "referral_earn_codes": "2",
                         "signup_url": "https://app.example.com/signup"}

    def join(self, email, persona="other", use_case="a tool", **extra):
        body = {"email": email, "persona": persona, "use_case": use_case}
        body.update(extra)
        r = self.h.http("POST", "/api/waitlist/join", body)
        self.assertEqual(r.status, 201, r)
        return r.body["referral_code"]

    def answers(self, people, codes):
        """What the API says about each person and referral code."""
        h = self.h
        out = {"stats": self.assertJson(h.http("GET", "/api/waitlist/stats"), 200)}
        for e in people:
            r = h.http("GET", "/api/waitlist/%s/position" % path_email(e))
            out["position " + e] = (r.status, r.body)
            r = h.http("GET", "/api/referrals/%s/quality" % path_email(e))
            out["quality " + e] = (r.status, r.body)
        for c in codes:
            out["link " + c] = h.http("HEAD", "/r/%s" % c).headers.get("Location")
        return out

    def flush(self):
        # Redis loses its data; its functions are the gateway's to load again
        # (RehydrateTest covers a Redis that lost them too).
        self.h.redis("FLUSHALL")

    def cli_json(self, args, check_rc):
        rc, out, err = run_cli(["--json"] + args, conf=self.h.conf_path)
        self.assertEqual(rc, check_rc, out + err)
        return json.loads(out)

    def test_after_flushall_every_answer_is_the_same(self):
        h = self.h
        early = [unique_email("early") for _ in range(4)]
        for e in early:
            self.join(e, "agency", LONG_USE_CASE)  # 35 points each
        a = unique_email("referrer")
        code_a = self.join(a)  # 5 points, behind them
        friends = [unique_email("friend") for _ in range(3)]
        for f in friends:
            self.join(f, referral_code=code_a)  # a: 5 + 3 * 5 = 20
        late = unique_email("late")
        self.join(late, "small_team")  # 15 points: behind a, who was boosted past them
        earned = self.assertJson(h.http("POST", "/api/referrals/earn", {"user_email": a}), 200)
        self.assertTrue(earned["earned"], earned)
        # A sharer who never joined, and the recipient who has not joined yet.
        sharer, recipient = unique_email("sharer"), unique_email("recipient")
        self.assertEqual(h.http("POST", "/api/referrals/share", {"inviter_email": sharer, "recipient_email": recipient}).status,
                         201)
        # A redeemer, with a referral code of their own.
        redeemer = unique_email("redeemer")
        code_r = self.assertJson(h.redeem(h.generate(1)[0], redeemer), 200)["referral_code"]
        # The two at the head are admitted.
        admitted = self.assertJson(h.http("POST", "/api/waitlist/admit", {"count": 2}, token=h.admin_token), 200)
        self.assertEqual([x["email"] for x in admitted["admitted"]], early[:2])
        h.wait_synced()
        people = early + [a] + friends + [late, sharer, recipient, redeemer]
        codes = [code_a, code_r, self.assertJson(h.http("POST", "/api/referrals/share", {
            "inviter_email": late, "recipient_email": unique_email("x")}), 201)["referral_code"]]
        h.wait_synced()
        before = self.answers(people, codes)
        self.assertEqual([before["position " + e][1]["position"] for e in early[2:] + [a, late]], [1, 2, 3, 4])
        self.assertEqual(before["position " + early[0]][0], 200)
        self.assertEqual(before["quality " + a][1]["referred_count"], 3)
        self.assertEqual(before["quality " + recipient][0], 404)
        self.assertTrue(before["link " + code_r].endswith("?ref=" + code_r), before)

        self.flush()
        doc = self.cli_json(["rehydrate", "--check"], 1)
        self.assertEqual(doc["people"]["created"], len(people) - 1, doc)  # all but the recipient
        self.assertEqual(h.redis_scan("ig:{0}:u:*"), [], "--check wrote")
        doc = self.cli_json(["rehydrate"], 0)
        self.assertEqual((doc["people"]["created"], doc["people"]["moved"], doc["people"]["shares"]),
                         (len(people) - 1, 0, 2), doc)
        self.assertEqual(self.answers(people, codes), before)
        doc = self.cli_json(["rehydrate", "--check"], 0)
        self.assertEqual((doc["people"]["created"], doc["people"]["updated"], doc["people"]["counters"]), (0, 0, 0), doc)

        # And it goes on from there: a new join is last, a referral boosts a
        # waiting referrer, the share is credited, the tranche is not paid twice.
        newcomer = unique_email("newcomer")
        self.join(newcomer, referral_code=code_a)  # a: 25 points, still behind the 35-point entries
        pos = self.assertJson(h.http("GET", "/api/waitlist/%s/position" % path_email(newcomer)), 200)
        self.assertEqual((pos["position"], pos["total_waiting"]), (len(friends) + 5, len(friends) + 5), pos)
        self.join(recipient)
        q = self.assertJson(h.http("GET", "/api/referrals/%s/quality" % path_email(sharer)), 200)
        self.assertEqual(q["referred_count"], 1, q)
        again = self.assertJson(h.http("POST", "/api/referrals/earn", {"user_email": a}), 200)
        self.assertFalse(again["earned"], again)
        self.assertEqual(again["referrals_needed"], 2, again)
        h.wait_synced()
        run_cli(["reconcile"], conf=h.conf_path, check_rc=0)

    def test_joins_after_the_loss_are_kept(self):
        h = self.h
        old = [unique_email("old") for _ in range(3)]
        for e in old:
            self.join(e)
        h.wait_synced()
        self.flush()
        # The gateway serves at once: a join takes sequence number 1 again.
        newcomer = unique_email("after")
        self.join(newcomer)
        h.wait_synced()
        doc = self.cli_json(["rehydrate"], 0)
        self.assertEqual(doc["people"]["moved"], 1, doc)
        waiting = int(h.psql_value("SELECT count(DISTINCT id) FROM waitlist WHERE invited_at IS NULL"))
        stats = self.assertJson(h.http("GET", "/api/waitlist/stats"), 200)
        self.assertEqual(stats["total"], waiting, stats)
        for e in old + [newcomer]:
            self.assertEqual(h.http("GET", "/api/waitlist/%s/position" % path_email(e)).status, 200, e)
        # The newcomer keeps their place; nobody shares a position.
        positions = sorted(self.assertJson(h.http("GET", "/api/waitlist/%s/position" % path_email(e)), 200)["position"]
                           for e in old + [newcomer])
        self.assertEqual(len(set(positions)), 4)
        doc = self.cli_json(["rehydrate", "--check"], 0)
        self.assertEqual(doc["people"]["moved"], 0, doc)

    def test_a_forced_gate_stays_forced(self):
        h = self.h
        r = h.http("POST", "/api/quality/evaluate-gate", {"force": "closed"}, token=h.admin_token)
        self.assertEqual(r.status, 200, r)
        wait_until(lambda: h.psql_value("SELECT mode FROM gate_evaluations ORDER BY id DESC LIMIT 1") == "closed", 20, 0.2,
                   "an evaluation under the override")
        self.flush()
        wait_until(lambda: h.redis("GET", "ig:{0}:gate:mode") == "closed", 20, 0.2, "the override put back")
        wait_until(lambda: h.redis("GET", "ig:{3}:gate") == "closed", 20, 0.2, "the gate closed again")
        r = h.http("POST", "/api/quality/evaluate-gate", {"force": "auto"}, token=h.admin_token)
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    harness.main()
