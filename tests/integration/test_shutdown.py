#!/usr/bin/env python3
"""SIGTERM drains the gateway: it stops accepting connections, answers the
requests already in flight, and exits 0; the redemption it answered reaches
PostgreSQL."""

import os
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import code_body, unique_email, wait_until  # noqa: E402


class ShutdownTest(harness.HarnessTestCase):
    # In-flight requests must outlive the pause below without timing out.
    HARNESS_OVERRIDES = {"redis_timeout_ms": "10000"}

    def test_sigterm_drains_in_flight_requests(self):
        code = self.h.generate(1)[0]
        email = unique_email()
        answers = []

        def redeem():
            answers.append(harness.HttpClient(self.h.gateway.port).request(
                "POST", "/api/invites/redeem", body={"code": code, "email": email}))

        # Freeze Redis so the redemption stays in flight.
        self.h.redis_proc.send_signal(signal.SIGSTOP)
        try:
            client = threading.Thread(target=redeem)
            client.start()
            time.sleep(0.3)
            self.h.gateway.proc.send_signal(signal.SIGTERM)
            # Within a tick the listeners are closed: new connections are refused.
            def refused():
                try:
                    socket.create_connection(("127.0.0.1", self.h.gateway.port), timeout=1).close()
                    return False
                except ConnectionRefusedError:
                    return True
            wait_until(refused, 3, 0.05, "the gateway still accepts connections after SIGTERM")
            self.assertTrue(self.h.gateway.alive(), "the gateway exited with a request in flight")
        finally:
            self.h.redis_proc.send_signal(signal.SIGCONT)
        client.join(15)
        self.assertEqual(len(answers), 1, "the in-flight request was not answered")
        self.assertEqual(self.assertJson(answers[0], 200)["email"], email)
        self.assertEqual(self.h.gateway.proc.wait(10), 0)
        wait_until(lambda: self.h.psql_value("SELECT count(*) FROM redemptions WHERE code = '%s'" % code_body(code)) == "1",
                   10, 0.1, "the drained redemption did not reach PostgreSQL")


if __name__ == "__main__":
    unittest.main(verbosity=2)
