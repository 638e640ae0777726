#!/usr/bin/env python3
"""The per-client rate limit of the public endpoints: one client address gets
the configured burst per gateway across every hash-tag bucket, separate
addresses (and e-mails) have separate limits, answers of limited routes carry
the RateLimit header fields, and the client address comes from
X-Forwarded-For or the PROXY protocol only when the TCP peer is a trusted
proxy.

Each test starts its own gateway (its own in-process limit table) beside the
harness's unlimited one. The limits use 1 request per second, so the refill
over a test's few seconds is small and is allowed for from the measured
duration."""

import http.client
import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import keys  # noqa: E402
from harness import BUCKETS, CODE_ALPHABET, CODE_PREFIX, HOST, code_body, unique_email, wait_until  # noqa: E402

REDEEM = "/api/invites/redeem"
LIMIT_RE = re.compile(r'^"addr";r=(\d+);t=(\d+)$')
ITEM_RE = re.compile(r'"(\w+)";r=(\d+);t=(\d+)')


def bucket_of(code):
    return keys.code_bucket(code_body(code))


class Client:
    """Keep-alive HTTP/1.1 connections from one local source address."""

    def __init__(self, port, source=HOST):
        self.port = port
        self.source = source
        self.conn = None

    def request(self, method, path, headers=(), body=None):
        """headers: (name, value) pairs, repeated names sent as separate
        fields. Returns (status, http.client.HTTPMessage, raw body)."""
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=15, source_address=(self.source, 0))
            try:
                self.conn.putrequest(method, path, skip_accept_encoding=True)
                for name, value in headers:
                    self.conn.putheader(name, value)
                if body is not None:
                    self.conn.putheader("Content-Type", "application/json")
                    self.conn.putheader("Content-Length", str(len(body)))
                self.conn.endheaders(body)
                resp = self.conn.getresponse()
                data = resp.read()
                return resp.status, resp.msg, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 1:
                    raise

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def proxy_request(port, proxy_line, path, source=HOST):
    """One request on a fresh connection that starts with proxy_line (bytes,
    b"" for none). Returns (status, {lower-case name: value}), or (None, {})
    when the connection closed without an answer."""
    with socket.create_connection((HOST, port), timeout=10, source_address=(source, 0)) as s:
        s.sendall(proxy_line + ("GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n" % path).encode())
        data = harness.read_until_close(s)
    if not data:
        return None, {}
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(head[0].split()[1]), headers


