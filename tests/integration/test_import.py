#!/usr/bin/env python3
"""invitegate invites import: an earlier system's codes (seed 004's VOBEE- +
12 hex digits) redeem as they did, are marked imported in PostgreSQL, and a
rerun or a bad line writes nothing."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import unique_email  # noqa: E402
from test_cli import run_cli  # noqa: E402

HEADER = "code,max_uses,expires_at,issued_to,cohort\n"


class ImportTest(harness.HarnessTestCase):
    def write_csv(self, name, text):
        path = os.path.join(self.h.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run_import(self, path):
        return run_cli(["--json", "invites", "import", path], conf=self.h.conf_path)

    def test_import(self):
        h = self.h
        bound = unique_email()
        path = self.write_csv("codes.csv", HEADER +
                              "VOBEE-A7F3E9D2B1C4,3,,,legacy\n"
                              f"vobee-0123456789ab,1,2030-01-01T00:00:00Z,{bound},legacy\n"
                              "VOBEE-FFFF00001111,1,2020-01-01T00:00:00Z,,legacy\n")
        rc, out, err = self.run_import(path)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), {"imported": 3, "present": 0, "failed": 0})

        self.assertEqual(h.http("POST", "/api/invites/redeem",
                                {"code": "VOBEE-A7F3E9D2B1C4", "email": unique_email()}).status, 200)
        status = h.http("GET", "/api/invites/VOBEE-A7F3E9D2B1C4/status").body
        self.assertEqual((status["uses"], status["max_uses"]), (1, 3), status)
        self.assertEqual(h.http("POST", "/api/invites/redeem",
                                {"code": "VOBEE-0123456789AB", "email": unique_email()}).status, 403)
        self.assertEqual(h.http("POST", "/api/invites/redeem",
                                {"code": "VOBEE-0123456789AB", "email": bound}).status, 200)
        self.assertEqual(h.http("POST", "/api/invites/redeem",
                                {"code": "VOBEE-FFFF00001111", "email": unique_email()}).status, 410)
        # No check characters: an unknown imported code is looked up and not found.
        self.assertEqual(h.http("GET", "/api/invites/VOBEE-AAAABBBBCCCC/status").status, 404)

        h.wait_synced()
        rows = h.psql("SELECT code, imported, max_uses, use_count FROM invites ORDER BY code")
        self.assertIn(("A7F3E9D2B1C4", "t", "3", "1"), [tuple(r) for r in rows])
        self.assertEqual(sorted(r[0] for r in rows if r[1] == "t"), ["0123456789AB", "A7F3E9D2B1C4", "FFFF00001111"])

        rc, out, err = self.run_import(path)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out), {"imported": 0, "present": 3, "failed": 0})
        status = h.http("GET", "/api/invites/VOBEE-A7F3E9D2B1C4/status").body
        self.assertEqual((status["uses"], status["max_uses"]), (1, 3), status)

    def test_bad_line_writes_nothing(self):
        path = self.write_csv("bad.csv", HEADER + "VOBEE-ABCDEF012345,1,,,x\nVOBEE-ABCDEF01234,1,,,x\n")
        rc, out, err = self.run_import(path)
        self.assertEqual(rc, 1)
        self.assertIn("bad.csv:3: code is not PREFIX + 12 hex digits", err)
        self.assertEqual(self.h.http("GET", "/api/invites/VOBEE-ABCDEF012345/status").status, 404)


if __name__ == "__main__":
    unittest.main()
