#!/usr/bin/env bash
# Two iamd binaries (A = before a change, B = after it) and the hyper "hello" ceiling, under the
# same signed load, interleaved A B B A per scenario so machine drift hits both alike. Prints
# ops/s per run and B/A and B/ceiling ratios.
#
#   bench/ab.sh /path/to/iamd-before target/dist/iamd
#   SCENARIOS="get-user" DURATION=5s bench/ab.sh A B
#
# Build each binary with the dist profile first (`cargo build --profile dist`; e.g. a `git worktree`
# of the older commit with its own CARGO_TARGET_DIR). The load generator is this checkout's
# target/dist/iamd-bench, or BENCH=path (then nothing is built). ROUNDS=n repeats the A B B A
# sequence n times (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -ne 2 ]; then
    echo "usage: $0 IAMD_BEFORE IAMD_AFTER" >&2
    exit 2
fi
declare -A BIN=([A]=$1 [B]=$2)
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-1s}
SCENARIOS=${SCENARIOS:-"get-user list-mfa-devices create-enable"}
ROUNDS=${ROUNDS:-1}

if [ -z "${BENCH:-}" ]; then
    cargo build --profile dist --quiet -p iamd-bench
    BENCH=target/dist/iamd-bench
fi
# shellcheck source=bench/placement.sh
. bench/placement.sh

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
wait_http() {
    local deadline=$((SECONDS + 30))
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

declare -A PORT
for server in A B; do
    PORT[$server]=$(free_port)
    "${ON_SERVER[@]}" "${BIN[$server]}" serve --listen "127.0.0.1:${PORT[$server]}" \
        --data-dir "$WORK/data-$server" >"$WORK/$server.log" 2>&1 &
    PIDS+=("$!")
done
PORT[hello]=$(free_port)
"${ON_SERVER[@]}" "$BENCH" hello --listen "127.0.0.1:${PORT[hello]}" >"$WORK/hello.log" 2>&1 &
PIDS+=("$!")
for server in A B; do wait_http "http://127.0.0.1:${PORT[$server]}/health"; done
wait_http "http://127.0.0.1:${PORT[hello]}/"

run() { # server scenario run-number
    local extra=()
    [ "$1" = hello ] && extra=(--user hello)
    "${ON_CLIENT[@]}" "$BENCH" --endpoint "http://127.0.0.1:${PORT[$1]}" --scenario "$2" \
        --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --label "$1" --json "${extra[@]}" \
        >"$WORK/$2-$1-$3.json"
}

for scenario in $SCENARIOS; do
    echo "running $scenario ..." >&2
    for round in $(seq 1 "$ROUNDS"); do
        run A "$scenario" $((2 * round - 1))
        run B "$scenario" $((2 * round - 1))
        [ "$round" = 1 ] && case $scenario in get-user | list-mfa-devices) run hello "$scenario" 1 ;; esac
        run B "$scenario" $((2 * round))
        run A "$scenario" $((2 * round))
    done
done

python3 - "$WORK" "$SCENARIOS" "$ROUNDS" <<'PY'
import json, os, sys
work, scenarios, rounds = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
def ops(scenario, server, n):
    path = os.path.join(work, f"{scenario}-{server}-{n}.json")
    return json.load(open(path))["ops_per_second"] if os.path.exists(path) else None
print("| scenario | A ops/s (runs) | B ops/s (runs) | hello ops/s | B/A | A/ceiling | B/ceiling |")
print("|---|---|---|---:|---:|---:|---:|")
for s in scenarios:
    a = [ops(s, "A", n) for n in range(1, 2 * rounds + 1)]
    b = [ops(s, "B", n) for n in range(1, 2 * rounds + 1)]
    h = ops(s, "hello", 1)
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    runs = lambda xs: ", ".join(f"{x:.0f}" for x in xs)
    ceil = lambda m: f"{m / h:.2f}" if h else ""
    print(f"| {s} | {ma:.0f} ({runs(a)}) | {mb:.0f} ({runs(b)}) | {h or 0:.0f} | {mb / ma:.3f} | {ceil(ma)} | {ceil(mb)} |")
PY
echo
echo "$CONNECTIONS connections, $DURATION measured after $WARMUP warm-up per run, runs interleaved A B B A" \
    "($ROUNDS round(s)); $PLACEMENT."
