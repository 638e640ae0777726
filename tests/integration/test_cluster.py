#!/usr/bin/env python3
"""
The gateway on a Redis Cluster (redis_url = redis+cluster://): a slot moved
under redemption load (MOVED and ASK in flight), a graceful failover under
load, and what a hard master kill loses with asynchronous replication.

Every client retries a 503 with the same e-mail (a redemption is idempotent
per e-mail), so each e-mail ends with one 200; then a code's use count in
Redis must equal the e-mails that got 200: nothing lost, nothing doubled.
Redis state is checked through the gateway's API and the cluster itself
(harness.ClusterClient follows MOVED/ASK as redis-cli -c does); PostgreSQL's
side on a cluster is test_cluster_sync.py's.
"""

import os
import secrets
import signal
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import keys  # noqa: E402
from harness import HttpClient, RedisClient, code_body, unique_email, wait_until  # noqa: E402

CLIENTS = 4


class Load:
    """CLIENTS threads redeeming the codes given (multi-use) with fresh
    e-mails until stopped; a 503 or a cut connection is retried with the
    same e-mail until it gets 200. Counts what it saw."""

    def __init__(self, port, codes, retry_for=30.0, check_status=False):
        self.port = port
        self.check_status = check_status
        self.codes = codes
        self.retry_for = retry_for
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.ok = {c: set() for c in codes}  # code -> e-mails answered 200
        self.unavailable = 0
        self.other = []
        self.last_ok = None
        self.max_gap = 0.0  # longest time without a 200 while running
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def run(self, i):
        client = HttpClient(self.port, timeout=10.0)
        n = 0
        while not self.stop_flag.is_set():
            code = self.codes[(i + n) % len(self.codes)]
            n += 1
            email = unique_email("c%d" % i)
            deadline = time.monotonic() + self.retry_for
            while True:
                try:
                    r = client.request("POST", "/api/invites/redeem", {"code": code, "email": email})
                    status = r.status
                except AssertionError:
                    status = None
                if status == 200 and self.check_status:
                    # A one-key call as well: during a move it meets ASK where the redemption meets TRYAGAIN.
                    try:
                        st = client.request("GET", "/api/invites/%s/status" % code).status
                    except AssertionError:
                        st = None
                    if st not in (200, 503, None):
                        with self.lock:
                            self.other.append((code, "status", st, None))
                if status == 200:
                    with self.lock:
                        self.ok[code].add(email)
                        now = time.monotonic()
                        if self.last_ok is not None:
                            self.max_gap = max(self.max_gap, now - self.last_ok)
                        self.last_ok = now
                    break
                if status in (503, None) and time.monotonic() < deadline:
                    with self.lock:
                        self.unavailable += 1
                    time.sleep(0.02)
                    continue
                with self.lock:
                    self.other.append((code, email, status, r.body if status else None))
                break
        client.close()

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(60)

    def answered(self):
        with self.lock:
            return sum(len(v) for v in self.ok.values())


def path_email(email):
    return urllib.parse.quote(email, safe="@")


class ClusterCase(harness.HarnessTestCase):
    """One harness (gateway + cluster) per class."""

    REPLICAS = 0

    @classmethod
    def setUpClass(cls):
        cls.h = harness.Harness(cls.HARNESS_OVERRIDES, cluster=True, cluster_replicas=cls.REPLICAS)
        cls.h.__enter__()

    def start_load(self, *args, **kwargs):
        """A Load started; should the test fail before stopping it, its
        clients stop after their current e-mail, not hammer the port the
        gateway leaves behind through the tests that follow."""
        load = Load(*args, **kwargs).start()
        self.addCleanup(load.stop_flag.set)
        return load

    def codes_by_bucket(self, n=24):
        """Multi-use codes, one per bucket where the batch has one: {bucket: code}."""
        out = {}
        for code in self.h.generate(n, max_uses=1000000):
            out.setdefault(keys.code_bucket(code_body(code)), code)
        return out

    def cluster_retries(self):
        """invitegate_redis_cluster_retries_total of the gateway, by reason."""
        out = {}
        for line in self.h.http("GET", "/metrics").body.splitlines():
            if line.startswith("invitegate_redis_cluster_retries_total{"):
                out[line.split('"')[1]] = int(line.rsplit(" ", 1)[1])
        return out

    def uses(self, code):
        body = self.assertJson(self.h.status(code), 200)
        return body["uses"]

    def assert_exact(self, load):
        """Each code's use count (Redis, through the API) equals the e-mails answered 200."""
        self.assertEqual(load.other, [], "answers other than 200/503")
        for code, emails in load.ok.items():
            self.assertEqual(self.uses(code), len(emails), "code %s: uses vs e-mails answered 200" % code)
            bucket = keys.code_bucket(code_body(code))
            # The same through the cluster itself: the code's set of redeemers.
            self.assertEqual(self.h.redis("SCARD", keys.redeemers(bucket, code_body(code))), len(emails))


