#!/usr/bin/env python3
"""The Lua function library (lua/) alone, on a private one-node Redis
Cluster (all slots assigned to it): each function's contract block against
common/ig_calls.h's description (printed by tests/unit/print_layout.c), the
replies of a fixture against a golden file, every key each call touches
(seen through MONITOR) declared in its KEYS or listed as found inside the
call in the slot of KEYS[1], and every refusal and failure of a writing
function leaving Redis as it was (DEBUG DIGEST).

IG_GOLDEN_UPDATE=1 rewrites golden/library.txt from this run."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import keys  # noqa: E402

LUA_FILES = ["invitegate.lua", "waitlist.lua", "points.lua"]  # the order of gateway/CMakeLists.txt
PRINT_LAYOUT = os.path.join(harness.BUILD_DIR, "tests", "print_layout")
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "library.txt")
FIELDS = ["name", "ro", "keys", "nkeys", "args", "nargs", "item_keys", "nitem_keys", "item_args", "nitem_args", "idem",
          "inside", "reply"]
FAR = "4102444800"  # 2100-01-01
PAST = "1000000000"  # 2001


def c_descriptions():
    """common/ig_calls.h's descriptions, by function name."""
    out = subprocess.run([PRINT_LAYOUT], check=True, stdout=subprocess.PIPE).stdout.decode()
    calls = {}
    for line in out.splitlines():
        f = line.split("\t")
        if f[0] == "call":
            d = dict(zip(FIELDS, f[1:]))
            for k in ("ro", "nkeys", "nargs", "nitem_keys", "nitem_args", "idem"):
                d[k] = int(d[k])
            calls[d["name"]] = d
    return calls


BLOCK_RE = re.compile(r"^-- (KEYS|ARGV|KEYS per item|ARGV per item|Inside|Reply):(.*)$")


def lua_descriptions():
    """The contract blocks of lua/, by registered function name: the same fields as c_descriptions()."""
    blocks, block, last, registered = {}, None, None, {}
    for name in LUA_FILES:
        with open(os.path.join(harness.SOURCE_DIR, "lua", name)) as f:
            for line in f:
                line = line.rstrip("\n")
                m = BLOCK_RE.match(line)
                if m:
                    block = block if block is not None else {}
                    last = m.group(1)
                    block[last] = m.group(2).strip()
                    continue
                if line == "-- Idempotent.":
                    block = block if block is not None else {}
                    block["Idempotent"], last = True, None
                    continue
                if line.startswith("--   ") and block is not None and last is not None:
                    block[last] += " " + line[5:].strip()
                    continue
                fn = re.match(r"^local function (\w+)\(", line)
                if fn and block is not None:
                    blocks[fn.group(1)] = block
                if not line.startswith("--"):
                    block, last = None, None
                reg = re.match(r"^redis\.register_function\('(\w+)', (idempotent\()?(\w+)\)?\)$", line)
                if reg:
                    registered[reg.group(1)] = (reg.group(3), 0, 1 if reg.group(2) else 0)
                reg = re.match(r"^redis\.register_function\{function_name = '(\w+)', callback = (\w+), "
                               r"flags = \{'no-writes'\}\}$", line)
                if reg:
                    registered[reg.group(1)] = (reg.group(2), 1, 0)
    out = {}
    for name, (fn, ro, idem) in registered.items():
        b = blocks.get(fn)
        if b is None:
            out[name] = None
            continue
        out[name] = {"name": name, "ro": ro, "idem": idem, "declared_idem": 1 if b.get("Idempotent") else 0,
                     "keys": b.get("KEYS"), "args": b.get("ARGV"), "item_keys": b.get("KEYS per item", ""),
                     "item_args": b.get("ARGV per item", ""), "inside": b.get("Inside", ""), "reply": b.get("Reply")}
    return out


def unescape(s):
    """A MONITOR argument (sdscatrepr) as bytes."""
    out, i = bytearray(), 0
    simple = {"n": 10, "r": 13, "t": 9, "a": 7, "b": 8, "\\": 92, '"': 34}
    while i < len(s):
        c = s[i]
        if c == "\\" and s[i + 1] == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        elif c == "\\":
            out.append(simple[s[i + 1]])
            i += 2
        else:
            out.extend(c.encode())
            i += 1
    return bytes(out)


