"""
Integration test harness for invitegate (Python 3 standard library only).

Harness() is a context manager that, under a fresh temporary directory, starts
a private redis-server and PostgreSQL 15 on free loopback ports, writes a
configuration file, applies the migrations, and starts invitegate-gateway and
invitegate-sync. Everything listens on and talks to 127.0.0.1 only.

A small reaper process (its own session) watches a pipe held by the test
process: if the test is killed (ctest timeout, kill -9), the reaper kills
every process the harness started and removes the temporary directory.

Environment:
  IG_BUILD_DIR   build tree holding gateway/ and sync/ (default SOURCE/build)
  IG_SOURCE_DIR  source tree (default: two levels above this file)
  IG_KEEP_TMP=1  keep the temporary directory (logs, data) after the run
  IG_TEST_REDIS=cluster  run against a Redis Cluster of 3 masters (RedisCluster)
                 instead of one redis-server: the gateway gets a
                 redis+cluster:// URL, h.redis() follows MOVED/ASK, and the
                 sync daemon reads each bucket's stream from its master
"""

import collections
import hashlib
import http.client
import json
import os
import random
import re
import resource
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import keys  # noqa: E402

SOURCE_DIR = os.environ.get("IG_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD_DIR = os.environ.get("IG_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
GATEWAY_BIN = os.path.join(BUILD_DIR, "gateway", "invitegate-gateway")
SYNC_BIN = os.path.join(BUILD_DIR, "sync", "invitegate-sync")
PG_BIN = "/usr/lib/postgresql/15/bin"

CODE_PREFIX = "VOBEE-"
CODE_ALPHABET = "23456789ABCDEFGHJKMNOPQRSTUVWXYZ"
CODE_RE = re.compile(r"^VOBEE-[23456789ABCDEFGHJKMNOPQRSTUVWXYZ]{16}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
BUCKETS = keys.BUCKETS
SUBHASHES = keys.SUBHASHES

HOST = "127.0.0.1"


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def free_cluster_port():
    """A port for a Redis Cluster node: Redis puts the node's cluster bus on
    port + 10000, so both must be free and the port at most 55535."""
    for _ in range(200):
        port = random.randint(20000, 55535)
        try:
            for p in (port, port + 10000):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.bind((HOST, p))
            return port
        except OSError:
            continue
    raise AssertionError("no free port pair for a cluster node")


def token_hash(token):
    """What `admin_token =` takes: BLAKE2b-256 of the token, hex."""
    return hashlib.blake2b(token.encode(), digest_size=32).hexdigest()


def wait_until(predicate, timeout=10.0, interval=0.05, message=None):
    """Polls predicate until it returns a truthy value; returns it, or raises
    AssertionError after timeout seconds (message may be a callable)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except unittest.SkipTest:
            raise
        except Exception as exc:  # keep polling; report the last failure
            last_exc = exc
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            text = text or "condition not met"
            if last_exc is not None:
                text += " (last exception: %r)" % (last_exc,)
            raise AssertionError("timed out after %.1fs: %s" % (timeout, text))
        time.sleep(interval)


def code_body(code):
    """The 16-character body of a displayed code."""
    return code[len(CODE_PREFIX):] if code.startswith(CODE_PREFIX) else code


def tamper_code(code):
    """The same code with its last (check) character changed."""
    last = code[-1]
    repl = CODE_ALPHABET[(CODE_ALPHABET.index(last) + 7) % len(CODE_ALPHABET)]
    return code[:-1] + repl


def code_location(body):
    """(key, field) of a code record in Redis (keys.py, common/ig_keys.h)."""
    return keys.code_location(body)


def tail(path, lines=60):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        return "(cannot read %s: %s)" % (path, exc)
    text = data.decode("utf-8", "replace").splitlines()
    return "\n".join(text[-lines:])


# --------------------------------------------------------------------------
# Minimal RESP2 client (redis-cli output is awkward to parse for streams).

class RedisError(Exception):
    pass


class RedisClient:
    def __init__(self, port, timeout=5.0):
        self.port = port
        self.timeout = timeout
        self.sock = None
        self.rfile = None
        self.lock = threading.Lock()

    def close(self):
        if self.sock is not None:
            try:
                self.rfile.close()
                self.sock.close()
            except OSError:
                pass
        self.sock = self.rfile = None

    def _connect(self):
        self.sock = socket.create_connection((HOST, self.port), timeout=self.timeout)
        self.rfile = self.sock.makefile("rb")

    @staticmethod
    def _encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif not isinstance(a, bytes):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _read(self, raw=False):
        line = self.rfile.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.rfile.read(n + 2)
            return data[:-2] if raw else data[:-2].decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._read(raw) for _ in range(n)]
        raise RedisError("bad reply line %r" % line)

    def call(self, *args, raw=False):
        """One command; bulk strings come back as str, or as bytes with raw."""
        with self.lock:
            for attempt in (0, 1):
                try:
                    if self.sock is None:
                        self._connect()
                    self.sock.sendall(self._encode(args))
                    reply = self._read(raw)
                    break
                except (OSError, ConnectionError):
                    self.close()
                    if attempt:
                        raise
        if isinstance(reply, RedisError):
            raise reply
        return reply


class ClusterClient:
    """A RESP client of a Redis Cluster that follows redirections as
    `redis-cli -c` does: each command goes to the first node, then wherever
    MOVED or ASK (with ASKING on the same connection) sends it."""

    def __init__(self, ports, timeout=5.0):
        self.ports = list(ports)
        self.timeout = timeout
        self.clients = {}
        self.lock = threading.Lock()

    def node(self, port):
        """A plain client of one node (kept open)."""
        with self.lock:
            if port not in self.clients:
                self.clients[port] = RedisClient(port, self.timeout)
            return self.clients[port]

    def close(self):
        for c in list(self.clients.values()):
            c.close()

    def call(self, *args, raw=False):
        port, asking, last = self.ports[0], False, None
        for attempt in range(30):
            c = self.node(port)
            try:
                if asking:
                    with c.lock:  # ASKING and the command on one connection, back to back
                        c.sock is None and c._connect()
                        c.sock.sendall(c._encode(["ASKING"]) + c._encode(args))
                        c._read()
                        reply = c._read(raw)
                    if isinstance(reply, RedisError):
                        raise reply
                    return reply
                return c.call(*args, raw=raw)
            except RedisError as exc:
                msg, last = str(exc), exc
                if msg.startswith("MOVED ") or msg.startswith("ASK "):
                    port, asking = int(msg.rsplit(":", 1)[1]), msg.startswith("ASK ")
                    continue
                if msg.startswith("TRYAGAIN") or msg.startswith("CLUSTERDOWN"):
                    time.sleep(0.05)
                    continue
                raise
            except (OSError, ConnectionError) as exc:
                c.close()
                last, asking = exc, False
                port = self.ports[(self.ports.index(port) + 1) % len(self.ports)] if port in self.ports else self.ports[0]
        raise RedisError("cluster: no answer after 30 attempts: %r" % (last,))


class RedisCluster:
    """A Redis Cluster on free loopback ports: `masters` masters with
    `replicas` replicas each, made by `redis-cli --cluster create`, each node
    with AOF (appendfsync always, as the single Redis of the harness) under
    harness.tmp/cluster/PORT. Its processes are the harness's (reaped with
    it)."""

    def __init__(self, harness, masters=3, replicas=0, node_timeout_ms=2000):
        self.harness = harness
        self.num_masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.procs = {}
        self.ports = []
        self.client = ClusterClient([0])

    def start(self):
        n = self.num_masters * (1 + self.replicas)
        self.ports = []
        while len(self.ports) != n:
            port = free_cluster_port()
            if not {port, port + 10000} & ({p for p in self.ports} | {p + 10000 for p in self.ports}):
                self.ports.append(port)
        for port in self.ports:
            self.start_node(port)
        self.client = ClusterClient(self.ports[:self.num_masters])
        self.harness._run(["redis-cli", "--cluster", "create"] + ["%s:%d" % (HOST, p) for p in self.ports] +
                          ["--cluster-replicas", str(self.replicas), "--cluster-yes"], timeout=120)
        self.wait_ok()

    def start_node(self, port):
        d = os.path.join(self.harness.tmp, "cluster", str(port))
        os.makedirs(d, exist_ok=True)
        self.procs[port] = self.harness._spawn(
            ["redis-server", "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--dir", d, "--daemonize", "no", "--logfile", "",
             "--repl-diskless-sync-delay", "0",
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(self.node_timeout_ms)],
            os.path.join(self.harness.tmp, "redis-%d.log" % port))
        probe = RedisClient(port, timeout=1.0)
        try:
            wait_until(lambda: probe.call("PING") == "PONG", 10, 0.02, "cluster node %d did not answer" % port)
        finally:
            probe.close()

    def node(self, port):
        return self.client.node(port)

    def kill_node(self, port, sig=signal.SIGKILL):
        self.harness._stop_proc(self.procs[port], sig)
        self.client.node(port).close()

    def nodes(self):
        """CLUSTER NODES as seen by a live node: [(port, id, role, master id, slots text)]."""
        for port in self.ports:
            if self.procs[port].poll() is not None:
                continue
            try:
                text = self.node(port).call("CLUSTER", "NODES")
            except (OSError, ConnectionError, RedisError):
                continue
            out = []
            for line in text.splitlines():
                f = line.split()
                role = "master" if "master" in f[2] else "replica"
                out.append((int(f[1].split("@")[0].rsplit(":", 1)[1]), f[0], role, f[3], " ".join(f[8:])))
            return out
        raise AssertionError("no cluster node answers")

    def masters(self):
        return sorted(p for p, _, role, _, _ in self.nodes() if role == "master" and self.procs[p].poll() is None)

    def replica_of(self, master_port):
        return self.replicas_of(master_port)[0]

    def replicas_of(self, master_port):
        nodes = self.nodes()
        mid = [i for p, i, _, _, _ in nodes if p == master_port][0]
        return sorted(p for p, _, role, m, _ in nodes if role == "replica" and m == mid)

    def slot_owner(self, slot):
        for start, end, master, *_ in self.node(self.masters()[0]).call("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(master[1])
        raise AssertionError("slot %d has no master" % slot)

    def keyslot(self, key):
        return int(self.node(self.masters()[0]).call("CLUSTER", "KEYSLOT", key))

    def wait_ok(self, timeout=30.0):
        """Until every live node says cluster_state:ok and agrees on the
        masters, and every live replica has its master's data: its link is up
        and its first full sync done. Without the latter a replica attached
        a moment ago holds nothing yet (a master delays a diskless full sync
        by repl-diskless-sync-delay), and a test that cuts it off or promotes
        it meets an empty node, not a replica behind."""
        def ok():
            for port in self.ports:
                if self.procs[port].poll() is not None:
                    continue
                if "cluster_state:ok" not in self.node(port).call("CLUSTER", "INFO"):
                    return False
                info = self.node(port).call("INFO", "replication")
                if "role:slave" in info and ("master_link_status:up" not in info or
                                             "master_sync_in_progress:0" not in info):
                    return False
            return True
        wait_until(ok, timeout, 0.1, "cluster_state:ok on every node, every replica in sync")

    def scan(self, pattern):
        keys = []
        for port in self.masters():
            cursor = "0"
            while True:
                cursor, batch = self.node(port).call("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
                keys.extend(batch)
                if cursor == "0":
                    break
        return keys

    def url(self):
        return "redis+cluster://" + ",".join("%s:%d" % (HOST, p) for p in self.ports[:self.num_masters])

    def stop(self):
        self.client.close()
        for proc in self.procs.values():
            self.harness._stop_proc(proc)


def cluster_mode():
    """Whether IG_TEST_REDIS asks for a Redis Cluster."""
    return os.environ.get("IG_TEST_REDIS") == "cluster"


# --------------------------------------------------------------------------
# HTTP

class Response:
    """status, headers (case-insensitive .get), body (parsed JSON or text),
    raw (bytes)."""

    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        ctype = headers.get("Content-Type", "") or ""
        self.body = raw.decode("utf-8", "replace")
        self.json_ok = False
        if ctype.startswith("application/json"):
            try:
                self.body = json.loads(raw)
                self.json_ok = True
            except ValueError:
                pass

    def __iter__(self):  # (status, headers, body) unpacking
        return iter((self.status, self.headers, self.body))

    def __repr__(self):
        return "<HTTP %s %s %r>" % (self.status, self.headers.get("Content-Type"), self.raw[:300])


class HttpClient:
    """One keep-alive connection per thread to one gateway port; source_address
    (host, port) binds the client's end (another loopback address is another
    client address for the gateway)."""

    def __init__(self, port, timeout=15.0, source_address=None):
        self.port = port
        self.timeout = timeout
        self.source_address = source_address
        self.local = threading.local()

    @staticmethod
    def _dropped(conn):
        """True when the gateway closed an idle keep-alive connection (h2o
        does after 10 s without a request): readable while idle means end of
        stream. A request sent on it would fail half-way, as a POST whose
        body meets a reset, which request() cannot tell from a real error."""
        if conn.sock is None:
            return False
        return bool(select.select([conn.sock], [], [], 0)[0])

    def _conn(self, fresh=False):
        conn = getattr(self.local, "conn", None)
        if fresh or conn is None or self._dropped(conn):
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout, source_address=self.source_address)
            self.local.conn = conn
            self.local.used = False
        return conn

    def close(self):
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            conn.close()
            self.local.conn = None

    def request(self, method, path, body=None, token=None, headers=None, raw=None, fresh=False):
        hdrs = {}
        payload = None
        if raw is not None:
            payload = raw if isinstance(raw, bytes) else raw.encode()
        elif body is not None:
            payload = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        if payload is not None and "Content-Type" not in hdrs and not any(
                k.lower() == "content-type" for k in (headers or {})):
            hdrs["Content-Type"] = "application/json"
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        for k, v in (headers or {}).items():
            for existing in [h for h in hdrs if h.lower() == k.lower()]:
                del hdrs[existing]
            if v is not None:
                hdrs[k] = v
        for attempt in (0, 1):
            conn = self._conn(fresh=fresh or attempt == 1)
            reused = self.local.used
            send_error = None
            try:
                conn.putrequest(method, path, skip_accept_encoding=True)
                for k, v in hdrs.items():
                    conn.putheader(k, v)
                if payload is not None or method in ("POST", "PUT", "PATCH"):
                    conn.putheader("Content-Length", str(len(payload or b"")))
                conn.endheaders()
                if payload:
                    try:
                        view = memoryview(payload)
                        for i in range(0, len(payload), 65536):
                            conn.sock.sendall(view[i:i + 65536])
                    except (BrokenPipeError, ConnectionResetError) as exc:
                        # The server may answer (413) and close before
                        # reading the whole body: still read its answer.
                        send_error = exc
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                conn.close()
                self.local.conn = None
                if reused and attempt == 0:
                    # A stale keep-alive connection (closed by the server's idle
                    # timeout while unused; the send may then fail too): retry once.
                    continue
                raise AssertionError("%s %s: connection failed: %r (send error %r)"
                                     % (method, path[:80], exc, send_error))
            except socket.timeout:
                conn.close()
                self.local.conn = None
                raise AssertionError("%s %s: no answer within %.0fs (hang)" % (method, path[:80], self.timeout))
            self.local.used = True
            if send_error is not None or (resp.getheader("Connection", "") or "").lower() == "close":
                conn.close()
                self.local.conn = None
            return Response(resp.status, resp.msg, data)


def read_until_close(s):
    """Everything s receives until the peer closes (a reset counts as a
    close); raises AssertionError when the socket's timeout passes first."""
    chunks = []
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise AssertionError("connection neither answered nor closed within %.0fs (hang); got %r"
                             % (s.gettimeout(), b"".join(chunks)[:200]))
    return b"".join(chunks)


