#!/usr/bin/env bash
# iamd vs moto vs a bare hyper server ("hello", the HTTP ceiling of this machine), same load
# generator, same scenarios, same connection count, one run. Prints a markdown table with
# throughput, latency, peak RSS and the server's CPU time per request.
#
#   bench/compare.sh                                   # defaults below, ~4 minutes
#   SCENARIOS="get-user" DURATION=5s bench/compare.sh
#   SERVERS="iamd iamd-pg hello" bench/compare.sh      # iamd on PostgreSQL beside the embedded store
#   SCENARIOS="session-mfa session-mfa-wrong-code" SERVERS="iamd iamd-pg" bench/compare.sh
#   SCENARIOS="session-mfa session-mfa-wrong-code" SERVERS="iamd iamd-pg privacyidea" bench/compare.sh
#   OUT=bench/results bench/compare.sh                 # also keep the JSON reports and the table
#   PIN=0 bench/compare.sh                             # client and servers share all CPUs
#   IAMD=/tmp/iamd BENCH=/tmp/iamd-bench bench/compare.sh   # prebuilt binaries, nothing built
#
# Servers: `iamd` (embedded SQLite), `iamd-pg` (iamd on a throwaway PostgreSQL started by
# scripts/with-postgres, pinned to the server's CPUs with iamd: its CPU time counts as the
# server's), `moto` (bench/.venv, from bench/requirements.txt), `hello`, and `privacyidea`
# (privacyIDEA under gunicorn with GUNICORN_WORKERS workers, default 2, pinned with the servers;
# bench/privacyidea/setup.sh installs it into bench/privacyidea/.venv and enrols PI_TOKENS TOTP
# tokens, default 2000, whose seeds are the seeded users' devices' seeds; it runs the login
# scenarios only, as iamd-bench's privacyidea-validate: session-mfa's logins as
# /validate/check with a fresh code, session-mfa-wrong-code's with --wrong-code; its CPU is the
# gunicorn master's and its workers').
# Login scenarios (session-mfa, session-mfa-wrong-code) run only against iamd servers, on
# SEEDED_USERS users (default 200000) loaded with `iamd-bench seed --credentials-from` before the
# server starts (and moved to PostgreSQL with `iamd migrate` for iamd-pg), so that no device is
# used twice in a run: each login is a fresh code. Use a login scenario once per run (a second
# right-code run within the same 30 s step would reuse codes).
#
# Needs python3 and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
SCENARIOS=${SCENARIOS:-"get-user list-mfa-devices create-enable"}
SERVERS=${SERVERS:-"iamd moto hello"}
SEEDED_USERS=${SEEDED_USERS:-200000}
PI_TOKENS=${PI_TOKENS:-2000}
GUNICORN_WORKERS=${GUNICORN_WORKERS:-2}

if [[ " $SERVERS " == *" iamd-pg "* ]] && [ -z "${IAMD_TEST_DATABASE_URL:-}" ]; then
    exec scripts/with-postgres "$0" "$@"
fi

# IAMD=path and BENCH=path use prebuilt binaries (then nothing is built).
if [ -z "${IAMD:-}" ] || [ -z "${BENCH:-}" ]; then
    cargo build --profile dist --quiet -p iamd-bench -p iamd-server
fi
IAMD=${IAMD:-target/dist/iamd}
BENCH=${BENCH:-target/dist/iamd-bench}

# shellcheck source=bench/common.sh
. bench/common.sh

if [[ " $SERVERS " == *" moto "* ]] && { [ ! -x bench/.venv/bin/moto_server ] \
    || ! cmp -s bench/requirements.txt bench/.venv/requirements.txt; }; then
    python3 -m venv bench/.venv
    bench/.venv/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
    cp bench/requirements.txt bench/.venv/requirements.txt
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

is_login() { case $1 in session-mfa | session-mfa-wrong-code) return 0 ;; *) return 1 ;; esac; }
LOGIN=0
for scenario in $SCENARIOS; do is_login "$scenario" && LOGIN=1; done
CREDENTIALS_FROM=bench-credentials-$RANDOM$RANDOM
if [[ " $SERVERS " == *" privacyidea "* ]] && [ "$LOGIN" = 0 ]; then
    echo "privacyidea runs only the login scenarios (session-mfa, session-mfa-wrong-code)" >&2
    exit 2
fi

# The login scenarios need their users in the store before iamd serves it: start iamd once on
# the data directory (schema, account, master key), stop it, seed.
seed_data_dir() { # data dir
    local port
    port=$(free_port)
    "$IAMD" serve --listen "127.0.0.1:$port" --data-dir "$1" >"$1.init.log" 2>&1 &
    local pid=$!
    wait_http "http://127.0.0.1:$port/health"
    kill "$pid"
    wait "$pid" || true
    echo "seeding $SEEDED_USERS users with keys and devices into $1 ..." >&2
    "$BENCH" seed --data-dir "$1" --users "$SEEDED_USERS" --credentials-from "$CREDENTIALS_FROM" >"$1.seed.log" 2>&1
}

