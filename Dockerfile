# iamd in a container: built with the `dist` profile (fat LTO) in the official Rust image, run
# from Debian slim as an unprivileged user, its data (database, master key, generated root
# credentials) on a volume.
#
#   docker build -t iamd .
#   docker run -d --name iamd -p 127.0.0.1:8080:8080 -v iamd-data:/var/lib/iamd iamd
#   docker exec iamd cat /var/lib/iamd/root-credentials
#
# Settings: environment variables (`-e IAMD_MAX_CONNECTIONS=4096`), or a TOML config file (README,
# "Configuration") readable by uid 10001, whose `listen` and `data-dir` the image's own variables
# override:  docker run … -v /etc/iamd/iamd.toml:/etc/iamd.toml:ro -e IAMD_CONFIG=/etc/iamd.toml iamd
#
# Both stages are Debian bookworm, so the binary finds the glibc it was linked against.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The line tables the dist profile keeps (file and line in a panic's backtrace) are most of the
# binary's size; compressed, the binary shrinks from 58 MB to 25 MB and backtraces still read them.
RUN cargo build --profile dist --locked -p iamd-server --bin iamd \
    && objcopy --compress-debug-sections=zlib target/dist/iamd /usr/local/bin/iamd

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/iamd --shell /usr/sbin/nologin iamd \
    && install -d -m 0700 -o iamd -g iamd /var/lib/iamd
COPY --from=build /usr/local/bin/iamd /usr/local/bin/iamd
USER iamd:iamd
ENV IAMD_LISTEN=0.0.0.0:8080 \
    IAMD_DATA_DIR=/var/lib/iamd
VOLUME ["/var/lib/iamd"]
EXPOSE 8080
# `iamd health` asks /health on IAMD_LISTEN: the database answers a read and a durable write and
# the volume has free space. No HTTP client needed in the image.
HEALTHCHECK --interval=15s --timeout=7s --start-period=20s --retries=3 CMD ["iamd", "health"]
# iamd finishes in-flight requests on SIGTERM before it exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["iamd"]
CMD ["serve"]