def raw_exchange(port, data, timeout=10.0):
    """Sends bytes on a fresh connection, half-closes, returns what came back."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return read_until_close(s)


# --------------------------------------------------------------------------

REAPER_SRC = r"""
import os, signal, sys, shutil, time
tmp = sys.argv[1]
pids, keep = set(), False
for line in sys.stdin:
    line = line.strip()
    if line == 'exit':
        sys.exit(0)
    if line == 'keep':
        keep = True
    elif line.startswith('-'):
        pids.discard(int(line[1:]))
    elif line:
        pids.add(int(line))
# The test process died without cleaning up.
try:
    with open(os.path.join(tmp, 'pg', 'data', 'postmaster.pid')) as f:
        pids.add(int(f.readline()))
except Exception:
    pass
for p in pids:
    try:
        os.kill(p, signal.SIGKILL)
    except OSError:
        pass
time.sleep(0.5)
if not keep:
    shutil.rmtree(tmp, ignore_errors=True)
"""


class Gateway:
    """One running invitegate-gateway."""

    def __init__(self, harness, name, conf_path, port):
        self.harness = harness
        self.name = name
        self.conf_path = conf_path
        self.port = port
        self.log_path = os.path.join(harness.tmp, name + ".log")
        self.proc = None
        self.client = HttpClient(port)

    def start(self, wait_ready=True, nofile=None):
        """Starts the gateway; nofile sets its descriptor limit (soft and
        hard), as a service manager's LimitNOFILE= would."""
        kw = {}
        if nofile is not None:
            kw["preexec_fn"] = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        self.proc = self.harness._spawn([GATEWAY_BIN, "-c", self.conf_path], self.log_path, **kw)
        if wait_ready:
            self.wait_ready()

    def wait_ready(self, timeout=20.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %s:\n%s" % (self.name, self.proc.returncode, tail(self.log_path)))
            try:
                return self.client.request("GET", "/ready", fresh=True).status == 200
            except (AssertionError, OSError):
                return False
        try:
            wait_until(ready, timeout, 0.05, "%s /ready != 200" % self.name)
        except AssertionError:
            if self.proc.poll() is not None:
                raise AssertionError("%s exited with %s:\n%s" % (self.name, self.proc.returncode, tail(self.log_path)))
            raise

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def http(self, method, path, body=None, token=None, headers=None, raw=None, fresh=False):
        return self.client.request(method, path, body=body, token=token, headers=headers, raw=raw, fresh=fresh)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        self.client.close()
        self.harness._stop_proc(self.proc, sig, timeout)


class Harness:
    """Private Redis + PostgreSQL + gateway + sync daemon. Use as a context
    manager; `overrides` replaces configuration keys (None removes one)."""

    def __init__(self, overrides=None, start_sync=True, cluster=None, cluster_replicas=0):
        self.overrides = dict(overrides or {})
        # A Redis Cluster instead of one redis-server (IG_TEST_REDIS=cluster, or cluster=True).
        self.cluster_wanted = cluster_mode() if cluster is None else cluster
        self.cluster_replicas = cluster_replicas
        self.cluster = None
        self.want_sync = start_sync
        self.tmp = None
        self.procs = []
        self.redis_proc = None
        self.sync_proc = None
        self.gateway = None
        self.extra_gateways = []
        self.pg_started = False
        self.reaper = None
        self.failed = False
        self.admin_token = secrets.token_hex(16)
        self.reader_token = secrets.token_hex(16)
        self.secret_key = secrets.token_hex(32)
        self.is_root = os.geteuid() == 0

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.failed = True
            self.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.failed = True
        self.close()
        return False

    def start(self):
        for b in (GATEWAY_BIN, SYNC_BIN):
            if not os.access(b, os.X_OK):
                raise unittest.SkipTest("binary not built: %s" % b) if os.environ.get("IG_SKIP_MISSING") \
                    else AssertionError("binary not built: %s" % b)
        self.tmp = tempfile.mkdtemp(prefix="invitegate-it-")
        os.chmod(self.tmp, 0o711)  # the postgres user must traverse it
        self.reaper = subprocess.Popen([sys.executable, "-c", REAPER_SRC, self.tmp], stdin=subprocess.PIPE,
                                       start_new_session=True, text=True)
        if os.environ.get("IG_KEEP_TMP"):
            self._tell_reaper("keep")
        if self.cluster_wanted:
            self.cluster = RedisCluster(self, replicas=self.cluster_replicas)
            self.cluster.start()
            self.redis_port = self.cluster.ports[0]
            self.redis_client = self.cluster.client
        else:
            self.redis_port = free_port()
            self.redis_dir = os.path.join(self.tmp, "redis")
            os.mkdir(self.redis_dir)
            self.start_redis()
            self.redis_client = RedisClient(self.redis_port)
        self._start_postgres()
        self.gateway_port = free_port()
        self.sync_metrics_port = free_port()
        self.conf_path = self.write_config("invitegate.conf", {"listen": "%s:%d" % (HOST, self.gateway_port)})
        self.sync_log = os.path.join(self.tmp, "sync.log")
        self.run_migrations()
        self.gateway = Gateway(self, "gateway", self.conf_path, self.gateway_port)
        self.gateway.start()
        if self.want_sync:
            self.start_sync()

    def close(self):
        if self.tmp is None:
            return
        if self.failed:
            self.dump_logs()
        for gw in self.extra_gateways + ([self.gateway] if self.gateway else []):
            try:
                gw.stop()
            except Exception as exc:
                print("harness: stopping %s: %r" % (gw.name, exc), file=sys.stderr)
        self._stop_proc(self.sync_proc)
        if getattr(self, "redis_paused", False):
            self.resume_redis()
        self._stop_proc(self.redis_proc)
        if self.cluster is not None:
            self.cluster.stop()
        if getattr(self, "redis_client", None):
            self.redis_client.close()
        self._stop_postgres()
        keep = bool(os.environ.get("IG_KEEP_TMP"))
        if self.reaper is not None:
            try:
                self.reaper.stdin.write("exit\n")
                self.reaper.stdin.close()
                self.reaper.wait(5)
            except Exception:
                pass
        if keep:
            print("harness: kept %s" % self.tmp, file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp = None

    def dump_logs(self, lines=40):
        if self.tmp is None:
            return
        for name in sorted(os.listdir(self.tmp)):
            if name.endswith(".log"):
                print("----- tail of %s -----\n%s" % (name, tail(os.path.join(self.tmp, name), lines)),
                      file=sys.stderr)

    # -- processes ---------------------------------------------------------

    def _tell_reaper(self, line):
        try:
            self.reaper.stdin.write(line + "\n")
            self.reaper.stdin.flush()
        except Exception:
            pass

    @staticmethod
    def _child_env():
        # IG_<KEY> variables override configuration keys: keep ours out.
        return {k: v for k, v in os.environ.items() if not k.startswith("IG_")}

    def _spawn(self, argv, log_path, **kw):
        log = open(log_path, "ab")
        kw.setdefault("env", self._child_env())
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                cwd=self.tmp, **kw)
        log.close()
        self.procs.append(proc)
        self._tell_reaper(str(proc.pid))
        return proc

    def _stop_proc(self, proc, sig=signal.SIGTERM, timeout=10.0):
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.send_signal(sig)
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._tell_reaper("-%d" % proc.pid)

    def _run(self, argv, as_postgres=False, check=True, timeout=60, **kw):
        if as_postgres and self.is_root:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=self.tmp,
                             env=self._child_env(), timeout=timeout, **kw)
        if check and res.returncode != 0:
            raise AssertionError("%s failed (%d):\n%s" % (" ".join(argv), res.returncode,
                                                          res.stdout.decode("utf-8", "replace")))
        return res

    # -- Redis -------------------------------------------------------------

    def start_redis(self, timeout=10.0, extra_args=(), wait=True):
        """Starts redis-server on its port and data directory; extra_args are
        more command-line options; with wait, returns once it answers PING
        (its data set loaded)."""
        self.redis_proc = self._spawn(
            ["redis-server", "--port", str(self.redis_port), "--bind", HOST, "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", self.redis_dir,
             "--daemonize", "no", "--logfile", ""] + list(extra_args),
            os.path.join(self.tmp, "redis.log"))
        if not wait:
            return
        probe = RedisClient(self.redis_port, timeout=1.0)
        try:
            wait_until(lambda: probe.call("PING") == "PONG", timeout, 0.02, "redis-server did not answer")
        finally:
            probe.close()

    def need_sync(self):
        """Skips the calling test when the harness runs no sync daemon."""
        if not self.want_sync:
            raise unittest.SkipTest("needs the sync daemon")

    def need_single_redis(self):
        """Skips the calling test when running against a cluster: it stops or
        restarts the one Redis process."""
        if self.cluster is not None:
            raise unittest.SkipTest("needs the single redis-server, not a cluster")

    def stop_redis(self):
        """Clean shutdown (SIGTERM): the AOF is kept."""
        self.need_single_redis()
        self._stop_proc(self.redis_proc)
        self.redis_client.close()

    def kill_redis(self):
        self.need_single_redis()
        self._stop_proc(self.redis_proc, signal.SIGKILL)
        self.redis_client.close()

    def pause_redis(self):
        """SIGSTOP: Redis hangs, its connections open and nothing answered,
        until resume_redis() (close() resumes it too)."""
        self.redis_proc.send_signal(signal.SIGSTOP)
        self.redis_paused = True

    def resume_redis(self):
        """SIGCONT after pause_redis(): Redis reads what waited on its sockets."""
        self.redis_proc.send_signal(signal.SIGCONT)
        self.redis_paused = False

    def restart_redis(self):
        self.stop_redis()
        self.start_redis()

    def redis(self, *args, raw=False):
        """One Redis command; returns the decoded reply (bulk strings as bytes
        with raw), raises RedisError. On a cluster FLUSHALL and FLUSHDB go to
        every master (each holds the keys of its slots)."""
        if self.cluster is not None and str(args[0]).upper() in ("FLUSHALL", "FLUSHDB"):
            return [self.cluster.node(port).call(*args, raw=raw) for port in self.cluster.masters()][-1]
        return self.redis_client.call(*args, raw=raw)

    def redis_scan(self, pattern):
        if self.cluster is not None:
            return self.cluster.scan(pattern)
        cursor, keys = "0", []
        while True:
            cursor, batch = self.redis("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            keys.extend(batch)
            if cursor == "0":
                return keys

    def waitlist_members(self):
        """The e-mails the waitlist holds in Redis (its sequence hashes,
        keys.wl_members, map a sequence number to hash8 || e-mail), as a
        Counter: someone held twice counts 2. People known only as referrers
        (sharers, redeemers: a sequence number but no place, their user
        record's state the empty string, packed first as 0xa0) are left out."""
        members = collections.Counter()
        for key in self.redis_scan(keys.pattern(keys.WL_BUCKET, "wl:s")):
            for v in self.redis("HGETALL", key, raw=True)[1::2]:
                user = self.redis("HGET", keys.user(v[:8]), v[:8], raw=True)
                if user is None or user[:1] != b"\xa0":
                    members[v[8:].decode()] += 1
        return members

    def forget_code(self, code):
        """Deletes a code's record from Redis so that it becomes unknown (404):
        HDEL of its field in its small hash (layout of common/ig_keys.h), or,
        failing that, of its field in every code hash."""
        body = code_body(code)
        key, field = code_location(body)
        if self.redis("HDEL", key, field) == 1:
            return
        removed = 0
        for k in self.redis_scan(keys.pattern(None, "c")):
            removed += self.redis("HDEL", k, field)
            removed += self.redis("HDEL", k, body)
        if removed == 0:
            raise AssertionError("could not find the Redis record of %s" % code)

    # -- PostgreSQL --------------------------------------------------------

    def _start_postgres(self):
        pg = os.path.join(self.tmp, "pg")
        self.pg_data = os.path.join(pg, "data")
        self.pg_sock = os.path.join(pg, "sock")
        os.makedirs(self.pg_data, mode=0o700)
        os.makedirs(self.pg_sock)
        if self.is_root:
            for p in (pg, self.pg_data, self.pg_sock):
                shutil.chown(p, "postgres", "postgres")
        self.pg_port = free_port()
        self._run([os.path.join(PG_BIN, "initdb"), "-D", self.pg_data, "-U", "postgres", "-A", "trust",
                   "--no-sync", "-E", "UTF8", "--locale=C"], as_postgres=True)
        self.pg_opts = "-c listen_addresses=%s -p %d -k %s -c fsync=off -c synchronous_commit=off" % (
            HOST, self.pg_port, self.pg_sock)
        self.start_postgres()
        wait_until(lambda: self._run([os.path.join(PG_BIN, "pg_isready"), "-h", HOST, "-p", str(self.pg_port)],
                                     check=False).returncode == 0, 20, 0.1, "pg_isready")
        self._run(["psql", "-X", "-q", "-h", HOST, "-p", str(self.pg_port), "-U", "postgres", "-d", "postgres",
                   "-c", "CREATE DATABASE invitegate"])
        self.database_url = "postgresql://postgres@%s:%d/invitegate" % (HOST, self.pg_port)

    def _stop_postgres(self):
        if not self.pg_started:
            return
        self.pg_started = False
        res = self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.pg_data, "-m", "immediate", "-w", "stop"],
                        as_postgres=True, check=False)
        if res.returncode != 0:
            try:
                with open(os.path.join(self.pg_data, "postmaster.pid")) as f:
                    os.kill(int(f.readline()), signal.SIGKILL)
            except (OSError, ValueError):
                pass

    def start_postgres(self):
        """Starts the private cluster (again, after stop_postgres) on its port
        with its data directory, and tells the reaper its postmaster."""
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.pg_data, "-l",
                   os.path.join(os.path.dirname(self.pg_data), "postgres.log"),
                   "-o", self.pg_opts, "-w", "-t", "30", "start"], as_postgres=True)
        self.pg_started = True
        try:
            with open(os.path.join(self.pg_data, "postmaster.pid")) as f:
                self.pg_pid = int(f.readline())
            self._tell_reaper(str(self.pg_pid))
        except (OSError, ValueError):
            pass

    def stop_postgres(self, mode="fast"):
        """Stops the private cluster (pg_ctl stop -m mode: fast disconnects
        every session, immediate is a crash), keeping its data for
        start_postgres()."""
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.pg_data, "-m", mode, "-w", "-t", "30", "stop"],
                  as_postgres=True)
        self.pg_started = False
        if getattr(self, "pg_pid", None):
            self._tell_reaper("-%d" % self.pg_pid)
            self.pg_pid = None

    def psql(self, sql):
        """Runs SQL in the invitegate database; returns rows as lists of strings."""
        return self.psql_db("invitegate", sql)

    def psql_db(self, db, sql):
        """Runs SQL in database db of the private cluster; returns rows as lists of strings."""
        res = subprocess.run(["psql", "-X", "-At", "-F", "\x1f", "-v", "ON_ERROR_STOP=1", "-h", HOST,
                              "-p", str(self.pg_port), "-U", "postgres", "-d", db, "-c", sql],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self._child_env(), timeout=60)
        if res.returncode != 0:
            raise AssertionError("psql failed: %s\n%s" % (sql, res.stderr.decode("utf-8", "replace")))
        out = res.stdout.decode("utf-8", "replace")
        return [line.split("\x1f") for line in out.splitlines() if line != ""]

    def redemption_rows(self):
        """PostgreSQL's redemptions as a Counter of (code body, e-mail) -> rows."""
        return collections.Counter({(code, email): int(n) for code, email, n in
                                    self.psql("SELECT code, email, count(*) FROM redemptions GROUP BY 1, 2")})

    def psql_value(self, sql):
        rows = self.psql(sql)
        return rows[0][0] if rows else None

    # -- configuration -----------------------------------------------------

    def config_dict(self, extra=None):
        conf = {
            "threads": "2",
            "redis_url": self.cluster.url() if self.cluster is not None else "redis://%s:%d" % (HOST, self.redis_port),
            "database_url": self.database_url,
            "secret_key": self.secret_key,
            "code_prefix": CODE_PREFIX,
            "rate_limit_per_sec": "0",
            "migrations_dir": os.path.join(SOURCE_DIR, "migrations"),
            "sync_consumer": "test",
            "sync_block_ms": "200",
            "sync_metrics_listen": "%s:%d" % (HOST, self.sync_metrics_port),
            # The daemon's retention schedule would anonymise backdated
            # fixtures behind a test's back: tests that want it turn it on.
            "retention_days": "0",
            # The install's bucket count (keys.BUCKETS: IG_TEST_BUCKETS, 16 by default).
            "buckets": str(keys.BUCKETS),
        }
        if self.cluster is not None:
            # An admission of 1,000 is one call of 1,003 keys, each checked for its slot by the cluster (about
            # 0.1 s against 0.05 s on one Redis here); with the Debug build's code generation in the same budget
            # it came within a few percent of 1 s on a busy machine.
            conf["redis_timeout_ms"] = "2000"
        conf.update(self.overrides)
        conf.update(extra or {})
        return conf

    def write_config(self, name, extra=None):
        conf = self.config_dict(extra)
        lines = ["# written by tests/integration/harness.py"]
        for k, v in conf.items():
            if v is not None:
                lines.append("%s = %s" % (k, v))
        lines.append("admin_token = %s admin all" % token_hash(self.admin_token))
        lines.append("admin_token = %s reader read" % token_hash(self.reader_token))
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start_gateway(self, overrides, nofile=None):
        """Starts another gateway on its own port sharing Redis, with some
        configuration keys overridden (nofile: its descriptor limit, see
        Gateway.start). Stopped by close()."""
        port = free_port()
        name = "gateway%d" % (len(self.extra_gateways) + 2)
        extra = dict(overrides)
        extra["listen"] = "%s:%d" % (HOST, port)
        conf = self.write_config(name + ".conf", extra)
        gw = Gateway(self, name, conf, port)
        self.extra_gateways.append(gw)
        gw.start(nofile=nofile)
        return gw

    # -- sync daemon -------------------------------------------------------

    def old_database(self, db, last):
        """Creates database db with the migrations up to number last (a 3-digit string) applied; returns its URL."""
        self.psql("CREATE DATABASE %s" % db)
        url = "postgresql://postgres@%s:%d/%s" % (HOST, self.pg_port, db)
        old_dir = os.path.join(self.tmp, "migrations-%s-%s" % (last, db))
        os.mkdir(old_dir)
        for name in sorted(os.listdir(os.path.join(SOURCE_DIR, "migrations"))):
            if name[:3] <= last:
                shutil.copy(os.path.join(SOURCE_DIR, "migrations", name), old_dir)
        self._run([SYNC_BIN, "-c", self.write_config(db + "-old.conf", {"database_url": url, "migrations_dir": old_dir}),
                   "migrate"])
        return url

    def run_migrations(self):
        self._run([SYNC_BIN, "-c", self.conf_path, "migrate"])

    def start_sync(self, consumer=None, env_overrides=None):
        """Starts the sync daemon (consumer: another consumer name, given as
        the IG_SYNC_CONSUMER environment override; env_overrides: more IG_*
        variables)."""
        env = self._child_env()
        if consumer is not None:
            env["IG_SYNC_CONSUMER"] = consumer
        env.update(env_overrides or {})
        self.need_sync()
        self.sync_proc = self._spawn([SYNC_BIN, "-c", self.conf_path], self.sync_log, env=env)
        return self.sync_proc

    def kill_sync(self, sig=signal.SIGKILL):
        self._stop_proc(self.sync_proc, sig)

    def sync_alive(self):
        return self.sync_proc is not None and self.sync_proc.poll() is None

    def marks(self):
        """Each bucket's high-water mark in sync_progress, as (ms, seq); (0, 0) before any."""
        marks = {b: (0, 0) for b in range(BUCKETS)}
        for bucket, ms, seq in self.psql("SELECT bucket, last_ms, last_seq FROM sync_progress"):
            marks[int(bucket)] = (int(ms), int(seq))
        return marks

    def stream_tips(self):
        """Each bucket's last stream entry as (ms, seq); (0, 0) for an empty stream."""
        tips = {}
        for b in range(BUCKETS):
            last = self.redis("XREVRANGE", keys.events(b), "+", "-", "COUNT", "1")
            tips[b] = tuple(int(x) for x in last[0][0].split("-")) if last else (0, 0)
        return tips

    def streams_behind(self, tips=None):
        """Buckets whose stream has an entry past its high-water mark: 0 once
        PostgreSQL holds every event (with tips, from stream_tips(): every
        event up to those)."""
        marks = self.marks()
        tips = self.stream_tips() if tips is None else tips
        return sum(tips[b] > marks[b] for b in range(BUCKETS))

    def wait_synced(self, timeout=30.0, what="the sync daemon caught up"):
        self.need_sync()
        wait_until(lambda: self.streams_behind() == 0, timeout, 0.1,
                   lambda: "%s: %d streams behind" % (what, self.streams_behind()))

    # -- HTTP (main gateway) ----------------------------------------------

    def http(self, method, path, body=None, token=None, headers=None, raw=None, fresh=False):
        return self.gateway.http(method, path, body=body, token=token, headers=headers, raw=raw, fresh=fresh)

    @property
    def port(self):
        return self.gateway_port

    def generate(self, batch_size=1, batch_id=None, **fields):
        """Issues a batch with the admin token; asserts 201; returns the codes."""
        body = {"batch_size": batch_size, "batch_id": batch_id or ("B-" + secrets.token_hex(8))}
        body.update(fields)
        r = self.http("POST", "/api/invites/generate", body, token=self.admin_token)
        if r.status != 201:
            raise AssertionError("generate %r -> %r" % (body, r))
        return r.body["codes"]

    def redeem(self, code, email):
        return self.http("POST", "/api/invites/redeem", {"code": code, "email": email})

    def status(self, code):
        return self.http("GET", "/api/invites/%s/status" % code)


