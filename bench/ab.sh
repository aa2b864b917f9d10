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
# sequence n times (default 1). ENV_A / ENV_B add environment variables to one server, e.g. the
# same binary twice to measure a setting: ENV_A="IAMD_LOG=warn" ENV_B="IAMD_LOG=info" bench/ab.sh X X;
# ARGS_A / ARGS_B add load-generator arguments to one side, e.g. what authorization by policy
# costs: ARGS_B="--caller-policies 10" SCENARIOS=get-user bench/ab.sh X X
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
# shellcheck source=bench/common.sh
. bench/common.sh

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
declare -A PORT PID
for server in A B; do
    PORT[$server]=$(free_port)
    env_var=ENV_$server
    # shellcheck disable=SC2086 # word splitting of ENV_A/ENV_B is wanted
    env ${!env_var:-} "${ON_SERVER[@]}" "${BIN[$server]}" serve --listen "127.0.0.1:${PORT[$server]}" \
        --data-dir "$WORK/data-$server" >"$WORK/$server.log" 2>&1 &
    PID[$server]=$!
    PIDS+=("$!")
done
PORT[hello]=$(free_port)
"${ON_SERVER[@]}" "$BENCH" hello --listen "127.0.0.1:${PORT[hello]}" >"$WORK/hello.log" 2>&1 &
PID[hello]=$!
PIDS+=("$!")
for server in A B; do wait_http "http://127.0.0.1:${PORT[$server]}/health"; done
wait_http "http://127.0.0.1:${PORT[hello]}/"

run() { # server scenario run-number
    local extra=()
    [ "$1" = hello ] && extra=(--user hello)
    local args_var=ARGS_$1
    # shellcheck disable=SC2206 # word splitting of ARGS_A/ARGS_B is wanted
    [ "$1" != hello ] && extra+=(${!args_var:-})
    "${ON_CLIENT[@]}" "$BENCH" --endpoint "http://127.0.0.1:${PORT[$1]}" --scenario "$2" \
        --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" --label "$1" --json --server-pid "${PID[$1]}" "${extra[@]}" \
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
def report(scenario, server, n):
    path = os.path.join(work, f"{scenario}-{server}-{n}.json")
    return json.load(open(path)) if os.path.exists(path) and os.path.getsize(path) else None
def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None
print("| scenario | A ops/s (runs) | B ops/s (runs) | hello ops/s | B/A | A/ceiling | B/ceiling "
      "| A CPU µs/req | B CPU µs/req | hello CPU µs/req | B/A CPU |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for s in scenarios:
    a = [report(s, "A", n) for n in range(1, 2 * rounds + 1)]
    b = [report(s, "B", n) for n in range(1, 2 * rounds + 1)]
    h = report(s, "hello", 1)
    ops = lambda rs: [r["ops_per_second"] if r else None for r in rs]
    cpu = lambda rs: [r.get("server_cpu_us_per_request") if r else None for r in rs]
    ma, mb = mean(ops(a)), mean(ops(b))
    ca, cb = mean(cpu(a)), mean(cpu(b))
    ho, hc = (h["ops_per_second"], h.get("server_cpu_us_per_request")) if h else (None, None)
    runs = lambda xs: ", ".join(f"{x:.0f}" for x in xs if x is not None)
    ceil = lambda m: f"{m / ho:.2f}" if ho and m else ""
    num = lambda v, f=".1f": format(v, f) if v is not None else ""
    print(f"| {s} | {ma:.0f} ({runs(ops(a))}) | {mb:.0f} ({runs(ops(b))}) | {num(ho, '.0f')} | {mb / ma:.3f} "
          f"| {ceil(ma)} | {ceil(mb)} | {num(ca)} | {num(cb)} | {num(hc)} | {cb / ca:.3f} |")
PY
echo
echo "$CONNECTIONS connections, $DURATION measured after $WARMUP warm-up per run, runs interleaved A B B A" \
    "($ROUNDS round(s)); $PLACEMENT."
