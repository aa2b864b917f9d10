# Sourced by compare.sh and scale.sh: where the load generator and the server under test run.
#
# PIN=1 (default, on machines with 2+ CPUs): the load generator gets CPU 0 and the server the
# other CPUs, so neither preempts the other and tail latency is the server's own. PIN=0 lets the
# scheduler mix them (more noise, fatter tails). Sets ON_CLIENT and ON_SERVER (command prefixes)
# and PLACEMENT (a sentence for the report).
PIN=${PIN:-1}
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    ON_CLIENT=(taskset -c 0)
    ON_SERVER=(taskset -c "1-$(($(nproc) - 1))")
    PLACEMENT="client pinned to CPU 0, server to CPUs 1-$(($(nproc) - 1))"
else
    ON_CLIENT=()
    ON_SERVER=()
    PLACEMENT="client and server unpinned"
fi
