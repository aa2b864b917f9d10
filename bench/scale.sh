#!/usr/bin/env bash
# iamd with 1 thousand vs 1 million users (each with an enabled MFA device): start-up time to
# /health, RSS, database size, and GetUser / ListMFADevices / ListVirtualMFADevices latency.
#
#   bench/scale.sh                      # SIZES="1000 1000000"
#   SIZES="1000 100000" bench/scale.sh
#
# Users are bulk-loaded with `iamd-bench seed`, which writes iamd's SQLite schema directly.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"1000 1000000"}
CONNECTIONS=${CONNECTIONS:-"1 64"}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}

# IAMD=path and BENCH=path use prebuilt binaries (then nothing is built).
if [ -z "${IAMD:-}" ] || [ -z "${BENCH:-}" ]; then
    cargo build --profile dist --quiet -p iamd-bench -p iamd-server
fi
IAMD=${IAMD:-target/dist/iamd}
BENCH=${BENCH:-target/dist/iamd-bench}

# shellcheck source=bench/common.sh
. bench/common.sh
WORK=${WORK:-$(mktemp -d)}
IAMD_PID=
cleanup() {
    if [ -n "$IAMD_PID" ]; then kill "$IAMD_PID" 2>/dev/null || true; wait "$IAMD_PID" 2>/dev/null || true; fi
    [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(free_port)

start_iamd() { # data dir; sets IAMD_PID and STARTUP_MS (exec to the first 200 on /health)
    local t0 t1
    t0=$(date +%s%N)
    "${ON_SERVER[@]}" "$IAMD" serve --listen "127.0.0.1:$PORT" --data-dir "$1" >>"$1.log" 2>&1 &
    IAMD_PID=$!
    until curl -sf -o /dev/null "http://127.0.0.1:$PORT/health"; do
        kill -0 "$IAMD_PID" 2>/dev/null || { echo "iamd died, see $1.log" >&2; exit 1; }
        sleep 0.005
    done
    t1=$(date +%s%N)
    STARTUP_MS=$(((t1 - t0) / 1000000))
}
stop_iamd() { kill "$IAMD_PID"; wait "$IAMD_PID" 2>/dev/null || true; IAMD_PID=; }

SIZE_ROWS=()
LATENCY_ROWS=()
for n in $SIZES; do
    dir="$WORK/data-$n"
    start_iamd "$dir"   # creates schema, account, master key
    stop_iamd
    t0=$(date +%s%N)
    "$BENCH" seed --data-dir "$dir" --users "$n" >"$dir.seed.log" 2>&1
    seed_s=$(python3 -c "print(f'{($(date +%s%N) - $t0) / 1e9:.1f}')")
    sync
    start_iamd "$dir"
    startup_ms=$STARTUP_MS
    rss_start=$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$IAMD_PID/status")
    db_mb=$(du -cm "$dir"/iamd.db* | awk 'END {print $1}')
    user=$(printf 'seed-user-%07d' $((n / 2)))
    for c in $CONNECTIONS; do
        cells=()
        for scenario in get-user list-mfa-devices list-virtual-mfa-devices; do
            out="$dir.$scenario.$c.json"
            "${ON_CLIENT[@]}" "$BENCH" --endpoint "http://127.0.0.1:$PORT" --scenario "$scenario" --user "$user" --max-items 100 \
                --connections "$c" --duration "$DURATION" --warmup "$WARMUP" --json >"$out" || true
            cells+=("$(python3 -c "import json; r = json.load(open('$out')); print(f\"{r['p50_ms']:.2f} / {r['p99_ms']:.2f} ({r['ops_per_second']:.0f}/s, {r['error_total']} err)\")")")
        done
        LATENCY_ROWS+=("| $n | $c | ${cells[0]} | ${cells[1]} | ${cells[2]} |")
    done
    peak=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$IAMD_PID/status")
    stop_iamd
    # Second start on the same (now warm in the page cache) data: the start-up users will see.
    start_iamd "$dir"
    restart_ms=$STARTUP_MS
    stop_iamd
    SIZE_ROWS+=("| $n | $seed_s | $startup_ms | $restart_ms | $rss_start | $peak | $db_mb |")
done

echo "| users | seed s | start-up ms (after seeding) | start-up ms (restart) | RSS after start MB | peak RSS MB | DB MB |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${SIZE_ROWS[@]}"
echo
echo "| users | connections | GetUser p50 / p99 ms (ops/s) | ListMFADevices p50 / p99 ms (ops/s) | ListVirtualMFADevices, 100/page: p50 / p99 ms (pages/s) |"
echo "|---:|---:|---|---|---|"
printf '%s\n' "${LATENCY_ROWS[@]}"
echo
echo "Load generator: iamd-bench (1 thread), $DURATION per measurement, $PLACEMENT."
