#!/usr/bin/env python3
"""Many clients race for the last uses of one code: exactly max_uses win, in
Redis and, once the sync daemon catches up, in PostgreSQL."""

import collections
import http.client
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import code_body, unique_email, wait_until  # noqa: E402

CLIENTS = 60
MAX_USES = 10
ROUNDS = 4


def race(port, code, clients):
    """clients threads, one connection each, released together; returns
    [(status, body)]."""
    barrier = threading.Barrier(clients)
    results = [None] * clients

    def worker(i):
        conn = http.client.HTTPConnection(harness.HOST, port, timeout=30)
        try:
            conn.connect()
            payload = json.dumps({"code": code, "email": "racer%d-%s" % (i, unique_email())}).encode()
            barrier.wait(timeout=30)
            conn.request("POST", "/api/invites/redeem", body=payload, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            try:
                body = json.loads(data)
            except ValueError:
                body = data
            results[i] = (resp.status, body)
        except Exception as exc:
            results[i] = ("exception", repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


class ConcurrencyTest(harness.HarnessTestCase):

    def test_race_for_max_uses(self):
        codes = self.h.generate(ROUNDS, max_uses=MAX_USES)
        for rnd, code in enumerate(codes):
            with self.subTest(round=rnd):
                results = race(self.h.port, code, CLIENTS)
                counts = collections.Counter(r[0] for r in results)
                self.assertEqual(counts[200], MAX_USES, counts)
                self.assertEqual(counts[409], CLIENTS - MAX_USES, (counts, [r for r in results if r[0] not in (200, 409)]))
                for status, body in results:
                    if status == 409:
                        self.assertEqual(body.get("error"), "exhausted", body)
                    else:
                        self.assertEqual(body.get("status"), "success", body)
                st = self.assertJson(self.h.status(code), 200)
                self.assertEqual(st.get("uses"), MAX_USES, st)
                self.assertEqual(st.get("status"), "exhausted", st)

        for code in codes:
            b = code_body(code)
            q = ("SELECT (SELECT count(*) FROM redemptions WHERE code = '%s'), "
                 "(SELECT use_count FROM invites WHERE code = '%s')" % (b, b))
            wait_until(lambda: self.h.psql(q) == [[str(MAX_USES), str(MAX_USES)]], 15, 0.1,
                       lambda: "PostgreSQL (redemptions, use_count) for %s: %r" % (code, self.h.psql(q)))

    def test_same_email_races_itself(self):
        # Retries of one redemption racing each other count once.
        code = self.h.generate(1, max_uses=5)[0]
        email = unique_email("retry")
        barrier = threading.Barrier(20)
        statuses = []
        lock = threading.Lock()

        def worker():
            conn = http.client.HTTPConnection(harness.HOST, self.h.port, timeout=30)
            try:
                conn.connect()
                barrier.wait(timeout=30)
                conn.request("POST", "/api/invites/redeem", body=json.dumps({"code": code, "email": email}),
                             headers={"Content-Type": "application/json"})
                s = conn.getresponse().status
            except Exception as exc:
                s = repr(exc)
            finally:
                conn.close()
            with lock:
                statuses.append(s)

        threads = [threading.Thread(target=worker) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(statuses, [200] * 20)
        self.assertEqual(self.assertJson(self.h.status(code), 200).get("uses"), 1)
        q = "SELECT count(*) FROM redemptions WHERE code = '%s'" % code_body(code)
        wait_until(lambda: self.h.psql_value(q) == "1", 15, 0.1, lambda: "redemptions: %s" % self.h.psql_value(q))


if __name__ == "__main__":
    harness.main()
