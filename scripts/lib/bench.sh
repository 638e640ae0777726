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

# free_cluster_port: like free_port, for a Redis Cluster node: Redis puts
# the node's cluster bus on port + 10000, so both must be free and the port
# at most 55535.
free_cluster_port() {
    python3 - <<'PY'
import random, socket, sys
avoid = {5432, 5433, 6379, 6380, 8080}
for _ in range(200):
    port = random.randint(20000, 55535)
    if port in avoid:
        continue
    try:
        for p in (port, port + 10000):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", p))
    except OSError:
        continue
    print(port)
    sys.exit(0)
sys.exit("no free port pair for a Redis Cluster node")
PY
}

# redis_cluster_start DIR N PIDFILE: a Redis Cluster of N masters on free
# loopback ports (no replicas, neither AOF nor RDB snapshots), data and logs
# under DIR, made by `redis-cli --cluster create`; waits until every node
# says cluster_state:ok and knows the N masters. Appends each node's pid to
# PIDFILE (the reaper's) and sets REDIS_CLUSTER_PIDS, REDIS_CLUSTER_PORTS
# (node i is master i, in that order) and REDIS_CLUSTER_URL.
# shellcheck disable=SC2034  # REDIS_CLUSTER_URL is read by the caller
REDIS_CLUSTER_PIDS=() REDIS_CLUSTER_PORTS=() REDIS_CLUSTER_URL=
redis_cluster_start() {
    local dir=$1 n=$2 pidfile=$3 i port ok info addrs=()
    REDIS_CLUSTER_PIDS=() REDIS_CLUSTER_PORTS=()
    mkdir -p "$dir"
    chmod 0700 "$dir"
    for ((i = 1; i <= n; i++)); do
        port=$(free_cluster_port) || die "no free port for a Redis Cluster node"
        mkdir -p "$dir/$i"
        spawn "$dir/$i.log" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir/$i" \
            --daemonize no --logfile '' --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000
        REDIS_CLUSTER_PIDS+=("$SPAWNED_PID")
        REDIS_CLUSTER_PORTS+=("$port")
        echo "$SPAWNED_PID" >>"$pidfile"
        addrs+=("127.0.0.1:$port")
        for ((ok = 0; ok < 100; ok++)); do
            [ "$(redis_cli "$port" ping 2>/dev/null)" = PONG ] && break
            pid_alive "$SPAWNED_PID" || break
            sleep 0.1
        done
        if [ "$ok" -eq 100 ] || ! pid_alive "$SPAWNED_PID"; then
            die "Redis Cluster node $i did not start on port $port (log: $dir/$i.log)"
        fi
    done
    say "creating a Redis Cluster of $n masters: ${addrs[*]}"
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 ||
        die "redis-cli --cluster create failed (log: $dir/create.log)"
    for ((i = 0; i < 300; i++)); do
        ok=1
        for port in "${REDIS_CLUSTER_PORTS[@]}"; do
            info=$(redis_cli "$port" CLUSTER INFO 2>/dev/null | tr -d '\r')
            grep -qx 'cluster_state:ok' <<<"$info" && grep -qx "cluster_size:$n" <<<"$info" || ok=0
        done
        [ "$ok" = 1 ] && break
        sleep 0.1
    done
    [ "$ok" = 1 ] || die "the Redis Cluster did not reach cluster_state:ok on every node within 30 s"
    REDIS_CLUSTER_URL=redis+cluster://$(
        IFS=,
        echo "${addrs[*]}"
    )
}

# redis_cluster_stop: SIGTERM to every node of the cluster.
redis_cluster_stop() {
    local i
    for ((i = 0; i < ${#REDIS_CLUSTER_PIDS[@]}; i++)); do
        stop_pid "redis$((i + 1))" "${REDIS_CLUSTER_PIDS[$i]}" 30
    done
    REDIS_CLUSTER_PIDS=() REDIS_CLUSTER_PORTS=()
}
