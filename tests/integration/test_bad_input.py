#!/usr/bin/env python3
"""Hostile and malformed input on the four invite endpoints: always a clear
4xx with the error body, never a 500, never a hang, never a partial write,
and the gateway stays up (SPEC invariant 7)."""

import http.client
import io
import json
import os
import secrets
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import keys  # noqa: E402
from harness import code_body, tamper_code, unique_email  # noqa: E402

GENERATE = "/api/invites/generate"
REDEEM = "/api/invites/redeem"

# Bodies that are not a JSON object with usable fields. Each answer must be
# 400 with one of the reasons given.
JSON_BAD = (400, ("invalid_json",))
SHAPE_BAD = (400, ("invalid_json", "invalid_field"))
MALFORMED_BODIES = [
    (b"", JSON_BAD),
    (b"{", JSON_BAD),
    (b"{]", JSON_BAD),
    (b"{\"code\": }", JSON_BAD),
    (b"{} trailing", JSON_BAD),
    (b"{\"a\":1}{\"b\":2}", JSON_BAD),
    (b"nul\x00l", JSON_BAD),
    (b"{\"code\": \"VOBEE\x00\", \"email\": \"a@example.com\"}", JSON_BAD),
    (b"{\"code\": \"\xff\xfe\", \"email\": \"a@example.com\"}", JSON_BAD),
    (b"{\"code\": \"\xc3\x28\", \"email\": \"\xed\xa0\x80@example.com\"}", JSON_BAD),
    (b"\xef\xbb\xbf{\"x\": 1}", SHAPE_BAD),  # BOM: either refused as JSON or as fields
    (b"{'code': 'x'}", JSON_BAD),
    (b"{\"code\": \"\\ud800\"}", SHAPE_BAD),
    (b"[]", SHAPE_BAD),
    (b"[{\"code\": \"x\", \"email\": \"a@example.com\"}]", SHAPE_BAD),
    (b"\"just a string\"", SHAPE_BAD),
    (b"42", SHAPE_BAD),
    (b"null", SHAPE_BAD),
    (b"true", SHAPE_BAD),
    (b"[" * 1000 + b"]" * 1000, SHAPE_BAD),
    (b"{\"a\":" * 600 + b"1" + b"}" * 600, SHAPE_BAD),
    (b"{\"x\": 1e999999}", SHAPE_BAD),
    (b"{\"x\": 123456789012345678901234567890}", SHAPE_BAD),
    (b"{\"x\": -1e-999999, \"code\": 1}", SHAPE_BAD),
]


def read_answer(sock, buf, head):
    """Reads one HTTP/1.1 answer from sock, buf holding bytes already read.
    A HEAD answer has no body whatever its Content-Length says. Returns
    (status, headers with lower-case names, body, the bytes after it)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed inside an answer's head: %r" % buf[:300])
        buf += chunk
    head_bytes, buf = buf.split(b"\r\n\r\n", 1)
    lines = head_bytes.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1.1 "):
        raise AssertionError("not a status line (bytes left over from the answer before?): %r" % head_bytes[:300])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode()] = value.strip().decode()
    n = 0 if head else int(headers["content-length"])
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed inside a body")
        buf += chunk
    return int(lines[0].split()[1]), headers, buf[:n], buf[n:]


def exchange(port, data, timeout=3.0):
    """Sends bytes on a fresh connection and reads without closing our side:
    returns (what came back, whether the gateway closed the connection)."""
    with socket.create_connection((harness.HOST, port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return b"".join(chunks), True
                chunks.append(chunk)
        except ConnectionResetError:
            return b"".join(chunks), True
        except socket.timeout:
            return b"".join(chunks), False


def parse_responses(data):
    """The HTTP/1.x responses in data, in order, as harness.Response objects
    (the gateway always sends Content-Length)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError("cut response: %r" % data[:300])
        status_line, _, fields = head.partition(b"\r\n")
        headers = http.client.parse_headers(io.BytesIO(fields + b"\r\n\r\n"))
        n = int(headers.get("Content-Length", "0"))
        out.append(harness.Response(int(status_line.split(b" ", 2)[1]), headers, rest[:n]))
        data = rest[n:]
    return out


