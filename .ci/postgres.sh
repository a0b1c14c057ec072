# shellcheck shell=bash
# Starts a throwaway PostgreSQL server for the tests and exports
# PROMOTE_TEST_POSTGRES_DSN. Sourced by .ci/run (it also works sourced by hand:
# `source .ci/postgres.sh`). The server listens on a free loopback port with
# trust authentication, keeps its files in a fresh temporary directory, and is
# stopped (and the directory removed) when the sourcing shell exits.
#
# A DSN already set in the environment is used as it is: no server is started.
#
# Runs as root (the server then runs as the postgres user), as the postgres
# user, or as any other user (the server runs as that user). Without initdb on
# PATH it looks in /usr/lib/postgresql/*/bin, and installs Debian's postgresql
# package when it finds none there either.

if [ -n "${PROMOTE_TEST_POSTGRES_DSN:-}" ]; then
  echo "using the PostgreSQL server of PROMOTE_TEST_POSTGRES_DSN"
  return 0
fi

promote_pg_bin() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
    return
  fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

promote_pg_bindir=$(promote_pg_bin)
if [ -z "$promote_pg_bindir" ] || [ ! -x "$promote_pg_bindir/initdb" ]; then
  echo "no initdb: installing PostgreSQL with apt-get"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "cannot install PostgreSQL: not root and no password-less sudo" >&2
    return 1
  fi
  promote_pg_bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$promote_pg_bindir" ]; then
    echo "PostgreSQL installed, but no /usr/lib/postgresql/*/bin" >&2
    return 1
  fi
fi

# promote_pg_as runs a command as the server's user: postgres when we are root.
# It runs in /, a directory every user may enter.
promote_pg_as() {
  if [ "$(id -u)" != 0 ]; then
    (cd / && "$@")
  elif command -v runuser >/dev/null 2>&1; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && su postgres -s /bin/sh -c "$(printf '%q ' "$@")")
  fi
}

promote_pg_isready=$promote_pg_bindir/pg_isready
[ -x "$promote_pg_isready" ] || promote_pg_isready=pg_isready

# promote_pg_port prints a loopback TCP port that nothing listens on.
promote_pg_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    return
  fi
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
}

promote_pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/promote-pg.XXXXXX")
chmod 700 "$promote_pg_dir"
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$promote_pg_dir"
fi

promote_pg_stop() {
  if [ -f "$promote_pg_dir/data/postmaster.pid" ]; then
    promote_pg_as "$promote_pg_bindir/pg_ctl" -D "$promote_pg_dir/data" stop -m immediate -w >/dev/null 2>&1 || true
  fi
  rm -rf "$promote_pg_dir"
}
trap promote_pg_stop EXIT

promote_pg_as "$promote_pg_bindir/initdb" -D "$promote_pg_dir/data" -U postgres --auth=trust \
  --encoding=UTF8 --locale=C --no-sync >"$promote_pg_dir/initdb.log" 2>&1 || {
  cat "$promote_pg_dir/initdb.log" >&2
  return 1
}

# The port is free when chosen but may be taken before the server binds it:
# try a few.
promote_pg_started=""
for promote_pg_try in 1 2 3 4 5; do
  promote_pg_p=$(promote_pg_port)
  # fsync off: the data is thrown away; max_connections covers parallel tests.
  if promote_pg_as "$promote_pg_bindir/pg_ctl" -D "$promote_pg_dir/data" -l "$promote_pg_dir/server.log" -s \
    -o "-c listen_addresses=127.0.0.1 -p $promote_pg_p -k $promote_pg_dir -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start -W; then
    # Poll until the server accepts connections (or its process is gone).
    for _ in $(seq 1 300); do
      if "$promote_pg_isready" -q -h 127.0.0.1 -p "$promote_pg_p" -U postgres -d postgres 2>/dev/null; then
        promote_pg_started=$promote_pg_p
        break
      fi
      [ -f "$promote_pg_dir/data/postmaster.pid" ] || break
      sleep 0.1
    done
  fi
  [ -n "$promote_pg_started" ] && break
  promote_pg_as "$promote_pg_bindir/pg_ctl" -D "$promote_pg_dir/data" stop -m immediate -w >/dev/null 2>&1 || true
  echo "PostgreSQL did not start on port $promote_pg_p (try $promote_pg_try)" >&2
done
if [ -z "$promote_pg_started" ]; then
  cat "$promote_pg_dir/server.log" >&2 2>/dev/null || true
  return 1
fi

export PROMOTE_TEST_POSTGRES_DSN="postgres://postgres@127.0.0.1:$promote_pg_started/postgres?sslmode=disable"
echo "PostgreSQL $("$promote_pg_bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$promote_pg_started"
