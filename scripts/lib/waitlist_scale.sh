# shellcheck shell=bash
# scripts/bench --waitlist-scale N: the waitlist grown to N entries on one
# private Redis (one shard holds it all: bucket 0), measured at 1M and at N by
# `invitegate-bench waitlist-scale` (bench/waitlist_scale.c). Nothing else
# runs: no gateway, no PostgreSQL, no sync daemon. Source after common.sh,
# redis.sh and bench.sh.

# waitlist_scale_run N BENCH OUT: starts Redis on a free loopback port under a
# temporary directory (removed after), pinned to the last core while the
# harness keeps to the others (scripts/bench runs all of it at nice 10), and
# writes OUT/waitlist_scale.json and OUT/waitlist_scale.txt.
waitlist_scale_run() {
    local n=$1 bench=$2 out=$3 port last busy pin=()
    busy=$(cpu_busy_percent)
    if [ "$busy" -gt 20 ]; then
        warn "the CPUs are ${busy}% busy before the run starts: other processes are running, figures will be noisy"
    fi
    WLS_TMP=$(mktemp -d /tmp/invitegate-wlscale.XXXXXX)
    : >"$WLS_TMP/pids"
    # shellcheck disable=SC2317  # invoked by the trap
    waitlist_scale_cleanup() {
        local rc=$?
        trap '' INT TERM PIPE
        trap - EXIT
        set +e
        redis_stop
        rm -f "$WLS_TMP/pids"
        [ -n "$REAPER_PID" ] && kill -KILL "$REAPER_PID" 2>/dev/null && wait "$REAPER_PID" 2>/dev/null
        if [ "$rc" -ne 0 ] && [ -f "$WLS_TMP/redis.log" ]; then
            printf '\n----- tail of redis.log -----\n' >&2 && tail -n 30 "$WLS_TMP/redis.log" >&2
        fi
        rm -rf "$WLS_TMP"
        exit "$rc"
    }
    trap waitlist_scale_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    reaper_start "$WLS_TMP/pids" "$WLS_TMP/no-pg" "$WLS_TMP"

    port=$(free_port)
    redis_start "$WLS_TMP/redis" "$port" "$WLS_TMP/redis.log"
    echo "$REDIS_PID" >>"$WLS_TMP/pids"
    redis_persistence_off "$port"
    last=$(($(ig_jobs) - 1))
    if command -v taskset >/dev/null && [ "$last" -ge 1 ]; then
        taskset -apc "$last" "$REDIS_PID" >/dev/null || die "taskset of redis-server failed"
        pin=(taskset -c "0-$((last - 1))")
        say "redis-server pinned to CPU $last, the harness to CPUs 0-$((last - 1))"
    else
        warn "redis-server not pinned (no taskset or one CPU): figures share the core with the harness"
    fi
    local lua=$IG_ROOT/lua/invitegate.lua,$IG_ROOT/lua/waitlist.lua,$IG_ROOT/lua/points.lua
    say "waitlist-scale: $n entries on Redis 127.0.0.1:$port; results in $out"
    "${pin[@]}" "$bench" waitlist-scale --redis-port "$port" --lua "$lua" --waitlist "$n" \
        --json "$out/waitlist_scale.json" | tee "$out/waitlist_scale.txt"
    [ "${PIPESTATUS[0]}" -eq 0 ] || die "waitlist-scale failed"
    say "results in $out"
}
