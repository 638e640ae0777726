#!/usr/bin/env python3
"""Server-side cost of the gateway's hot library calls (not a test: run by
hand to compare a change of the call layout).

Starts the harness (private Redis, PostgreSQL and a gateway; no sync
daemon, whose own calls would mix in),
then sends N joins and N redemptions one at a time over HTTP, so that every
FCALL carries one item, exactly as the gateway builds it. Before each phase
the Redis statistics are reset; after it, INFO commandstats gives the
number of FCALLs and usec_per_call: Redis's own time inside the call
(argument parsing, the Lua function, its commands), without the network.

  IG_BUILD_DIR=build-test python3 tests/integration/fcall_cost.py [N]
"""

import os
import secrets
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def fcall_stats(h):
    """(calls, usec_per_call) of FCALL since the last CONFIG RESETSTAT."""
    for line in h.redis("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_fcall:"):
            fields = dict(kv.split("=") for kv in line.split(":", 1)[1].split(","))
            return int(fields["calls"]), float(fields["usec_per_call"])
    return 0, 0.0


def phase(h, name, n, request):
    h.redis("CONFIG", "RESETSTAT")
    for i in range(n):
        r = request(i)
        if r.status not in (200, 201):
            raise AssertionError("%s %d: %r" % (name, i, r))
    calls, usec = fcall_stats(h)
    print("%-7s requests=%d fcalls=%d usec_per_call=%.2f" % (name, n, calls, usec))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    with harness.Harness(start_sync=False) as h:
        run = secrets.token_hex(4)
        # Warm up (the library's first calls compile nothing, but allocate).
        for i in range(50):
            h.http("POST", "/api/waitlist/join", {"email": "warm-%s-%d@example.com" % (run, i), "persona": "other",
                                                  "use_case": "a tool"})
        phase(h, "join", n, lambda i: h.http("POST", "/api/waitlist/join",
                                             {"email": "j-%s-%d@example.com" % (run, i), "persona": "agency",
                                              "use_case": "content automation for a team"}))
        code = h.generate(1, max_uses=n)[0]
        phase(h, "redeem", n, lambda i: h.redeem(code, "r-%s-%d@example.com" % (run, i)))
        codes = h.generate(min(n, 1000))
        phase(h, "redeem1", len(codes), lambda i: h.redeem(codes[i], "s-%s-%d@example.com" % (run, i)))


if __name__ == "__main__":
    main()