def unique_email(tag="user"):
    return "%s-%s@example.com" % (tag, secrets.token_hex(6))


class HarnessTestCase(unittest.TestCase):
    """A TestCase class sharing one Harness across its tests (setUpClass).
    Subclasses may set HARNESS_OVERRIDES. On a failure the daemon logs are
    printed when the class tears down."""

    HARNESS_OVERRIDES = None
    h = None

    @classmethod
    def setUpClass(cls):
        cls.h = Harness(cls.HARNESS_OVERRIDES)
        cls.h.__enter__()

    @classmethod
    def tearDownClass(cls):
        if cls.h is not None:
            cls.h.close()
            cls.h = None

    def run(self, result=None):
        before = (len(result.failures) + len(result.errors)) if result else 0
        out = super().run(result)
        if result is not None and len(result.failures) + len(result.errors) > before and self.h is not None:
            self.h.failed = True
        return out

    # -- assertions --------------------------------------------------------

    def assertError(self, resp, status, reason=None, field=None):
        """An error answer: status, JSON body {"status":"error","error":reason,
        "message":string} with Content-Type application/json."""
        self.assertEqual(resp.status, status, resp)
        ctype = resp.headers.get("Content-Type", "") or ""
        self.assertTrue(ctype.startswith("application/json"), "Content-Type %r: %r" % (ctype, resp))
        self.assertTrue(resp.json_ok and isinstance(resp.body, dict), resp)
        self.assertEqual(resp.body.get("status"), "error", resp)
        if reason is not None:
            if isinstance(reason, (tuple, list, set)):
                self.assertIn(resp.body.get("error"), reason, resp)
            else:
                self.assertEqual(resp.body.get("error"), reason, resp)
        self.assertIsInstance(resp.body.get("message"), str, resp)
        self.assertTrue(resp.body.get("message"), resp)
        if field is not None:
            self.assertIn(field, resp.body["message"], "message does not name %r: %r" % (field, resp))

    def assertJson(self, resp, status):
        self.assertEqual(resp.status, status, resp)
        ctype = resp.headers.get("Content-Type", "") or ""
        self.assertTrue(ctype.startswith("application/json"), "Content-Type %r: %r" % (ctype, resp))
        self.assertTrue(resp.json_ok, resp)
        return resp.body


def main():
    """Runs the calling module's tests; exits non-zero on failure."""
    unittest.main(module="__main__", verbosity=2)