class RateLimitTest(harness.HarnessTestCase):

    codes = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Codes in every bucket (issued on the unlimited gateway).
        by_bucket = {}
        while len(by_bucket) < BUCKETS:
            for code in cls.h.generate(200):
                by_bucket.setdefault(bucket_of(code), []).append(code)
        cls.codes = [by_bucket[b][0] for b in range(BUCKETS)]

    def limited_gateway(self, burst, **extra):
        conf = {"rate_limit_per_sec": "1", "rate_limit_burst": str(burst)}
        conf.update(extra)
        return self.h.start_gateway(conf)

    def status_path(self, i):
        """The status route of the code of bucket i % 16: consecutive
        requests go round the buckets."""
        return "/api/invites/%s/status" % self.codes[i % BUCKETS]

    def spend(self, client, n, headers=()):
        """n status requests round the buckets; returns their answers."""
        return [client.request("GET", self.status_path(i), headers) for i in range(n)]

    def assertLimited(self, answer, what=""):
        """A 429 rate_limited with Retry-After and the RateLimit fields."""
        status, headers, raw = answer
        self.assertEqual(status, 429, "%s: %r %r" % (what, status, raw[:200]))
        self.assertIn(b'"error":"rate_limited"', raw)
        retry = headers.get("Retry-After")
        self.assertRegex(retry or "", r"^[1-9]\d*$", what)
        items = ITEM_RE.findall(headers.get("RateLimit") or "")
        self.assertTrue(items, "%s: no RateLimit field: %s" % (what, headers))
        # The exhausted policy says 0 left and the same wait as Retry-After.
        self.assertIn(("0", retry), [(r, t) for _, r, t in items], headers.get("RateLimit"))

    def passed(self, answers):
        return sum(1 for a in answers if a[0] == 200)

    # -- one address, every bucket ---------------------------------------

    def test_one_address_one_burst_across_buckets(self):
        burst, n = 40, 800
        gw = self.limited_gateway(burst)
        client = Client(gw.port)
        t0 = time.monotonic()
        answers = self.spend(client, n)
        elapsed = time.monotonic() - t0
        passed = self.passed(answers)
        print("one address, %d status requests round %d buckets in %.2f s: %d passed, %d answered 429 (burst %d, 1/s)"
              % (n, BUCKETS, elapsed, passed, n - passed, burst))
        # Exactly the burst, plus what 1/s refilled while the test ran.
        self.assertGreaterEqual(passed, burst)
        self.assertLessEqual(passed, burst + int(elapsed) + 1, "%d passed" % passed)
        self.assertEqual([a[0] for a in answers[:burst]], [200] * burst)
        for i, a in enumerate(answers):
            if a[0] != 200:
                self.assertLimited(a, "request %d" % i)

        # Every answer of a limited route says the policy and what is left.
        for i, (status, headers, _) in enumerate(answers[:burst]):
            self.assertEqual(headers.get("RateLimit-Policy"), '"addr";q=%d;w=%d' % (burst, burst), headers)
            m = LIMIT_RE.match(headers.get("RateLimit") or "")
            self.assertIsNotNone(m, headers)
            # What is left after this request, give or take the refill.
            self.assertGreaterEqual(int(m.group(1)), burst - 1 - i, headers)
            self.assertLessEqual(int(m.group(1)), min(burst - 1, burst - 1 - i + int(elapsed) + 1), headers)
            self.assertGreaterEqual(int(m.group(2)), 1)
        # The address is checked before the request is read: a malformed code is 429 too.
        status, headers, _ = client.request("GET", "/api/invites/%sAAAA/status" % CODE_PREFIX)
        self.assertEqual(status, 429)
        # Routes that are not limited carry no RateLimit field.
        for path in ("/health", "/api/quality/trust-score"):
            status, headers, _ = client.request("GET", path)
            self.assertEqual(status, 200, path)
            self.assertIsNone(headers.get("RateLimit"), path)
            self.assertIsNone(headers.get("RateLimit-Policy"), path)
        client.close()
        gw.stop()

    def test_remaining_counts_down_and_bad_input_counts(self):
        gw = self.limited_gateway(5)
        client = Client(gw.port)
        t0 = time.monotonic()
        seen = []
        for i in range(3):
            status, headers, _ = client.request("GET", self.status_path(i))
            self.assertEqual(status, 200)
            seen.append(int(LIMIT_RE.match(headers.get("RateLimit")).group(1)))
        # A malformed code is refused without Redis, but counts and says so.
        status, headers, _ = client.request("GET", "/api/invites/%sAAAA/status" % CODE_PREFIX)
        self.assertEqual(status, 422)
        seen.append(int(LIMIT_RE.match(headers.get("RateLimit")).group(1)))
        # Each request took one unit; 1/s may have brought some back meanwhile.
        refill = int(time.monotonic() - t0) + 1
        self.assertEqual(seen[0], 4, seen)
        for i in range(1, 4):
            self.assertGreaterEqual(seen[i], 4 - i, seen)
            self.assertLessEqual(seen[i], min(4, 4 - i + refill), seen)
        client.close()
        gw.stop()

    # -- two addresses ---------------------------------------------------

    def test_two_addresses_have_separate_limits(self):
        burst = 10
        gw = self.limited_gateway(burst)
        first, second = Client(gw.port, "127.0.0.1"), Client(gw.port, "127.0.0.2")
        t0 = time.monotonic()
        a = self.spend(first, 4 * BUCKETS)
        b = self.spend(second, 4 * BUCKETS)
        elapsed = time.monotonic() - t0
        for answers, who in ((a, "127.0.0.1"), (b, "127.0.0.2")):
            passed = self.passed(answers)
            print("%s: %d of %d passed" % (who, passed, len(answers)))
            self.assertGreaterEqual(passed, burst, who)
            self.assertLessEqual(passed, burst + int(elapsed) + 1, who)
            self.assertLimited(answers[-1], who)
        first.close()
        second.close()
        gw.stop()

    # -- per e-mail ------------------------------------------------------

    def test_one_email_from_many_addresses_is_limited(self):
        burst = 3
        gw = self.limited_gateway(burst)
        email = unique_email("rl")
        path = "/api/waitlist/%s/position" % email
        answers = []
        for i in range(burst + 2):
            c = Client(gw.port, "127.0.0.%d" % (10 + i))
            answers.append(c.request("GET", path))
            c.close()
        # Each address is fresh, so only the e-mail's own limit refuses.
        self.assertEqual([a[0] for a in answers[:burst]], [404] * burst, answers)
        self.assertLimited(answers[burst], "the e-mail over its burst")
        self.assertIn('"email";r=0', answers[burst][1].get("RateLimit"))
        policy = answers[0][1].get("RateLimit-Policy")
        self.assertEqual(policy, '"addr";q=3;w=3, "email";q=3;w=3')
        # Another e-mail from the same fresh address passes.
        c = Client(gw.port, "127.0.0.30")
        self.assertEqual(c.request("GET", "/api/waitlist/%s/position" % unique_email("rl"))[0], 404)
        c.close()
        gw.stop()

    # -- trusted proxies -------------------------------------------------

    def test_x_forwarded_for_from_a_trusted_proxy(self):
        burst = 3
        gw = self.limited_gateway(burst, trusted_proxies="127.0.0.1/32, 10.9.0.0/16")
        proxy = Client(gw.port, "127.0.0.1")

        def xff(*values):
            return [("X-Forwarded-For", v) for v in values]

        a = self.spend(proxy, burst + 1, xff("203.0.113.5"))
        self.assertEqual([x[0] for x in a], [200] * burst + [429])
        self.assertLimited(a[-1], "203.0.113.5")
        # Another client behind the same proxy has its own limit.
        self.assertEqual(self.spend(proxy, 1, xff("203.0.113.6"))[0][0], 200)
        # A client cannot escape by putting its own entries on the left, nor
        # behind further trusted hops, nor split over several fields.
        for spoof in (xff("198.51.100.1, 203.0.113.5"), xff("198.51.100.2,203.0.113.5, 10.9.1.1"),
                      xff("198.51.100.3", "203.0.113.5"), xff("garbage, 203.0.113.5")):
            self.assertLimited(self.spend(proxy, 1, spoof)[0], repr(spoof))
        # The right-most untrusted entry counts, whatever is left of it.
        self.assertEqual(self.spend(proxy, 1, xff("203.0.113.5, 203.0.113.7"))[0][0], 200)
        # IPv6 clients are limited per /64.
        self.assertEqual([x[0] for x in self.spend(proxy, burst, xff("2001:db8:1:2::1"))], [200] * burst)
        self.assertLimited(self.spend(proxy, 1, xff("2001:db8:1:2:ffff::9"))[0], "same /64")
        self.assertEqual(self.spend(proxy, 1, xff("2001:db8:1:3::1"))[0][0], 200)

        # A malformed entry where the client should be: the last trusted hop
        # (the proxy itself) is the client. Use up the proxy's own limit first.
        self.assertEqual([x[0] for x in self.spend(proxy, burst)], [200] * burst)
        for bad in (xff("203.0.113.8, not-an-address"), xff("203.0.113.8, 300.1.1.1"), xff("")):
            self.assertLimited(self.spend(proxy, 1, bad)[0], repr(bad))
        self.assertEqual(self.spend(proxy, 1, xff("203.0.113.8"))[0][0], 200)
        # ... or the trusted hop right of the malformed entry, when there is one.
        a = self.spend(proxy, burst + 1, xff("203.0.113.9, not-an-address, 10.9.1.1"))
        self.assertEqual([x[0] for x in a], [200] * burst + [429])
        self.assertLimited(self.spend(proxy, 1, xff("10.9.1.1"))[0], "10.9.1.1 itself")

        # An untrusted peer's X-Forwarded-For is ignored: its own address counts.
        direct = Client(gw.port, "127.0.0.2")
        answers = [direct.request("GET", self.status_path(i), xff("203.0.113.%d" % (100 + i))) for i in range(burst + 1)]
        self.assertEqual([x[0] for x in answers], [200] * burst + [429])

        # The derived address is what the fraud signals see: it is recorded
        # with the redemption and counted in its network.
        code, email = self.h.generate(1)[0], unique_email("rl")
        body = ('{"code": "%s", "email": "%s"}' % (code, email)).encode()
        status, _, raw = proxy.request("POST", REDEEM, xff("198.51.100.77, 203.0.113.44"), body)
        self.assertEqual(status, 200, raw)
        self.h.wait_synced(what="the redemption in PostgreSQL")
        self.assertEqual(self.h.psql("SELECT client_addr, gate_network(client_addr) FROM redemptions WHERE email = '%s'"
                                     % email), [["203.0.113.44", "203.0.113.0/24"]])
        proxy.close()
        direct.close()
        gw.stop()

    def test_x_forwarded_for_ignored_without_trusted_proxies(self):
        burst = 3
        gw = self.limited_gateway(burst)
        client = Client(gw.port)
        answers = [client.request("GET", self.status_path(i), [("X-Forwarded-For", "203.0.113.%d" % i)])
                   for i in range(burst + 1)]
        self.assertEqual([a[0] for a in answers], [200] * burst + [429])
        self.assertLimited(answers[-1], "a new X-Forwarded-For each time")
        # The redemption records the TCP peer, not the header.
        code, email = self.h.generate(1)[0], unique_email("rl")
        status, _, raw = Client(gw.port, "127.0.0.3").request(
            "POST", REDEEM, [("X-Forwarded-For", "203.0.113.45")],
            ('{"code": "%s", "email": "%s"}' % (code, email)).encode())
        self.assertEqual(status, 200, raw)
        self.h.wait_synced(what="the redemption in PostgreSQL")
        self.assertEqual(self.h.psql_value("SELECT client_addr FROM redemptions WHERE email = '%s'" % email), "127.0.0.3")
        client.close()
        gw.stop()

    # -- PROXY protocol --------------------------------------------------

    def test_proxy_protocol_from_a_trusted_peer_only(self):
        burst = 2
        gw = self.limited_gateway(burst, trusted_proxies="127.0.0.1/32", proxy_protocol="on")

        def via(src, i, source=HOST, family="TCP4", dst="127.0.0.1"):
            line = ("PROXY %s %s %s 40000 %d\r\n" % (family, src, dst, gw.port)).encode()
            return proxy_request(gw.port, line, self.status_path(i), source)

        a = [via("198.51.100.7", i)[0] for i in range(burst + 1)]
        self.assertEqual(a, [200] * burst + [429])
        status, headers = via("198.51.100.7", 5)
        self.assertEqual(status, 429)
        self.assertEqual(headers.get("ratelimit"), '"addr";r=0;t=%s' % headers.get("retry-after"), headers)
        # Another client of the proxy: its own limit.
        self.assertEqual(via("198.51.100.8", 0)[0], 200)
        # IPv6 through the PROXY line, limited per /64.
        self.assertEqual([via("2001:db8:5::1", i, family="TCP6", dst="::1")[0] for i in range(burst)], [200] * burst)
        self.assertEqual(via("2001:db8:5::2", 0, family="TCP6", dst="::1")[0], 429)
        # The trusted peer may also speak without a PROXY line: its own address.
        self.assertEqual(proxy_request(gw.port, b"", self.status_path(0))[0], 200)

        # An untrusted peer's PROXY line is not honoured: it is not taken for
        # the client address (h2o reads the line as a malformed request).
        for i in range(burst + 2):
            status, _ = via("198.51.100.9", i, source="127.0.0.2")
            self.assertNotEqual(status, 200, "PROXY line from an untrusted peer was accepted")
        # ... and that peer, speaking plain HTTP, is limited as itself.
        answers = [proxy_request(gw.port, b"", self.status_path(i), "127.0.0.2")[0] for i in range(burst + 1)]
        self.assertEqual(answers, [200] * burst + [429])
        # 198.51.100.9 was never used up by the refused lines.
        self.assertEqual(via("198.51.100.9", 0)[0], 200)
        self.assertTrue(gw.alive())
        gw.stop()

    def test_config_refuses_bad_proxy_settings(self):
        for conf in ({"trusted_proxies": "127.0.0.1/33"}, {"trusted_proxies": "not-a-cidr"},
                     {"proxy_protocol": "on"}, {"proxy_protocol": "maybe", "trusted_proxies": "127.0.0.1"}):
            path = self.h.write_config("bad.conf", conf)
            proc = self.h._run([harness.GATEWAY_BIN, "-c", path], check=False, timeout=10)
            self.assertEqual(proc.returncode, 2, "%r: %r" % (conf, proc.stdout))
            key = "trusted_proxies" if "trusted_proxies" in conf and "proxy_protocol" not in conf else "proxy_protocol"
            self.assertIn(key, proc.stdout.decode(), conf)
            self.assertNotIn("unknown configuration key", proc.stdout.decode(), conf)


if __name__ == "__main__":
    harness.main()
