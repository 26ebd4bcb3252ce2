#!/usr/bin/env bash
# Schemathesis against a live `patchbay serve`: the OpenAPI document must describe every
# answer (status, content type, body). On SQLite and on PostgreSQL, with a master token and
# with an end user's token. The coverage phase (every documented status and boundary, the
# slow part) runs once, on the first database with the master token; fuzzing runs for every
# pair. SCHEMATHESIS_EXAMPLES bounds the fuzzed cases per operation (default 10);
# PATCHBAY_TEST_POSTGRES_URL names the PostgreSQL server (a database is created per run);
# SCHEMATHESIS_DATABASES=sqlite skips PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES=${SCHEMATHESIS_EXAMPLES:-10}
PG_URL=${PATCHBAY_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/test}
DATABASES=${SCHEMATHESIS_DATABASES:-sqlite postgresql}
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance

work=$(mktemp -d)
server=""
pg_db=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    if [ -n "$pg_db" ]; then psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $pg_db" >/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# $1: sqlite or postgresql
serve() {
    local data="$work/$1" url=""
    mkdir -p "$data"
    if [ "$1" = postgresql ]; then
        pg_db="patchbay_schemathesis_$$"
        psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $pg_db" -c "CREATE DATABASE $pg_db" >/dev/null
        url="${PG_URL%/*}/$pg_db"
    fi
    port=$(free_port)
    base="http://127.0.0.1:$port"
    # No rate limit: schemathesis sends many requests with one token.
    PATCHBAY_RATE_LIMIT_PER_SECOND=0 patchbay --data-dir "$data" ${url:+--database-url "$url"} \
        serve --port "$port" >"$data/server.log" 2>&1 &
    server=$!
    for _ in $(seq 1 300); do  # start-up applies migrations: a minute at most
        curl -fsS "$base/health" >/dev/null 2>&1 && break
        kill -0 "$server" 2>/dev/null || break
        sleep 0.2
    done
    curl -fsS "$base/health" >/dev/null || { cat "$data/server.log"; exit 1; }
    master=$(grep -A1 'first master token' "$data/server.log" | tail -1)
    local user
    user=$(curl -fsS -X POST "$base/core/v1/end-users" -H "Authorization: Bearer $master" \
        -H 'Content-Type: application/json' -d '{"name": "CI", "externalUserId": "ci"}' \
        | python -c 'import json, sys; print(json.load(sys.stdin)["id"])')
    user_token=$(curl -fsS -X POST "$base/core/v1/end-users/$user/tokens" \
        -H "Authorization: Bearer $master" \
        | python -c 'import json, sys; print(json.load(sys.stdin)["accessToken"])')
}

stop() {
    kill "$server" && wait "$server" 2>/dev/null || true
    server=""
    if [ -n "$pg_db" ]; then
        psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $pg_db" >/dev/null
        pg_db=""
    fi
}

phases=coverage,fuzzing
for db in $DATABASES; do
    serve "$db"
    for who in master user; do
        token=$master
        [ "$who" = user ] && token=$user_token
        echo "== schemathesis: $db, $who token"
        # From the scratch dir: schemathesis keeps its example database in ./.schemathesis
        (cd "$work" && schemathesis --no-color run "$base/openapi.json" \
            --header "Authorization: Bearer $token" \
            --checks "$CHECKS" \
            --max-examples "$EXAMPLES" \
            --phases "$phases" \
            --workers 1 \
            --seed 12)
        phases=fuzzing
    done
    stop
done
