#!/usr/bin/env python3
"""The Idempotency-Key header: a retry of a POST that is not idempotent by
itself (admit, spend, lifecycle events, share, earn, evaluate-gate) makes its
change once and gets the first answer again, byte for byte; the same key with
another request is 422, a key whose first request is still out is 409, keys
are scoped by admin token and by client address, records live 24 h, errors a
retry must be able to change are not recorded, and requests without the
header behave as before. PostgreSQL (through the sync daemon) holds exactly
what the first requests did."""

import concurrent.futures
import hashlib
import os
import secrets
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import keys  # noqa: E402
from harness import HOST, token_hash, unique_email, wait_until  # noqa: E402

SECOND_TOKEN = secrets.token_hex(16)
DAY_MS = 86400 * 1000


def record_key(scope, key):
    """The Redis key of a record (keys.idem, common/ig_keys.h's ig_key_idem): scope 't:<token name>' or 'a:<address>'."""
    return keys.idem(*scope.split(":", 1), hashlib.blake2b(key.encode(), digest_size=16).hexdigest())


def path_email(email):
    return urllib.parse.quote(email, safe="")


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


class IdempotencyTest(harness.HarnessTestCase):
    HARNESS_OVERRIDES = {
        # Long enough that a call held by a stopped Redis is still out when the second request comes.
        "redis_timeout_ms": "30000",
        "referral_earn_after": "2",
        "referral_earn_codes": "2",
        "admin_token": "%s second admit,users,issue,revoke,gate" % token_hash(SECOND_TOKEN),
    }

    # -- helpers ----------------------------------------------------------

    def post(self, path, body, key=None, token=None, client=None, raw=None):
        """POST with the admin token (unless token is given; "" for none) and an Idempotency-Key."""
        if token is None:
            token = self.h.admin_token
        headers = {"Idempotency-Key": key} if key is not None else None
        send = client.request if client is not None else self.h.http
        return send("POST", path, body=body, token=token or None, headers=headers, raw=raw)

    def assertReplay(self, first, again):
        """again is the first answer replayed: same status, same bytes, marked as a replay."""
        self.assertEqual(again.status, first.status, again)
        self.assertEqual(again.raw, first.raw)
        self.assertEqual(again.headers.get("Idempotent-Replayed"), "true", again.headers)
        self.assertIsNone(first.headers.get("Idempotent-Replayed"), first.headers)

    def join(self, n, ref=None):
        emails = [unique_email("wl") for _ in range(n)]
        for email in emails:
            body = {"email": email, "persona": "agency", "use_case": "a tool for my team"}
            if ref is not None:
                body["referral_code"] = ref
            r = self.h.http("POST", "/api/waitlist/join", body)
            self.assertEqual(r.status, 201, r)
        return emails

    def stats(self):
        return self.assertJson(self.h.http("GET", "/api/waitlist/stats"), 200)

    def admitted_total(self):
        return self.stats()["admitted_total"]

    def pg_count(self, sql):
        return int(self.h.psql_value(sql))

    def assert_sync_clean(self):
        """The sync daemon applied everything and skipped nothing."""
        self.h.wait_synced()
        with open(self.h.sync_log, encoding="utf-8", errors="replace") as f:
            self.assertNotIn("malformed event skipped", f.read())

    def referrer(self):
        """Someone on the waitlist: (e-mail, referral code)."""
        email = unique_email("referrer")
        r = self.h.http("POST", "/api/waitlist/join", {"email": email, "persona": "agency", "use_case": "x"})
        return email, self.assertJson(r, 201)["referral_code"]

    def referral_pair(self):
        """ann and bob, bob referred by ann; bob activated. Returns (ann, bob)."""
        ann, code = self.referrer()
        bob = self.join(1, ref=code)[0]
        r = self.post("/api/users/%s/events" % path_email(bob), {"type": "activated"})
        self.assertEqual(r.status, 202, r)
        return ann, bob

    def ledger(self, email):
        return [(t, int(d)) for t, d in self.h.psql(
            "SELECT t.type, t.delta FROM user_point_transactions t JOIN user_emails e USING (user_id) "
            "WHERE e.email = %s ORDER BY t.created_at, t.seq" % sql_str(email))]

    def balance(self, email):
        r = self.h.http("GET", "/api/points/%s" % path_email(email), token=self.h.admin_token)
        return self.assertJson(r, 200)["balance"]

    # -- admit ------------------------------------------------------------

    def test_admit_retried_admits_once_and_answers_the_same(self):
        self.join(6)
        self.assert_sync_clean()
        before, rows = self.admitted_total(), self.pg_count("SELECT count(*) FROM waitlist_admissions")
        key = "admit-" + secrets.token_hex(8)
        first = self.post("/api/waitlist/admit", {"count": 2}, key=key)
        body = self.assertJson(first, 200)
        self.assertEqual(len(body["admitted"]), 2, body)
        self.assertReplay(first, self.post("/api/waitlist/admit", {"count": 2}, key=key))
        self.assertEqual(self.admitted_total(), before + 2)
        # Without the header, as before: each request admits.
        for _ in range(2):
            r = self.post("/api/waitlist/admit", {"count": 1})
            self.assertEqual(len(self.assertJson(r, 200)["admitted"]), 1, r)
            self.assertIsNone(r.headers.get("Idempotent-Replayed"))
        self.assertEqual(self.admitted_total(), before + 4)
        # PostgreSQL got the first admission once: no new kind of event, nothing skipped.
        self.assert_sync_clean()
        self.assertEqual(self.pg_count("SELECT count(*) FROM waitlist_admissions"), rows + 4)

    def test_a_call_that_timed_out_and_was_applied_is_replayed_to_the_retry(self):
        """The case the header is for: Redis applied the admission, the answer
        was lost (503 after the gateway's deadline), the client retries."""
        gw2 = self.h.start_gateway({"redis_timeout_ms": "300"})
        self.join(3)
        before = self.admitted_total()
        key = "timeout-" + secrets.token_hex(8)
        self.h.pause_redis()
        try:
            r = gw2.http("POST", "/api/waitlist/admit", {"count": 2}, token=self.h.admin_token,
                         headers={"Idempotency-Key": key})
        finally:
            self.h.resume_redis()
        self.assertError(r, 503, "unavailable")
        # Redis ran the call when it resumed: its record appears.
        wait_until(lambda: self.h.redis("EXISTS", record_key("t:admin", key)) == 1, 10, 0.05, "the record")
        retry = gw2.http("POST", "/api/waitlist/admit", {"count": 2}, token=self.h.admin_token,
                         headers={"Idempotency-Key": key})
        self.assertEqual(len(self.assertJson(retry, 200)["admitted"]), 2, retry)
        self.assertEqual(retry.headers.get("Idempotent-Replayed"), "true")
        self.assertEqual(self.admitted_total(), before + 2)
        # The main gateway (another process) replays it alike.
        self.assertEqual(self.post("/api/waitlist/admit", {"count": 2}, key=key).raw, retry.raw)
        self.assertEqual(self.admitted_total(), before + 2)

    def test_a_second_request_while_the_first_is_out_is_409(self):
        self.join(2)
        before = self.admitted_total()
        key = "inflight-" + secrets.token_hex(8)

        def send():
            client = harness.HttpClient(self.h.port)
            try:
                return self.post("/api/waitlist/admit", {"count": 1}, key=key, client=client)
            finally:
                client.close()
        pool = concurrent.futures.ThreadPoolExecutor(2)
        self.h.pause_redis()
        try:
            futures = [pool.submit(send), pool.submit(send)]
            # The one that came second is refused at once, while Redis still holds the first.
            done, pending = concurrent.futures.wait(futures, timeout=20, return_when=concurrent.futures.FIRST_COMPLETED)
            self.assertEqual((len(done), len(pending)), (1, 1), "one answer while Redis is stopped")
            refused = done.pop().result()
        finally:
            self.h.resume_redis()
        first = pending.pop().result(timeout=20)
        pool.shutdown()
        self.assertError(refused, 409, "idempotency_key_in_use")
        self.assertEqual(refused.headers.get("Retry-After"), "1")
        self.assertEqual(len(self.assertJson(first, 200)["admitted"]), 1, first)
        # Once the first is answered the key is free again: a retry gets its answer.
        self.assertReplay(first, send())
        self.assertEqual(self.admitted_total(), before + 1)

    def test_refusals_and_503s_are_not_recorded(self):
        self.join(2)
        key = "paused-" + secrets.token_hex(8)
        before = self.admitted_total()
        # A body error happens before any call: the key stays unused.
        self.assertError(self.post("/api/waitlist/admit", {"count": "two"}, key=key), 400, "invalid_field")
        self.assertError(self.post("/api/waitlist/admit", {"count": 1}, key=key, token=self.h.reader_token), 403)
        closed = self.post("/api/quality/evaluate-gate", {"force": "closed"})
        self.assertJson(closed, 200)
        try:
            self.assertError(self.post("/api/waitlist/admit", {"count": 1}, key=key), 503, "invites_paused")
        finally:
            self.assertJson(self.post("/api/quality/evaluate-gate", {"force": "auto"}), 200)
            self.assertJson(self.post("/api/quality/evaluate-gate", {"force": "open"}), 200)
        self.assertEqual(self.h.redis("EXISTS", record_key("t:admin", key)), 0)
        # The retry after the gate opened does the admission, and only that one is recorded.
        first = self.post("/api/waitlist/admit", {"count": 1}, key=key)
        self.assertEqual(len(self.assertJson(first, 200)["admitted"]), 1, first)
        self.assertReplay(first, self.post("/api/waitlist/admit", {"count": 1}, key=key))
        self.assertEqual(self.admitted_total(), before + 1)
        self.assertJson(self.post("/api/quality/evaluate-gate", {"force": "auto"}), 200)

    # -- reuse, scopes, expiry, syntax -------------------------------------

    def test_the_same_key_with_another_request_is_422_and_changes_nothing(self):
        self.join(2)
        key = "reuse-" + secrets.token_hex(8)
        first = self.post("/api/waitlist/admit", {"count": 1}, key=key)
        self.assertJson(first, 200)
        before = self.admitted_total()
        for path, body in (("/api/waitlist/admit", {"count": 2}),
                           ("/api/waitlist/admit", {"count": 1, "expires_in_days": 5}),
                           ("/api/points/%s/spend" % path_email(unique_email()), {"amount": 1, "type": "REDEMPTION_QUOTA"}),
                           ("/api/users/%s/events" % path_email(unique_email()), {"type": "paid"}),
                           ("/api/quality/evaluate-gate", {"force": "closed"}),
                           ("/api/invites/generate", {"batch_size": 1, "batch_id": "B-" + key})):
            r = self.post(path, body, key=key)
            self.assertError(r, 422, "idempotency_key_reused")
        self.assertEqual(self.admitted_total(), before)
        self.assertFalse(self.assertJson(self.h.http("GET", "/api/quality/trust-score"), 200)["invites_paused"])
        self.assertEqual(self.h.redis("EXISTS", keys.batch("B-" + key)), 0)
        # The first request still replays.
        self.assertReplay(first, self.post("/api/waitlist/admit", {"count": 1}, key=key))

    def test_keys_are_scoped_by_token_and_by_client_address(self):
        self.join(2)
        key = "scoped-" + secrets.token_hex(8)
        before = self.admitted_total()
        mine = self.post("/api/waitlist/admit", {"count": 1}, key=key)
        theirs = self.post("/api/waitlist/admit", {"count": 1}, key=key, token=SECOND_TOKEN)
        self.assertIsNone(theirs.headers.get("Idempotent-Replayed"))
        self.assertNotEqual(self.assertJson(mine, 200)["admitted"], self.assertJson(theirs, 200)["admitted"])
        self.assertEqual(self.admitted_total(), before + 2)
        self.assertReplay(mine, self.post("/api/waitlist/admit", {"count": 1}, key=key))
        self.assertReplay(theirs, self.post("/api/waitlist/admit", {"count": 1}, key=key, token=SECOND_TOKEN))
        self.assertEqual(self.admitted_total(), before + 2)

        # Public routes: by client address (127.0.0.2 is another client on the loopback).
        other = harness.HttpClient(self.h.port, source_address=("127.0.0.2", 0))
        body = {"inviter_email": unique_email("inviter"), "recipient_email": unique_email("friend")}
        here = self.post("/api/referrals/share", body, key=key, token="")
        there = self.post("/api/referrals/share", body, key=key, token="", client=other)
        self.assertNotEqual(self.assertJson(here, 201)["referral_id"], self.assertJson(there, 201)["referral_id"])
        self.assertReplay(here, self.post("/api/referrals/share", body, key=key, token=""))
        self.assertReplay(there, self.post("/api/referrals/share", body, key=key, token="", client=other))
        other.close()
        self.assertEqual(self.h.redis("EXISTS", record_key("a:127.0.0.2", key)), 1)
        self.assert_sync_clean()
        self.assertEqual(self.pg_count("SELECT count(*) FROM referrals WHERE inviter_email = %s"
                                       % sql_str(body["inviter_email"])), 2)

    def test_records_live_24_hours(self):
        key = "ttl-" + secrets.token_hex(8)
        self.assertJson(self.post("/api/referrals/earn", {"user_email": unique_email()}, key=key, token=""), 200)
        self.assertJson(self.post("/api/invites/generate", {"batch_size": 1, "batch_id": "B-" + key}, key=key), 201)
        for scope in ("a:127.0.0.1", "t:admin"):
            ttl = self.h.redis("PTTL", record_key(scope, key))
            self.assertGreater(ttl, DAY_MS - 60 * 1000, scope)
            self.assertLessEqual(ttl, DAY_MS, scope)

    def test_a_malformed_key_is_400_and_changes_nothing(self):
        self.join(1)
        before = self.admitted_total()
        for key in ("", "k" * 256, "caf\u00e9"):
            r = self.post("/api/waitlist/admit", {"count": 1}, key=key)
            self.assertError(r, 400, "invalid_field", field="Idempotency-Key")
        self.assertJson(self.post("/api/waitlist/admit", {"count": 1}, key="k" * 255), 200)
        body = b'{"count": 1}'
        twice = (b"POST /api/waitlist/admit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                 b"Content-Type: application/json\r\nIdempotency-Key: a\r\nIdempotency-Key: b\r\n"
                 b"Content-Length: %d\r\nConnection: close\r\n\r\n%s") % (self.h.admin_token.encode(), len(body), body)
        reply = harness.raw_exchange(self.h.port, twice)
        self.assertTrue(reply.startswith(b"HTTP/1.1 400"), reply[:200])
        self.assertIn(b"Idempotency-Key", reply)
        self.assertEqual(self.admitted_total(), before + 1)
        # Routes idempotent by themselves ignore the header, whatever its value.
        r = self.h.http("POST", "/api/waitlist/join", {"email": unique_email(), "persona": "agency", "use_case": "x"},
                        headers={"Idempotency-Key": ""})
        self.assertEqual(r.status, 201, r)

    # -- points and lifecycle events ---------------------------------------

    def test_a_paid_event_retried_rewards_once(self):
        ann, bob = self.referral_pair()
        key = "paid-" + secrets.token_hex(8)
        path = "/api/users/%s/events" % path_email(bob)
        first = self.post(path, {"type": "paid", "amount_cents": 1999}, key=key)
        self.assertEqual(first.status, 202, first)
        self.assertReplay(first, self.post(path, {"type": "paid", "amount_cents": 1999}, key=key))
        self.assert_sync_clean()
        self.assertEqual(self.ledger(ann), [("REFERRAL_FIRST_PAYMENT", 500)])
        self.assertEqual(self.pg_count("SELECT count(*) FROM user_lifecycle_events l JOIN user_emails e USING (user_id) "
                                       "WHERE e.email = %s AND l.kind = 'paid'" % sql_str(bob)), 1)

    def test_a_spend_retried_spends_once(self):
        ann, bob = self.referral_pair()
        self.assertEqual(self.post("/api/users/%s/events" % path_email(bob), {"type": "paid"}).status, 202)
        wait_until(lambda: self.balance(ann) == 500, 30, 0.1, "ann's reward in Redis")
        path = "/api/points/%s/spend" % path_email(ann)
        key = "spend-" + secrets.token_hex(8)
        first = self.post(path, {"amount": 200, "type": "REDEMPTION_QUOTA"}, key=key)
        self.assertEqual(self.assertJson(first, 200)["balance"], 300)
        self.assertReplay(first, self.post(path, {"amount": 200, "type": "REDEMPTION_QUOTA"}, key=key))
        self.assertEqual(self.balance(ann), 300)
        self.assertError(self.post(path, {"amount": 100, "type": "REDEMPTION_QUOTA"}, key=key), 422,
                         "idempotency_key_reused")
        # A refusal of the change itself is an answer like another: replayed, even once the balance would allow it.
        too_much = self.post(path, {"amount": 301, "type": "REDEMPTION_QUOTA"}, key=key + "-b")
        self.assertError(too_much, 409, "insufficient_points")
        self.assertReplay(too_much, self.post(path, {"amount": 301, "type": "REDEMPTION_QUOTA"}, key=key + "-b"))
        self.assertEqual(self.balance(ann), 300)
        self.assert_sync_clean()
        self.assertEqual(self.ledger(ann), [("REFERRAL_FIRST_PAYMENT", 500), ("REDEMPTION_QUOTA", -200)])

    # -- referrals ---------------------------------------------------------

    def test_an_earn_retried_gets_the_same_codes(self):
        inviter, code = self.referrer()
        self.join(2, ref=code)
        key = "earn-" + secrets.token_hex(8)
        first = self.post("/api/referrals/earn", {"user_email": inviter}, key=key, token="")
        body = self.assertJson(first, 200)
        self.assertTrue(body["earned"], body)
        self.assertEqual(len(body["codes"]), 2)
        self.assertReplay(first, self.post("/api/referrals/earn", {"user_email": inviter}, key=key, token=""))
        # Without the key the next call is a new one: nothing more to earn.
        self.assertFalse(self.assertJson(self.post("/api/referrals/earn", {"user_email": inviter}, token=""), 200)["earned"])

    # -- the routes idempotent by themselves -------------------------------

    def test_generate_and_revoke_replay_their_first_answer(self):
        key = "gen-" + secrets.token_hex(8)
        batch = {"batch_size": 2, "batch_id": "B-" + key}
        first = self.post("/api/invites/generate", batch, key=key)
        self.assertJson(first, 201)
        self.assertReplay(first, self.post("/api/invites/generate", batch, key=key))
        # Without a key the batch id makes it idempotent, as before: the same codes, 200.
        plain = self.post("/api/invites/generate", batch)
        self.assertEqual(self.assertJson(plain, 200)["codes"], first.body["codes"])
        a, b = first.body["codes"]
        rkey = "revoke-" + secrets.token_hex(8)
        revoked = self.post("/api/invites/%s/revoke" % a, None, key=rkey)
        self.assertJson(revoked, 200)
        self.assertReplay(revoked, self.post("/api/invites/%s/revoke" % a, None, key=rkey))
        self.assertError(self.post("/api/invites/%s/revoke" % b, None, key=rkey), 422, "idempotency_key_reused")
        self.assertEqual(self.assertJson(self.h.status(b), 200)["status"], "active")

    def test_a_replayed_force_does_not_undo_a_later_one(self):
        k1, k2 = "gate-" + secrets.token_hex(8), "gate-" + secrets.token_hex(8)
        try:
            closed = self.post("/api/quality/evaluate-gate", {"force": "closed"}, key=k1)
            self.assertTrue(self.assertJson(closed, 200)["invites_paused"])
            opened = self.post("/api/quality/evaluate-gate", {"force": "open"}, key=k2)
            self.assertFalse(self.assertJson(opened, 200)["invites_paused"])
            self.assertReplay(closed, self.post("/api/quality/evaluate-gate", {"force": "closed"}, key=k1))
            self.assertEqual([self.h.redis("GET", keys.gate(b)) for b in range(harness.BUCKETS)],
                             [None] * harness.BUCKETS)
            self.assertEqual(self.h.redis("GET", keys.GATE_MODE), "open")
        finally:
            self.assertJson(self.post("/api/quality/evaluate-gate", {"force": "auto"}), 200)



if __name__ == "__main__":
    harness.main()
