#!/usr/bin/env python3
"""scripts/up supervises its daemons as systemd does: kill -9 of the sync
daemon is printed and the daemon restarted after a short backoff, while the
gateway goes on serving (it never needs the daemon); what was redeemed
meanwhile reaches PostgreSQL through the restarted daemon; a killed gateway
is restarted too; SIGINT (Ctrl-C) still stops everything.

Runs the real scripts/up on free loopback ports with its data in a
temporary directory (IG_UP_DATA) and the binaries of this build tree
(IG_UP_BINARIES), so it builds nothing and touches no .local/."""

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BUILD_DIR, SOURCE_DIR, HttpClient, code_body, unique_email, wait_until  # noqa: E402

# If this test dies, the reaper asks scripts/up to stop (SIGTERM: it stops
# what it started) and removes the temporary directory.
REAPER_SRC = r"""
import os, shutil, signal, sys, time
pid, tmp = int(sys.argv[1]), sys.argv[2]
if sys.stdin.read().strip() == 'exit':
    sys.exit(0)
try:
    os.kill(pid, signal.SIGTERM)
    for _ in range(600):
        os.kill(pid, 0)
        time.sleep(0.1)
except OSError:
    pass
shutil.rmtree(tmp, ignore_errors=True)
"""


def read_int(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class UpSupervisionTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="invitegate-up-")
        os.chmod(self.tmp, 0o711)  # PostgreSQL runs as postgres and must traverse it
        self.data = os.path.join(self.tmp, "local")
        self.out_path = os.path.join(self.tmp, "up.out")
        ports = set()
        while len(ports) < 4:
            ports.add(harness.free_port())
        self.port, self.redis_port, self.pg_port, self.metrics_port = sorted(ports)
        env = {k: v for k, v in os.environ.items() if not k.startswith("IG_")}
        env.update(IG_PORT=str(self.port), IG_REDIS_PORT=str(self.redis_port), IG_PG_PORT=str(self.pg_port),
                   IG_METRICS_PORT=str(self.metrics_port),
                   IG_UP_DATA=self.data, IG_UP_BINARIES=BUILD_DIR)
        with open(self.out_path, "wb") as out:
            self.up = subprocess.Popen(["bash", os.path.join(SOURCE_DIR, "scripts", "up")], stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.reaper = subprocess.Popen([sys.executable, "-c", REAPER_SRC, str(self.up.pid), self.tmp],
                                       stdin=subprocess.PIPE, start_new_session=True, text=True)
        self.http = HttpClient(self.port, timeout=10)

    def tearDown(self):
        self.http.close()
        if self.up.poll() is None:
            self.up.send_signal(signal.SIGTERM)
            try:
                self.up.wait(60)
            except subprocess.TimeoutExpired:
                self.up.kill()
        if self._outcome_failed():
            print("----- scripts/up output -----\n%s" % harness.tail(self.out_path, 80), file=sys.stderr)
            for name in ("gateway", "sync"):
                print("----- %s.log -----\n%s" % (name, harness.tail(os.path.join(self.data, "log", name + ".log"), 30)),
                      file=sys.stderr)
        self.reaper.stdin.write("exit\n")
        self.reaper.stdin.close()
        self.reaper.wait(10)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _outcome_failed(self):
        result = getattr(self._outcome, "result", None)
        return result is not None and bool(result.failures or result.errors)

    def output(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def pid_of(self, name):
        return read_int(os.path.join(self.data, "run", "invitegate-%s.pid" % name))

    def psql_value(self, sql):
        res = subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres", "-d",
                              "invitegate", "-c", sql], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr)
        return res.stdout.decode().strip()

    def test_kill_9_restarts_the_daemon_and_the_gateway_keeps_serving(self):
        wait_until(lambda: self.up.poll() is not None or "invitegate is up." in self.output(), 180, 0.2,
                   "scripts/up did not come up")
        self.assertIsNone(self.up.poll(), "scripts/up exited:\n" + self.output())
        with open(os.path.join(self.data, "admin.token")) as f:
            token = f.read().strip()
        gateway_pid, sync_pid = self.pid_of("gateway"), self.pid_of("sync")
        self.assertTrue(gateway_pid and alive(gateway_pid) and sync_pid and alive(sync_pid))
        r = self.http.request("POST", "/api/invites/generate", {"batch_size": 3, "batch_id": "B-" + secrets.token_hex(6)},
                              token=token)
        self.assertEqual(r.status, 201, r)
        codes = r.body["codes"]

        os.kill(sync_pid, signal.SIGKILL)
        wait_until(lambda: not alive(sync_pid), 10, 0.02, "the sync daemon survived kill -9")
        # The gateway serves whether the daemon is down or restarting: every
        # request below must succeed, whatever moment of the restart it meets.
        redeemed = []
        for code in codes:
            self.assertEqual(self.http.request("GET", "/ready").status, 200)
            email = unique_email("up")
            r = self.http.request("POST", "/api/invites/redeem", {"code": code, "email": email})
            self.assertEqual(r.status, 200, r)
            redeemed.append(code_body(code))
        wait_until(lambda: "invitegate-sync exited (status 137)" in self.output(), 10, 0.1,
                   "scripts/up did not report the kill")
        self.assertIn("restarting it in", self.output())
        self.assertNotIn("stopping everything", self.output())
        wait_until(lambda: self.pid_of("sync") not in (None, sync_pid) and alive(self.pid_of("sync")), 30, 0.1,
                   "the sync daemon was not restarted")
        self.assertIn("restarting invitegate-sync", self.output())
        self.assertEqual(self.pid_of("gateway"), gateway_pid, "the gateway was restarted too")
        # The restarted daemon serves its metrics on the port scripts/up gave it.
        wait_until(lambda: "invitegate_sync_ready 1" in urllib.request.urlopen(
            "http://127.0.0.1:%d/metrics" % self.metrics_port, timeout=5).read().decode(), 30, 0.2,
            "the restarted sync daemon does not serve its metrics as ready")
        self.assertTrue(alive(gateway_pid))
        # The restarted daemon applies what the gateway accepted while it was down.
        in_list = ",".join("'%s'" % c for c in redeemed)
        wait_until(lambda: self.psql_value("SELECT count(*) FROM redemptions WHERE code IN (%s)" % in_list) == "3", 30,
                   0.2, "the redemptions made during the restart did not reach PostgreSQL")

        # A killed gateway comes back as well, and answers again.
        os.kill(gateway_pid, signal.SIGKILL)
        wait_until(lambda: "invitegate-gateway exited (status 137)" in self.output(), 10, 0.1,
                   "scripts/up did not report the gateway's kill")
        wait_until(lambda: self.http.request("GET", "/ready", fresh=True).status == 200, 30, 0.1,
                   "the gateway did not come back")
        new_gateway = self.pid_of("gateway")
        self.assertNotEqual(new_gateway, gateway_pid)

        # Ctrl-C stops everything and leaves nothing running.
        new_sync = self.pid_of("sync")
        redis_pid = read_int(os.path.join(self.data, "redis", "redis.pid"))
        self.up.send_signal(signal.SIGINT)
        self.assertEqual(self.up.wait(90), 130, self.output())
        for pid in (new_gateway, new_sync, redis_pid):
            self.assertFalse(alive(pid), "pid %d still runs after Ctrl-C" % pid)
        self.assertFalse(os.path.exists(os.path.join(self.data, "pg", "data", "postmaster.pid")), "PostgreSQL still runs")
        self.assertIn("==> stopped", self.output())


if __name__ == "__main__":
    unittest.main(verbosity=2)