def join_body(email):
    return json.dumps({"email": email, "use_case": "notes", "persona": "agency"}).encode()


def join_request(email, fields=b"", version=b"HTTP/1.1", host=b"Host: x\r\n"):
    """A raw POST /api/waitlist/join; fields are header lines added after Content-Type."""
    body = join_body(email)
    return (b"POST /api/waitlist/join " + version + b"\r\n" + host + b"Content-Type: application/json\r\n" + fields
            + b"\r\n" + body)


class BadInputTest(harness.HarnessTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.h.gateway.client.timeout = 8.0  # a hang shows up as a failure, quickly
        cls.code = cls.h.generate(1, max_uses=1000)[0]

    def assertNot5xx(self, r, what):
        self.assertLess(r.status, 500, "%s: %r" % (what, r))
        self.assertGreaterEqual(r.status, 200, "%s: %r" % (what, r))

    def assertClean4xx(self, r, what):
        self.assertNot5xx(r, what)
        if r.status >= 400:
            self.assertError(r, r.status)

    def tearDown(self):
        self.assertTrue(self.h.gateway.alive(), "gateway died:\n" + harness.tail(self.h.gateway.log_path))

    def events_added(self):
        """Entries ever added to the event streams (XINFO's entries-added,
        which the sync daemon's trimming does not lower)."""
        total = 0
        for b in range(harness.BUCKETS):
            try:
                info = self.h.redis("XINFO", "STREAM", keys.events(b))
            except harness.RedisError:
                continue  # no event in this bucket yet
            fields = dict(zip(info[::2], info[1::2]))
            total += int(fields["entries-added"])
        return total

    # -- bodies ------------------------------------------------------------

    def test_malformed_bodies_redeem(self):
        for raw, (status, reasons) in MALFORMED_BODIES:
            with self.subTest(body=raw[:60]):
                self.assertError(self.h.http("POST", REDEEM, raw=raw), status, reasons)

    def test_malformed_bodies_generate(self):
        for raw, (status, reasons) in MALFORMED_BODIES:
            with self.subTest(body=raw[:60]):
                self.assertError(self.h.http("POST", GENERATE, raw=raw, token=self.h.admin_token), status, reasons)
        # Deeper than any parser should recurse (admin bodies may be 4 MiB).
        deep = b"[" * 200000 + b"]" * 200000
        self.assertError(self.h.http("POST", GENERATE, raw=deep, token=self.h.admin_token), *SHAPE_BAD)

    def test_revoke_ignores_or_refuses_body(self):
        # Revoke takes no body; garbage in one must not matter or must be a 4xx.
        code = self.h.generate(1)[0]
        for raw in (b"{", b"\xff\x00", b"[]"):
            r = self.h.http("POST", "/api/invites/%s/revoke" % code, raw=raw, token=self.h.admin_token)
            self.assertClean4xx(r, raw)

    def test_wrong_field_types_redeem(self):
        email = unique_email()
        cases = [
            ({"code": self.code, "email": {"a": 1}}, "email"),
            ({"code": {"nested": {"deeper": [1, 2]}}, "email": email}, "code"),
            ({"code": [self.code], "email": email}, "code"),
            ({"code": True, "email": email}, "code"),
            ({"code": 1e308, "email": email}, "code"),
            ({"code": self.code, "email": 1234567890}, "email"),
            ({"code": self.code, "email": None}, "email"),
        ]
        for body, field in cases:
            with self.subTest(body=body):
                self.assertError(self.h.http("POST", REDEEM, body), 400, "invalid_field", field)

    def test_wrong_field_types_generate(self):
        tok = self.h.admin_token
        bid = "bad-" + secrets.token_hex(4)
        cases = [
            ({"batch_size": 1e308, "batch_id": bid}, "batch_size"),
            ({"batch_size": 9223372036854775807, "batch_id": bid}, "batch_size"),
            ({"batch_size": -9223372036854775808, "batch_id": bid}, "batch_size"),
            ({"batch_size": {"n": 1}, "batch_id": bid}, "batch_size"),
            ({"batch_size": [1], "batch_id": bid}, "batch_size"),
            ({"batch_size": True, "batch_id": bid}, "batch_size"),
            ({"batch_size": None, "batch_id": bid}, "batch_size"),
            ({"batch_size": 1, "batch_id": {"id": "x"}}, "batch_id"),
            ({"batch_size": 1, "batch_id": "x" * 5000}, "batch_id"),
            ({"batch_size": 1, "batch_id": bid, "max_uses": 1e308}, "max_uses"),
            ({"batch_size": 1, "batch_id": bid, "max_uses": 9223372036854775807}, "max_uses"),
            ({"batch_size": 1, "batch_id": bid, "max_uses": -1}, "max_uses"),
            ({"batch_size": 1, "batch_id": bid, "max_uses": {"a": 1}}, "max_uses"),
            ({"batch_size": 1, "batch_id": bid, "expires_in_days": 1e308}, "expires_in_days"),
            ({"batch_size": 1, "batch_id": bid, "expires_in_days": [1]}, "expires_in_days"),
            ({"batch_size": 1, "batch_id": bid, "cohort": {"a": "b"}}, "cohort"),
            ({"batch_size": 1, "batch_id": bid, "cohort": "c" * 100000}, "cohort"),
            ({"batch_size": 1, "batch_id": bid, "issued_to": [[unique_email()]]}, "issued_to"),
            ({"batch_size": 1, "batch_id": bid, "issued_to": {"0": unique_email()}}, "issued_to"),
        ]
        for body, field in cases:
            with self.subTest(body=str(body)[:100]):
                self.assertError(self.h.http("POST", GENERATE, body, token=tok), 400, "invalid_field", field)
        # No partial write: the batch id is still free.
        self.assertJson(self.h.http("POST", GENERATE, {"batch_size": 1, "batch_id": bid}, token=tok), 201)

    def test_nul_and_control_in_strings(self):
        good = self.h.generate(1)[0]
        for code, email in ((good + "\u0000", unique_email()), (good, "a\u0000b@example.com"),
                            ("\u0000", unique_email()), (good, "a@exa\nmple.com"),
                            (good, "\u202e@example.com"), (good + "\u00e9", unique_email())):
            with self.subTest(code=code, email=email):
                r = self.h.http("POST", REDEEM, {"code": code, "email": email})
                self.assertIn(r.status, (400, 422), r)
                self.assertError(r, r.status, ("invalid_json", "invalid_field", "invalid_code", "invalid_email"))
        self.assertEqual(self.assertJson(self.h.status(good), 200).get("uses"), 0)

    # -- sizes, media types, methods, routes --------------------------------

    def test_too_large(self):
        over = ('{"code":"%s","email":"%s"' % (self.code, unique_email())).encode()
        over += b" " * (4097 - len(over) - 1) + b"}"
        self.assertEqual(len(over), 4097)
        self.assertError(self.h.http("POST", REDEEM, raw=over), 413, "too_large")
        self.assertError(self.h.http("POST", REDEEM, raw=b"{" + b" " * 100000 + b"}"), 413, "too_large")
        big = b'{"batch_size": 1, "batch_id": "big", "cohort": "' + b"c" * (4 * 1024 * 1024 + 10) + b'"}'
        self.assertError(self.h.http("POST", GENERATE, raw=big, token=self.h.admin_token), 413, "too_large")
        # Exactly at the public cap is fine (4096 bytes).
        body = ('{"code":"%s","email":"%s"' % (self.code, unique_email())).encode()
        body += b" " * (4096 - len(body) - 1) + b"}"
        self.assertEqual(len(body), 4096)
        self.assertJson(self.h.http("POST", REDEEM, raw=body), 200)

    def test_unsupported_media_type(self):
        good = ('{"code":"%s","email":"%s"}' % (self.code, unique_email())).encode()
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                      "application/xml"):
            with self.subTest(ctype=ctype):
                self.assertError(self.h.http("POST", REDEEM, raw=good, headers={"Content-Type": ctype}), 415,
                                 "unsupported_media_type")
                r = self.h.http("POST", GENERATE, raw=b'{"batch_size":1,"batch_id":"ct"}',
                                headers={"Content-Type": ctype}, token=self.h.admin_token)
                self.assertError(r, 415, "unsupported_media_type")

    def test_body_without_content_type(self):
        # README: bodies must be sent as application/json; a body with no
        # Content-Type at all is refused like one with another type.
        tok = self.h.admin_token
        email = unique_email("noct")
        cases = [
            (REDEEM, {"code": self.code, "email": email}, None),
            ("/api/waitlist/join", {"email": email, "use_case": "notes", "persona": "agency"}, None),
            ("/api/referrals/share", {"inviter_email": email, "recipient_email": unique_email()}, None),
            ("/api/referrals/earn", {"user_email": email}, None),
            (GENERATE, {"batch_size": 1, "batch_id": "noct-" + secrets.token_hex(4)}, tok),
            ("/api/waitlist/admit", {"count": 1}, tok),
            ("/api/users/%s/events" % email, {"type": "activated"}, tok),
            ("/api/points/%s/spend" % email, {"amount": 1, "type": "REDEMPTION_QUOTA"}, tok),
            ("/api/quality/evaluate-gate", {"force": "auto"}, tok),
        ]
        uses = self.assertJson(self.h.status(self.code), 200)["uses"]
        before = self.events_added()
        for path, body, token in cases:
            with self.subTest(path=path):
                r = self.h.http("POST", path, raw=json.dumps(body).encode(), token=token,
                                headers={"Content-Type": None})
                self.assertError(r, 415, "unsupported_media_type")
        self.assertEqual(self.events_added(), before, "a refused request reached the event streams")
        self.assertEqual(self.assertJson(self.h.status(self.code), 200)["uses"], uses)
        # Media type parameters and case are still fine, and so is evaluate-gate's empty body.
        r = self.h.http("POST", "/api/waitlist/join", raw=json.dumps(cases[1][1]).encode(),
                        headers={"Content-Type": "Application/JSON; charset=utf-8"})
        self.assertJson(r, 201)
        self.assertJson(self.h.http("POST", "/api/quality/evaluate-gate", raw=b"", token=tok,
                                    headers={"Content-Type": None}), 200)

    def test_method_not_allowed(self):
        code = self.code
        cases = [("GET", REDEEM), ("PUT", REDEEM), ("DELETE", REDEEM), ("GET", GENERATE), ("PATCH", GENERATE),
                 ("POST", "/api/invites/%s/status" % code), ("DELETE", "/api/invites/%s/status" % code),
                 ("GET", "/api/invites/%s/revoke" % code), ("PUT", "/api/invites/%s/revoke" % code)]
        for method, path in cases:
            with self.subTest(method=method, path=path):
                r = self.h.http(method, path, token=self.h.admin_token)
                self.assertError(r, 405, "method_not_allowed")

    def test_not_found_routes(self):
        for path in ("/", "/api", "/api/invites", "/api/invites/", "/api/invites/redeem/extra",
                     "/api/invites/generate/x", "/api/invites/%s" % self.code, "/api/invites/%s/unknown" % self.code,
                     "/api/invites/%s/status/more" % self.code, "/API/INVITES/REDEEM", "/nope", "/health/x"):
            with self.subTest(path=path):
                r = self.h.http("GET", path)
                self.assertError(r, 404, "not_found")

    def test_odd_paths_status(self):
        for piece in ("%00", "%FF%FE", "%2F", "..", "%2E%2E", "A" * 5000, "%C3%28" * 10, "VOBEE-%00" + "A" * 16,
                      "'%20OR%201=1--", "%25s%25n", "*"):
            with self.subTest(piece=piece[:40]):
                r = self.h.http("GET", "/api/invites/%s/status" % piece)
                self.assertClean4xx(r, piece)
                self.assertIn(r.status, (400, 404, 414, 422), r)
                r = self.h.http("POST", "/api/invites/%s/revoke" % piece, token=self.h.admin_token)
                self.assertClean4xx(r, piece)
                self.assertIn(r.status, (400, 404, 414, 422), r)

    # -- lifecycle events --------------------------------------------------

    def test_lifecycle_times_the_sync_daemon_would_skip(self):
        # A time the sync daemon would skip as malformed is refused with 400
        # and reaches no stream: a 202 would tell the host application that
        # an event was accepted which is then never applied.
        stream = keys.WL_EVENTS
        last = self.h.redis("XREVRANGE", stream, "+", "-", "COUNT", "1")
        bad = ["-001-01-01T00:00:00Z", "+2025-12-20T00:00:00Z", " 2025-12-20T00:00:00Z", "2025-+1-20T00:00:00Z",
               "2025-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "2025-12-20T24:00:00Z", "2025-12-20T23:60:00Z",
               "2025-12-20T00:00:00", "2025-12-20T00:00:00Zjunk", "12025-12-20T00:00:00Z", "1970-01-01T00:00:00Z",
               "9999-12-31T23:59:59.001Z", 0, -1, 253402300800, 2 ** 63 - 1, -2 ** 63, 1766188800.5, "1766188800"]
        for at in bad:
            with self.subTest(at=at):
                r = self.h.http("POST", "/api/users/u%40ex.io/events", {"type": "paid", "at": at},
                                token=self.h.admin_token)
                self.assertError(r, 400, "invalid_field", "at ")
        self.assertEqual(self.h.redis("XREVRANGE", stream, "+", "-", "COUNT", "1"), last)

        # The bounds themselves are accepted, and applied.
        email = unique_email("bounds")
        good = [("9999-12-31T23:59:59Z", 253402300799000), (253402300799, 253402300799000),
                ("1970-01-01T00:00:00.001Z", 1), (1, 1000), ("2024-02-29T12:30:15.250Z", 1709209815250)]
        for at, _ in good:
            r = self.h.http("POST", "/api/users/%s/events" % email.replace("@", "%40"), {"type": "activated", "at": at},
                            token=self.h.admin_token)
            self.assertJson(r, 202)
        query = ("SELECT (extract(epoch FROM l.at) * 1000)::bigint FROM user_lifecycle_events l "
                 "JOIN user_emails u USING (user_id) WHERE u.email = '%s' ORDER BY 1" % email)
        harness.wait_until(lambda: len(self.h.psql(query)) == len(good), 30, 0.1,
                           lambda: "lifecycle events applied: %r" % (self.h.psql(query),))
        self.assertEqual([int(row[0]) for row in self.h.psql(query)], sorted(ms for _, ms in good))

    # -- authentication ----------------------------------------------------

    def test_auth_on_admin_endpoints(self):
        code = self.h.generate(1)[0]
        req = {"batch_size": 1, "batch_id": "auth-" + secrets.token_hex(4)}
        bad_headers = [None, "Bearer", "Bearer ", "Bearer " + "x" * 8000, "Basic Zm9vOmJhcg==", "Token abc",
                       "Bearer " + self.h.admin_token + "x", "Bearer " + self.h.admin_token[:-1],
                       "Bearer\t" + "\u00e9".encode("utf-8").decode("latin-1"), "Bearer " + secrets.token_hex(16)]
        for auth in bad_headers:
            with self.subTest(auth=(auth or "")[:40]):
                hdrs = {"Authorization": auth} if auth is not None else None
                self.assertError(self.h.http("POST", GENERATE, req, headers=hdrs), 401, "unauthorized")
                self.assertError(self.h.http("POST", "/api/invites/%s/revoke" % code, headers=hdrs), 401,
                                 "unauthorized")
                # Authentication comes before the body is looked at.
                self.assertError(self.h.http("POST", GENERATE, raw=b"{", headers=hdrs), 401, "unauthorized")
        self.assertError(self.h.http("POST", GENERATE, req, token=self.h.reader_token), 403, "forbidden")
        self.assertError(self.h.http("POST", "/api/invites/%s/revoke" % code, token=self.h.reader_token), 403,
                         "forbidden")
        # Nothing was written.
        self.assertEqual(self.assertJson(self.h.status(code), 200).get("status"), "active")
        self.assertJson(self.h.http("POST", GENERATE, req, token=self.h.admin_token), 201)

    # -- the wire ----------------------------------------------------------

    def test_raw_garbage_on_the_wire(self):
        port = self.h.port
        req_line = b"POST /api/invites/redeem HTTP/1.1\r\nHost: x\r\n"
        garbage = [
            b"GARBAGE\r\n\r\n",
            b"\x00\x01\x02\x03" * 100,
            b"GET / HTTP/9.9\r\n\r\n",
            b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 200000 + b"\r\n\r\n",
            req_line + b"Content-Type: application/json\r\nContent-Length: -5\r\n\r\n{}",
            req_line + b"Content-Type: application/json\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
            req_line + b"Content-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"0\r\n\r\n",
            req_line + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
            req_line + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"code\":",  # then EOF
            b"POST /api/invites/redeem HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: "
            b"chunked\r\n\r\n" + b"1\r\n{\r\n" * 5000 + b"0\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00" * 50,
        ]
        for data in garbage:
            with self.subTest(data=data[:50]):
                out = harness.raw_exchange(port, data)
                if out.startswith(b"HTTP/"):
                    status = int(out.split(b" ", 2)[1])
                    self.assertLess(status, 500, out[:300])
                self.assertTrue(self.h.gateway.alive())
                self.assertJson(self.h.http("GET", "/health", fresh=True), 200)

    def test_head_answers_carry_no_body(self):
        # HEAD gets the head GET would get, Content-Length of GET's body
        # included, and no body: on a kept-alive connection (a proxy's) a
        # body would be read as the start of the next answer.
        code = self.h.generate(1)[0]
        pairs = [("/health", 200), ("/api/invites/%s/status" % code, 200), ("/api/waitlist/stats", 200),
                 (REDEEM, 405), ("/api/invites/%s/revoke" % code, 405), ("/nope", 404)]
        with socket.create_connection((harness.HOST, self.h.port), timeout=8.0) as sock:
            buf = b""
            for path, status in pairs:
                for method in ("HEAD", "GET"):
                    sock.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (method.encode(), path.encode()))
                    answer = read_answer(sock, buf, method == "HEAD")
                    buf = answer[3]
                    if method == "HEAD":
                        head = answer
                self.assertEqual((head[0], answer[0]), (status, status), path)
                self.assertEqual(head[2], b"", path)
                self.assertEqual(head[1].get("content-type"), answer[1].get("content-type"), path)
                self.assertEqual(int(head[1]["content-length"]), len(answer[2]), (path, head))
                self.assertNotIn("transfer-encoding", head[1], path)
            # The last answer ends where the connection does: no byte is left over.
            sock.sendall(b"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            status, headers, _, buf = read_answer(sock, buf, True)
            self.assertEqual(status, 200)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
            self.assertEqual(buf, b"", "bytes after the last answer")

    def assertRefusedAndClosed(self, data, what):
        """One 400 bad_request with Connection: close, then the gateway closes
        the connection: nothing after the refused request is served."""
        out, closed = exchange(self.h.port, data)
        responses = parse_responses(out)
        self.assertEqual(len(responses), 1, "%r: %r" % (what, out[:600]))
        self.assertError(responses[0], 400, "bad_request")
        self.assertEqual((responses[0].headers.get("Connection") or "").lower(), "close", responses[0])
        self.assertTrue(closed, "%r: the connection stayed open" % (what,))

    def test_conflicting_content_length(self):
        # RFC 9112 section 6.3: different Content-Length values make the
        # message invalid. h2o frames the body by the first one; the bytes
        # the other covers would be served as a request of their own.
        first, second = unique_email("cl-first"), unique_email("cl-second")
        body = join_body(first)
        smuggled = join_request(second, b"Content-Length: %d\r\n" % len(join_body(second)))
        short, longer = len(body), len(body) + len(smuggled)
        before = self.events_added()
        for lengths in ((short, longer), (longer, short), (short, short + 1, short)):
            with self.subTest(lengths=lengths):
                fields = b"".join(b"Content-Length: %d\r\n" % n for n in lengths)
                self.assertRefusedAndClosed(join_request(first, fields) + smuggled, lengths)
        self.assertEqual(self.events_added(), before, "a refused request reached the event streams")
        for email in (first, second):
            self.assertError(self.h.http("GET", "/api/waitlist/%s/position" % email), 404, "not_found")
        self.assertJson(self.h.http("GET", "/health", fresh=True), 200)

    def test_repeated_identical_content_length(self):
        # The same value twice frames the body the same way whichever h2o
        # reads (RFC 9110 section 8.6 allows treating them as one): served.
        email = unique_email("cl-same")
        n = len(join_body(email))
        out, closed = exchange(self.h.port, join_request(email, b"Content-Length: %d\r\nContent-Length: %d\r\n"
                                                                b"Connection: close\r\n" % (n, n)))
        responses = parse_responses(out)
        self.assertEqual(len(responses), 1, out)
        self.assertJson(responses[0], 201)

    def test_transfer_encoding_beside_content_length(self):
        # RFC 9112 section 6.1: Transfer-Encoding overrides Content-Length; a
        # proxy that framed by Content-Length would pass the chunk bytes as a
        # second request. Refused and closed: neither request is served.
        first, second = unique_email("te-first"), unique_email("te-second")
        body = join_body(first)
        smuggled = join_request(second, b"Content-Length: %d\r\n" % len(join_body(second)))
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        before = self.events_added()
        for fields in (b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n" % len(chunked),
                       b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n" % len(chunked)):
            with self.subTest(fields=fields):
                head = b"POST /api/waitlist/join HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + fields
                self.assertRefusedAndClosed(head + b"\r\n" + chunked + smuggled, fields)
        self.assertEqual(self.events_added(), before, "a refused request reached the event streams")
        for email in (first, second):
            self.assertError(self.h.http("GET", "/api/waitlist/%s/position" % email), 404, "not_found")

    def test_two_host_headers(self):
        # RFC 9112 section 3.2: more than one Host is a 400, whatever the version.
        email = unique_email("two-hosts")
        before = self.events_added()
        for data in (b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                     b"GET /health HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n",
                     join_request(email, b"Host: y\r\nContent-Length: %d\r\n" % len(join_body(email)))):
            with self.subTest(data=data[:40]):
                self.assertRefusedAndClosed(data, data[:40])
        self.assertEqual(self.events_added(), before, "a refused request reached the event streams")

    def test_http11_without_host(self):
        # RFC 9112 section 3.2: a server MUST answer 400 to an HTTP/1.1
        # request without Host. HTTP/1.0 did not have to send one.
        email = unique_email("no-host")
        before = self.events_added()
        for data in (b"GET /health HTTP/1.1\r\n\r\n",
                     b"GET /api/waitlist/stats HTTP/1.1\r\nAccept: */*\r\n\r\n",
                     join_request(email, b"Content-Length: %d\r\n" % len(join_body(email)), host=b"")):
            with self.subTest(data=data[:40]):
                self.assertRefusedAndClosed(data, data[:40])
        self.assertEqual(self.events_added(), before, "a refused request reached the event streams")
        self.assertError(self.h.http("GET", "/api/waitlist/%s/position" % email), 404, "not_found")

        for data in (b"GET /health HTTP/1.0\r\n\r\n",
                     b"GET /health HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n",
                     b"GET /health HTTP/1.1\r\nhost: gateway.example\r\nConnection: close\r\n\r\n"):
            with self.subTest(data=data[:40]):
                out, closed = exchange(self.h.port, data)
                responses = parse_responses(out)
                self.assertEqual(len(responses), 1, out)
                self.assertJson(responses[0], 200)
                self.assertTrue(closed)
        email = unique_email("http10")
        out, _ = exchange(self.h.port, join_request(email, b"Content-Length: %d\r\n" % len(join_body(email)),
                                                    version=b"HTTP/1.0", host=b""))
        self.assertJson(parse_responses(out)[0], 201)

    def test_chunked_body_works(self):
        body = ('{"code":"%s","email":"%s"}' % (self.code, unique_email())).encode()
        data = (b"POST /api/invites/redeem HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                + b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7))
                + b"0\r\n\r\n")
        out = harness.raw_exchange(self.h.port, data)
        self.assertTrue(out.startswith(b"HTTP/1.1 200"), out[:300])

    def test_stays_up_and_consistent(self):
        # Runs last (alphabetical): after all of the above the gateway still
        # serves normal traffic and the shared code was never used by a
        # refused request beyond those that answered 200.
        self.assertJson(self.h.http("GET", "/health"), 200)
        self.assertEqual(self.h.http("GET", "/ready").status, 200)
        code = self.h.generate(1)[0]
        self.assertJson(self.h.redeem(code, unique_email()), 200)
        self.assertError(self.h.redeem(tamper_code(code), unique_email()), 422, "invalid_code")
        self.assertTrue(code_body(code))


if __name__ == "__main__":
    harness.main()
