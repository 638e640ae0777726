#!/usr/bin/env python3
"""The systemd notifications of both daemons (Type=notify units), received
on a datagram socket of the test named by NOTIFY_SOCKET, as systemd would:

- READY=1 only once the dependencies answer: the gateway after Redis (each
  event loop's call into the function library), the sync daemon after Redis,
  PostgreSQL and every migration; STATUS= says what they wait for meanwhile;
- WATCHDOG=1 every quarter of WATCHDOG_USEC while the event loops run, and
  none while one loop is stuck (its thread stopped with ptrace);
- STATUS= while Redis or PostgreSQL is down after the start;
- STOPPING=1 on SIGTERM, then a clean exit (status 0).

The intervals are measured because the task is a timing contract: pings at
the configured period (loose bounds for a busy machine)."""

import contextlib
import ctypes
import os
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import GATEWAY_BIN, SOURCE_DIR, SYNC_BIN, HttpClient, wait_until  # noqa: E402

WATCHDOG_USEC = 1000000  # WatchdogSec=1s: a ping every 250 ms
PING_S = WATCHDOG_USEC / 4 / 1e6

PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT, WALL = 17, 0x4206, 0x4207, 0x40000000


class NotifySocket:
    """A datagram socket collecting (monotonic time, key, value) of every
    assignment the daemon sends."""

    def __init__(self, directory, name):
        self.path = os.path.join(directory, name + ".notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.items = []
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while self.running:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            now = time.monotonic()
            with self.lock:
                for line in data.decode("utf-8", "replace").split("\n"):
                    if "=" in line:
                        key, value = line.split("=", 1)
                        self.items.append((now, key, value))

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()

    def all(self, key=None, since=0.0):
        with self.lock:
            return [(t, k, v) for t, k, v in self.items if t >= since and (key is None or k == key)]

    def wait(self, key, contains="", timeout=20.0, since=0.0):
        """The first (time, value) of key whose value contains `contains`, sent at or after since."""
        def find():
            for t, k, v in self.all(key, since):
                if contains in v:
                    return (t, v)
            return None
        return wait_until(find, timeout, 0.02,
                          lambda: "no %s=...%s... ; received: %r" % (key, contains, self.all()[-12:]))

    def statuses(self, since=0.0):
        return [v for _, _, v in self.all("STATUS", since)]


def thread_id(pid, name):
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
            if f.read().strip() == name:
                return int(tid)
    raise AssertionError("no thread named %s in pid %d" % (name, pid))


@contextlib.contextmanager
def thread_stopped(pid, name):
    """Stops one thread of pid (the others run on) with ptrace, and lets it go on leaving."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    tid = thread_id(pid, name)
    if libc.ptrace(PTRACE_SEIZE, tid, None, None) != 0 or libc.ptrace(PTRACE_INTERRUPT, tid, None, None) != 0:
        raise AssertionError("ptrace of thread %s failed: errno %d" % (name, ctypes.get_errno()))
    os.waitpid(tid, WALL)
    try:
        yield
    finally:
        libc.ptrace(PTRACE_DETACH, tid, None, None)


class NotifyTest(unittest.TestCase):
    def setUp(self):
        self.h = harness.Harness(start_sync=False)
        self.h.__enter__()
        self.daemons = []

    def tearDown(self):
        # A failed test leaves its daemon running: stop it before its servers go.
        for proc in self.daemons:
            self.h._stop_proc(proc)
        self.h.failed = self.h.failed or bool(self._outcome.result.failures or self._outcome.result.errors)
        self.h.close()

    def spawn(self, binary, conf, name):
        self.notify = NotifySocket(self.h.tmp, name)
        self.addCleanup(self.notify.close)
        env = self.h._child_env()
        env.update(NOTIFY_SOCKET=self.notify.path, WATCHDOG_USEC=str(WATCHDOG_USEC))
        proc = self.h._spawn([binary, "-c", conf], os.path.join(self.h.tmp, name + ".log"), env=env)
        self.daemons.append(proc)
        return proc

    def check_watchdog(self, proc, loop_thread):
        """Pings every quarter of WATCHDOG_USEC; none while loop_thread is stuck; again once it runs."""
        start = time.monotonic()
        time.sleep(2.6)
        pings = [t for t, _, _ in self.notify.all("WATCHDOG", start)]
        self.assertGreaterEqual(len(pings), 5, "too few watchdog pings in 2.6 s: %r" % pings)
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        mean = sum(gaps) / len(gaps)
        self.assertTrue(0.8 * PING_S <= mean <= 1.6 * PING_S, "mean ping interval %.3f s for a period of %.3f s: %r"
                        % (mean, PING_S, gaps))
        with thread_stopped(proc.pid, loop_thread):
            # The pings stop once the loop missed three periods; none may follow.
            time.sleep(4 * PING_S + 0.3)
            quiet_from = time.monotonic()
            time.sleep(1.5)
            self.assertEqual(self.notify.all("WATCHDOG", quiet_from), [],
                             "watchdog pings went on while %s was stuck" % loop_thread)
            self.assertIsNone(proc.poll())
        resumed = time.monotonic()
        self.notify.wait("WATCHDOG", "1", 5, since=resumed)

    def stop_cleanly(self, proc):
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        self.notify.wait("STOPPING", "1", 10, since=sent)
        self.assertEqual(proc.wait(30), 0)

    def test_gateway(self):
        h = self.h
        h.stop_redis()
        port = harness.free_port()
        conf = h.write_config("notify-gw.conf", {"listen": "127.0.0.1:%d" % port, "threads": "2"})
        proc = self.spawn(GATEWAY_BIN, conf, "gateway-notify")
        self.notify.wait("STATUS", "waiting for Redis", 15)
        time.sleep(1.0)
        self.assertEqual(self.notify.all("READY"), [], "READY=1 while Redis is down")
        self.assertIsNone(proc.poll())

        redis_up = time.monotonic()
        h.start_redis()
        ready_at, _ = self.notify.wait("READY", "1", 20)
        self.assertGreaterEqual(ready_at, redis_up)
        client = HttpClient(port)
        self.addCleanup(client.close)
        self.assertEqual(client.request("GET", "/ready").status, 200)
        self.notify.wait("STATUS", "serving on 127.0.0.1:%d with 2 event loops" % port, 5)

        self.check_watchdog(proc, "gw-loop-1")

        down = time.monotonic()
        h.kill_redis()
        self.notify.wait("STATUS", "degraded: Redis", 10, since=down)
        up = time.monotonic()
        h.start_redis()
        self.notify.wait("STATUS", "serving on", 15, since=up)
        self.stop_cleanly(proc)
        self.assertEqual(len(self.notify.all("READY")), 1)

    def test_sync(self):
        h = self.h
        h.psql_db("postgres", "CREATE DATABASE notify_fresh")
        conf = h.write_config("notify-sync.conf", {
            "database_url": "postgresql://postgres@127.0.0.1:%d/notify_fresh" % h.pg_port})
        h.stop_redis()
        proc = self.spawn(SYNC_BIN, conf, "sync-notify")
        self.notify.wait("STATUS", "waiting for Redis (lanes 0, 1)", 15)

        h.start_redis()
        migrations = sorted(f for f in os.listdir(os.path.join(SOURCE_DIR, "migrations")) if f.endswith(".sql"))
        self.notify.wait("STATUS", "waiting for migrations: %d not applied (first %s)" % (len(migrations), migrations[0]), 15)
        time.sleep(1.0)
        self.assertEqual(self.notify.all("READY"), [], "READY=1 before the migrations: %r" % self.notify.statuses())
        self.assertIsNone(proc.poll())

        h._run([SYNC_BIN, "-c", conf, "migrate"])
        migrated = time.monotonic()
        ready_at, _ = self.notify.wait("READY", "1", 20)
        self.assertGreaterEqual(ready_at, migrated)
        self.notify.wait("STATUS", "batches committed", 5, since=ready_at)

        self.check_watchdog(proc, "sync-lane-0")

        # Redis goes away and comes back: the lanes say so, then work again.
        down = time.monotonic()
        h.kill_redis()
        self.notify.wait("STATUS", "Redis (lanes 0, 1) unreachable", 15, since=down)
        up = time.monotonic()
        h.start_redis()
        self.notify.wait("STATUS", "batches committed", 20, since=up)
        self.assertEqual(len(self.notify.all("READY")), 1)

        # PostgreSQL goes away: the trust gate notices within its interval,
        # the lanes at their next batch (an issued code makes one).
        down = time.monotonic()
        h._stop_postgres()
        self.notify.wait("STATUS", "trust gate not evaluated", 15, since=down)
        h.generate(1)
        self.notify.wait("STATUS", "PostgreSQL (lane", 20, since=down)
        self.stop_cleanly(proc)


if __name__ == "__main__":
    unittest.main(verbosity=2)
