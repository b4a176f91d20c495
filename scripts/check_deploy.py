"""Structural checks of the deployment files; run by scripts/check_deploy.sh (which brings PyYAML).

No Docker engine runs on CI, so nothing here builds or starts a container. Instead it checks the
facts the deployment relies on:

- Dockerfile: a multi-stage build (its toolchain is checked by scripts/check_toolchain.py); a stub source in
  the dependency layer for every target a manifest declares ([[bench]], [[example]], workspace
  members), since cargo refuses a manifest whose target files are missing; a non-root USER, the
  /app/data VOLUME, STOPSIGNAL SIGTERM, a HEALTHCHECK on HEALTH_PORT's /healthz, the ENTRYPOINT.
- .dockerignore keeps target/, .env and .git out of the build context.
- docker-compose.yml: services encore, lavalink and mongo wired together (Lavalink node, MongoDB
  URI, config mount, named volumes), each setting name one that Encore knows.
- config/lavalink/application.yml: a Lavalink v4 config with the port Encore is pointed at, the
  password from ${LAVALINK_PASSWORD}, the youtube-source plugin and the built-in source off; the
  LavaSrc, LavaSearch and LavaLyrics plugins, LavaSrc's credentialed sources (Spotify, Apple
  Music, Deezer) off unless switched on, and every ${VAR} it reads passed to the lavalink service
  by docker-compose.yml and documented in .env.example.
- render.yaml: a Docker background worker whose secrets are `sync: false`, on MongoDB, or on
  SQLite with a persistent disk at /app/data.

Every YAML file is parsed strictly (a duplicated key is an error). Exits 1 listing every problem.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

from dockerfile import dockerfile_instructions

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

ROOT = Path(__file__).resolve().parent.parent
SECRETS = ("DISCORD_TOKEN", "LAVALINK_PASSWORD", "MONGODB_URI", "LAVALINK_NODES")

problems: list[str] = []
checks = 0


def check(ok: bool, what: str) -> bool:
    global checks
    checks += 1
    if not ok:
        problems.append(what)
    return ok


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects a mapping with the same key twice (PyYAML keeps the last)."""


def _construct_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(rel: str):
    path = ROOT / rel
    if not check(path.is_file(), f"{rel}: missing"):
        return None
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=StrictLoader)
    except yaml.YAMLError as e:
        check(False, f"{rel}: not valid YAML: {e}")
        return None
    if not check(isinstance(data, dict), f"{rel}: the top level is not a mapping"):
        return None
    return data


def dig(data, *keys):
    """data[k1][k2]..., or None when any level is missing or not a mapping."""
    for k in keys:
        if not isinstance(data, dict) or k not in data:
            return None
        data = data[k]
    return data


def known_settings() -> set[str]:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    names = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, re.M))
    return names


def env_dict(env) -> dict[str, str]:
    """A Compose `environment:` (mapping or list of KEY=VALUE) as a dict."""
    if isinstance(env, dict):
        return {str(k): "" if v is None else str(v) for k, v in env.items()}
    if isinstance(env, list):
        out = {}
        for item in env:
            key, _, value = str(item).partition("=")
            out[key] = value
        return out
    return {}


# --- Dockerfile --------------------------------------------------------------------------------


def check_dockerfile() -> None:
    rel = "Dockerfile"
    path = ROOT / rel
    if not check(path.is_file(), f"{rel}: missing"):
        return
    text = path.read_text(encoding="utf-8")
    ins = dockerfile_instructions(text)
    froms = [args for word, args in ins if word == "FROM"]
    check(len(froms) >= 2, f"{rel}: not a multi-stage build (fewer than two FROM)")
    named = [f for f in froms if re.search(r"\s+AS\s+\S+", f, re.I)]
    check(bool(named), f"{rel}: no build stage named with FROM ... AS")
    if froms:
        check("bookworm-slim" in froms[-1], f"{rel}: the runtime stage is not debian bookworm-slim")

    # The toolchain (FROM rust:X against rust-version) is scripts/check_toolchain.py's.

    # Stubs for every declared target, so the dependency layer's `cargo build` accepts the manifests.
    for rel_stub in declared_stub_paths():
        check(rel_stub in text, f"{rel}: no stub for {rel_stub} in the dependency layer")
    copies = " ".join(args for word, args in ins if word == "COPY")
    for member in workspace_members():
        check(
            f"{member}/Cargo.toml" in copies,
            f"{rel}: the dependency layer does not COPY {member}/Cargo.toml (workspace member)",
        )
    builds = [a for w, a in ins if w == "RUN" and "cargo build --release --locked" in a]
    check(len(builds) >= 2, f"{rel}: expected a dependency build and a real build (cargo build --release --locked)")
    check(
        any("touch" in a for a in builds[1:]),
        f"{rel}: the real build does not touch the sources (cargo may keep the stub binary)",
    )

    users = [args for word, args in ins if word == "USER"]
    check(bool(users), f"{rel}: no USER (the bot would run as root)")
    if users:
        check(users[-1].split(":")[0] not in ("root", "0"), f"{rel}: the last USER is root")
    volumes = " ".join(args for word, args in ins if word == "VOLUME")
    check("/app/data" in volumes, f"{rel}: no VOLUME /app/data")
    check(("STOPSIGNAL", "SIGTERM") in ins, f"{rel}: no STOPSIGNAL SIGTERM")
    health = [args for word, args in ins if word == "HEALTHCHECK"]
    check(bool(health), f"{rel}: no HEALTHCHECK")
    if health:
        check(
            "HEALTH_PORT" in health[-1] and "/healthz" in health[-1],
            f"{rel}: the HEALTHCHECK does not probe /healthz on HEALTH_PORT",
        )
    entry = [args for word, args in ins if word == "ENTRYPOINT"]
    check(bool(entry) and "encore" in entry[-1], f"{rel}: no ENTRYPOINT running encore")

    ignore = ROOT / ".dockerignore"
    if check(ignore.is_file(), ".dockerignore: missing"):
        patterns = {p.strip().rstrip("/") for p in ignore.read_text(encoding="utf-8").splitlines()}
        for needed in ("target", ".env", ".git"):
            check(needed in patterns, f".dockerignore: does not exclude {needed}")