class ClusterApiTest(ClusterCase):
    def test_ready_and_every_bucket_answers(self):
        body = self.assertJson(self.h.http("GET", "/ready"), 200)
        self.assertEqual(body["redis"], "ok")
        # The 16 buckets live on all three masters.
        owners = {self.h.cluster.slot_owner(self.h.cluster.keyslot("{%d}" % b)) for b in range(harness.BUCKETS)}
        self.assertEqual(len(owners), 3)
        codes = self.codes_by_bucket(64)
        self.assertGreaterEqual(len(codes), 12)
        for code in codes.values():
            self.assertEqual(self.h.redeem(code, unique_email()).status, 200)
            self.assertEqual(self.uses(code), 1)

    def test_points_through_the_api(self):
        """Points on the waitlist's bucket: grant, spend, refusal, idempotent retry (Redis only)."""
        tok = self.h.admin_token
        email = unique_email("pts")
        join = {"email": email, "persona": "other", "use_case": "a tool"}
        self.assertEqual(self.h.http("POST", "/api/waitlist/join", join).status, 201)
        url = "/api/points/%s" % path_email(email)
        r = self.h.http("POST", url + "/grant", {"points": 300, "reason": "launch"}, token=tok,
                        headers={"Idempotency-Key": "g-" + secrets.token_hex(4)})
        self.assertEqual(self.assertJson(r, 200)["balance"], 300)
        key = "s-" + secrets.token_hex(4)
        for _ in range(2):  # the retry is answered alike and counted once
            r = self.h.http("POST", url + "/spend", {"amount": 120, "type": "REDEMPTION_QUOTA"}, token=tok,
                            headers={"Idempotency-Key": key})
            self.assertEqual(self.assertJson(r, 200)["balance"], 180)
        self.assertError(self.h.http("POST", url + "/spend", {"amount": 181, "type": "REDEMPTION_QUOTA"}, token=tok),
                         409, "insufficient_points")
        body = self.assertJson(self.h.http("GET", url, token=tok), 200)
        self.assertEqual((body["balance"], body["total_earned"], body["total_spent"]), (180, 300, -120))

    def test_metrics_report_redis_ready(self):
        r = self.h.http("GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertIn("invitegate_redis_ready 1", r.body)


class ReshardTest(ClusterCase):
    def migrate_slot(self, slot, pause=0.03):
        """Moves slot to another master by hand, key by key (CLUSTER SETSLOT
        IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE), pausing between keys so
        that calls meet the slot half moved (ASK, TRYAGAIN)."""
        c = self.h.cluster
        src = c.slot_owner(slot)
        dst = [p for p in c.masters() if p != src][0]
        ids = {p: i for p, i, _, _, _ in c.nodes()}
        c.node(dst).call("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[src])
        c.node(src).call("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[dst])
        moved = 0
        while True:
            keys = c.node(src).call("CLUSTER", "GETKEYSINSLOT", slot, 1)
            if not keys:
                break
            c.node(src).call("MIGRATE", harness.HOST, dst, "", 0, 5000, "KEYS", *keys)
            moved += len(keys)
            time.sleep(pause)
        for p in c.masters():
            c.node(p).call("CLUSTER", "SETSLOT", slot, "NODE", ids[dst])
        return src, dst, moved

    def test_moving_slots_under_load_loses_and_doubles_nothing(self):
        codes = self.codes_by_bucket(64)
        buckets = sorted(codes)[:3]
        # Every key of the moving buckets exists before the move (a code's redeemers set, the stream).
        # The trust gate's flag too, as the sync daemon writes it in production: a call whose keys are
        # partly moved is refused with TRYAGAIN, one whose keys are all moved is sent on with ASK.
        for b in buckets:
            self.assertEqual(self.h.redeem(codes[b], unique_email()).status, 200)
            self.h.redis("SET", keys.gate(b), "open")
        load = self.start_load(self.h.port, [codes[b] for b in buckets], check_status=True)
        # Seed the load's e-mails of the first redemptions into the counts.
        wait_until(lambda: load.answered() >= 50, 30, 0.05, "load running")
        moves = []
        for b in buckets:
            slot = self.h.cluster.keyslot("{%d}" % b)
            moves.append((b, slot) + self.migrate_slot(slot))
        wait_until(lambda: all(self.h.cluster.slot_owner(s) == dst for _, s, _, dst, _ in moves), 10, 0.1)
        before = load.answered()
        wait_until(lambda: load.answered() >= before + 50, 30, 0.05, "load after the move")
        load.stop()
        for b, slot, src, dst, moved in moves:
            self.assertGreater(moved, 1, "bucket %d: keys moved" % b)
        # The first redemption of each code (before the load) counts too.
        for b in buckets:
            load.ok[codes[b]].add("first")
        self.assert_exact(load)
        retries = self.cluster_retries()
        print("\nreshard: %d redemptions answered 200, %d answers 503/cut (retried), %d slots moved key by key; "
              "calls held back or sent again: %r" % (load.answered() - len(buckets), load.unavailable, len(moves), retries),
              file=sys.stderr)
        # The gateway met the move half-way and after it: sent on with ASK, refused with TRYAGAIN, redirected by MOVED.
        for reason in ("moved", "ask", "tryagain"):
            self.assertGreater(retries[reason], 0, reason)


class FailoverMixin:
    """A master killed or failed over under redemption load (a ClusterCase with replicas)."""

    def master_of_bucket(self, b):
        return self.h.cluster.slot_owner(self.h.cluster.keyslot("{%d}" % b))

    def master_with_replica(self, codes):
        """(bucket, master, replica, codes on that master) for a master with a live replica."""
        c = self.h.cluster
        for b in sorted(codes):
            master = self.master_of_bucket(b)
            try:
                replica = c.replica_of(master)
            except IndexError:
                continue
            if c.procs[replica].poll() is None:
                return b, master, replica, [codes[x] for x in codes if self.master_of_bucket(x) == master]
        raise AssertionError("no master with a live replica")

    def kill_and_take_over(self, load, b, master, replica, cut_s=0.0):
        """kill -9 of master under load, then CLUSTER FAILOVER TAKEOVER on
        its replica; with cut_s, the master's replicas are first cut off for
        cut_s seconds (stopped, and their links closed by the master, so that
        what the master acknowledges meanwhile never reaches them: replicas
        behind, as over a slow or broken link). Returns (answered 200 before the
        kill, answered 200 while cut off, lost, seconds until the gateway
        served again, redemptions answered 200 per second before the cut)."""
        c = self.h.cluster
        wait_until(lambda: load.answered() >= 100, 60, 0.05, "load running")
        n0, t0 = load.answered(), time.monotonic()
        time.sleep(1.0)
        rate = (load.answered() - n0) / (time.monotonic() - t0)
        cut_start = load.answered()
        replicas = c.replicas_of(master)
        if cut_s:
            for p in replicas:
                c.procs[p].send_signal(signal.SIGSTOP)
            c.node(master).call("CLIENT", "KILL", "TYPE", "replica")
            time.sleep(cut_s)
        before_kill = load.answered()
        c.kill_node(master)
        t0 = time.monotonic()
        if cut_s:
            for p in replicas:
                c.procs[p].send_signal(signal.SIGCONT)
        c.node(replica).call("CLUSTER", "FAILOVER", "TAKEOVER")
        wait_until(lambda: self.master_of_bucket(b) == replica, 20, 0.1, "replica promoted")
        count = load.answered()
        wait_until(lambda: load.answered() >= count + 100, 60, 0.05, "redemptions after the takeover")
        recovered = time.monotonic() - t0
        load.stop()
        self.assertEqual(load.other, [])
        # Serving the moved slots comes first (MOVED); /ready waits for the whole map from a live node.
        wait_until(lambda: self.h.http("GET", "/ready").status == 200, 20, 0.1, "/ready after the takeover")
        lost = 0
        for code, emails in load.ok.items():
            uses = self.uses(code)
            # The promoted replica holds at most every e-mail answered 200, never more: nothing doubled.
            self.assertLessEqual(uses, len(emails), "code %s doubled" % code)
            lost += len(emails) - uses
        # Only what was answered before the kill can be missing.
        self.assertLessEqual(lost, before_kill)
        return before_kill, before_kill - cut_start, lost, recovered, rate


class FailoverTest(FailoverMixin, ClusterCase):
    REPLICAS = 1

    def test_graceful_failover_under_load(self):
        """CLUSTER FAILOVER on a replica: the gateway follows without a restart, nothing lost or doubled."""
        c = self.h.cluster
        b, master, replica, mine = self.master_with_replica(self.codes_by_bucket(64))
        load = self.start_load(self.h.port, mine)
        wait_until(lambda: load.answered() >= 50, 30, 0.05, "load running")
        c.node(replica).call("CLUSTER", "FAILOVER")
        wait_until(lambda: self.master_of_bucket(b) == replica, 20, 0.1, "replica promoted")
        before = load.answered()
        wait_until(lambda: load.answered() >= before + 100, 30, 0.05, "redemptions after the failover")
        load.stop()
        self.assertEqual(self.h.http("GET", "/ready").status, 200)
        self.assert_exact(load)
        print("\ngraceful failover: %d answered 200, %d answers 503/cut (retried); longest time without a 200: %.0f ms; "
              "calls held back or sent again: %r" % (load.answered(), load.unavailable, 1000 * load.max_gap,
                                                     self.cluster_retries()), file=sys.stderr)

    def test_hard_kill_and_takeover_measures_the_loss(self):
        """kill -9 of a master under load, then CLUSTER FAILOVER TAKEOVER on
        its replica: the redemptions answered 200 that the replica had not
        received yet are lost (asynchronous replication); none is doubled,
        and the gateway serves the promoted replica without a restart."""
        b, master, replica, mine = self.master_with_replica(self.codes_by_bucket(64))
        load = self.start_load(self.h.port, mine, retry_for=60.0)
        before, _, lost, recovered, rate = self.kill_and_take_over(load, b, master, replica)
        print("\nhard kill + TAKEOVER: %d redemptions answered 200 before the kill (%.0f/s), %d after; %d of them lost "
              "(answered 200, not on the promoted replica); served again %.2f s after the kill; calls held back or "
              "sent again: %r" % (before, rate, load.answered() - before, lost, recovered, self.cluster_retries()),
              file=sys.stderr)

    def test_a_lagging_replica_loses_what_it_had_not_received(self):
        """The same with the replica cut off for 0.5 s before the kill: the
        redemptions answered in that time are lost, the window WAIT closes."""
        b, master, replica, mine = self.master_with_replica(self.codes_by_bucket(64))
        load = self.start_load(self.h.port, mine, retry_for=60.0)
        before, during, lost, recovered, rate = self.kill_and_take_over(load, b, master, replica, cut_s=0.5)
        print("\nreplica cut off 0.5 s + hard kill + TAKEOVER: %d answered 200 before the kill (%.0f/s), %d of them "
              "while the replica was cut off; %d lost; served again %.2f s after the kill"
              % (before, rate, during, lost, recovered), file=sys.stderr)
        self.assertGreater(during, 0, "no redemption answered while the replica was cut off")
        self.assertGreater(lost, 0, "a replica cut off lost nothing")
        # What is lost was answered while the replica was cut off (and a moment before: what was in flight).
        self.assertLessEqual(lost, during + 4 * CLIENTS)

    def test_wait_closes_the_window_at_a_cost(self):
        """WAIT 1 after a write returns once a replica has it (or after its
        timeout, saying 0): measured per write against the plain write."""
        c = self.h.cluster
        b, master, replica, _ = self.master_with_replica(self.codes_by_bucket(16))
        node = RedisClient(master)
        n = 2000

        def timed(cmds):
            t = time.monotonic()
            for i in range(n):
                with node.lock:
                    node.sock is None and node._connect()
                    node.sock.sendall(b"".join(node._encode(a) for a in cmds(i)))
                    replies = [node._read() for _ in cmds(i)]
                self.assertNotIsInstance(replies[0], harness.RedisError)
            return (time.monotonic() - t) / n, replies

        key = keys.gate(b) + ":waitcost"  # a scratch key in the bucket's slot
        figures = []
        for fsync in ("always", "everysec"):
            node.call("CONFIG", "SET", "appendfsync", fsync)
            plain, _ = timed(lambda i: [["SET", key, i]])
            waited, replies = timed(lambda i: [["SET", key, i], ["WAIT", 1, 1000]])
            self.assertEqual(replies[1], 1, "the replica acknowledged the write")
            figures.append("appendfsync %s: write %.0f us, write + WAIT 1 %.0f us" % (fsync, plain * 1e6, waited * 1e6))
        node.call("CONFIG", "SET", "appendfsync", "always")
        # A stopped replica: WAIT holds the answer for its whole timeout and says 0 (not replicated).
        c.procs[replica].send_signal(signal.SIGSTOP)
        try:
            t = time.monotonic()
            node.call("SET", key, "x")
            self.assertEqual(node.call("WAIT", 1, 200), 0)
            blocked = time.monotonic() - t
        finally:
            c.procs[replica].send_signal(signal.SIGCONT)
        node.call("DEL", key)
        node.close()
        print("\nWAIT 1 cost, one client in turn, loopback (%d writes each): %s; with the replica stopped WAIT 1 200 "
              "held the answer %.0f ms and said 0" % (n, "; ".join(figures), blocked * 1000), file=sys.stderr)



class WaitReplicasTest(FailoverMixin, ClusterCase):
    """redis_wait_replicas = 1: the gateway answers a write only once a
    replica has it (WAIT after each library write), so the lagging-replica
    kill above loses nothing that was answered; writes while the replicas
    are cut off answer 503 (retried by the clients). Two replicas per
    master, as the option wants: after the takeover the other replica
    follows the promoted one and writes are answered again."""

    REPLICAS = 2
    HARNESS_OVERRIDES = {"redis_wait_replicas": "1"}

    def test_a_lagging_replica_loses_nothing_answered(self):
        b, master, replica, mine = self.master_with_replica(self.codes_by_bucket(64))
        load = self.start_load(self.h.port, mine, retry_for=60.0)
        before, during, lost, recovered, rate = self.kill_and_take_over(load, b, master, replica, cut_s=0.5)
        print("\nredis_wait_replicas = 1, replica cut off 0.5 s + hard kill + TAKEOVER: %d answered 200 before the kill "
              "(%.0f/s), %d of them while the replica was cut off; %d lost; %d answers 503 (retried); served again "
              "%.2f s after the kill" % (before, rate, during, lost, load.unavailable, recovered), file=sys.stderr)
        self.assertEqual(lost, 0, "a redemption answered 200 was lost with WAIT")
        self.assertGreater(load.unavailable, 0, "no write waited for the cut-off replica")

    def test_cost_of_waiting(self):
        """Redemption throughput through this gateway (WAIT 1 after each
        write) against a second one on the same cluster without the option,
        2 s each, alternated twice; printed as a ratio."""
        plain = self.h.start_gateway({"redis_wait_replicas": "0"})
        codes = list(self.codes_by_bucket(64).values())
        rates = {"wait": [], "plain": []}
        for _ in range(2):
            for name, port in (("wait", self.h.port), ("plain", plain.port)):
                load = self.start_load(port, codes)
                time.sleep(0.5)
                n0, t0 = load.answered(), time.monotonic()
                time.sleep(2.0)
                rates[name].append((load.answered() - n0) / (time.monotonic() - t0))
                load.stop()
                self.assertEqual(load.other, [])
        w, p = sum(rates["wait"]) / 2, sum(rates["plain"]) / 2
        print("\nredemptions/s, %d clients, 3 masters with 2 replicas each: redis_wait_replicas = 1 %.0f, = 0 %.0f "
              "(ratio %.2f; runs %r)" % (CLIENTS, w, p, w / p, rates), file=sys.stderr)
        self.assertGreater(w, 0)

    def test_reads_do_not_wait(self):
        """A read (FCALL_RO) is answered while a master's replicas are stopped; a write is not (503)."""
        c = self.h.cluster
        codes = self.codes_by_bucket(64)
        b, master, replica, mine = self.master_with_replica(codes)
        replicas = c.replicas_of(master)
        for p in replicas:
            c.procs[p].send_signal(signal.SIGSTOP)
        try:
            c.node(master).call("CLIENT", "KILL", "TYPE", "replica")
            self.assertJson(self.h.status(mine[0]), 200)
            self.assertError(self.h.redeem(mine[0], unique_email("w")), 503, "unavailable")
        finally:
            for p in replicas:
                c.procs[p].send_signal(signal.SIGCONT)
        wait_until(lambda: self.h.redeem(mine[0], unique_email("w")).status == 200, 30, 0.2, "writes answered again")


if __name__ == "__main__":
    harness.main()
