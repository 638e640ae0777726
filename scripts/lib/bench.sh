# shellcheck shell=bash
# Helpers of scripts/bench: free ports, the reaper that stops what the suite
# started if the script itself is killed, and the Redis persistence switch.
# Source after common.sh.

# Every configuration key the daemons (and invitegate-bench) take from the
# environment as IG_<KEY> (common/ig_config.c): the suite's configuration
# file must be the whole truth.
# shellcheck disable=SC2034  # used by scripts/bench
IG_CONFIG_ENV_KEYS=(
    IG_LISTEN IG_THREADS IG_REDIS_URL IG_REDIS_TIMEOUT_MS IG_DATABASE_URL IG_SECRET_KEY IG_SECRET_KEY_FILE
    IG_CODE_PREFIX IG_DEFAULT_EXPIRES_DAYS IG_RATE_LIMIT_PER_SEC IG_RATE_LIMIT_BURST IG_PUBLIC_BODY_BYTES
    IG_ADMIN_BODY_BYTES IG_ADMIN_TOKEN IG_ADMIN_TOKEN_FILE IG_MIGRATIONS_DIR IG_SYNC_BATCH_SIZE IG_SYNC_BLOCK_MS
    IG_SYNC_BATCH_WINDOW_MS IG_SYNC_BATCH_MAX_EVENTS IG_SYNC_CONSUMER IG_TRUSTED_PROXIES IG_PROXY_PROTOCOL IG_SYNC_METRICS_LISTEN
)

# free_port: prints a TCP port of 127.0.0.1 that was free a moment ago
# (never one of the well-known ports of a developer's own servers).
free_port() {
    python3 - <<'PY'
import socket
avoid = {5432, 5433, 6379, 6380, 8080}
while True:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if port not in avoid:
        print(port)
        break
PY
}

# cpu_busy_percent: how busy the CPUs were over the next second (0-100),
# from /proc/stat.
cpu_busy_percent() {
    local a b
    read -r _ a </proc/stat
    sleep 1
    read -r _ b </proc/stat
    awk -v a="$a" -v b="$b" 'BEGIN {
        n = split(a, x, " "); split(b, y, " ");
        for (i = 1; i <= n; i++) { t += y[i] - x[i]; if (i == 4 || i == 5) idle += y[i] - x[i] }
        busy = t > 0 ? 100 * (t - idle) / t : 0
        printf "%d\n", busy }'
}

# reaper_start PIDFILE PGDATA TMPDIR: a watcher in the background that, if
# this script dies without cleaning up (kill -9, a CI timeout), kills the
# pids listed in PIDFILE and the PostgreSQL of PGDATA, and removes TMPDIR.
# A clean exit removes PIDFILE first, and the watcher then just leaves.
# Sets REAPER_PID.
# shellcheck disable=SC2034  # read by the caller
REAPER_PID=
reaper_start() {
    local pidfile=$1 pgdata=$2 tmp=$3 parent=$$
    (
        trap '' INT TERM HUP
        while kill -0 "$parent" 2>/dev/null; do sleep 1; done
        [ -f "$pidfile" ] || exit 0
        while read -r pid; do
            [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
        done <"$pidfile"
        if [ -f "$pgdata/postmaster.pid" ]; then
            kill -KILL "$(head -n 1 "$pgdata/postmaster.pid")" 2>/dev/null
        fi
        sleep 0.5
        rm -rf "$tmp"
    ) </dev/null >/dev/null 2>&1 9>&- &
    REAPER_PID=$!
}

# redis_cli PORT ARGS...: one redis-cli command against 127.0.0.1:PORT.
redis_cli() {
    local port=$1
    shift
    redis-cli -h 127.0.0.1 -p "$port" "$@"
}

# redis_persistence_off PORT: neither AOF nor RDB snapshots (no fork mid-run).
redis_persistence_off() {
    redis_cli "$1" CONFIG SET save '' >/dev/null || die "redis CONFIG SET save failed"
    redis_cli "$1" CONFIG SET appendonly no >/dev/null || die "redis CONFIG SET appendonly failed"
}

# redis_fsync_always PORT: AOF on (waits for its initial rewrite of the
# dataset) with every write fsynced before its answer, as scripts/up runs.
redis_fsync_always() {
    local port=$1 i info
    redis_cli "$port" CONFIG SET appendfsync always >/dev/null || die "redis CONFIG SET appendfsync failed"
    redis_cli "$port" CONFIG SET appendonly yes >/dev/null || die "redis CONFIG SET appendonly failed"
    for ((i = 0; i < 1200; i++)); do
        info=$(redis_cli "$port" INFO persistence | tr -d '\r')
        if grep -qx 'aof_enabled:1' <<<"$info" && grep -qx 'aof_rewrite_in_progress:0' <<<"$info" &&
            grep -qx 'aof_rewrite_scheduled:0' <<<"$info"; then
            return 0
        fi
        sleep 0.1
    done
    die "redis did not finish writing its append-only file within 120 s"
}
