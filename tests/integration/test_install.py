#!/usr/bin/env python3
"""Installation, units and the Debian package.

- `cmake --install` into a DESTDIR (prefix /usr, and a relocated prefix)
  lays out the binaries, the migrations, the example configuration, the
  units and the docs, with the units naming the installed paths;
- `systemd-analyze verify` prints nothing on the installed units (it exits 0
  even on unknown keys, so any line it prints fails the test) and
  `systemd-analyze security --offline=true` rates each at most 1.5 (OK);
- each unit's ExecStart= and Environment= lines, as written, start the
  installed daemons (the install prefix mapped into the DESTDIR, %d to a
  credentials directory), which reach READY=1 on a notification socket: the
  units and the binaries cannot drift apart; the sync daemon finds the
  installed migrations without migrations_dir;
- `cpack -G DEB` builds a package whose control declares the libraries the
  binaries link, ships the maintainer scripts, and starts nothing."""

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BUILD_DIR, SOURCE_DIR, HttpClient  # noqa: E402
from test_systemd_notify import NotifySocket  # noqa: E402

UNITS = ("invitegate-gateway.service", "invitegate-sync.service")
MAX_EXPOSURE = 1.5


def run(argv, check=True, env=None, timeout=600):
    res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    out = res.stdout.decode("utf-8", "replace")
    if check and res.returncode != 0:
        raise AssertionError("%s exited %d:\n%s" % (" ".join(argv), res.returncode, out))
    return res.returncode, out


def install(destdir, prefix):
    env = dict(os.environ, DESTDIR=destdir)
    run(["cmake", "--install", BUILD_DIR, "--prefix", prefix], env=env)


