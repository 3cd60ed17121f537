#!/bin/sh
# Entrypoint of the offline Postgres image (`scripts/build-postgres-image.sh`).
#
# Why it exists: no container registry is reachable where the sim runs, so the official `postgres`
# image cannot be pulled; this image is built from the host's PostgreSQL binaries instead, and
# this script reproduces the part of the official image's contract the harness relies on, so one
# code path (`sim::postgres` docker provider) drives either image:
#   - POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE), POSTGRES_USER (default `postgres`),
#     POSTGRES_DB (default: the user name), POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD, PGDATA;
#   - on first start: initdb, a temporary server on the unix socket only (its log line
#     "database system is ready to accept connections" goes to stdout, through pg_ctl), the
#     database created, /docker-entrypoint-initdb.d/*.sql and *.sh run, the temporary server
#     stopped; then the real server listens on 0.0.0.0:5432 and logs the same line to stderr;
#   - arguments starting with `-` are passed to `postgres` (e.g. `-c fsync=off`).
# Differences: it runs as the image's `postgres` user (uid 999) from the start (there is no gosu),
# the locale is C.UTF-8, and *.sql.gz / *.sql.xz init scripts are not supported.
#
# POSIX sh (dash) with builtins only: the image holds no coreutils.
set -eu

if [ "${1#-}" != "$1" ]; then
    set -- postgres "$@"
fi

file_env() {
    # file_env VAR: VAR may instead be given as VAR_FILE (first line of that file), as upstream.
    var=$1
    file_var="${var}_FILE"
    eval "val=\${$var:-}"
    eval "file_val=\${$file_var:-}"
    if [ -n "$val" ] && [ -n "$file_val" ]; then
        echo >&2 "error: both $var and $file_var are set (but are exclusive)"
        exit 1
    fi
    if [ -n "$file_val" ]; then
        IFS= read -r val <"$file_val" || true
        export "$var=$val"
    fi
}

psql_init() {
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

init_database() {
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER
    file_env POSTGRES_DB
    : "${POSTGRES_USER:=postgres}"
    : "${POSTGRES_DB:=$POSTGRES_USER}"
    : "${POSTGRES_HOST_AUTH_METHOD:=}"
    export POSTGRES_USER POSTGRES_DB

    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
        message='Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
       connections without a password. This is *not* recommended.'
        echo >&2 "$message"
        exit 1
    fi

    # The password reaches initdb through a pipe, never a file in the image.
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is split on purpose, as upstream does.
    printf '%s\n' "${POSTGRES_PASSWORD:-}" |
        initdb --username="$POSTGRES_USER" --pwfile=/dev/stdin ${POSTGRES_INITDB_ARGS:-}

    auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

    # Temporary server: unix socket only, so nobody connects before initialisation is done.
    PGUSER=$POSTGRES_USER pg_ctl -D "$PGDATA" -o "-c listen_addresses= -p 5432" -w start

    if [ "$POSTGRES_DB" != postgres ]; then
        psql_init --dbname postgres --set db="$POSTGRES_DB" <<'EOSQL'
CREATE DATABASE :"db" ;
EOSQL
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
        *.sh)
            echo "$0: running $f"
            # shellcheck disable=SC1090
            . "$f"
            ;;
        *.sql)
            echo "$0: running $f"
            psql_init --dbname "$POSTGRES_DB" -f "$f"
            ;;
        *)
            if [ -e "$f" ]; then echo "$0: ignoring $f"; fi
            ;;
        esac
    done

    PGUSER=$POSTGRES_USER pg_ctl -D "$PGDATA" -m fast -w stop
    echo
    echo 'PostgreSQL init process complete; ready for start up.'
    echo
}

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    init_database
elif [ "$1" = postgres ]; then
    echo
    echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
    echo
fi

exec "$@"