def cargo_manifest(rel: str) -> dict:
    text = (ROOT / rel).read_text(encoding="utf-8")
    if tomllib is not None:
        return tomllib.loads(text)
    # Without tomllib (Python < 3.11): just the target tables' names and the workspace members.
    manifest: dict = {}
    for table in ("bench", "example", "test", "bin"):
        names = re.findall(rf"^\[\[{table}\]\]\s*\nname\s*=\s*\"([^\"]+)\"", text, re.M)
        manifest[table] = [{"name": n} for n in names]
    package = re.search(r'^name\s*=\s*"([^"]+)"', text, re.M)
    manifest["package"] = {"name": package.group(1) if package else ""}
    members = re.search(r"^members\s*=\s*\[([^\]]*)\]", text, re.M)
    if members:
        manifest["workspace"] = {"members": re.findall(r'"([^"]+)"', members.group(1))}
    return manifest


def workspace_members() -> list[str]:
    return list(dig(cargo_manifest("Cargo.toml"), "workspace", "members") or [])


def declared_stub_paths() -> list[str]:
    """Target files the manifests declare, which the dependency layer must stub."""
    paths = ["src/main.rs", "src/lib.rs"]
    for prefix, manifest_rel in [("", "Cargo.toml")] + [
        (f"{m}/", f"{m}/Cargo.toml") for m in workspace_members()
    ]:
        manifest = cargo_manifest(manifest_rel)
        package = dig(manifest, "package", "name")
        for table, folder in (("bench", "benches"), ("example", "examples"), ("test", "tests")):
            for target in manifest.get(table, []) or []:
                paths.append(prefix + target.get("path", f"{folder}/{target['name']}.rs"))
        for target in manifest.get("bin", []) or []:
            default = "src/main.rs" if target["name"] == package else f"src/bin/{target['name']}.rs"
            paths.append(prefix + target.get("path", default))
        if prefix and (ROOT / prefix / "src/lib.rs").is_file():
            paths.append(f"{prefix}src/lib.rs")
    return list(dict.fromkeys(paths))


def placeholders(data) -> set[str]:
    """The environment variables `${NAME}` / `${NAME:default}` that string values inside `data`
    (a parsed YAML document, comments gone) read; Spring's `${some.property}` are not variables."""
    found: set[str] = set()
    if isinstance(data, dict):
        for v in data.values():
            found |= placeholders(v)
    elif isinstance(data, list):
        for v in data:
            found |= placeholders(v)
    elif isinstance(data, str):
        found |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)(?::[^}]*)?\}", data))
    return found


# --- docker-compose.yml ------------------------------------------------------------------------


