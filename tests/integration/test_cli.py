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


if __name__ == "__main__":
    unittest.main(verbosity=2)
