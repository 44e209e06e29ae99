#!/usr/bin/env bash
# Entrypoint of cronicorn-offline/postgres:15, written for this image after the behaviour of the
# official `postgres` image's entrypoint:
#
#   POSTGRES_USER          superuser name (default: postgres)
#   POSTGRES_PASSWORD      superuser password; required on first start unless
#                          POSTGRES_HOST_AUTH_METHOD=trust
#   POSTGRES_DB            database created on first start (default: $POSTGRES_USER)
#   POSTGRES_INITDB_ARGS   extra arguments for initdb
#   POSTGRES_HOST_AUTH_METHOD  auth method of the `host all all all` line (default scram-sha-256)
#   PGDATA                 data directory (default /var/lib/postgresql/data)
#   *_FILE                 POSTGRES_USER/PASSWORD/DB/INITDB_ARGS may be read from files instead
#
# On the first start (no PG_VERSION in $PGDATA) the cluster is initialised, the database is created
# and /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz|*.sql.xz run once against a temporary server
# that listens only on the Unix socket. Any later start reuses $PGDATA as it is.
# The server always runs as the `postgres` user; extra arguments reach it (`postgres -c key=value`).
# No `set -u`: scripts in /docker-entrypoint-initdb.d may be sourced and must not inherit it.
set -Eeo pipefail

say() { printf '%s\n' "$*"; }
die() { printf >&2 '%s\n' "$@"; exit 1; }

# file_env VAR [DEFAULT]: VAR from the environment, from the file named by VAR_FILE, or DEFAULT.
file_env() {
    local var="$1" file_var="${1}_FILE" default="${2:-}" value
    if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
        die "error: both $var and $file_var are set (but are exclusive)"
    fi
    value="$default"
    if [ -n "${!var:-}" ]; then
        value="${!var}"
    elif [ -n "${!file_var:-}" ]; then
        value="$(<"${!file_var}")"
    fi
    export "$var"="$value"
    unset "$file_var"
}

# True when the arguments ask postgres for something that makes it exit at once (--help, -C ...).
wants_help() {
    local arg
    for arg; do
        case "$arg" in
            -'?' | --help | --describe-config | -V | --version) return 0 ;;
        esac
    done
    return 1
}

setup_env() {
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    : "${POSTGRES_HOST_AUTH_METHOD:=}"
    : "${PGDATA:=/var/lib/postgresql/data}"
    export PGDATA
    DATABASE_ALREADY_EXISTS=
    if [ -s "$PGDATA/PG_VERSION" ]; then
        DATABASE_ALREADY_EXISTS=true
    fi
}

create_directories() {
    mkdir -p "$PGDATA"
    chmod 00700 "$PGDATA" 2>/dev/null || :
    mkdir -p /var/run/postgresql
    chmod 03775 /var/run/postgresql 2>/dev/null || :
    if [ "$(id -u)" = 0 ]; then
        find "$PGDATA" \! -user postgres -exec chown postgres: '{}' +
        find /var/run/postgresql \! -user postgres -exec chown postgres: '{}' +
    fi
}

verify_minimum_env() {
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
        die \
            "Error: Database is uninitialized and superuser password is not specified." \
            "       You must specify POSTGRES_PASSWORD to a non-empty value for the" \
            "       superuser. For example, \"-e POSTGRES_PASSWORD=password\" on \"docker run\"." \
            "" \
            "       You may also use \"POSTGRES_HOST_AUTH_METHOD=trust\" to allow all" \
            "       connections without a password. This is *not* recommended."
    fi
    if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
        say "WARNING: POSTGRES_HOST_AUTH_METHOD=trust: every network connection is accepted without a password."
    fi
}

init_database_dir() {
    # The password goes through a pipe, never the command line. The process substitution must live
    # in the same command as initdb (its descriptor closes when that command ends); the "\n" is there
    # because --pwfile refuses an empty file. POSTGRES_INITDB_ARGS is a shell-quoted string, as in
    # the official image.
    eval 'initdb --username="$POSTGRES_USER" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"$POSTGRES_INITDB_ARGS"
}

setup_hba_conf() {
    local method="$POSTGRES_HOST_AUTH_METHOD"
    if [ -z "$method" ]; then
        method="$(postgres -C password_encryption -D "$PGDATA")"
    fi
    {
        printf '\n'
        if [ "$method" = trust ]; then
            printf '# warning: trust is enabled for all network connections\n'
        fi
        printf 'host all all all %s\n' "$method"
    } >>"$PGDATA/pg_hba.conf"
}

psql_init() {
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

temp_server_start() {
    # Only the Unix socket, so nobody connects before the init scripts are done.
    PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -w start \
        -o "$(printf '%q ' "$@" -c listen_addresses='' -p "${PGPORT:-5432}")"
}

temp_server_stop() {
    PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -m fast -w stop
}

setup_db() {
    local exists
    # psql interpolates :'db' only in scripts, not in --command: feed the query on stdin.
    exists="$(psql_init --dbname postgres --set db="$POSTGRES_DB" --tuples-only --no-align \
        <<<"SELECT 1 FROM pg_database WHERE datname = :'db';")"
    if [ -z "$exists" ]; then
        psql_init --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
        say "Created database $POSTGRES_DB"
    fi
}

process_init_files() {
    local f
    for f in "$@"; do
        case "$f" in
            *.sh)
                if [ -x "$f" ]; then
                    say "$0: running $f"
                    "$f"
                else
                    say "$0: sourcing $f"
                    # shellcheck disable=SC1090
                    . "$f"
                fi
                ;;
            *.sql) say "$0: running $f"; psql_init --dbname "$POSTGRES_DB" -f "$f" ;;
            *.sql.gz) say "$0: running $f"; gunzip -c "$f" | psql_init --dbname "$POSTGRES_DB" ;;
            *.sql.xz) say "$0: running $f"; xzcat "$f" | psql_init --dbname "$POSTGRES_DB" ;;
            *) say "$0: ignoring $f" ;;
        esac
    done
}

main() {
    # `docker run image -c key=value` means `postgres -c key=value`.
    if [ "$#" -eq 0 ] || [ "${1:0:1}" = - ]; then
        set -- postgres "$@"
    fi
    if [ "$1" != postgres ] || wants_help "$@"; then
        exec "$@"
    fi

    setup_env
    create_directories
    if [ "$(id -u)" = 0 ]; then
        # Restart this script as postgres; the server never runs as root.
        exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
    fi

    if [ -z "$DATABASE_ALREADY_EXISTS" ]; then
        verify_minimum_env
        init_database_dir
        setup_hba_conf
        export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
        temp_server_start "${@:2}"
        setup_db
        shopt -s nullglob
        process_init_files /docker-entrypoint-initdb.d/*
        shopt -u nullglob
        temp_server_stop
        unset PGPASSWORD
        say "PostgreSQL init process complete; ready for start up."
    else
        say "PostgreSQL Database directory appears to contain a database; Skipping initialization"
    fi

    exec "$@"
}

main "$@"