# iamd and iamd-pg: one instance for the read and write scenarios and, with login scenarios,
# one on seeded data (its users far exceed the account's quota of 5000, which the preparation of
# the other scenarios would hit): NAME-login.
declare -A PORT PID
DB_PID=
start_iamd() { # name (iamd, iamd-pg, iamd-login, iamd-pg-login) seeded(0/1)
    local name=$1 data="$WORK/$1-data" db=() url
    PORT[$name]=$(free_port)
    if [ "$2" = 1 ]; then seed_data_dir "$data"; fi
    if [[ $name == iamd-pg* ]]; then
        # A database of its own on the throwaway server; seeded users arrive by migration.
        local database=${name//-/_}
        url="${IAMD_TEST_DATABASE_URL%/*}/$database"
        psql -q "$IAMD_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $database" -c "CREATE DATABASE $database"
        if [ "$2" = 1 ]; then
            "$IAMD" migrate --from "$data" --to "$url" >"$WORK/$name.migrate.log" 2>&1
            # What autovacuum would otherwise do to the new rows during the measurement.
            psql -q "$url" -c "VACUUM"
        fi
        DB_PID=$(head -1 "$IAMD_PG_DATA/postmaster.pid")
        pin_to_server "$DB_PID"
        db=(--database-url "$url")
    fi
    "${ON_SERVER[@]}" "$IAMD" serve --listen "127.0.0.1:${PORT[$name]}" --data-dir "$data" "${db[@]}" \
        >"$WORK/$name.log" 2>&1 &
    PID[$name]=$!
    PIDS+=("$!")
}
for server in $SERVERS; do
    case $server in
        iamd | iamd-pg)
            start_iamd "$server" 0
            if [ "$LOGIN" = 1 ]; then start_iamd "$server-login" 1; fi
            ;;
        moto)
            PORT[moto]=$(free_port)
            "${ON_SERVER[@]}" bench/.venv/bin/moto_server -H 127.0.0.1 -p "${PORT[moto]}" >"$WORK/moto.log" 2>&1 &
            PID[moto]=$!
            PIDS+=("$!")
            ;;
        hello)
            PORT[hello]=$(free_port)
            "${ON_SERVER[@]}" "$BENCH" hello --listen "127.0.0.1:${PORT[hello]}" >"$WORK/hello.log" 2>&1 &
            PID[hello]=$!
            PIDS+=("$!")
            ;;
        privacyidea)
            PORT[privacyidea]=$(free_port)
            data="$WORK/privacyidea-data"
            echo "setting up privacyIDEA with $PI_TOKENS tokens in $data ..." >&2
            IAMD_BENCH_CREDENTIALS_FROM=$CREDENTIALS_FROM PI_LOGLEVEL=${PI_LOGLEVEL:-WARNING} \
                bench/privacyidea/setup.sh "$data" "$PI_TOKENS" | tee "$WORK/privacyidea-setup.txt" >&2
            PRIVACYIDEA_CONFIGFILE="$data/pi.cfg" "${ON_SERVER[@]}" bench/privacyidea/.venv/bin/gunicorn \
                --workers "$GUNICORN_WORKERS" --no-control-socket --bind "127.0.0.1:${PORT[privacyidea]}" \
                "privacyidea.app:create_app(config_name='production', config_file='$data/pi.cfg', silent=True)" \
                >"$WORK/privacyidea.log" 2>&1 &
            PID[privacyidea]=$!
            PIDS+=("$!")
            ;;
    esac
done
for name in "${!PORT[@]}"; do
    case $name in
        iamd*) wait_http "http://127.0.0.1:${PORT[$name]}/health" 30 ;;
        *) wait_http "http://127.0.0.1:${PORT[$name]}/" 60 ;;
    esac
    if [ "$name" = privacyidea ]; then
        # Each worker builds its application state on its first requests (seconds each): let every
        # worker answer a few validations (of no enrolled token) before measuring.
        for _ in $(seq $((GUNICORN_WORKERS * 4))); do
            curl -s -o /dev/null -d serial=WARMUP -d pass=000000 "http://127.0.0.1:${PORT[privacyidea]}/validate/check"
        done
    fi
done

# A process and its descendants (gunicorn's master and its workers).
process_tree() {
    local child
    echo "$1"
    for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do process_tree "$child"; done
}

