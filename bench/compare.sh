#!/usr/bin/env bash
# iamd vs moto vs a bare hyper server ("hello", the HTTP ceiling of this machine), same load
# generator, same scenarios, same connection count, one run. Prints a markdown table.
#
#   bench/compare.sh                                   # defaults below, ~3-4 minutes
#   SCENARIOS="get-user" DURATION=5s bench/compare.sh
#   OUT=bench/results bench/compare.sh                 # also keep the JSON reports and the table
#   PIN=0 bench/compare.sh                             # client and servers share all CPUs
#
# Needs python3 (moto runs from bench/.venv, created from bench/requirements.txt) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
SCENARIOS=${SCENARIOS:-"get-user list-mfa-devices create-enable"}
SERVERS=${SERVERS:-"iamd moto hello"}

cargo build --profile dist --quiet -p iamd-bench -p iamd-server
BENCH=target/dist/iamd-bench
IAMD=target/dist/iamd

# shellcheck source=bench/placement.sh
. bench/placement.sh

if [ ! -x bench/.venv/bin/moto_server ] || ! cmp -s bench/requirements.txt bench/.venv/requirements.txt; then
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

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() { # url, seconds
    local deadline=$((SECONDS + $2))
    until curl -s -o /dev/null "$1"; do
        if [ $SECONDS -ge $deadline ]; then echo "timed out waiting for $1" >&2; exit 1; fi
        sleep 0.1
    done
}

export IAMD_ACCOUNT_ID=123456789012
export IAMD_ROOT_ACCESS_KEY_ID=AKIABENCHROOT0000001
export IAMD_ROOT_SECRET_ACCESS_KEY=bench-root-secret-bench-root-secret-0001
export AWS_ACCESS_KEY_ID=$IAMD_ROOT_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$IAMD_ROOT_SECRET_ACCESS_KEY
export IAMD_LOG=${IAMD_LOG:-warn}

declare -A PORT PID
for server in $SERVERS; do
    PORT[$server]=$(free_port)
    case $server in
        iamd) "${ON_SERVER[@]}" "$IAMD" serve --listen "127.0.0.1:${PORT[iamd]}" --data-dir "$WORK/iamd-data" >"$WORK/iamd.log" 2>&1 & ;;
        moto) "${ON_SERVER[@]}" bench/.venv/bin/moto_server -H 127.0.0.1 -p "${PORT[moto]}" >"$WORK/moto.log" 2>&1 & ;;
        hello) "${ON_SERVER[@]}" "$BENCH" hello --listen "127.0.0.1:${PORT[hello]}" >"$WORK/hello.log" 2>&1 & ;;
    esac
    PID[$server]=$!
    PIDS+=("$!")
done
for server in $SERVERS; do
    case $server in
        iamd) wait_http "http://127.0.0.1:${PORT[iamd]}/health" 30 ;;
        *) wait_http "http://127.0.0.1:${PORT[$server]}/" 60 ;;
    esac
done

for scenario in $SCENARIOS; do
    for server in $SERVERS; do
        extra=()
        if [ "$server" = hello ]; then
            # The ceiling answers every request with the same body: nothing to prepare, and no
            # meaning for write scenarios.
            [ "$scenario" = get-user ] || [ "$scenario" = list-mfa-devices ] || continue
            extra=(--user hello)
        fi
        # Peak RSS per scenario: reset VmHWM (Linux clear_refs 5), read it after the run.
        echo 5 >"/proc/${PID[$server]}/clear_refs" 2>/dev/null || true
        echo "running $scenario against $server ..." >&2
        "${ON_CLIENT[@]}" "$BENCH" --endpoint "http://127.0.0.1:${PORT[$server]}" --scenario "$scenario" \
            --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" \
            --label "$server" --json "${extra[@]}" >"$WORK/$server-$scenario.json" || true
        rss=$(awk '/VmHWM/ {print $2}' "/proc/${PID[$server]}/status")
        # moto's process tree: the Python server is the process itself.
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
print("| server | scenario | ops/s | p50 ms | p99 ms | p99.9 ms | errors | peak RSS MB | iamd/moto | iamd/ceiling |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for scenario in scenarios:
    results = {s: load(s, scenario) for s in servers}
    iamd = results.get("iamd")
    for server in servers:
        r = results[server]
        if r is None:
            if server != "hello":
                print(f"| {server} | {scenario} | failed | | | | | | | |")
            continue
        ratio = lambda base: (f"{iamd['ops_per_second'] / base['ops_per_second']:.2f}×"
                              if server == "iamd" and base and base["ops_per_second"] else "")
        print(f"| {server} | {scenario} | {r['ops_per_second']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
              f"{r['p999_ms']:.2f} | {r['error_total']} | {r['rss_mb']:.0f} | {ratio(results.get('moto'))} | "
              f"{ratio(results.get('hello'))} |")
PY
echo
echo "create-enable: ops are pairs (CreateVirtualMFADevice + EnableMFADevice); each iteration also sends CreateUser"
echo "and clean-up (DeactivateMFADevice, DeleteVirtualMFADevice, DeleteUser), untimed but on the same connection."
echo "$CONNECTIONS connections, $DURATION measured after $WARMUP warm-up; client: iamd-bench (1 thread) on the same $(nproc)-core machine, $PLACEMENT."
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT"
    cp "$WORK"/*.json "$WORK"/table.md "$OUT"/
fi
