#!/usr/bin/env bash
# Make sure the PostgreSQL server binaries and a `postgres` system user exist,
# for the test harness (tests/support/postgres.py). Idempotent: when both are
# already there it only says so. Installing needs root and Debian/Ubuntu apt.
set -euo pipefail

say() { printf 'ensure-postgres: %s\n' "$*"; }

# Print the directory holding initdb, pg_ctl and postgres; fail if there is none.
find_bin_dir() {
    local dir candidate
    if candidate=$(command -v initdb 2>/dev/null); then
        for dir in "$(dirname "$(readlink -f "$candidate")")" "$(dirname "$candidate")"; do
            if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
                echo "$dir"
                return 0
            fi
        done
    fi
    # Newest major version first.
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5 -rn); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        say "error: $1 needs root; re-run as root (e.g. sudo $0)" >&2
        exit 1
    fi
}

install_server() {
    need_root "installing PostgreSQL"
    if ! command -v apt-get >/dev/null 2>&1; then
        say "error: no apt-get; install the PostgreSQL 15 server (initdb, pg_ctl) by hand" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    say "running apt-get update"
    apt-get update -q
    # The tests start their own throwaway servers: keep Debian from creating and
    # starting a system-wide "main" cluster on port 5432.
    say "installing postgresql-common (without a default cluster)"
    apt-get install -y -q --no-install-recommends postgresql-common
    local conf=/etc/postgresql-common/createcluster.conf
    if [ -f "$conf" ] && ! grep -Eq '^[[:space:]]*create_main_cluster[[:space:]]*=[[:space:]]*false' "$conf"; then
        say "setting create_main_cluster = false in $conf"
        # Comment out any active setting, then append ours; rewrite in place to keep the file's inode.
        local edited
        edited=$(sed -E 's/^([[:space:]]*create_main_cluster[[:space:]]*=)/#\1/' "$conf")
        printf '%s\ncreate_main_cluster = false\n' "$edited" >"$conf"
    fi
    say "installing postgresql"
    apt-get install -y -q --no-install-recommends postgresql
}

ensure_user() {
    if id -u postgres >/dev/null 2>&1; then
        return 0
    fi
    need_root "creating the postgres user"
    say "creating system user postgres"
    useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
        --shell /bin/bash --comment "PostgreSQL administrator" postgres
}

if bin_dir=$(find_bin_dir); then
    say "server binaries found in $bin_dir"
else
    say "no initdb/pg_ctl/postgres on PATH or in /usr/lib/postgresql/*/bin"
    install_server
    if ! bin_dir=$(find_bin_dir); then
        say "error: installed postgresql but still found no server binaries" >&2
        exit 1
    fi
    say "installed; server binaries in $bin_dir"
fi

ensure_user
say "user postgres exists (uid $(id -u postgres))"
say "ready: $("$bin_dir/postgres" --version)"
