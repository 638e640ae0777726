#!/usr/bin/env python3
"""invitegate, the operator's tool, run as a process against a real Redis,
PostgreSQL, gateway and sync daemon: tokens, migrations, cohort validation,
issuing and sending invitations."""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BUILD_DIR, token_hash  # noqa: E402

CLI_BIN = os.path.join(BUILD_DIR, "cli", "invitegate")


def run_cli(args, conf=None, env=None, stdin=None, check_rc=None):
    """Runs invitegate with args (and --config conf); returns (rc, stdout, stderr)."""
    argv = [CLI_BIN] + (["--config", conf] if conf else []) + list(args)
    e = {k: v for k, v in os.environ.items() if not k.startswith("IG_")}
    e.update(env or {})
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=e, timeout=120)
    if check_rc is not None and p.returncode != check_rc:
        raise AssertionError("%r -> %d (expected %d)\nstdout: %s\nstderr: %s" % (argv, p.returncode, check_rc, p.stdout, p.stderr))
    return p.returncode, p.stdout, p.stderr


class CliBasicsTest(unittest.TestCase):
    """What needs no server."""

    def test_help_and_version(self):
        rc, out, _ = run_cli(["--help"], check_rc=0)
        for name in ("token new", "migrate", "cohort validate", "invites issue", "invites send"):
            self.assertIn(name, out)
        self.assertIn("64 bad usage", out)
        rc, out, _ = run_cli(["--version"], check_rc=0)
        self.assertRegex(out, r"^invitegate \d+\.\d+\.\d+\n$")
        for cmd in (["token", "new"], ["migrate"], ["cohort", "validate"], ["invites", "issue"], ["invites", "send"]):
            rc, out, _ = run_cli(cmd + ["--help"], check_rc=0)
            self.assertTrue(out.startswith("usage: invitegate %s" % cmd[0]), out)
        rc, out, _ = run_cli(["invites", "--help"], check_rc=0)
        self.assertIn("issue", out)
        self.assertIn("send", out)

    def test_usage_errors_exit_64(self):
        for args in ([], ["nonsense"], ["token", "nonsense"], ["token", "new"], ["token", "new", "--name", "x"],
                     ["token", "new", "--name", "x", "--scopes", "all", "extra"], ["--config"]):
            rc, _, err = run_cli(args)
            self.assertEqual(rc, 64, (args, err))
            self.assertTrue(err.startswith("usage") or "usage:" in err or "unknown command" in err, (args, err))

    def test_token_new(self):
        rc, out, _ = run_cli(["token", "new", "--name", "ops-launch", "--scopes", "issue,read"], check_rc=0)
        token = out.splitlines()[0].split("token: ")[1]
        self.assertRegex(token, r"^[0-9a-f]{64}$")
        self.assertEqual(out.splitlines()[1], "admin_token = %s ops-launch issue,read" % token_hash(token))
        rc, out, _ = run_cli(["--json", "token", "new", "--name", "ci", "--scopes", "all"], check_rc=0)
        doc = json.loads(out)
        self.assertEqual(doc["hash"], token_hash(doc["token"]))
        self.assertEqual(doc["config_line"], "admin_token = %s ci all" % doc["hash"])
        self.assertNotEqual(doc["token"], token)
        # The configuration's parser refuses what the gateway would refuse.
        rc, _, err = run_cli(["token", "new", "--name", "ops", "--scopes", "issue,bogus"])
        self.assertEqual(rc, 64)
        self.assertIn("unknown scope", err)
        rc, _, err = run_cli(["token", "new", "--name", "x" * 65, "--scopes", "all"])
        self.assertEqual(rc, 64)


def cohort_csv(path, rows, header="email,cohort"):
    with open(path, "w") as f:
        f.write(header + "\n" + "".join("%s,%s\n" % r for r in rows))
    return path


def valid_rows(tag, n=50, creators=5):
    """n recipients over 3 labels, creators of them in creator-*."""
    labels = ["listener-jazz", "press-local"]
    return [("%s-%d@example.org" % (tag, i), "creator-vinyl" if i < creators else labels[i % 2]) for i in range(n)]