def check_compose(lavalink_port, lavalink_vars: set[str]) -> None:
    rel = "docker-compose.yml"
    data = load_yaml(rel)
    if data is None:
        return
    services = data.get("services") or {}
    for name in ("encore", "lavalink", "mongo"):
        check(isinstance(services.get(name), dict), f"{rel}: no service {name}")
    declared_volumes = set((data.get("volumes") or {}).keys())
    check("mongo-data" in declared_volumes, f"{rel}: no top-level volume mongo-data")
    for name, service in services.items():
        for mount in (service or {}).get("volumes", []) or []:
            source = str(mount).split(":")[0] if isinstance(mount, str) else str(mount.get("source"))
            if source.startswith((".", "/")):
                check((ROOT / source).exists(), f"{rel}: {name} mounts {source}, which does not exist")
            else:
                check(source in declared_volumes, f"{rel}: {name} uses volume {source}, not declared")

    known = known_settings()
    encore = services.get("encore") or {}
    check(encore.get("build") in (".", {"context": "."}), f"{rel}: encore is not built from .")
    env_file = encore.get("env_file")
    check(env_file == ".env" or env_file == [".env"], f"{rel}: encore does not read env_file .env")
    env = env_dict(encore.get("environment"))
    for key in env:
        check(key in known, f"{rel}: encore sets {key}, which is not a setting in .env.example")
    check(
        env.get("MONGODB_URI", "").startswith("mongodb://mongo:27017"),
        f"{rel}: encore's MONGODB_URI is not mongodb://mongo:27017",
    )
    nodes = env.get("LAVALINK_NODES", "")
    check(
        re.fullmatch(r"(https?://)?lavalink:\d+", nodes) is not None,
        f"{rel}: encore's LAVALINK_NODES is not lavalink:PORT (got {nodes!r})",
    )
    if lavalink_port is not None and nodes:
        check(
            nodes.endswith(f":{lavalink_port}"),
            f"{rel}: LAVALINK_NODES {nodes!r} does not use Lavalink's server.port {lavalink_port}",
        )
    depends = encore.get("depends_on") or {}
    for name in ("lavalink", "mongo"):
        check(name in depends, f"{rel}: encore does not depend_on {name}")
    check(encore.get("restart") == "unless-stopped", f"{rel}: encore is not restart: unless-stopped")
    check("stop_grace_period" in encore, f"{rel}: encore has no stop_grace_period")
    check(
        any(str(v).endswith(":/app/data") for v in encore.get("volumes", []) or []),
        f"{rel}: encore has no volume at /app/data",
    )

    lavalink = services.get("lavalink") or {}
    check(
        str(lavalink.get("image", "")).startswith("ghcr.io/lavalink-devs/lavalink:4"),
        f"{rel}: lavalink's image is not ghcr.io/lavalink-devs/lavalink:4…",
    )
    check(
        any(
            str(v).startswith("./config/lavalink/application.yml:/opt/Lavalink/application.yml")
            for v in lavalink.get("volumes", []) or []
        ),
        f"{rel}: lavalink does not mount ./config/lavalink/application.yml",
    )
    lavalink_env = env_dict(lavalink.get("environment"))
    check(
        "LAVALINK_PASSWORD" in lavalink_env,
        f"{rel}: lavalink gets no LAVALINK_PASSWORD (its application.yml needs it)",
    )
    for var in sorted(lavalink_vars):
        check(
            var in lavalink_env,
            f"{rel}: lavalink does not pass {var}, which config/lavalink/application.yml reads",
        )
        check(
            var in known,
            f".env.example: does not document {var}, which config/lavalink/application.yml reads",
        )

    mongo = services.get("mongo") or {}
    check(str(mongo.get("image", "")).startswith("mongo:"), f"{rel}: mongo's image is not mongo:…")
    check(
        "mongo-data:/data/db" in [str(v) for v in mongo.get("volumes", []) or []],
        f"{rel}: mongo does not keep /data/db in the volume mongo-data",
    )


# --- config/lavalink/application.yml -----------------------------------------------------------


