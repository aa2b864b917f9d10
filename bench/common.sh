# Sourced by the bench scripts (compare.sh, ab.sh, scale.sh): where the load generator and the
# server under test run, the credentials every server is started with, and small helpers.
#
# PIN=1 (default, on machines with 2+ CPUs): the load generator gets CPU 0 and the server the
# other CPUs, so neither preempts the other and tail latency is the server's own. PIN=0 lets the
# scheduler mix them (more noise, fatter tails). Sets ON_CLIENT and ON_SERVER (command prefixes),
# SERVER_CPUS and PLACEMENT (a sentence for the report).
PIN=${PIN:-1}
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    SERVER_CPUS="1-$(($(nproc) - 1))"
    ON_CLIENT=(taskset -c 0)
    ON_SERVER=(taskset -c "$SERVER_CPUS")
    PLACEMENT="client pinned to CPU 0, server to CPUs $SERVER_CPUS"
else
    SERVER_CPUS=
    ON_CLIENT=()
    ON_SERVER=()
    PLACEMENT="client and server unpinned"
fi

# Moves an already running process (every thread) to the server's CPUs, e.g. a database server
# that is part of the server under test; its future children inherit the placement.
pin_to_server() {
    if [ -n "$SERVER_CPUS" ]; then taskset -a -p -c "$SERVER_CPUS" "$1" >/dev/null; fi
}

export IAMD_ACCOUNT_ID=123456789012
export IAMD_ROOT_ACCESS_KEY_ID=AKIABENCHROOT0000001
export IAMD_ROOT_SECRET_ACCESS_KEY=bench-root-secret-bench-root-secret-0001
export AWS_ACCESS_KEY_ID=$IAMD_ROOT_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$IAMD_ROOT_SECRET_ACCESS_KEY
# The access log line is measured on purpose (IAMD_LOG=info), not by default.
export IAMD_LOG=${IAMD_LOG:-warn}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_http() { # url [seconds, default 30]
    local deadline=$((SECONDS + ${2:-30}))
    until curl -s -o /dev/null "$1"; do
        if [ $SECONDS -ge $deadline ]; then echo "timed out waiting for $1" >&2; exit 1; fi
        sleep 0.1
    done
}
