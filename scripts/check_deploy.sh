#!/usr/bin/env bash
# Checks the deployment files without a Docker engine (none runs on CI): runs
# `docker compose config -q` when a Docker client with Compose v2 is installed, checks the Rust
# toolchain against the locked dependencies (scripts/check_toolchain.py), then always parses
# docker-compose.yml, config/lavalink/application.yml and render.yaml and checks the Dockerfile
# (scripts/check_deploy.py says what is checked). Needs PyYAML: uses python3's own when it has
# one, else installs it (pinned below) into .ci/.venv-yaml. Exits non-zero on any problem.
set -euo pipefail
cd "$(dirname "$0")/.."

PYYAML_VERSION="6.0.3"
VENV=".ci/.venv-yaml"
PYTHON="${PYTHON:-python3}"

echo "== deploy check: Dockerfile, docker-compose.yml, config/lavalink/application.yml, render.yaml"

# 1. Compose's own validation, on a copy with a dummy .env: a clean clone has no .env, which
#    `env_file: .env` and ${LAVALINK_PASSWORD:?} require, and a real one holds secrets.
if docker compose version >/dev/null 2>&1; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/config/lavalink"
  cp docker-compose.yml Dockerfile "$tmp/"
  cp config/lavalink/application.yml "$tmp/config/lavalink/"
  printf 'DISCORD_TOKEN=check-only\nLAVALINK_PASSWORD=check-only\n' >"$tmp/.env"
  docker compose --project-directory "$tmp" -f "$tmp/docker-compose.yml" config -q
  echo "docker compose config: ok"
else
  echo "docker compose is not installed: skipping 'docker compose config' (the checks below still run)"
fi

# 2. One toolchain: Cargo.toml's rust-version covers every locked dependency of the binary and is the
#    Dockerfile's and README's (cargo metadata; needs only cargo and python3).
if ! out=$("$PYTHON" scripts/test_deploy_checks.py 2>&1); then
  printf '%s\n' "$out" >&2
  exit 1
fi
printf '%s\n' "$out" | tail -n 1
"$PYTHON" scripts/check_toolchain.py

# 3. A Python with PyYAML.
if "$PYTHON" -c 'import yaml' 2>/dev/null; then
  PY="$PYTHON"
else
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
  fi
  if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('PyYAML') != '$PYYAML_VERSION')" 2>/dev/null; then
    echo "installing PyYAML $PYYAML_VERSION into $VENV" >&2
    if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "PyYAML==$PYYAML_VERSION"; then
      echo "deploy check: could not install PyYAML $PYYAML_VERSION from the package registry (offline?);" \
        "install it for $PYTHON (pip install PyYAML) or run again with the registry reachable" >&2
      exit 1
    fi
  fi
  PY="$VENV/bin/python"
fi

# 4. The structural checks.
"$PY" scripts/check_deploy.py
