"""
The Redis key layout for the tests: a copy of common/ig_keys.h's builders,
the one place the Python tests take key names from. test_keys.py checks
every builder here against the C owner (tests/unit/print_layout.c).
"""

import os
import re

BUCKETS_DEFAULT = 16
BUCKETS_MAX = 256
# The bucket count of the install under test (harness.py writes it into every configuration).
BUCKETS = int(os.environ.get("IG_TEST_BUCKETS", BUCKETS_DEFAULT))
SUBHASHES = 1024
WL_BUCKET = 0
USER_SUBHASHES = 32768
KEY_MAX_BYTES = 128
CODE_ALPHABET = "23456789ABCDEFGHJKMNOPQRSTUVWXYZ"
ISSUED_LEN = 16
IMPORTED_LEN = 12

WL_PREFIX = "ig:{%d}:" % WL_BUCKET
WL = WL_PREFIX + "wl"
WL_SEQ = WL_PREFIX + "wl:seq"
WL_COUNTERS = WL_PREFIX + "wl:n"
WL_EVENTS = WL_PREFIX + "events"
WL_GATE = WL_PREFIX + "gate"
TRUST = WL_PREFIX + "trust"
GATE_MODE = WL_PREFIX + "gate:mode"
GATE_AUTO = WL_PREFIX + "gate:auto"
IDEM_NONE = WL_PREFIX + "idem:"
BUCKETS_KEY = WL_PREFIX + "buckets"


def _digit(body, c):
    """ig_code_digit: a hex value for an imported body, an alphabet value for an issued one."""
    return int(c, 16) if len(body) == IMPORTED_LEN else CODE_ALPHABET.index(c)


def code_bucket(body, buckets=None):
    """ig_code_bucket: the first two characters, first lowest, modulo the bucket count."""
    radix = 16 if len(body) == IMPORTED_LEN else 32
    return (_digit(body, body[0]) + radix * _digit(body, body[1])) % (buckets or BUCKETS)


def code_subhash(body):
    return (_digit(body, body[1]) * 32 + _digit(body, body[2])) % SUBHASHES


def code_hash(bucket, sub):
    return "ig:{%d}:c:%d" % (bucket, sub)


def code_location(body, buckets=None):
    """(key, field) of a code body's record (ig_code_keys)."""
    return code_hash(code_bucket(body, buckets), code_subhash(body)), body[3:]


def redeemers(bucket, body):
    return "ig:{%d}:r:%s" % (bucket, body[:ISSUED_LEN])


def redeemers_of(body):
    return redeemers(code_bucket(body), body)


def gate(bucket):
    return "ig:{%d}:gate" % bucket


def events(bucket):
    return "ig:{%d}:events" % bucket


def bucket_of(s, buckets=None):
    """ig_bucket_of: FNV-1a of an identifier (batch ids)."""
    h = 2166136261
    for b in s.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h % (buckets or BUCKETS)


def batch(batch_id, buckets=None):
    return "ig:{%d}:batch:%s" % (bucket_of(batch_id, buckets), batch_id)


def wl_class(prio):
    return WL_PREFIX + "wl:b:%d" % prio


def wl_blocks(prio):
    return WL_PREFIX + "wl:k:%d" % prio


def wl_members(seq):
    return WL_PREFIX + "wl:s:%d" % (seq >> 7)


def user_subhash(hash8):
    return (hash8[0] << 8 | hash8[1]) % USER_SUBHASHES


def user(hash8):
    return WL_PREFIX + "u:%d" % user_subhash(hash8)


def shared(hash8):
    return WL_PREFIX + "sh:%d" % user_subhash(hash8)


def points(hash8):
    return WL_PREFIX + "p:%d" % user_subhash(hash8)


def referral_subhash(code):
    v = CODE_ALPHABET.index
    return (v(code[0]) * 1024 + v(code[1]) * 32 + v(code[2])) % USER_SUBHASHES


def referral(code):
    return WL_PREFIX + "rc:%d" % referral_subhash(code)


def idem(kind, scope, hash_hex):
    return WL_PREFIX + "idem:%s:%s:%s" % (kind, scope, hash_hex)


def pattern(bucket, kind):
    """ig_key_pattern: bucket None for every bucket."""
    return "ig:{%s}:%s:*" % ("*" if bucket is None else bucket, kind)


# What each role of common/ig_calls.h's descriptions names, as a pattern
# over key names (test_library.py checks the keys a function touches).
ROLE_PATTERNS = {
    "code_hash": r"ig:\{\d+\}:c:\d+",
    "redeemers": r"ig:\{\d+\}:r:[0-9A-Z]+",
    "gate": r"ig:\{\d+\}:gate",
    "events": r"ig:\{\d+\}:events",
    "batch": r"ig:\{\d+\}:batch:.+",
    "idem": r"ig:\{0\}:idem:.*",
    "wl": re.escape(WL),
    "wl_seq": re.escape(WL_SEQ),
    "wl_counters": re.escape(WL_COUNTERS),
    "wl_class": r"ig:\{0\}:wl:b:-?\d+",
    "wl_blocks": r"ig:\{0\}:wl:k:-?\d+",
    "wl_members": r"ig:\{0\}:wl:s:\d+",
    "user": r"ig:\{0\}:u:\d+",
    "shared": r"ig:\{0\}:sh:\d+",
    "referral": r"ig:\{0\}:rc:\d+",
    "points": r"ig:\{0\}:p:\d+",
    "trust": re.escape(TRUST),
    "gate_mode": re.escape(GATE_MODE),
    "gate_auto": re.escape(GATE_AUTO),
}


def role_of(name):
    """The role part of a description's key name: user_of_referrer -> user, referral_given -> referral."""
    for role in sorted(ROLE_PATTERNS, key=len, reverse=True):
        if name == role or name.startswith(role + "_"):
            return role
    raise KeyError(name)


def hash_tag(key):
    """The hash tag of a key name (what Redis Cluster hashes), or the name itself without one."""
    m = re.search(r"\{([^}]*)\}", key)
    return m.group(1) if m and m.group(1) else key
