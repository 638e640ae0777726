#!/usr/bin/env python3
"""The HTTP edge under hostile clients.

- HTTP/2 is off: the prior-knowledge preface gets no SETTINGS frame, and
  `Upgrade: h2c` is answered as plain HTTP/1.1 (no 101).
"""

import os
import re
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

def connect_from(source, port, timeout=5.0):
    """A blocking connection to the gateway from a given loopback address."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect((harness.HOST, port))
    return s


def read_response(s):
    """Reads one HTTP/1.1 response with a Content-Length body; returns the
    raw bytes, or b"" if the connection closed before any byte came."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    want = int(m.group(1)) if m else 0
    while len(body) < want:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class HostileEdgeTest(harness.HarnessTestCase):

    @classmethod
    def setUpClass(cls):
        cls.h = harness.Harness(start_sync=False)
        cls.h.__enter__()

    # HTTP/2 ----------------------------------------------------------------

    def test_http2_prior_knowledge_preface_is_refused(self):
        # The client preface, then an empty SETTINGS frame.
        preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
        with connect_from("127.0.0.7", self.h.gateway.port) as s:
            s.sendall(preface)
            data = b""
            try:
                while True:  # read until the gateway closes (no half-close from here)
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except ConnectionResetError:
                pass
            except socket.timeout:
                self.fail("the gateway kept the connection open after an HTTP/2 preface: %r" % data[:100])
        # A server speaking HTTP/2 starts with its SETTINGS frame (type 4).
        self.assertFalse(len(data) >= 9 and data[3] == 4, "HTTP/2 SETTINGS came back: %r" % data[:40])
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data[:100])

    def test_upgrade_h2c_is_answered_as_http1(self):
        req = (b"GET /health HTTP/1.1\r\nHost: edge\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
               b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
        with connect_from("127.0.0.7", self.h.gateway.port) as s:
            s.sendall(req)
            data = read_response(s)
            self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data[:200])
            self.assertNotIn(b"101", data.split(b"\r\n", 1)[0])
            head, body = data.split(b"\r\n\r\n", 1)
            self.assertNotIn(b"upgrade:", head.lower())
            self.assertIn(b'"status":"healthy"', body)


if __name__ == "__main__":
    unittest.main(verbosity=2)
