# shellcheck shell=bash
# A private PostgreSQL 15 for scripts/up: the cluster in DIR/data, its Unix
# socket in DIR/run, listening on 127.0.0.1 only, trust authentication, the
# superuser named postgres. PostgreSQL refuses to run as root, so as root the
# cluster belongs to the postgres user and every server command runs through
# `runuser -u postgres --`; as anyone else it runs as that user. Source after
# common.sh.

PG_DIR=
PG_PORT=

# pg_bindir: the PostgreSQL server binaries (IG_PG_BIN overrides).
pg_bindir() {
    if [ -n "${IG_PG_BIN:-}" ]; then
        printf '%s\n' "$IG_PG_BIN"
        return
    fi
    local d
    for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
        if [ -x "$d/postgres" ]; then
            printf '%s\n' "$d"
            return
        fi
    done
    die "PostgreSQL server binaries not found under /usr/lib/postgresql (install postgresql-15 or set IG_PG_BIN)"
}

# as_pg CMD...: runs CMD as the cluster's owner.
as_pg() {
    if is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# pg_check_reachable DIR: as root, checks that the postgres user can reach
# DIR (every parent must be searchable by others) and says which directory
# blocks it if not.
pg_check_reachable() {
    local dir=$1 path='' part
    is_root || return 0
    getent passwd postgres >/dev/null || die "there is no 'postgres' user (install postgresql-15)"
    runuser -u postgres -- test -x "$dir" && return 0
    local IFS=/
    for part in ${dir#/}; do
        path="$path/$part"
        if ! runuser -u postgres -- test -x "$path"; then
            break
        fi
    done
    die "PostgreSQL cannot run as root, so scripts/up runs it as the 'postgres' user, which cannot enter $path
(mode $(stat -c %A "$path")) on the way to $dir.
Either clone the repository somewhere others can traverse (for example under /srv, /opt or /tmp),
or let others traverse the parents: chmod o+x '$path' (and any parent that still blocks)."
}

# pg_conf_quote STRING: STRING as a single-quoted postgresql.conf value.
pg_conf_quote() { printf "'%s'" "${1//\'/\'\'}"; }

# pg_start DIR PORT LOGFILE: initialises the cluster the first time, stops a
# server left running by an earlier run that died, writes the listen
# settings and starts the server with pg_ctl (which waits until it accepts
# connections).
pg_start() {
    PG_DIR=$1 PG_PORT=$2
    local log=$3 bin data sock owner
    bin=$(pg_bindir)
    data="$PG_DIR/data"
    sock="$PG_DIR/run"
    mkdir -p "$PG_DIR"
    if is_root; then
        owner=postgres
        chown postgres: "$PG_DIR"
        chmod 0700 "$PG_DIR"
        pg_check_reachable "$PG_DIR"
    else
        owner=$(id -un)
    fi
    if [ -d "$data" ] && [ "$(stat -c %U "$data")" != "$owner" ]; then
        die "$data belongs to $(stat -c %U "$data"), but the server would run as $owner
(was .local created by another user? run scripts/up as that user, or remove ${PG_DIR#"$IG_ROOT"/} to start afresh)"
    fi
    as_pg mkdir -p "$sock"
    touch "$log"
    is_root && chown postgres: "$log"

    if [ ! -f "$data/PG_VERSION" ]; then
        say "initialising PostgreSQL cluster in ${data#"$IG_ROOT"/}"
        as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >>"$log" 2>&1 ||
            {
                tail -n 20 "$log" >&2
                die "initdb failed (log: $log)"
            }
        printf '\n%s\n%s\n' "# Added by scripts/up: port, addresses and socket are in invitegate.conf." \
            "include_if_exists = 'invitegate.conf'" >>"$data/postgresql.conf"
    fi

    # A server from an earlier run whose script died (kill -9) still holds
    # the data directory: stop it before starting ours.
    if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        warn "a PostgreSQL from an earlier run is still running on ${data#"$IG_ROOT"/}; stopping it"
        as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null || die "could not stop the old PostgreSQL"
    fi
    check_port postgres "$PG_PORT"

    # The socket path must fit in sun_path (107 bytes); if the checkout is
    # deep, serve TCP on 127.0.0.1 only.
    local sockdirs
    if [ $((${#sock} + 20)) -lt 107 ]; then
        sockdirs=$sock
    else
        warn "the path $sock is too long for a Unix socket; PostgreSQL listens on TCP only"
        sockdirs=''
    fi
    cat >"$data/invitegate.conf" <<CONF
# Written by scripts/up on every start; edit scripts/lib/postgres.sh instead.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = $(pg_conf_quote "$sockdirs")

# The sync daemon's writes (docs/ARCHITECTURE.md, "Tables"): the first change
# of a page after each checkpoint logs the whole page, and random index
# pages are many, so checkpoints come by time rather than every 1 GB of log,
# and full pages are compressed. Every COMMIT is still flushed to disk
# before it returns (synchronous_commit on): nothing acknowledged is lost.
shared_buffers = 256MB
wal_buffers = 16MB
max_wal_size = 8GB
min_wal_size = 1GB
checkpoint_timeout = 15min
checkpoint_completion_target = 0.9
wal_compression = lz4
synchronous_commit = on
CONF
    is_root && chown postgres: "$data/invitegate.conf"

    say "starting PostgreSQL on 127.0.0.1:$PG_PORT (data in ${data#"$IG_ROOT"/})"
    # pg_ctl detaches the server into its own session; fd 9 (our lock) must
    # not leak into it.
    as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null 9>&- ||
        {
            tail -n 20 "$log" >&2
            die "PostgreSQL did not start (log: $log)"
        }
}

# pg_psql SQL...: runs psql as the superuser against the private server.
pg_psql() {
    "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"
}

# pg_ensure_db NAME: creates database NAME if it does not exist.
pg_ensure_db() {
    local name=$1
    if [ "$(pg_psql -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'")" != 1 ]; then
        say "creating database $name"
        pg_psql -c "CREATE DATABASE \"$name\"" || die "could not create database $name"
    fi
}

# pg_stop: fast shutdown (disconnects clients, checkpoints, exits).
pg_stop() {
    [ -n "$PG_DIR" ] || return 0
    say "stopping PostgreSQL"
    as_pg "$(pg_bindir)/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    PG_DIR=
}