def unit_service_lines(path, key):
    """The values of key= in the [Service] section of a unit file."""
    values, section = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and line.startswith(key + "="):
                values.append(line[len(key) + 1:])
    return values


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="invitegate-install-")
        os.chmod(cls.tmp, 0o711)
        cls.root = os.path.join(cls.tmp, "root")
        install(cls.root, "/usr")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def test_tree(self):
        for name in ("invitegate-gateway", "invitegate-sync"):
            self.assertTrue(os.access(self.path("usr/bin", name), os.X_OK), name)
        source = sorted(f for f in os.listdir(os.path.join(SOURCE_DIR, "migrations")) if f.endswith(".sql"))
        self.assertEqual(sorted(os.listdir(self.path("usr/share/invitegate/migrations"))), source)
        self.assertTrue(os.path.isfile(self.path("etc/invitegate/invitegate.conf.example")))
        self.assertFalse(os.path.exists(self.path("etc/invitegate/invitegate.conf")), "a live configuration was installed")
        for doc in ("README.md", "ARCHITECTURE.md", "LAUNCH.md", "cohort-sample.csv"):
            self.assertTrue(os.path.isfile(self.path("usr/share/doc/invitegate", doc)), doc)
        for unit, binary in zip(UNITS, ("invitegate-gateway", "invitegate-sync")):
            path = self.path("usr/lib/systemd/system", unit)
            self.assertEqual(unit_service_lines(path, "ExecStart"),
                             ["/usr/bin/%s -c /etc/invitegate/invitegate.conf" % binary])
            self.assertEqual(unit_service_lines(path, "LoadCredential"), ["secret.key:/etc/invitegate/secret.key"])
            self.assertEqual(unit_service_lines(path, "Type"), ["notify"])

    def test_relocated_prefix(self):
        root = os.path.join(self.tmp, "opt-root")
        install(root, "/opt/invitegate")
        unit = os.path.join(root, "opt/invitegate/lib/systemd/system/invitegate-sync.service")
        self.assertEqual(unit_service_lines(unit, "ExecStart"),
                         ["/opt/invitegate/bin/invitegate-sync -c /opt/invitegate/etc/invitegate/invitegate.conf"])
        self.assertEqual(unit_service_lines(unit, "LoadCredential"),
                         ["secret.key:/opt/invitegate/etc/invitegate/secret.key"])
        self.assertTrue(os.path.isfile(os.path.join(root, "opt/invitegate/etc/invitegate/invitegate.conf.example")))
        self.assertTrue(os.path.isdir(os.path.join(root, "opt/invitegate/share/invitegate/migrations")))

    def test_units_verify_and_security(self):
        for unit in UNITS:
            # verify resolves ExecStart= on this machine: point it at the installed binary.
            with open(self.path("usr/lib/systemd/system", unit)) as f:
                text = f.read().replace("/usr/bin/", self.path("usr/bin") + "/")
            copy = os.path.join(self.tmp, unit)
            with open(copy, "w") as f:
                f.write(text)
            rc, out = run(["systemd-analyze", "verify", "--man=no", copy], check=False)
            self.assertEqual((rc, out), (0, ""), "systemd-analyze verify %s" % unit)
            rc, out = run(["systemd-analyze", "security", "--offline=true", "--threshold=%d" % (MAX_EXPOSURE * 10),
                           self.path("usr/lib/systemd/system", unit)], check=False)
            m = re.search(r"Overall exposure level for %s: (\d+\.\d+)" % re.escape(unit), out)
            self.assertIsNotNone(m, out)
            print("%s: exposure %s" % (unit, m.group(1)), file=sys.stderr)
            self.assertLessEqual(float(m.group(1)), MAX_EXPOSURE, out)
            self.assertEqual(rc, 0, out)

    def test_units_start_the_installed_daemons(self):
        with harness.Harness(start_sync=False) as h:
            creds = os.path.join(self.tmp, "credentials")
            os.makedirs(creds, exist_ok=True)
            with open(os.path.join(creds, "secret.key"), "w") as f:
                f.write(h.secret_key + "\n")
            port = harness.free_port()
            conf_dir = self.path("etc/invitegate")
            with open(os.path.join(conf_dir, "invitegate.conf"), "w") as f:
                # What an operator writes; no secret (a credential), no migrations_dir (the installed ones).
                f.write("listen = 127.0.0.1:%d\nredis_url = redis://127.0.0.1:%d\ndatabase_url = %s\n"
                        "threads = 2\nsync_consumer = unit\nsync_metrics_listen = 127.0.0.1:%d\n"
                        % (port, h.redis_port, h.database_url, harness.free_port()))
            self.addCleanup(os.unlink, os.path.join(conf_dir, "invitegate.conf"))
            for unit in UNITS:
                path = self.path("usr/lib/systemd/system", unit)
                [exec_start] = unit_service_lines(path, "ExecStart")
                argv = [self.root + a if a.startswith(("/usr/", "/etc/")) else a for a in shlex.split(exec_start)]
                env = h._child_env()
                for assignment in unit_service_lines(path, "Environment"):
                    key, value = assignment.split("=", 1)
                    env[key] = value.replace("%d", creds)
                self.assertFalse(any("%" in a for a in argv + list(env.values())), "unexpanded specifier: %r" % argv)
                notify = NotifySocket(self.tmp, unit)
                self.addCleanup(notify.close)
                env["NOTIFY_SOCKET"] = notify.path
                proc = h._spawn(argv, os.path.join(h.tmp, unit + ".log"), env=env)
                try:
                    notify.wait("READY", "1", 30)
                    if "gateway" in unit:
                        client = HttpClient(port)
                        self.assertEqual(client.request("GET", "/ready").status, 200)
                        client.close()
                    proc.send_signal(signal.SIGTERM)
                    self.assertEqual(proc.wait(30), 0)
                except BaseException:
                    h.failed = True
                    raise
                finally:
                    h._stop_proc(proc)

    def test_debian_package(self):
        out_dir = os.path.join(self.tmp, "pkg")
        run(["cpack", "-G", "DEB", "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake"), "-B", out_dir])
        debs = [f for f in os.listdir(out_dir) if f.endswith(".deb")]
        self.assertEqual(len(debs), 1, debs)
        deb = os.path.join(out_dir, debs[0])
        _, info = run(["dpkg-deb", "-I", deb])
        self.assertRegex(info, r"(?m)^ Package: invitegate$")
        depends = re.search(r"(?m)^ Depends: (.*)$", info)
        self.assertIsNotNone(depends, info)
        for lib in ("libh2o-evloop", "libhiredis", "libpq5", "libsodium", "libjansson", "libsystemd0", "libc6"):
            self.assertIn(lib, depends.group(1))
        _, contents = run(["dpkg-deb", "-c", deb])
        for path in ("./usr/bin/invitegate-gateway", "./usr/bin/invitegate-sync", "./usr/bin/invitegate",
                     "./usr/lib/systemd/system/invitegate-gateway.service",
                     "./usr/lib/systemd/system/invitegate-sync.service",
                     "./usr/share/invitegate/migrations/001_invites.sql", "./etc/invitegate/invitegate.conf.example",
                     "./usr/share/doc/invitegate/README.md", "./usr/share/doc/invitegate/LAUNCH.md",
                     "./usr/share/invitegate/templates/invite/body.html"):
            self.assertRegex(contents, r"(?m) %s$" % re.escape(path))
        control = os.path.join(self.tmp, "control")
        run(["dpkg-deb", "-e", deb, control])
        for script in ("postinst", "prerm", "postrm"):
            path = os.path.join(control, script)
            self.assertTrue(os.access(path, os.X_OK), script)
            run(["sh", "-n", path])
            with open(path) as f:
                text = f.read()
            # Nothing is enabled or started before the operator configured it.
            self.assertIsNone(re.search(r"(?m)^\s*(systemctl|deb-systemd-invoke|deb-systemd-helper|invoke-rc\.d)"
                                        r"\s+(--\S+\s+)*(start|enable|restart)", text), script)
        with open(os.path.join(control, "postinst")) as f:
            postinst = f.read()
        self.assertIn("useradd --system", postinst)
        self.assertIn("secret.key", postinst)
        with open(os.path.join(control, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/invitegate/invitegate.conf.example"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
