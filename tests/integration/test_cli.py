#!/usr/bin/env python3
"""invitegate, the operator's tool, run as a process against a real Redis,
PostgreSQL, gateway and sync daemon: tokens, migrations, cohort validation,
issuing and sending invitations."""

import email
import email.policy
import glob
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
        version = out.split()[1]
        for cmd in (["token", "new"], ["migrate"], ["cohort", "validate"], ["invites", "issue"], ["invites", "send"]):
            rc, out, _ = run_cli(cmd + ["--help"], check_rc=0)
            self.assertTrue(out.startswith("usage: invitegate %s" % cmd[0]), out)
        for binary in (harness.GATEWAY_BIN, harness.SYNC_BIN):
            p = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stdout, "%s %s" % (os.path.basename(binary), version) + "\n")
            self.assertIn("--version", subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30).stdout)
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

    # -- invites issue, invites send -----------------------------------------

    def issue(self, csv_path, out, *extra, gateway=None):
        env = {"INVITEGATE_TOKEN": self.h.admin_token,
               "INVITEGATE_GATEWAY": gateway or "http://%s:%d" % (harness.HOST, self.h.gateway_port)}
        return run_cli(["--json", "invites", "issue", csv_path, "--out", out] + list(extra), conf=self.h.conf_path, env=env)

    def read_issued(self, out):
        with open(os.path.join(out, "issued.csv")) as f:
            lines = f.read().splitlines()[1:]
        return {l.split(",")[1]: l.split(",") for l in lines}

    def test_issue_then_send(self):
        rows = valid_rows("send", n=6, creators=2)
        csv_path = cohort_csv(os.path.join(self.h.tmp, "send.csv"), rows)
        out = os.path.join(self.h.tmp, "out-send")
        link = "https://example.org/join?code={{code}}&src=mail"
        # A dead gateway: every recipient fails, each reported with its line; nothing is issued.
        dead = "http://127.0.0.1:%d" % harness.free_port()
        rc, o, err = self.issue(csv_path, out, "--batch", "LAUNCH-A", "--link", link, gateway=dead)
        self.assertEqual(rc, 1, err)
        self.assertEqual(json.loads(o)["failed"], 6)
        self.assertIn("line 2 ", err)
        self.assertNotIn("@", err)
        with open(os.path.join(out, "failed.csv")) as f:
            self.assertEqual(f.read().splitlines(), ["email,cohort"] + ["%s,%s" % r for r in rows])
        # Half the recipients first, then all: the rerun creates only what is missing.
        half = cohort_csv(os.path.join(self.h.tmp, "half.csv"), rows[:3])
        rc, o, err = self.issue(half, out, "--batch", "LAUNCH-A", "--link", link, "--expires-in-days", "10")
        self.assertEqual(rc, 0, err)
        first = self.read_issued(out)
        self.assertFalse(os.path.exists(os.path.join(out, "failed.csv")))
        rc, o, err = self.issue(csv_path, out, "--batch", "LAUNCH-A", "--link", link, "--expires-in-days", "10")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(o)["issued"], 6)
        issued = self.read_issued(out)
        self.assertEqual(set(issued), {r[0] for r in rows})
        for addr in first:
            self.assertEqual(issued[addr][3], first[addr][3], "a rerun gives the same code back")
        self.assertEqual(len({v[3] for v in issued.values()}), 6)
        harness.wait_until(lambda: self.h.psql_value("SELECT count(*) FROM invites WHERE batch_id LIKE 'LAUNCH-A-%'") == "6",
                           message="6 invites of batch LAUNCH-A in PostgreSQL")
        for addr, (line, _, cohort, code, _, _) in issued.items():
            body = code[len(harness.CODE_PREFIX):]
            self.assertEqual(self.h.psql("SELECT issued_to, cohort FROM invites WHERE code = '%s'" % body), [[addr, cohort]])
        # The code is bound: another address cannot redeem it.
        some = next(iter(issued.values()))
        self.assertEqual(self.h.redeem(some[3], "someone-else@example.org").status, 403)

        # Send with a SEND_CMD that records each message and fails for one recipient the first time.
        sink = os.path.join(self.h.tmp, "sink")
        os.mkdir(sink)
        flaky = issued[rows[4][0]][5]
        script = os.path.join(self.h.tmp, "record.sh")
        with open(script, "w") as f:
            f.write('#!/bin/sh\nset -e\nf=$(mktemp "%s/msg.XXXXXX")\ncat > "$f"\n'
                    'if grep -q "Message-ID: <LAUNCH-A-%s@" "$f" && [ ! -e "%s/flaked" ]; then touch "%s/flaked"; rm "$f"; exit 75; fi\n'
                    % (sink, flaky[:-4], sink, sink))
        os.chmod(script, 0o755)
        rc, o, err = run_cli(["--json", "invites", "send", out, "--dry-run"], env={"SEND_CMD": script}, check_rc=0)
        self.assertEqual(json.loads(o)["would_send"], 6)
        self.assertEqual(glob.glob(os.path.join(sink, "msg.*")), [])
        rc, o, err = run_cli(["--json", "invites", "send", out], env={"SEND_CMD": script})
        self.assertEqual(rc, 1, err)
        self.assertEqual(json.loads(o), {"dry_run": False, "sent": 5, "already_sent": 0, "failed": 1, "uncertain": 0,
                                         "stopped": False})
        rc, o, err = run_cli(["--json", "invites", "send", out], env={"SEND_CMD": script}, check_rc=0)
        self.assertEqual(json.loads(o)["sent"], 1)
        self.assertEqual(json.loads(o)["already_sent"], 5)
        msgs = sorted(glob.glob(os.path.join(sink, "msg.*")))
        self.assertEqual(len(msgs), 6, "each message sent exactly once")
        seen = set()
        for m in msgs:
            with open(m, "rb") as f:
                msg = email.message_from_binary_file(f, policy=email.policy.default)
            self.assertEqual(msg.get_content_type(), "multipart/alternative")
            to = str(msg["To"])
            seen.add(to)
            code = issued[to][3]
            text = msg.get_body(("plain",)).get_content()
            html = msg.get_body(("html",)).get_content()
            self.assertIn(code, text)
            self.assertIn("https://example.org/join?code=%s&src=mail" % code, text)
            self.assertIn("https://example.org/join?code=%s&amp;src=mail" % code, html)
            self.assertIn(code, html)
            self.assertIn("invitation", str(msg["Subject"]))
        self.assertEqual(seen, {r[0] for r in rows})
        # The run killed while the mailer has a message: a rerun does not send it
        # twice unless told to, after the operator checked the mailer.
        for name in glob.glob(os.path.join(out, "sent.log")):
            os.unlink(name)
        crash = os.path.join(self.h.tmp, "crash")
        os.mkdir(crash)
        killer = 'cat > "%s/m.$$"; kill -9 $PPID' % crash
        rc, o, err = run_cli(["invites", "send", out], env={"SEND_CMD": killer})
        self.assertEqual(rc, -9, err)
        self.assertEqual(len(os.listdir(crash)), 1)
        rc, o, err = run_cli(["--json", "invites", "send", out, "--max-failures", "100"], env={"SEND_CMD": "exit 1"})
        self.assertEqual(rc, 1)
        self.assertEqual((json.loads(o)["uncertain"], json.loads(o)["failed"]), (1, 5), o)
        self.assertIn("--resend-uncertain", err)
        rc, o, err = run_cli(["--json", "invites", "send", out, "--resend-uncertain"], env={"SEND_CMD": "cat > /dev/null"},
                             check_rc=0)
        self.assertEqual((json.loads(o)["sent"], json.loads(o)["uncertain"]), (6, 0), o)
        # A relay that refuses everything stops the run after 3 consecutive failures.
        for name in glob.glob(os.path.join(out, "sent.log")):
            os.unlink(name)
        rc, o, err = run_cli(["--json", "invites", "send", out], env={"SEND_CMD": "exit 1"})
        self.assertEqual(rc, 1)
        self.assertEqual(json.loads(o)["failed"], 3)
        self.assertTrue(json.loads(o)["stopped"])

    def test_issue_rerun_after_redemptions(self):
        # A rerun of the same batch once some recipients redeemed their code: their own
        # redemption is no collision, and the run gives every recipient the same code back.
        rows = valid_rows("rerun", n=4, creators=2)
        path = cohort_csv(os.path.join(self.h.tmp, "rerun.csv"), rows)
        out = os.path.join(self.h.tmp, "out-rerun")
        rc, o, err = self.issue(path, out, "--batch", "LAUNCH-7")
        self.assertEqual(rc, 0, err)
        first = self.read_issued(out)
        self.assertEqual(self.h.redeem(first[rows[0][0]][3], rows[0][0]).status, 200)
        self.h.wait_synced()
        rc, o, err = self.issue(path, out, "--batch", "LAUNCH-7")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.read_issued(out), first)
        # Another batch whose name merely begins the same is not this one: its invites collide.
        rc, doc, err = self.validate(path, "--min-rows", "1", "--min-creators", "1")
        self.assertEqual(rc, 2, err)
        self.assertEqual({(p["line"], p["kind"]) for p in doc["problems"]},
                         {(2, "already_member")} | {(i + 2, "existing_invite") for i in range(4)}, doc)
        rc, o, err = self.issue(path, os.path.join(self.h.tmp, "out-rerun-l"), "--batch", "LAUNCH")
        self.assertEqual(rc, 2, err)
        self.assertEqual({(p["line"], p["kind"]) for p in json.loads(o)["problems"] if p["line"] != 0},
                         {(2, "already_member")} | {(i + 2, "existing_invite") for i in range(4)}, o)

    def test_issue_refuses_bad_cohorts(self):
        rows = valid_rows("refuse", n=4)
        rows[1] = ("broken", "press-local")
        path = cohort_csv(os.path.join(self.h.tmp, "refuse.csv"), rows)
        out = os.path.join(self.h.tmp, "out-refuse")
        rc, o, err = self.issue(path, out, "--batch", "LAUNCH-R")
        self.assertEqual(rc, 1, err)
        self.assertFalse(os.path.exists(out))
        # A collision is a warning: refused without --force, issued with it.
        self.h.psql("INSERT INTO waitlist (id, email, use_case, persona) VALUES (gen_random_uuid(), 'refuse-0@example.org', 'x', 'other')")
        rows[1] = ("refuse-1@example.org", "press-local")
        path = cohort_csv(os.path.join(self.h.tmp, "refuse.csv"), rows)
        rc, o, err = self.issue(path, out, "--batch", "LAUNCH-R")
        self.assertEqual(rc, 2, err)
        self.assertFalse(os.path.exists(out))
        rc, o, err = self.issue(path, out, "--batch", "LAUNCH-R", "--force")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(glob.glob(os.path.join(out, "*.eml"))), 4)


if __name__ == "__main__":
    unittest.main(verbosity=2)
