#!/usr/bin/env python3
"""Server-side cost of the hot library calls, this tree's library against
an earlier one (not a test: run by hand when the call layout changes).

One private redis-server (no persistence). Rounds alternate the two
libraries, so that whatever else the machine runs weighs on both alike:
each round flushes Redis, loads one library, sends N joins (ig_join_many
with one item, as the gateway sends a join that did not wait for others),
N joins in calls of 8 (coalesced) and N redemptions of a multi-use code (ig_redeem_many with one item), and
reads INFO commandstats' usec_per_call of FCALL for each phase: Redis's own
time inside the call (argument parsing, the function, its commands).

  python3 tests/integration/fcall_ab.py [REV [N [ROUNDS]]]   (REV default HEAD~1)
"""

import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import keys  # noqa: E402

LUA_FILES = ["invitegate.lua", "waitlist.lua", "points.lua"]


def library(rev):
    if rev is None:
        return "".join(open(os.path.join(harness.SOURCE_DIR, "lua", f)).read() for f in LUA_FILES)
    return "".join(subprocess.run(["git", "-C", harness.SOURCE_DIR, "show", "%s:lua/%s" % (rev, f)], check=True,
                                  stdout=subprocess.PIPE).stdout.decode() for f in LUA_FILES)


def usec(r):
    for line in r.call("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_fcall:"):
            return float(dict(kv.split("=") for kv in line.split(":", 1)[1].split(","))["usec_per_call"])
    return 0.0


def person(i):
    a = harness.CODE_ALPHABET
    h = bytes([i % 256, (i >> 8) % 256, (i >> 16) % 256, 7, 7, 7, 7, 7])
    return h, "ab-%06d@example.com" % i, "R" + a[i % 32] + a[(i >> 5) % 32] + a[(i >> 10) % 32] + "AAAA"


def join(r, old, first, count):
    """One ig_join_many of people first .. first + count - 1, laid out as the gateway of that library lays it out."""
    ks, args = [], []
    for i in range(first, first + count):
        h, e, rc = person(i)
        args += [h, e, "agency", "content automation for a team", "20", rc, "", "192.0.2.1"]
        ks += [keys.user(h), keys.shared(h), keys.referral(rc), keys.referral(rc)]
    if old:
        return r.call("FCALL", "ig_join_many", 2, keys.WL, keys.WL_EVENTS, "5", *args)
    fixed = [keys.WL, keys.WL_EVENTS, keys.WL_SEQ, keys.WL_COUNTERS]
    return r.call("FCALL", "ig_join_many", len(fixed) + len(ks), *fixed, *ks, "5", *args)


def main():
    rev = sys.argv[1] if len(sys.argv) > 1 else "HEAD~1"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    libs = {"before (%s)" % rev: (library(rev), True), "after (tree)": (library(None), False)}
    port = harness.free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", harness.HOST, "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL)
    r = harness.RedisClient(port)
    try:
        harness.wait_until(lambda: r.call("PING") == "PONG")
        results = {(name, phase): [] for phase in ("join", "join x8", "redeem") for name in libs}
        code = "A" + "23456789ABCDEFG"
        ck, field = keys.code_location(code)
        for _ in range(rounds):
            for name, (source, old) in libs.items():
                r.call("FLUSHALL")
                r.call("FUNCTION", "LOAD", "REPLACE", source)
                r.call("CONFIG", "RESETSTAT")
                for i in range(n):
                    join(r, old, i, 1)
                results[(name, "join")].append(usec(r))
                r.call("CONFIG", "RESETSTAT")
                for i in range(n, 2 * n, 8):
                    join(r, old, i, 8)
                results[(name, "join x8")].append(usec(r))
                r.call("FCALL", "ig_issue", 2, keys.events(8), ck, "B", "c", str(n), "4102444800", "ops", field, code, "", "")
                r.call("CONFIG", "RESETSTAT")
                for i in range(n):
                    h, e, _ = person(i)
                    r.call("FCALL", "ig_redeem_many", 4, keys.gate(8), keys.events(8), ck, keys.redeemers(8, code), field,
                           code, e, h, "192.0.2.1")
                results[(name, "redeem")].append(usec(r))
        for (name, phase), v in results.items():
            print("%-8s %-16s usec_per_call median %.2f  min %.2f  (%d rounds of %d calls)" %
                  (phase, name, statistics.median(v), min(v), rounds, n))
    finally:
        r.close()
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