class Monitor(threading.Thread):
    """Every command Redis runs, as MONITOR reports it: (source, [args as bytes])."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.create_connection((harness.HOST, port))
        self.sock.sendall(b"MONITOR\r\n")
        self.rfile = self.sock.makefile("rb")
        assert self.rfile.readline().startswith(b"+OK")
        self.lines = []

    def run(self):
        for raw in self.rfile:
            m = re.match(r'^\+[\d.]+ \[\d+ ([^\]]+)\] (.*)\r\n$', raw.decode("latin-1"))
            if m:
                args = [unescape(a.encode("latin-1").decode("latin-1"))
                        for a in re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))]
                self.lines.append((m.group(1), args))

    def stop(self):
        self.sock.close()


class Library:
    """Calls into the library on a Redis, checked against the descriptions; records the replies."""

    def __init__(self, r, calls):
        self.r, self.calls, self.golden = r, calls, []
        self.malformed = set()  # the KEYS of calls made against their description on purpose

    def call(self, label, name, fixed_keys=(), args=(), items=(), idem=(keys.IDEM_NONE, ""), malformed=False):
        d = self.calls[name]
        assert len(fixed_keys) == d["nkeys"] and len(args) == d["nargs"], (label, name)
        for ik, ia in items:
            assert len(ik) == d["nitem_keys"] and len(ia) == d["nitem_args"], (label, name)
        all_keys = list(fixed_keys) + [k for ik, _ in items for k in ik] + ([idem[0]] if d["idem"] else [])
        all_args = list(args) + [a for _, ia in items for a in ia] + ([idem[1]] if d["idem"] else [])
        if malformed:
            self.malformed.add((name, tuple(all_keys)))
        try:
            reply = self.r.call("FCALL_RO" if d["ro"] else "FCALL", name, len(all_keys), *all_keys, *all_args)
        except harness.RedisError as e:
            # Without the script's line numbers, which move with every edit.
            reply = {"error": re.sub(r"user_function:\d+: ", "", str(e).split(" script:")[0])}
        self.golden.append(json.dumps({"call": label, "reply": normalise(reply)}, sort_keys=True))
        return reply

    def digest(self):
        return self.r.call("DEBUG", "DIGEST")


def normalise(v):
    """A reply with its times replaced by tokens (now in seconds or milliseconds, give or take two days)."""
    now = time.time()
    if isinstance(v, list):
        return [normalise(x) for x in v]
    if isinstance(v, dict):
        return v
    if isinstance(v, str) and v.isdigit():
        n = int(v)
        return "<ms>" if abs(n - now * 1000) < 2 * 86400000 else v
    if isinstance(v, int):
        if abs(v - now) < 2 * 86400:
            return "<s>"
        if abs(v - now * 1000) < 2 * 86400000:
            return "<ms>"
    return v


def h8(i):
    return bytes([i, 3 * i % 256, 0, 0, 0, 0, 0, i])


def ref(i):
    return "RC" + harness.CODE_ALPHABET[i % 32] + "AAAAA"


def body(first, i):
    """A code body of 16 alphabet characters starting with first (its bucket at 16 buckets: the alphabet value of first % 16)."""
    return first + harness.CODE_ALPHABET[i % 32] + harness.CODE_ALPHABET[(i * 7) % 32] + "BCDEFGHJKMNPQ"


class LibraryTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="ig-library-")
        cls.port = harness.free_port()
        cls.proc = subprocess.Popen(
            ["redis-server", "--port", str(cls.port), "--bind", harness.HOST, "--save", "", "--appendonly", "no",
             "--dir", cls.tmp, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-port", str(harness.free_port()),
             "--enable-debug-command", "yes", "--logfile", os.path.join(cls.tmp, "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.r = harness.RedisClient(cls.port)
        harness.wait_until(lambda: cls.r.call("PING") == "PONG", 10, 0.02, "redis-server did not answer")
        cls.r.call("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        harness.wait_until(lambda: "cluster_state:ok" in cls.r.call("CLUSTER", "INFO"), 10, 0.05, "cluster not ok")
        source = ""
        for name in LUA_FILES:
            with open(os.path.join(harness.SOURCE_DIR, "lua", name)) as f:
                source += f.read()
        cls.r.call("FUNCTION", "LOAD", "REPLACE", source)
        cls.calls = c_descriptions()

    @classmethod
    def tearDownClass(cls):
        cls.r.close()
        cls.proc.terminate()
        cls.proc.wait(10)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_lua_blocks_match_the_c_descriptions(self):
        lua = lua_descriptions()
        self.assertEqual(sorted(lua), sorted(self.calls), "functions registered in lua/ vs common/ig_calls.h")
        for name, c in self.calls.items():
            l = lua[name]
            self.assertIsNotNone(l, "%s has no contract block" % name)
            self.assertEqual(l["idem"], l["declared_idem"], "%s: registered idempotent vs its block" % name)
            for field in ("ro", "idem", "keys", "args", "item_keys", "item_args", "inside", "reply"):
                self.assertEqual(" ".join(str(l[field]).split()), " ".join(str(c[field]).split()), "%s: %s" % (name, field))
            for field in ("keys", "args", "item_keys", "item_args"):
                self.assertEqual(len(c[field].split()), c["n" + field], "%s: %s count" % (name, field))

    def test_every_key_declared_or_in_the_slot_of_the_first(self):
        mon = Monitor(self.port)
        mon.start()
        try:
            lib = self.run_fixture()
            marker = "end-%d" % os.getpid()
            self.r.call("ECHO", marker)
            harness.wait_until(lambda: any(a and a[-1] == marker.encode() for _, a in mon.lines), 10, 0.05,
                               "MONITOR did not see the end")
        finally:
            mon.stop()
        checked, current = 0, None
        for source, args in mon.lines:
            if source != "lua":
                current = None
                if args and args[0].upper() in (b"FCALL", b"FCALL_RO"):
                    name, n = args[1].decode(), int(args[2])
                    current = (name, [k.decode() for k in args[3:3 + n]])
                    d = self.calls[name]
                    roles = d["keys"].split() + d["item_keys"].split() * ((n - d["nkeys"] - d["idem"]) //
                                                                          max(d["nitem_keys"], 1))
                    roles += ["idem"] if d["idem"] else []
                    for role, k in zip(roles, current[1] if (name, tuple(current[1])) not in lib.malformed else []):
                        self.assertRegex(k, "^%s$" % keys.ROLE_PATTERNS[keys.role_of(role)], "%s: %s" % (name, role))
                continue
            self.assertIsNotNone(current, "a script command outside a call: %r" % args)
            name, declared = current
            try:
                touched = [k.decode() for k in self.r.call("COMMAND", "GETKEYS", *args, raw=True)]
            except harness.RedisError:
                touched = []  # TIME and the like
            for k in touched:
                checked += 1
                if k in declared:
                    continue
                inside = [keys.role_of(n) for n in self.calls[name]["inside"].split()]
                self.assertTrue(any(re.match("^%s$" % keys.ROLE_PATTERNS[role], k) for role in inside),
                                "%s touched %s, neither in its KEYS %r nor found inside" % (name, k, declared))
                self.assertEqual(keys.hash_tag(k), keys.hash_tag(declared[0]), "%s: %s not in the slot of KEYS[1]" % (name, k))
        self.assertGreater(checked, 200)

    def test_golden_replies(self):
        lib = self.run_fixture()
        text = "\n".join(lib.golden) + "\n"
        if os.environ.get("IG_GOLDEN_UPDATE") == "1":
            os.makedirs(os.path.dirname(GOLDEN), exist_ok=True)
            with open(GOLDEN, "w") as f:
                f.write(text)
        with open(GOLDEN) as f:
            expected = f.read().splitlines()
        got = text.splitlines()
        for i, (e, g) in enumerate(zip(expected, got)):
            self.assertEqual(g, e, "reply %d differs" % i)
        self.assertEqual(len(got), len(expected))

    def unchanged(self, lib, label, name, *a, **kw):
        """Calls name and asserts it changed nothing; returns the reply."""
        before = lib.digest()
        reply = lib.call(label, name, *a, **kw)
        self.assertEqual(lib.digest(), before, "%s changed Redis: %r" % (label, reply))
        return reply

    def run_fixture(self):
        """Every function on a fresh data set, its refusals and failures checked to write nothing. Returns the Library."""
        self.r.call("FLUSHALL")
        lib = Library(self.r, self.calls)
        p = {i: (h8(i), "p%d@example.com" % i, ref(i)) for i in range(1, 10)}
        self.assertEqual(lib.call("ready", "ig_ready"), "6")

        # ---- invite codes (bucket 8: bodies starting with 'A')
        b = 8
        c1, c2, c3, c4, c5 = (body("A", i) for i in range(1, 6))

        def item(code, email="", hash8=b""):
            k, field = keys.code_location(code)
            return [k], [field, code, email, hash8]

        ev = keys.events(b)
        lib.call("issue", "ig_issue", [ev], ["B1", "c", "1", FAR, "ops"], [item(c1), item(c2), item(c3, p[1][1], p[1][0])])
        lib.call("issue expired", "ig_issue", [ev], ["B2", "c", "1", PAST, "ops"], [item(c4)])
        lib.call("issue multi", "ig_issue", [ev], ["B3", "c", "3", FAR, "ops"], [item(c5)])
        self.unchanged(lib, "issue again", "ig_issue", [ev], ["B1", "c", "1", FAR, "ops"], [item(c1), item(c2)])

        def redeem_keys(code):
            k, field = keys.code_location(code)
            return [k, keys.redeemers_of(code), keys.gate(b), ev], field

        def redeem(label, code, who, same=False):
            ks, field = redeem_keys(code)
            args = [field, code, p[who][1], p[who][0], "192.0.2.1"]
            if same:
                return self.unchanged(lib, label, "ig_redeem", ks, args)
            return lib.call(label, "ig_redeem", ks, args)

        redeem("redeem", c1, 1)
        redeem("redeem again", c1, 1, same=True)
        redeem("redeem exhausted", c1, 2, same=True)
        redeem("redeem wrong account", c3, 2, same=True)
        redeem("redeem expired", c4, 1, same=True)
        redeem("redeem not found", body("A", 30), 1, same=True)
        lib.call("revoke", "ig_revoke", [keys.code_location(c2)[0], ev], [keys.code_location(c2)[1], c2])
        self.unchanged(lib, "revoke again", "ig_revoke", [keys.code_location(c2)[0], ev], [keys.code_location(c2)[1], c2])
        self.unchanged(lib, "revoke not found", "ig_revoke", [keys.code_location(c4)[0], ev], ["ZZZZZZZZZZZZZ", c4])
        redeem("redeem revoked", c2, 1, same=True)
        lib.call("status", "ig_status", [keys.code_location(c1)[0]], [keys.code_location(c1)[1]])
        lib.call("status not found", "ig_status", [keys.code_location(c1)[0]], ["ZZZZZZZZZZZZZ"])
        many = [([keys.code_location(c5)[0], keys.redeemers_of(c5)],
                 [keys.code_location(c5)[1], c5, p[i][1], p[i][0], "192.0.2.%d" % i]) for i in (1, 2, 1, 3, 4)]
        lib.call("redeem many", "ig_redeem_many", [keys.gate(b), ev], [], many)
        self.unchanged(lib, "redeem many refused", "ig_redeem_many", [keys.gate(b), ev], [], many[:2])
        self.r.call("SET", keys.gate(b), "closed")
        redeem("redeem paused", c3, 1, same=True)
        self.r.call("DEL", keys.gate(b))

        bk = keys.batch("B-9")
        bg = keys.gate(keys.bucket_of("B-9"))
        lib.call("batch claim", "ig_batch_claim", [bk, bg], ["fp1", c1 + " " + c2, FAR])
        self.unchanged(lib, "batch claim same", "ig_batch_claim", [bk, bg], ["fp1", "x", FAR])
        self.unchanged(lib, "batch claim conflict", "ig_batch_claim", [bk, bg], ["fp2", "x", FAR])
        self.r.call("SET", keys.gate(keys.bucket_of("B-10")), "closed")
        self.unchanged(lib, "batch claim paused", "ig_batch_claim", [keys.batch("B-10"), keys.gate(keys.bucket_of("B-10"))],
                       ["fp", "x", FAR])
        self.r.call("DEL", keys.gate(keys.bucket_of("B-10")))

        rec = keys.idem("t", "ops", "00aa")
        self.unchanged(lib, "idem get none", "ig_idem_get", [rec], ["fpA"])
        lib.call("idem put", "ig_idem_put", [rec], ["fpA", "201", '{"ok":true}'])
        self.unchanged(lib, "idem put kept", "ig_idem_put", [rec], ["fpA", "500", "{}"])
        self.unchanged(lib, "idem get replay", "ig_idem_get", [rec], ["fpA"])
        self.unchanged(lib, "idem get reused", "ig_idem_get", [rec], ["fpB"])

        c6 = body("A", 6)
        k6 = [keys.code_location(c6)[0], keys.redeemers_of(c6)]
        rh = [keys.code_location(c6)[1], "0", "3", "2", FAR, "0", "", p[1][0]]
        self.unchanged(lib, "rehydrate code compare", "ig_rehydrate_code", k6, rh, [([], [p[1][0]]), ([], [p[2][0]])])
        rh[1] = "1"
        lib.call("rehydrate code", "ig_rehydrate_code", k6, rh, [([], [p[1][0]]), ([], [p[2][0]])])
        self.unchanged(lib, "rehydrate code same", "ig_rehydrate_code", k6, rh, [([], [p[1][0]])])

        # ---- waitlist and referrals (bucket 0)
        wl = [keys.WL, keys.WL_EVENTS, keys.WL_SEQ, keys.WL_COUNTERS]

        def join_item(i, prio, given=""):
            h, e, r = p[i]
            return ([keys.user(h), keys.shared(h), keys.referral(r), keys.referral(given or r)],
                    [h, e, "agency", "a tool", str(prio), r, given, "192.0.2.%d" % i])

        def join(label, i, prio, given="", same=False):
            k, a = join_item(i, prio, given)
            if same:
                return self.unchanged(lib, label, "ig_join", wl + k, a + ["5"])
            return lib.call(label, "ig_join", wl + k, a + ["5"])

        join("join", 1, 10)
        join("join with referral", 2, 20, ref(1))
        lib.call("join many", "ig_join_many", wl, ["5"], [join_item(3, 10), join_item(4, 10, "RCZZZZZZ"), join_item(7, 3)])
        join("join already", 1, 10, same=True)
        join("join unknown referral", 5, 10, "RCYYYYYY", same=True)
        self.unchanged(lib, "join many refused", "ig_join_many", wl, ["5"], [join_item(1, 10), join_item(4, 10, "RCZZZZZZ")])

        def position(label, i):
            return self.unchanged(lib, label, "ig_position", [keys.WL, keys.WL_COUNTERS, keys.user(p[i][0])], [p[i][0]])

        for i in (1, 2, 3, 7, 9):
            position("position %d" % i, i)
        self.unchanged(lib, "stats", "ig_stats", [keys.WL, keys.WL_COUNTERS], [])

        share = [keys.WL_SEQ, keys.WL_EVENTS, keys.user(p[6][0]), keys.referral(ref(6)), keys.shared(p[5][0])]
        share_args = [p[6][0], p[6][1], ref(6), p[5][0], p[5][1], "00000000-0000-4000-8000-000000000001"]
        srec = keys.idem("a", "192.0.2.6", "0bb0")
        lib.call("share", "ig_share", share, share_args, idem=(srec, "fpS"))
        self.unchanged(lib, "share replay", "ig_share", share, share_args, idem=(srec, "fpS"))
        self.unchanged(lib, "share reused", "ig_share", share, share_args, idem=(srec, "fpT"))
        self.unchanged(lib, "share without idempotency arguments", "ig_share", share, share_args, idem=(keys.WL, "fpT"),
                       malformed=True)
        join("join after share", 5, 10)
        lib.call("click", "ig_click", [keys.referral(ref(6)), keys.WL_EVENTS], [ref(6), "1"])
        self.unchanged(lib, "click head", "ig_click", [keys.referral(ref(6)), keys.WL_EVENTS], [ref(6), "0"])
        self.unchanged(lib, "click not found", "ig_click", [keys.referral("RCXXXXXX"), keys.WL_EVENTS], ["RCXXXXXX", "1"])
        reg = [keys.WL_SEQ, keys.user(p[8][0]), keys.referral(ref(8))]
        lib.call("register", "ig_register", reg, [p[8][0], p[8][1], ref(8)])
        self.unchanged(lib, "register again", "ig_register", reg, [p[8][0], p[8][1], ref(8)])

        adm = [keys.WL, keys.WL_EVENTS, keys.WL_GATE, keys.WL_COUNTERS]

        def fresh(i):
            code = body("2", 40 + i)  # '2': bucket 0
            return [keys.code_location(code)[0]], [code]

        self.r.call("SET", keys.WL_GATE, "closed")
        self.unchanged(lib, "admit paused", "ig_admit", adm, [FAR, "ops"], [fresh(1), fresh(2)])
        self.r.call("DEL", keys.WL_GATE)
        lib.call("admit", "ig_admit", adm, [FAR, "ops"], [fresh(1), fresh(2)])
        # The head of the waitlist has a code body that exists already, and no other: nobody leaves.
        self.unchanged(lib, "admit out of fresh codes", "ig_admit", adm, [FAR, "ops"], [fresh(1)])
        self.unchanged(lib, "admit out of fresh codes, the same body twice", "ig_admit", adm, [FAR, "ops"],
                       [fresh(3), fresh(3)])
        arec = keys.idem("t", "ops", "0cc0")
        lib.call("admit with a key", "ig_admit", adm, [FAR, "ops"], [fresh(4)], idem=(arec, "fpA"))
        self.unchanged(lib, "admit replay", "ig_admit", adm, [FAR, "ops"], [fresh(5)], idem=(arec, "fpA"))
        self.unchanged(lib, "admit reused", "ig_admit", adm, [FAR, "ops"], [fresh(5)], idem=(arec, "fpB"))
        join("join admitted", 2, 20, same=True)
        position("position admitted", 2)

        earn = [keys.user(p[1][0]), keys.WL_EVENTS, keys.WL_GATE]
        lib.call("earn", "ig_earn", earn, [p[1][0], p[1][1], "1", FAR], [fresh(6), fresh(7)])
        self.r.call("SET", keys.WL_GATE, "closed")
        self.unchanged(lib, "earn paused", "ig_earn", [keys.user(p[6][0]), keys.WL_EVENTS, keys.WL_GATE],
                       [p[6][0], p[6][1], "1", FAR], [fresh(8)])
        self.r.call("DEL", keys.WL_GATE)
        self.unchanged(lib, "earn not yet", "ig_earn", earn, [p[1][0], p[1][1], "5", FAR], [fresh(8)])
        for i in (1, 6, 9):
            self.unchanged(lib, "quality %d" % i, "ig_quality", [keys.user(p[i][0]), keys.points(p[i][0])], [p[i][0]])

        # ---- points
        pk = keys.points(p[1][0])
        lib.call("points sync", "ig_points_sync", [pk], [p[1][0], "100", '[{"t":1}]', "2", "0"])
        self.unchanged(lib, "points", "ig_points", [pk], [p[1][0]])
        spend = [pk, keys.WL_EVENTS]
        lib.call("spend", "ig_spend", spend, [p[1][0], p[1][1], "30", "REDEMPTION_QUOTA", "n"])
        self.unchanged(lib, "spend insufficient", "ig_spend", spend, [p[1][0], p[1][1], "100", "REDEMPTION_QUOTA", "n"])
        self.unchanged(lib, "spend not a number", "ig_spend", spend, [p[1][0], p[1][1], "x", "REDEMPTION_QUOTA", "n"])
        prec = keys.idem("t", "ops", "0ee0")
        lib.call("spend with a key", "ig_spend", spend, [p[1][0], p[1][1], "1", "REDEMPTION_QUOTA", "k"], idem=(prec, "fpP"))
        self.unchanged(lib, "spend replay", "ig_spend", spend, [p[1][0], p[1][1], "1", "REDEMPTION_QUOTA", "k"],
                       idem=(prec, "fpP"))
        self.unchanged(lib, "grant reused", "ig_grant", spend, [p[1][0], p[1][1], "5", "r"], idem=(prec, "fpQ"))
        self.unchanged(lib, "grant insufficient", "ig_grant", spend, [p[1][0], p[1][1], "-200", "r"])
        lib.call("grant", "ig_grant", spend, [p[1][0], p[1][1], "50", "r"])
        lib.call("expire", "ig_expire", spend, [p[1][0], p[1][1], "40", "0", "n"])
        self.unchanged(lib, "expire again", "ig_expire", spend, [p[1][0], p[1][1], "40", "0", "n"])
        rp = [p[1][0], "100", "[]", "2", "0", "30"]
        self.unchanged(lib, "rehydrate points same", "ig_rehydrate_points", [pk], rp + ["1"])
        pk2 = keys.points(p[2][0])
        self.unchanged(lib, "rehydrate points compare", "ig_rehydrate_points", [pk2], [p[2][0], "7", "[]", "0", "0", "1", "0"])
        lib.call("rehydrate points", "ig_rehydrate_points", [pk2], [p[2][0], "7", "[]", "0", "0", "1", "1"])
        lib.call("lifecycle", "ig_lifecycle", [keys.WL_EVENTS], [p[1][1], "paid", "1200", "1700000000000"])
        lrec = keys.idem("t", "ops", "0dd0")
        lib.call("lifecycle with a key", "ig_lifecycle", [keys.WL_EVENTS], [p[1][1], "paid", "", "1700000000001"],
                 idem=(lrec, "fpL"))
        self.unchanged(lib, "lifecycle reused", "ig_lifecycle", [keys.WL_EVENTS], [p[1][1], "paid", "", "1"], idem=(lrec, "x"))
        for i in (7, 3):  # waiting, admitted
            erase = [keys.WL, keys.WL_EVENTS, keys.user(p[i][0]), keys.referral(ref(i)), keys.shared(p[i][0])]
            lib.call("erase %d" % i, "ig_erase", erase, [p[i][0], p[i][1], ref(i), "uid-%d" % i])
            position("position erased %d" % i, i)
        def person_keys(i, seq, prio):
            return [keys.WL, keys.user(p[i][0]), keys.wl_members(seq), keys.wl_class(prio), keys.wl_blocks(prio),
                    keys.referral(ref(i))]

        def person_args(write, i, state, seq, prio):
            return [write, p[i][0], p[i][1], state, str(seq), str(prio), "", "0", "0", "0", "", ref(i)]

        self.unchanged(lib, "rehydrate person compare", "ig_rehydrate_person", person_keys(9, 500, 12),
                       person_args("0", 9, "w", 500, 12))
        lib.call("rehydrate person", "ig_rehydrate_person", person_keys(9, 500, 12), person_args("1", 9, "w", 500, 12))
        self.unchanged(lib, "rehydrate person same", "ig_rehydrate_person", person_keys(9, 500, 12),
                       person_args("1", 9, "w", 500, 12))
        self.unchanged(lib, "rehydrate person seq taken", "ig_rehydrate_person", person_keys(4, 500, 12),
                       person_args("1", 4, "w", 500, 12))
        self.unchanged(lib, "rehydrate person erased", "ig_rehydrate_person", person_keys(7, 600, 12),
                       person_args("1", 7, "w", 600, 12))
        position("position rehydrated", 9)
        rw = [keys.WL_SEQ, keys.WL_COUNTERS]
        self.unchanged(lib, "rehydrate waitlist compare", "ig_rehydrate_waitlist", rw, ["0", "900", "10"],
                       [([], ["joined", "99"]), ([], ["first_admit_day", "1"])])
        lib.call("rehydrate waitlist", "ig_rehydrate_waitlist", rw, ["1", "900", "10"],
                 [([], ["joined", "99"]), ([], ["first_admit_day", "1"])])
        gate = [keys.TRUST, keys.WL_GATE, keys.GATE_MODE, keys.GATE_AUTO]
        lib.call("gate force", "ig_gate", gate, ["closed"])
        self.unchanged(lib, "gate read", "ig_gate", gate, [""])
        lib.call("gate auto", "ig_gate", gate, ["auto"])
        grec = keys.idem("t", "ops", "0ff0")
        lib.call("gate with a key", "ig_gate", gate, ["open"], idem=(grec, "fpG"))
        self.unchanged(lib, "gate replay", "ig_gate", gate, ["open"], idem=(grec, "fpG"))
        self.unchanged(lib, "gate reused", "ig_gate", gate, ["closed"], idem=(grec, "fpH"))
        erec = keys.idem("a", "192.0.2.1", "0aa0")
        lib.call("earn with a key", "ig_earn", [keys.user(p[6][0]), keys.WL_EVENTS, keys.WL_GATE],
                 [p[6][0], p[6][1], "1", FAR], [fresh(9)], idem=(erec, "fpE"))
        self.unchanged(lib, "earn replay", "ig_earn", [keys.user(p[6][0]), keys.WL_EVENTS, keys.WL_GATE],
                       [p[6][0], p[6][1], "1", FAR], [fresh(10)], idem=(erec, "fpE"))
        self.unchanged(lib, "stats after", "ig_stats", [keys.WL, keys.WL_COUNTERS], [])
        return lib


if __name__ == "__main__":
    unittest.main()
