# shellcheck shell=bash
# Supervision of the daemons scripts/up starts, the way their systemd units
# run them (Restart=on-failure): a daemon that dies is started again after a
# short backoff and the event is printed; one that exits with status 0 (it
# was stopped on purpose, by SIGTERM or SIGINT) stays stopped. The others go
# on serving meanwhile: the gateway never needs the sync daemon (nor
# PostgreSQL) to answer. Source after common.sh.
#
#   sup_add NAME LOGFILE CMD...   declare a daemon (not started yet)
#   sup_start NAME                start it (spawn, in its own session)
#   sup_run                       supervise until no daemon is left
#   sup_stop_all SECONDS          SIGTERM every running daemon, newest first
#
# The pid of each running daemon is written to $SUP_RUN_DIR/NAME.pid.

# Backoff before a restart: SUP_DELAY_MIN seconds, doubling up to
# SUP_DELAY_MAX while the daemon keeps dying within SUP_STABLE_SECS of its
# start; a daemon that ran longer than that starts again at SUP_DELAY_MIN.
SUP_DELAY_MIN=${SUP_DELAY_MIN:-1}
SUP_DELAY_MAX=${SUP_DELAY_MAX:-30}
SUP_STABLE_SECS=${SUP_STABLE_SECS:-30}
# shellcheck disable=SC2034  # set by the caller
SUP_RUN_DIR=

SUP_NAMES=()
declare -A SUP_CMD=() SUP_LOG=() SUP_PID=() SUP_STARTED=() SUP_DELAY=() SUP_DUE=() SUP_RESTARTS=()
SUP_SLEEPER=

# sup_add NAME LOGFILE CMD...
sup_add() {
    local name=$1 log=$2
    shift 2
    SUP_NAMES+=("$name")
    SUP_CMD[$name]=$(printf '%q ' "$@")
    SUP_LOG[$name]=$log
    SUP_PID[$name]=
    SUP_DUE[$name]=
    SUP_DELAY[$name]=$SUP_DELAY_MIN
    SUP_RESTARTS[$name]=0
}

# sup_start NAME: starts the daemon and records its pid.
sup_start() {
    local name=$1
    eval "spawn \"\${SUP_LOG[\$name]}\" ${SUP_CMD[$name]}"
    SUP_PID[$name]=$SPAWNED_PID
    SUP_STARTED[$name]=$SECONDS
    SUP_DUE[$name]=
    [ -n "$SUP_RUN_DIR" ] && echo "$SPAWNED_PID" >"$SUP_RUN_DIR/$name.pid"
    return 0
}

# sup_pid NAME: prints the pid of the running daemon (empty when stopped).
sup_pid() { printf '%s\n' "${SUP_PID[$1]}"; }

# sup_exited NAME STATUS: a daemon ended; schedules its restart unless it
# exited cleanly.
sup_exited() {
    local name=$1 status=$2 ran
    ran=$((SECONDS - SUP_STARTED[$name]))
    SUP_PID[$name]=
    [ -n "$SUP_RUN_DIR" ] && rm -f "$SUP_RUN_DIR/$name.pid"
    if [ "$status" -eq 0 ]; then
        warn "$name exited cleanly (status 0) after ${ran}s; not restarting it, as systemd's Restart=on-failure would not (log: ${SUP_LOG[$name]})"
        return 0
    fi
    if [ "$ran" -ge "$SUP_STABLE_SECS" ]; then
        SUP_DELAY[$name]=$SUP_DELAY_MIN
    fi
    SUP_DUE[$name]=$((SECONDS + SUP_DELAY[$name]))
    SUP_RESTARTS[$name]=$((SUP_RESTARTS[$name] + 1))
    warn "$name exited (status $status) after ${ran}s; restarting it in ${SUP_DELAY[$name]}s (restart ${SUP_RESTARTS[$name]}; log: ${SUP_LOG[$name]})"
    SUP_DELAY[$name]=$((SUP_DELAY[$name] * 2 > SUP_DELAY_MAX ? SUP_DELAY_MAX : SUP_DELAY[$name] * 2))
}

# sup_run: waits for any daemon to end and restarts it when due; returns
# when no daemon is running and none is waiting for its restart. A trapped
# signal (Ctrl-C) interrupts the wait at once.
sup_run() {
    local name pids due next died status
    while :; do
        pids=() next=
        for name in "${SUP_NAMES[@]}"; do
            [ -n "${SUP_PID[$name]}" ] && pids+=("${SUP_PID[$name]}")
            due=${SUP_DUE[$name]}
            if [ -n "$due" ] && { [ -z "$next" ] || [ "$due" -lt "$next" ]; }; then
                next=$due
            fi
        done
        [ "${#pids[@]}" -eq 0 ] && [ -z "$next" ] && return 0
        SUP_SLEEPER=
        if [ -n "$next" ]; then
            # wait -n has no timeout: a sleeping child stands for the next restart.
            sleep $((next > SECONDS ? next - SECONDS : 0)) 9>&- &
            SUP_SLEEPER=$!
            pids+=("$SUP_SLEEPER")
        fi
        died=
        status=0
        # (stderr: bash would report a daemon a signal ended as "Killed" with its command line)
        wait -n -p died "${pids[@]}" 2>/dev/null || status=$?
        if [ -n "$SUP_SLEEPER" ] && [ "$died" != "$SUP_SLEEPER" ]; then
            kill "$SUP_SLEEPER" 2>/dev/null || true
            wait "$SUP_SLEEPER" 2>/dev/null || true
        fi
        SUP_SLEEPER=
        for name in "${SUP_NAMES[@]}"; do
            [ -n "$died" ] && [ "${SUP_PID[$name]}" = "$died" ] && sup_exited "$name" "$status"
        done
        for name in "${SUP_NAMES[@]}"; do
            if [ -n "${SUP_DUE[$name]}" ] && [ "${SUP_DUE[$name]}" -le "$SECONDS" ]; then
                say "restarting $name"
                sup_start "$name"
            fi
        done
    done
}

# sup_stop_all SECONDS: stops every running daemon (the last declared first)
# and cancels pending restarts.
sup_stop_all() {
    local secs=$1 i name
    if [ -n "$SUP_SLEEPER" ]; then
        kill "$SUP_SLEEPER" 2>/dev/null || true
        wait "$SUP_SLEEPER" 2>/dev/null || true
        SUP_SLEEPER=
    fi
    for ((i = ${#SUP_NAMES[@]} - 1; i >= 0; i--)); do
        name=${SUP_NAMES[$i]}
        SUP_DUE[$name]=
        if [ -n "${SUP_PID[$name]}" ]; then
            stop_pid "$name" "${SUP_PID[$name]}" "$secs"
            SUP_PID[$name]=
        fi
    done
}