class CliServersTest(harness.HarnessTestCase):
    """Commands against the harness's servers."""

    def test_token_accepted_by_gateway(self):
        _, out, _ = run_cli(["token", "new", "--name", "ops", "--scopes", "issue"], check_rc=0)
        token, line = out.splitlines()[0].split("token: ")[1], out.splitlines()[1]
        port = harness.free_port()
        conf2 = self.h.write_config("token2.conf", {"listen": "%s:%d" % (harness.HOST, port)})
        with open(conf2, "a") as f:
            f.write(line + "\n")
        g = harness.Gateway(self.h, "tokengw", conf2, port)
        self.h.extra_gateways.append(g)
        g.start()
        r = g.http("POST", "/api/invites/generate", {"batch_size": 1, "batch_id": "B-token-cli"}, token=token)
        self.assertEqual(r.status, 201, r)

    def test_migrate(self):
        # The harness applied them already: a second run applies nothing and succeeds.
        rc, out, err = run_cli(["migrate"], conf=self.h.conf_path, check_rc=0)
        self.assertEqual(out, "")
        before = self.h.psql_value("SELECT count(*) FROM schema_migrations")
        # On an empty database it applies every file, as invitegate-sync migrate does.
        self.h.psql("CREATE DATABASE cli_migrate")
        url = self.h.database_url.rsplit("/", 1)[0] + "/cli_migrate"
        rc, out, err = run_cli(["migrate"], conf=self.h.conf_path, env={"IG_DATABASE_URL": url}, check_rc=0)
        self.assertEqual(len([l for l in out.splitlines() if l.startswith("applied ")]), int(before), out)
        rc, out, err = run_cli(["migrate", "apply"], conf=self.h.conf_path, env={"IG_DATABASE_URL": url}, check_rc=0)
        self.assertEqual(out, "")
        rc, _, err = run_cli(["migrate"], conf=self.h.conf_path, env={"IG_DATABASE_URL": url + "_missing"})
        self.assertEqual(rc, 1, err)

    # -- cohort validate -------------------------------------------------------

    def validate(self, path, *extra, json_out=True):
        rc, out, err = run_cli((["--json"] if json_out else []) + ["cohort", "validate", path] + list(extra), conf=self.h.conf_path)
        return rc, (json.loads(out) if json_out and out else out), err

    def test_validate_ok(self):
        path = cohort_csv(os.path.join(self.h.tmp, "ok.csv"), valid_rows("ok"))
        rc, doc, err = self.validate(path)
        self.assertEqual(rc, 0, (doc, err))
        self.assertEqual(doc["status"], "ok")
        self.assertEqual(doc["rows"], 50)
        self.assertEqual(doc["labels"], {"creator-vinyl": 5, "listener-jazz": 22, "press-local": 23})
        rc, out, _ = self.validate(path, json_out=False)
        self.assertEqual(rc, 0)
        self.assertIn("OK.", out)
        self.assertNotIn("@", out)

    def test_validate_errors_with_line_numbers(self):
        rows = valid_rows("err")
        rows[3] = ("not-an-address", "creator-vinyl")         # line 5
        rows[10] = ("ERR-2@Example.org", "press-local")       # line 12, same as line 4 once normalised
        rows[20] = ("err-20@example.org", "bad label")        # line 22
        path = cohort_csv(os.path.join(self.h.tmp, "err.csv"), rows)
        with open(path, "a") as f:
            f.write("lonely@example.org\n")                  # line 52
        rc, doc, err = self.validate(path)
        self.assertEqual(rc, 1, (doc, err))
        self.assertEqual(doc["status"], "blocking")
        found = {(p["line"], p["kind"]) for p in doc["problems"] if p["severity"] == "error"}
        self.assertEqual(found, {(5, "malformed_email"), (12, "duplicate"), (22, "cohort_label"), (52, "fields")})
        dup = [p for p in doc["problems"] if p["kind"] == "duplicate"][0]
        self.assertIn("line 4", dup["message"])
        self.assertNotIn("@", json.dumps(doc))
        rc, doc, err = self.validate(path, "--min-rows", "1")
        self.assertEqual(rc, 1)
        # A wrong header blocks at line 1.
        bad = cohort_csv(os.path.join(self.h.tmp, "hdr.csv"), valid_rows("hdr"), header="mail;cohort")
        rc, doc, err = self.validate(bad)
        self.assertEqual(rc, 1)
        self.assertEqual([(p["line"], p["kind"]) for p in doc["problems"]], [(1, "header")])

    def test_validate_warnings(self):
        # Distribution: too few rows, creators, labels -> exit 2; the flags lower the bar.
        few = cohort_csv(os.path.join(self.h.tmp, "few.csv"), [("few-%d@example.org" % i, "listener-a") for i in range(10)])
        rc, doc, err = self.validate(few)
        self.assertEqual(rc, 2, (doc, err))
        self.assertEqual({p["kind"] for p in doc["problems"]}, {"too_few_rows", "too_few_creators", "too_few_labels"})
        rc, doc, err = self.validate(few, "--min-rows", "10", "--min-creators", "0", "--min-labels", "1")
        self.assertEqual(rc, 0, doc)
        # Collisions with PostgreSQL: an invite bound to the address, a member, a waitlist entry.
        rows = valid_rows("col")
        self.h.psql("INSERT INTO invites (code, batch_id, issued_to, max_uses, expires_at) VALUES "
                    "('CLICOLLISION0001', 'B-old', 'col-7@example.org', 1, now() + interval '1 day')")
        self.h.psql("INSERT INTO waitlist (id, email, use_case, persona) VALUES "
                    "(gen_random_uuid(), 'col-9@example.org', 'x', 'other')")
        path = cohort_csv(os.path.join(self.h.tmp, "col.csv"), rows)
        rc, doc, err = self.validate(path)
        self.assertEqual(rc, 2, (doc, err))
        self.assertEqual({(p["line"], p["kind"]) for p in doc["problems"]}, {(9, "existing_invite"), (11, "on_waitlist")})
        rc, doc, err = self.validate(path, "--offline")
        self.assertEqual(rc, 0, (doc, err))


if __name__ == "__main__":
    unittest.main(verbosity=2)
