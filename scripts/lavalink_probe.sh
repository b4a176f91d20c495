#!/usr/bin/env bash
# Independent protocol probe: drives the fake Lavalink node (examples/fake_lavalink.rs)
# with a published third-party client, Lavalink.py (PyPI `lavalink`), pinned below.
# Creates its venv under .ci/.venv-probe, builds and starts the fake on a free port,
# runs scripts/lavalink_probe.py, stops the fake. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

# 5.11.1 sends the voice `channelId` Lavalink 4.2 requires.
LAVALINK_PY_VERSION="5.11.1"
VENV=".ci/.venv-probe"
PASSWORD="youshallnotpass"
PYTHON="${PYTHON:-python3}"

echo "== lavalink probe: Lavalink.py $LAVALINK_PY_VERSION against the fake node"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('lavalink') != '$LAVALINK_PY_VERSION')" 2>/dev/null; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "lavalink==$LAVALINK_PY_VERSION"
fi

# Build, then run the example's binary directly so that stopping it stops the fake
# (cargo run would leave its child behind when killed).
BIN="$(cargo build --quiet --example fake_lavalink --message-format=json \
  | "$VENV/bin/python" -c '
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "fake_lavalink" and msg.get("executable"):
        print(msg["executable"])
')"
if [ -z "$BIN" ] || [ ! -x "$BIN" ]; then
  echo "lavalink probe: could not find the fake_lavalink example binary" >&2
  exit 1
fi

PORT="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
LOG="$(mktemp)"
"$BIN" --port "$PORT" --password "$PASSWORD" --player-update-interval 250ms >"$LOG" 2>&1 &
FAKE_PID=$!
cleanup() {
  kill "$FAKE_PID" 2>/dev/null || true
  wait "$FAKE_PID" 2>/dev/null || true
  rm -f "$LOG"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
  if grep -q "listening on" "$LOG"; then break; fi
  if ! kill -0 "$FAKE_PID" 2>/dev/null; then
    echo "lavalink probe: the fake exited early:" >&2
    cat "$LOG" >&2
    exit 1
  fi
  sleep 0.1
done
if ! grep -q "listening on" "$LOG"; then
  echo "lavalink probe: the fake did not start:" >&2
  cat "$LOG" >&2
  exit 1
fi
head -n 1 "$LOG"

status=0
timeout 120 "$VENV/bin/python" scripts/lavalink_probe.py --port "$PORT" --password "$PASSWORD" --track shortTone3s || status=$?
if [ "$status" -ne 0 ]; then
  echo "lavalink probe: FAILED (exit $status); fake's output:" >&2
  cat "$LOG" >&2
fi
exit "$status"
