# Encore: build a release binary, then run it on a slim image as a non-root user.
FROM rust:1.88-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY fakes ./fakes
RUN cargo build --release --locked --bin encore

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /app encore
WORKDIR /app
COPY --from=build /src/target/release/encore /usr/local/bin/encore
COPY config ./config
RUN mkdir -p /app/data && chown -R encore:encore /app
USER encore
# SQLite lives here: mount a persistent disk, or use MongoDB (MONGODB_URI).
VOLUME ["/app/data"]
# Render sends SIGTERM on deploys; Encore flushes the player state before it exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["encore"]
CMD ["run"]
