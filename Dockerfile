# Encore: build a release binary, then run it on a slim image as a non-root user.
#
#   docker build -t encore .
#   docker run --env-file .env -v encore-data:/app/data encore
#
# docker-compose.yml runs it with Lavalink and MongoDB; render.yaml deploys it on Render.

# ---- build ----------------------------------------------------------------------------------
# The toolchain of Cargo.toml's [workspace.package] rust-version (scripts/check_toolchain.py keeps the
# two equal, and the locked dependencies within it).
FROM rust:1.95-bookworm AS build
WORKDIR /src

# 1. Dependencies only, in their own layer: it is rebuilt only when a manifest or the lock file
#    changes, not on every source edit. Cargo needs every target that a manifest declares to
#    exist, so the library, the binary, the workspace member (fakes/) and every [[bench]] target
#    get stub sources. Examples and tests are discovered from their folders, which are not copied.
COPY Cargo.toml Cargo.lock ./
COPY fakes/Cargo.toml ./fakes/Cargo.toml
RUN mkdir -p src benches fakes/src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs fakes/src/lib.rs \
 && echo 'fn main() {}' > benches/autosave_tick.rs \
 && echo 'fn main() {}' > benches/player.rs \
 && echo 'fn main() {}' > benches/restore.rs \
 && echo 'fn main() {}' > benches/resume.rs \
 && echo 'fn main() {}' > benches/voice.rs \
 && cargo build --release --locked --bin encore \
 && rm -rf src benches fakes/src

# 2. The real sources. COPY keeps the files' own timestamps, which can be older than the stub
#    build's outputs: touch them so that cargo rebuilds Encore itself (and only Encore).
COPY src ./src
COPY benches ./benches
COPY fakes ./fakes
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin encore \
 && cp target/release/encore /usr/local/bin/encore

# ---- run ------------------------------------------------------------------------------------
FROM debian:bookworm-slim
# CA certificates for TLS to Discord, MongoDB Atlas and https:// Lavalink nodes. The health
# check below needs only bash, which the image already has.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 encore \
 && useradd --system --uid 10001 --gid encore --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin encore
WORKDIR /app
COPY --from=build /usr/local/bin/encore /usr/local/bin/encore
# Only the defaults: settings for one deployment come from the environment (or a mounted
# config/local.toml).
COPY config/default.toml ./config/default.toml
RUN mkdir -p /app/data && chown -R encore:encore /app
# The user encore, by number, so that a platform can tell it is not root without reading
# /etc/passwd.
USER 10001:10001

# SQLite (the default SQLITE_PATH data/encore.db) and its backups live here: mount a volume or a
# persistent disk, or use MongoDB (MONGODB_URI) and nothing here needs to survive.
VOLUME ["/app/data"]

# Docker, Compose and Render stop a container with SIGTERM: Encore then saves every player's
# position before it exits (give it the platform's grace period; Compose: stop_grace_period).
STOPSIGNAL SIGTERM

# Healthy when HEALTH_PORT is unset (no health endpoint to ask), else when
# GET http://127.0.0.1:$HEALTH_PORT/healthz answers 200. Plain bash (/dev/tcp), no curl needed.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD [ -z "${HEALTH_PORT:-}" ] || bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$HEALTH_PORT" && printf "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" >&3 && read -r -t 4 _ status _ <&3 && [ "$status" = 200 ]'

ENTRYPOINT ["encore"]
CMD ["run"]