for scenario in $SCENARIOS; do
    for server in $SERVERS; do
        instance=$server
        run_scenario=$scenario
        if [ "$server" = privacyidea ]; then
            is_login "$scenario" || continue
            run_scenario=privacyidea-validate
        elif is_login "$scenario"; then
            # Codes are checked only by iamd and privacyIDEA; the seeded users exist only there.
            case $server in iamd*) ;; *) continue ;; esac
            instance=$server-login
        fi
        extra=(--server-pid "${PID[$instance]}")
        [ "$server" = iamd-pg ] && extra+=(--server-pid "$DB_PID")
        if [ "$server" = privacyidea ]; then
            [ "$scenario" = session-mfa-wrong-code ] && extra+=(--wrong-code)
            extra+=(--seeded-users "$PI_TOKENS" --credentials-from "$CREDENTIALS_FROM")
        elif is_login "$scenario"; then
            extra+=(--seeded-users "$SEEDED_USERS" --credentials-from "$CREDENTIALS_FROM")
        fi
        if [ "$server" = hello ]; then
            # The ceiling answers every request with the same body: nothing to prepare, and no
            # meaning for write scenarios.
            [ "$scenario" = get-user ] || [ "$scenario" = list-mfa-devices ] || continue
            extra+=(--user hello)
        fi
        # Peak RSS per scenario: reset VmHWM (Linux clear_refs 5), read it after the run; a server
        # of several processes (gunicorn) counts the sum of their peaks.
        tree=$(process_tree "${PID[$instance]}")
        for pid in $tree; do echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true; done
        echo "running $scenario against $instance ..." >&2
        "${ON_CLIENT[@]}" "$BENCH" --endpoint "http://127.0.0.1:${PORT[$instance]}" --scenario "$run_scenario" \
            --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" \
            --label "$server" --json "${extra[@]}" >"$WORK/$server-$scenario.json" || true
        rss=0
        for pid in $tree; do
            rss=$((rss + $(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
        done
        echo "$rss" >"$WORK/$server-$scenario.rss"
    done
done

python3 - "$WORK" "$SCENARIOS" "$SERVERS" <<'PY' | tee "$WORK/table.md"
import json, os, sys
work, scenarios, servers = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
def load(server, scenario):
    path = os.path.join(work, f"{server}-{scenario}.json")
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    report = json.load(open(path))
    report["rss_mb"] = int(open(os.path.join(work, f"{server}-{scenario}.rss")).read().strip() or 0) / 1024
    return report
LOGINS = ("session-mfa", "session-mfa-wrong-code")
def expected(server, scenario):
    """Whether the script runs this pair (a missing report then means a failed run)."""
    if server == "hello":
        return scenario in ("get-user", "list-mfa-devices")
    if server == "privacyidea":
        return scenario in LOGINS
    return server.startswith("iamd") or scenario not in LOGINS
pi_column = "privacyidea" in servers
print("| server | scenario | ops/s | p50 ms | p99 ms | p99.9 ms | errors | peak RSS MB | CPU µs/req "
      "| vs moto | vs ceiling | CPU vs ceiling | vs iamd (SQLite) |" + (" CPU per login vs privacyIDEA |" if pi_column else ""))
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|" if pi_column else ""))
for scenario in scenarios:
    results = {s: load(s, scenario) for s in servers}
    for server in servers:
        r = results[server]
        if r is None:
            if expected(server, scenario):
                print(f"| {server} | {scenario} | failed | | | | | | | | | | |" + (" |" if pi_column else ""))
            continue
        def ratio(base, key="ops_per_second"):
            if not server.startswith("iamd") or not base or not base.get(key) or r.get(key) is None:
                return ""
            return f"{r[key] / base[key]:.2f}×"
        cpu = r.get("server_cpu_us_per_request")
        vs_sqlite = ratio(results.get("iamd")) if server == "iamd-pg" else ""
        # How much of privacyIDEA's CPU an iamd login takes, as a fraction: 1/500 meets issue 14's target.
        pi = results.get("privacyidea") or {}
        vs_pi = ""
        if server.startswith("iamd") and cpu and pi.get("server_cpu_us_per_request"):
            vs_pi = f"1/{pi['server_cpu_us_per_request'] / cpu:.0f}"
        print(f"| {server} | {scenario} | {r['ops_per_second']:.{1 if r['ops_per_second'] < 100 else 0}f} | "
              f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
              f"{r['p999_ms']:.2f} | {r['error_total']} | {r['rss_mb']:.0f} | {'' if cpu is None else f'{cpu:.1f}'} | "
              f"{ratio(results.get('moto'))} | {ratio(results.get('hello'))} | "
              f"{ratio(results.get('hello'), 'server_cpu_us_per_request')} | {vs_sqlite} |" + (f" {vs_pi} |" if pi_column else ""))
PY
echo
echo "create-enable: ops are pairs (CreateVirtualMFADevice + EnableMFADevice); each iteration also sends CreateUser"
echo "and clean-up (DeactivateMFADevice, DeleteVirtualMFADevice, DeleteUser), untimed but on the same connection."
echo "ops/s: operations that ended within the measured window, per second. CPU µs/req: the server's user + system"
echo "CPU time over that window (iamd-pg: with its PostgreSQL's) divided by the requests of those operations."
echo "session-mfa*: $SEEDED_USERS seeded users, one fresh code per login."
if [[ " $SERVERS " == *" privacyidea "* ]]; then
    echo "privacyidea: $(cat "$WORK/privacyidea-setup.txt"); gunicorn $GUNICORN_WORKERS sync workers, SQLite, signed SQL audit;"
    echo "its session-mfa rows are POST /validate/check (serial, fresh code), session-mfa-wrong-code rows the same with a wrong code."
fi
echo "$CONNECTIONS connections, $DURATION measured after $WARMUP warm-up; client: iamd-bench (1 thread) on the same $(nproc)-core machine, $PLACEMENT."
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    cp "$WORK"/*.json "$WORK"/table.md "$OUT"/
fi
