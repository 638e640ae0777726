#!/usr/bin/env python3
"""The sync daemon's Prometheus metrics (sync_metrics_listen):

- the text follows the exposition format and Prometheus's naming rules
  (checked here line by line, and by `promtool check metrics` when promtool
  is installed or IG_PROMTOOL names it);
- the counters count what happened: events applied per kind, batches and
  their histograms, the trust gate's state and last evaluation, reconnects
  after a Redis restart;
- the oldest unapplied entry's age grows while the lanes are stuck (their
  threads stopped with ptrace) and the metrics server still answers;
- only GET and HEAD of /metrics are served."""

import math
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import keys  # noqa: E402
from harness import HOST, code_body, code_location, unique_email, wait_until  # noqa: E402
from test_systemd_notify import thread_stopped  # noqa: E402

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(r"^(%s)(\{(.*)\})? (\S+)$" % NAME)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"')


def scrape(port, method="GET", path="/metrics"):
    """(status line, headers text, body) of one request."""
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(("%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (method, path)).encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    return lines[0], "\n".join(lines[1:]), body.decode()


def parse_exposition(text):
    """Checks text against the Prometheus text format and naming rules;
    returns {(name, frozenset(labels.items())): value}. Raises AssertionError."""
    families, samples, order = {}, {}, []
    helped = set()
    for n, line in enumerate(text.split("\n"), 1):
        if line == "":
            assert n == len(text.split("\n")), "empty line %d inside the text" % n
            continue
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert re.fullmatch(NAME, name) and name not in helped, "line %d: %s" % (n, line)
            assert len(line.split(" ", 3)) == 4 and line.split(" ", 3)[3].strip(), "line %d: HELP without text" % n
            helped.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name in helped and name not in families, "line %d: TYPE before HELP or twice: %s" % (n, line)
            assert kind in ("counter", "gauge", "histogram"), line
            families[name] = kind
            order.append(name)
            continue
        assert not line.startswith("#"), "line %d: unknown comment %s" % (n, line)
        m = SAMPLE.match(line)
        assert m, "line %d: not a sample: %r" % (n, line)
        name, labels_text, value = m.group(1), m.group(3) or "", m.group(4)
        labels = dict(LABEL.findall(labels_text))
        assert ",".join('%s="%s"' % kv for kv in LABEL.findall(labels_text)) == labels_text, "line %d: labels %r" % (n, line)
        base = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and families.get(name[:-len(suffix)]) == "histogram":
                base = name[:-len(suffix)]
        assert base == order[-1], "line %d: sample of %s outside its family (%s)" % (n, name, order[-1])
        v = float(value)
        assert not math.isnan(v), line
        key = (name, frozenset(labels.items()))
        assert key not in samples, "line %d: duplicate series %s" % (n, line)
        samples[key] = v
    for name, kind in families.items():
        assert name.startswith("invitegate_sync_"), name
        if kind == "counter":
            assert name.endswith("_total"), "counter %s must end in _total" % name
        else:
            assert not name.endswith("_total"), "%s %s must not end in _total" % (kind, name)
        assert not re.search(r"_(milliseconds|microseconds|ms|us|percent|minutes|hours|bytes_total)$", name), name
        if kind == "histogram":
            series = {}
            for (sname, labels), v in samples.items():
                if sname == name + "_bucket":
                    le = dict(labels)["le"]
                    series[math.inf if le == "+Inf" else float(le)] = v
            bounds = sorted(series)
            assert bounds and bounds[-1] == math.inf, "%s has no +Inf bucket" % name
            counts = [series[b] for b in bounds]
            assert counts == sorted(counts), "%s buckets are not cumulative: %r" % (name, counts)
            assert samples[(name + "_count", frozenset())] == counts[-1], name
            assert (name + "_sum", frozenset()) in samples, name
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


class SyncMetricsTest(harness.HarnessTestCase):
    def metrics(self):
        status, headers, body = scrape(self.h.sync_metrics_port)
        self.assertEqual(status, "HTTP/1.1 200 OK")
        self.assertIn("Content-Type: text/plain; version=0.0.4", headers)
        return body, parse_exposition(body)

    def test_1_format_and_counts(self):
        h = self.h
        wait_until(lambda: value(self.metrics()[1], "invitegate_sync_ready") == 1, 20, 0.2, "not ready")
        codes = h.generate(4)
        for code in codes[:3]:
            self.assertEqual(h.redeem(code, unique_email("m")).status, 200)
        r = h.http("POST", "/api/waitlist/join", {"email": unique_email("w"), "use_case": "notes", "persona": "agency"})
        self.assertEqual(r.status, 201, r)
        h.wait_synced()

        def counted():
            s = self.metrics()[1]
            return value(s, "invitegate_sync_events_applied_total", kind="redeemed") == 3 and s
        samples = wait_until(counted, 10, 0.2, "redemptions not counted")
        body = self.metrics()[0]
        promtool = os.environ.get("IG_PROMTOOL") or shutil.which("promtool")
        if promtool:
            res = subprocess.run([promtool, "check", "metrics"], input=body.encode(), stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, timeout=30)
            self.assertEqual((res.returncode, res.stdout.decode()), (0, ""), "promtool check metrics")
        else:
            print("promtool not installed: the exposition was checked by this test's parser only", file=sys.stderr)

        self.assertEqual(value(samples, "invitegate_sync_events_applied_total", kind="issued"), 4)
        self.assertEqual(value(samples, "invitegate_sync_events_applied_total", kind="joined"), 1)
        self.assertEqual(value(samples, "invitegate_sync_events_malformed_total"), 0)
        batches = value(samples, "invitegate_sync_batches_total")
        self.assertGreaterEqual(batches, 1)
        self.assertEqual(value(samples, "invitegate_sync_commit_duration_seconds_count"), batches)
        self.assertEqual(value(samples, "invitegate_sync_batch_events_count"), batches)
        self.assertGreaterEqual(value(samples, "invitegate_sync_batch_events_sum"), 8)
        self.assertGreater(value(samples, "invitegate_sync_commit_duration_seconds_sum"), 0)
        for b in range(harness.BUCKETS):
            self.assertEqual(value(samples, "invitegate_sync_lease_held", bucket=str(b)), 1)
            self.assertIsNotNone(value(samples, "invitegate_sync_stream_entries", bucket=str(b)))
            self.assertEqual(value(samples, "invitegate_sync_stream_oldest_unapplied_age_seconds", bucket=str(b)), 0)
        self.assertEqual(value(samples, "invitegate_sync_stream_scrape_success"), 1)
        bucket = str(keys.code_bucket(code_body(codes[0])))
        mark = value(samples, "invitegate_sync_mark_timestamp_seconds", bucket=bucket)
        self.assertTrue(mark and abs(time.time() - mark) < 60, mark)
        self.assertEqual(value(samples, "invitegate_sync_trust_gate_closed"), 0)
        self.assertEqual(value(samples, "invitegate_sync_trust_gate_mode", mode="auto"), 1)
        self.assertEqual(value(samples, "invitegate_sync_trust_gate_mode", mode="closed"), 0)
        self.assertTrue(0 <= value(samples, "invitegate_sync_trust_gate_score") <= 1)
        evaluated = value(samples, "invitegate_sync_trust_gate_last_evaluation_timestamp_seconds")
        self.assertLess(abs(time.time() - evaluated), 10)
        self.assertGreaterEqual(value(samples, "invitegate_sync_trust_gate_evaluations_total"), 1)
        self.assertEqual(value(samples, "invitegate_sync_lanes_waiting", store="redis"), 0)

    def test_2_backlog_age_while_the_lanes_are_stuck(self):
        h = self.h
        code = h.generate(1)[0]
        h.wait_synced()
        bucket = str(keys.code_bucket(code_body(code)))
        pid = h.sync_proc.pid
        with thread_stopped(pid, "sync-lane-0"), thread_stopped(pid, "sync-lane-1"):
            self.assertEqual(h.redeem(code, unique_email("stuck")).status, 200)
            time.sleep(1.5)
            samples = self.metrics()[1]
            age = value(samples, "invitegate_sync_stream_oldest_unapplied_age_seconds", bucket=bucket)
            self.assertGreaterEqual(age, 1.0, "the unapplied redemption's age: %r" % age)
            self.assertGreaterEqual(value(samples, "invitegate_sync_stream_entries", bucket=bucket), 1)
        h.wait_synced()
        wait_until(lambda: value(self.metrics()[1], "invitegate_sync_stream_oldest_unapplied_age_seconds", bucket=bucket) == 0,
                   10, 0.2, "the age did not go back to 0 once applied")

    def test_3_reconnects_after_a_redis_restart(self):
        before = value(self.metrics()[1], "invitegate_sync_reconnects_total", store="redis")
        self.h.restart_redis()
        # Each lane is always in a blocking XREAD, so both notice the restart at once.
        wait_until(lambda: value(self.metrics()[1], "invitegate_sync_reconnects_total", store="redis") >= before + 2, 20,
                   0.2, "both lanes' reconnects not counted")
        self.h.gateway.wait_ready()
        self.h.generate(1)
        self.h.wait_synced()

    def test_4_only_get_and_head_of_metrics(self):
        port = self.h.sync_metrics_port
        self.assertEqual(scrape(port, "POST")[0], "HTTP/1.1 405 Method Not Allowed")
        self.assertEqual(scrape(port, "GET", "/")[0], "HTTP/1.1 404 Not Found")
        status, headers, body = scrape(port, "HEAD")
        self.assertEqual((status, body), ("HTTP/1.1 200 OK", ""))
        self.assertRegex(headers, r"Content-Length: [1-9]")


if __name__ == "__main__":
    unittest.main(verbosity=2)
