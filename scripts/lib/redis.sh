# shellcheck shell=bash
# A private Redis for scripts/up: data in DIR, loopback only, every write
# fsynced to the append-only file before it is acknowledged. Source after
# common.sh.

REDIS_PID=

# redis_conf_quote STRING: STRING as a double-quoted redis.conf argument.
redis_conf_quote() {
    local s=${1//\\/\\\\}
    printf '"%s"' "${s//\"/\\\"}"
}

# redis_start DIR PORT LOGFILE: writes DIR/redis.conf, stops a Redis left
# running on DIR by an earlier run that died, starts redis-server in the
# background (REDIS_PID) and waits until it answers PING.
redis_start() {
    local dir=$1 port=$2 log=$3 old i
    mkdir -p "$dir"
    chmod 0700 "$dir"
    if [ -f "$dir/redis.pid" ]; then
        old=$(cat "$dir/redis.pid" 2>/dev/null || true)
        if pid_is "$old" redis-server; then
            warn "a Redis from an earlier run is still running on ${dir#"$IG_ROOT"/}; stopping it"
            stop_pid redis "$old" 30
        fi
        rm -f "$dir/redis.pid"
    fi
    check_port redis "$port"
    cat >"$dir/redis.conf" <<CONF
# Written by scripts/up on every start; edit scripts/lib/redis.sh instead.
bind 127.0.0.1
protected-mode yes
port $port
daemonize no
dir $(redis_conf_quote "$dir")
pidfile $(redis_conf_quote "$dir/redis.pid")
logfile ""
loglevel notice
# Every acknowledged write is on disk before the reply.
appendonly yes
appendfsync always
CONF
    say "starting Redis on 127.0.0.1:$port (data in ${dir#"$IG_ROOT"/})"
    spawn "$log" redis-server "$dir/redis.conf"
    REDIS_PID=$SPAWNED_PID
    for ((i = 0; i < 300; i++)); do
        if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
            return 0
        fi
        pid_alive "$REDIS_PID" || break
        sleep 0.1
    done
    tail -n 20 "$log" >&2 || true
    die "Redis did not start on port $port (log: $log)"
}

# redis_stop: SIGTERM (Redis flushes the append-only file and exits).
redis_stop() {
    [ -n "$REDIS_PID" ] || return 0
    stop_pid redis "$REDIS_PID" 30
    REDIS_PID=
}
