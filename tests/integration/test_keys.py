#!/usr/bin/env python3
"""The tests' copy of the Redis key layout (keys.py) against its owner,
common/ig_keys.h: every builder on the samples tests/unit/print_layout.c
prints, and the fixed names."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import keys  # noqa: E402

PRINT_LAYOUT = os.path.join(harness.BUILD_DIR, "tests", "print_layout")

FIXED = {"wl": keys.WL, "wl_seq": keys.WL_SEQ, "wl_counters": keys.WL_COUNTERS, "wl_events": keys.WL_EVENTS,
         "wl_gate": keys.WL_GATE, "trust": keys.TRUST, "gate_mode": keys.GATE_MODE, "gate_auto": keys.GATE_AUTO,
         "idem_none": keys.IDEM_NONE, "buckets": keys.BUCKETS_KEY}
CONSTS = {"IG_BUCKETS_DEFAULT": keys.BUCKETS_DEFAULT, "IG_BUCKETS_MAX": keys.BUCKETS_MAX, "IG_SUBHASHES": keys.SUBHASHES, "IG_WL_BUCKET": keys.WL_BUCKET,
          "IG_USER_SUBHASHES": keys.USER_SUBHASHES, "IG_KEY_MAX_BYTES": keys.KEY_MAX_BYTES}


def python_key(builder, args):
    """What keys.py builds for one line of print_layout."""
    if builder in FIXED:
        return [FIXED[builder]]
    if builder == "code_hash":
        return [keys.code_hash(int(args[0]), int(args[1]))]
    if builder in ("gate", "events"):
        return [getattr(keys, builder)(int(args[0]))]
    if builder == "code_location":
        return list(keys.code_location(args[1], int(args[0])))
    if builder == "redeemers":
        return [keys.redeemers(int(args[0]), args[1])]
    if builder == "batch":
        return [keys.batch(args[1], int(args[0]))]
    if builder in ("wl_class", "wl_blocks", "wl_members"):
        return [getattr(keys, builder)(int(args[0]))]
    if builder in ("user", "shared", "points"):
        return [getattr(keys, builder)(bytes.fromhex(args[0]))]
    if builder == "referral":
        return [keys.referral(args[0])]
    if builder == "idem":
        return [keys.idem(*args)]
    if builder == "pattern":
        return [keys.pattern(None if args[0] == "*" else int(args[0]), args[1])]
    raise AssertionError("print_layout printed a builder keys.py does not know: %s" % builder)


class KeyLayoutTest(unittest.TestCase):

    def test_keys_py_builds_what_ig_keys_h_builds(self):
        out = subprocess.run([PRINT_LAYOUT], check=True, stdout=subprocess.PIPE).stdout.decode()
        builders = set()
        for line in out.splitlines():
            kind, name, *rest = line.split("\t")
            if kind == "const":
                self.assertEqual(CONSTS[name], int(rest[0]), name)
            elif kind == "key":
                n = 2 if name == "code_location" else 1
                self.assertEqual(python_key(name, rest[:-n]), rest[-n:], line)
                builders.add(name)
        # Every builder of the owner was printed and compared.
        self.assertEqual(builders, set(FIXED) | {"code_hash", "gate", "events", "code_location", "redeemers", "batch",
                                                  "wl_class", "wl_blocks", "wl_members", "user", "shared", "points",
                                                  "referral", "idem", "pattern"})

    def test_every_role_of_the_descriptions_has_a_builder(self):
        out = subprocess.run([PRINT_LAYOUT], check=True, stdout=subprocess.PIPE).stdout.decode()
        for line in out.splitlines():
            f = line.split("\t")
            if f[0] != "call":
                continue
            for names in (f[3], f[7], f[12]):
                for name in names.split():
                    self.assertIn(keys.role_of(name), keys.ROLE_PATTERNS, "%s: %s" % (f[1], name))


if __name__ == "__main__":
    unittest.main()
