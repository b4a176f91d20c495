#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: the independent Lavalink.py probe of the fake
# Lavalink (scripts/lavalink_probe.sh), then installs and starts a MongoDB-protocol server
# (nx-27017, in a local venv) unless MONGODB_URI already points at a MongoDB, then
# `cargo test --workspace` (the bot and the fakes). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# A published third-party Lavalink client checks the fake Lavalink against the protocol.
mkdir -p target
if [ "$#" -eq 0 ]; then
  bash scripts/lavalink_probe.sh
  # The README's no-Discord demo must keep working: it finishes, and each of its three restarts
  # (SIGTERM; kill -9; kill -9 with a Lavalink restart) comes back where the music stopped.
  cargo run --quiet --example demo >target/demo.out 2>&1 || { cat target/demo.out >&2; exit 1; }
  grep -q "^done.$" target/demo.out || { echo "the demo did not finish" >&2; cat target/demo.out >&2; exit 1; }
  restarts=$(grep -c "^   listeners: .*: ok$" target/demo.out || true)
  [ "$restarts" -eq 3 ] || { echo "the demo's restarts: $restarts of 3 came back where the music stopped" >&2; cat target/demo.out >&2; exit 1; }
  echo "demo passed (cargo run --example demo: 3 restarts came back where the music stopped)"
fi

server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true; }
trap cleanup EXIT

if [ -z "${MONGODB_URI:-}" ]; then
  venv=.ci/.venv-mongo
  if [ ! -x "$venv/bin/nx-27017" ]; then
    echo "installing the MongoDB-protocol test server (nx-27017) into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q nx-27017==0.8.1
  fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p target
  "$venv/bin/nx-27017" --host 127.0.0.1 --port "$port" --data-dir memory \
    --log-file target/nx-27017.log --pid-file "target/nx-27017-$port.pid" >target/nx-27017.out 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; then break; fi
    if ! kill -0 "$server_pid" 2>/dev/null; then echo "nx-27017 did not start:" >&2; cat target/nx-27017.out >&2; exit 1; fi
    sleep 0.1
  done
  export MONGODB_URI="mongodb://127.0.0.1:$port/?directConnection=true"
  echo "MongoDB-protocol test server on 127.0.0.1:$port" >&2
fi

# The MongoDB tests must run here, not be skipped.
export ENCORE_REQUIRE_MONGODB=1
cargo test --workspace "$@"