def check_lavalink():
    rel = "config/lavalink/application.yml"
    data = load_yaml(rel)
    if data is None:
        return None, set()
    port = dig(data, "server", "port")
    check(isinstance(port, int) and 0 < port < 65536, f"{rel}: no server.port")
    check(
        dig(data, "lavalink", "server", "password") == "${LAVALINK_PASSWORD}",
        f"{rel}: lavalink.server.password is not \"${{LAVALINK_PASSWORD}}\"",
    )
    plugins = dig(data, "lavalink", "plugins") or []
    deps = [str(p.get("dependency", "")) for p in plugins if isinstance(p, dict)]
    check(
        any(re.fullmatch(r"dev\.lavalink\.youtube:youtube-plugin:1\.\d+\.\d+", d) for d in deps),
        f"{rel}: no dev.lavalink.youtube:youtube-plugin:1.x.y under lavalink.plugins",
    )
    check(
        dig(data, "lavalink", "server", "sources", "youtube") is False,
        f"{rel}: the built-in YouTube source is not off (lavalink.server.sources.youtube: false)",
    )
    check(dig(data, "plugins", "youtube", "enabled") is True, f"{rel}: plugins.youtube.enabled is not true")
    for artifact, major in (
        ("com.github.topi314.lavasrc:lavasrc-plugin", 4),
        ("com.github.topi314.lavasearch:lavasearch-plugin", 1),
        ("com.github.topi314.lavalyrics:lavalyrics-plugin", 1),
    ):
        check(
            any(re.fullmatch(rf"{re.escape(artifact)}:{major}\.\d+\.\d+", d) for d in deps),
            f"{rel}: no {artifact}:{major}.x.y under lavalink.plugins",
        )
    providers = dig(data, "plugins", "lavasrc", "providers")
    check(
        isinstance(providers, list) and len(providers) > 0,
        f"{rel}: plugins.lavasrc.providers is empty (Spotify and Apple Music tracks could not play)",
    )
    # Sources that fail without credentials (at start, or on every load) stay off by default.
    for source in ("spotify", "applemusic", "deezer"):
        value = dig(data, "plugins", "lavasrc", "sources", source)
        check(
            value is False or re.fullmatch(r"\$\{[A-Z][A-Z0-9_]*:false\}", str(value)) is not None,
            f"{rel}: plugins.lavasrc.sources.{source} is not false or a \"${{VAR:false}}\" placeholder",
        )
    check(
        dig(data, "plugins", "lavasrc", "lyrics-sources", "youtube") is True
        or dig(data, "plugins", "lavasrc", "lyrics-sources", "lrcLib") is True,
        f"{rel}: LavaLyrics has no lyrics source that needs no credentials (lyrics-sources youtube or lrcLib)",
    )
    interval = dig(data, "lavalink", "server", "playerUpdateInterval")
    check(isinstance(interval, int) and interval > 0, f"{rel}: no lavalink.server.playerUpdateInterval")
    return port if isinstance(port, int) else None, placeholders(data)


# --- render.yaml -------------------------------------------------------------------------------


def check_render() -> None:
    rel = "render.yaml"
    data = load_yaml(rel)
    if data is None:
        return
    services = data.get("services")
    if not check(isinstance(services, list), f"{rel}: no services list"):
        return
    workers = [s for s in services if isinstance(s, dict) and s.get("type") == "worker"]
    if not check(len(workers) == 1, f"{rel}: expected one service of type: worker"):
        return
    worker = workers[0]
    check(worker.get("runtime") == "docker", f"{rel}: the worker's runtime is not docker")
    dockerfile = str(worker.get("dockerfilePath", ""))
    check(
        dockerfile != "" and (ROOT / dockerfile).is_file(),
        f"{rel}: dockerfilePath {dockerfile!r} is not a file in the repository",
    )
    delay = worker.get("maxShutdownDelaySeconds")
    check(
        isinstance(delay, int) and 1 <= delay <= 300,
        f"{rel}: maxShutdownDelaySeconds is not a number of seconds from 1 to 300",
    )
    env_vars = worker.get("envVars") or []
    by_key = {e.get("key"): e for e in env_vars if isinstance(e, dict) and "key" in e}
    check(len(by_key) == len(env_vars), f"{rel}: an envVars entry has no key")
    known = known_settings()
    for key, entry in by_key.items():
        check(key in known, f"{rel}: envVars sets {key}, which is not a setting in .env.example")
        if "value" in entry:
            check(isinstance(entry["value"], str), f"{rel}: {key}'s value is not a string (quote it)")
    # MongoDB without a disk (zero-downtime deploys), or SQLite on a disk at /app/data.
    with_disk = "disk" in worker
    storage = "sqlite" if with_disk else "mongodb"
    for key in SECRETS:
        if with_disk and key == "MONGODB_URI":
            continue
        entry = by_key.get(key)
        if check(entry is not None, f"{rel}: no envVars entry for {key}"):
            check(
                entry.get("sync") is False and "value" not in entry,
                f"{rel}: {key} is a secret: it must be `sync: false` with no value",
            )
    check(
        by_key.get("STORAGE", {}).get("value") == storage,
        f"{rel}: STORAGE is not {storage} (" + ("with" if with_disk else "without") + " a disk)",
    )
    check(
        by_key.get("MUSIC_AUTO_RESUME", {}).get("value") == "true",
        f"{rel}: MUSIC_AUTO_RESUME is not \"true\"",
    )
    if with_disk:
        check(
            dig(worker, "disk", "mountPath") == "/app/data",
            f"{rel}: the disk is not mounted at /app/data (where SQLite lives in the image)",
        )


def main() -> int:
    check_dockerfile()
    port, lavalink_vars = check_lavalink()
    check_compose(port, lavalink_vars)
    check_render()
    if problems:
        for p in problems:
            print(f"deploy check: {p}", file=sys.stderr)
        print(f"deploy check: FAILED ({len(problems)} of {checks} checks)", file=sys.stderr)
        return 1
    print(f"deploy check: all {checks} checks hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
