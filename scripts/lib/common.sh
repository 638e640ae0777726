# shellcheck shell=bash
# Shared helpers for scripts/up and scripts/test: messages, the repository
# root, port checks and stopping the processes a script started.
# Source it; it defines functions and a few variables and runs nothing.

# The repository root, whatever directory the caller ran the script from.
# shellcheck disable=SC2034  # used by the scripts that source this
IG_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)

# Messages go to stderr so that stdout stays clean for what a caller captures.
say() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Number of processors for parallel builds.
ig_jobs() { nproc 2>/dev/null || echo 2; }

# check_port NAME PORT: dies unless PORT is a TCP port number free on
# 127.0.0.1. Uses bash's /dev/tcp, so it needs neither ss nor netstat.
check_port() {
    local name=$1 port=$2
    case $port in
    '' | *[!0-9]*) die "$name port '$port' is not a number" ;;
    esac
    { [ "$port" -ge 1 ] && [ "$port" -le 65535 ]; } || die "$name port $port is out of range"
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port on 127.0.0.1 ($name) is already taken by another process; stop it or choose another port"
    fi
}

# pid_alive PID: true if PID is a live process (not a zombie).
pid_alive() {
    local pid=$1 state
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 0
    [ "$state" != Z ]
}

# pid_is PID NAME: true if PID is alive and its command line mentions NAME
# (guards against a recycled pid before we signal a pid read from a file).
pid_is() {
    local pid=$1 name=$2
    pid_alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$name"
}

# stop_pid NAME PID [SECONDS]: SIGTERM, wait up to SECONDS (default 15),
# then SIGKILL. Reaps PID if it is our child.
stop_pid() {
    local name=$1 pid=$2 secs=${3:-15} i
    pid_alive "$pid" || {
        wait "$pid" 2>/dev/null || true
        return 0
    }
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do
        pid_alive "$pid" || break
        sleep 0.1
    done
    if pid_alive "$pid"; then
        warn "$name (pid $pid) did not stop within ${secs}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# spawn LOGFILE CMD...: starts CMD in the background in its own session (so a
# Ctrl-C in the terminal reaches only the script, which then stops things in
# order), stdin from /dev/null, output appended to LOGFILE, and file
# descriptor 9 (the scripts/up lock) closed. Sets SPAWNED_PID.
# shellcheck disable=SC2034  # read by the caller
SPAWNED_PID=
spawn() {
    local log=$1
    shift
    setsid "$@" </dev/null >>"$log" 2>&1 9>&- &
    SPAWNED_PID=$!
}

# http_ok URL: true if GET URL answers 2xx within 2 seconds. python3 is in
# the base image; curl may not be.
http_ok() {
    python3 - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if 200 <= r.status < 300 else 1)
except Exception:
    sys.exit(1)
PY
}
