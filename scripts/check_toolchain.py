"""The Rust toolchain has one truth: `rust-version` in the root Cargo.toml's [workspace.package].

Run by scripts/check_deploy.sh. From `cargo metadata --locked` (machine-readable; Cargo.lock is not
read by hand) it checks that:

- every package the `encore` binary compiles (its normal and build dependencies, transitively, on the
  Linux targets the image is built for; dev-dependencies are not in the image) declares a
  `rust-version` no newer than the workspace's: cargo refuses to build a package whose
  `rust-version` is newer than the compiler, so the image's build stage would fail;
- every workspace member inherits that `rust-version`;
- every Dockerfile stage built FROM the official rust image (with or without a registry prefix,
  `--platform`, or a global `ARG` in the tag) is `rust:<that version>[.patch]-<release>`, where
  `<release>` is the runtime stage's Debian release (`debian:bookworm-slim` → bookworm);
- every Rust version the README names is that version;
- this machine's rustc is not older than it (a newer one is reported: CI then compiles with another
  compiler than the image).

Prints one line per problem, naming the package or file, and exits 1; exits 0 when all hold.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from dockerfile import dockerfile_stages, image_repository_and_tag

ROOT = Path(__file__).resolve().parent.parent
# The image is built on Debian for these (Render and most hosts run x86_64; arm64 hosts exist).
IMAGE_TARGETS = ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu")
BINARY_PACKAGE = "encore"


def version_tuple(text: str) -> tuple[int, ...]:
    """"1.89" → (1, 89, 0); "1.89.0" → (1, 89, 0)."""
    parts = [int(p) for p in text.strip().split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


class CargoFailed(Exception):
    pass


def metadata(target: str) -> dict:
    out = subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1", "--filter-platform", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        lines = [l for l in out.stderr.splitlines() if l.strip()]
        raise CargoFailed(next((l for l in lines if l.startswith("error")), lines[-1] if lines else "no output"))
    return json.loads(out.stdout)


def compiled_packages(meta: dict, root_name: str) -> set[str]:
    """Package ids `root_name`'s binary compiles: normal and build dependencies, transitively."""
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    roots = [pid for pid in meta["workspace_members"] if packages[pid]["name"] == root_name]
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        for dep in nodes[pid]["deps"]:
            if any(k["kind"] in (None, "build") for k in dep["dep_kinds"]):
                stack.append(dep["pkg"])
    return seen


def dockerfile_rust_stages(text: str) -> tuple[list[str], str]:
    """The tags of every stage built FROM the official rust image, and the runtime stage's Debian
    release (from its `debian:<release>-slim` image)."""
    stages = dockerfile_stages(text)
    tags = [tag for repo, tag in (image_repository_and_tag(s.image) for s in stages) if repo.rsplit("/", 1)[-1] == "rust"]
    runtime = image_repository_and_tag(stages[-1].image)[1].split("-")[0] if stages else ""
    return tags, runtime


def tag_problem(tag: str, declared: str, msrv: tuple[int, ...], release: str) -> str | None:
    """Why `rust:<tag>` is not the declared toolchain on the runtime's Debian release, or None.
    `rust:1.95-…` follows 1.95's patch releases; `rust:1.95.1-…` is fine for a declared 1.95."""
    m = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?-(.+)", tag)
    if not m:
        return f"FROM rust:{tag} is not a pinned version (want rust:{declared}-{release or '<debian release>'})"
    version = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    if version[:2] != msrv[:2] or (m.group(3) is not None and version < msrv):
        return f"FROM rust:{tag} differs from Cargo.toml's rust-version {declared}"
    if release and release not in m.group(4).split("-"):
        return f"FROM rust:{tag} is not built on Debian {release}, the runtime stage's release"
    return None


def readme_versions(text: str) -> list[str]:
    """Every Rust version the README names ("Rust 1.95", "Rust ≥ 1.95", "rustc 1.95", "MSRV: 1.95",
    across a line break or with Markdown emphasis)."""
    flat = " ".join(text.split())
    keyword = r"(?:rust-version|rustup|rustc|rust|msrv)"
    link = r"(?:\]\([^)]*\))?"  # [Rust](https://rustup.rs) 1.95
    words = r"(?:\s+(?:version|toolchain|install))*"  # Rust version 1.95, rustup toolchain install 1.95
    return re.findall(
        rf"(?i)\b{keyword}\b{link}{words}[\s:*`_≥>=v\"']*(\d+\.\d+(?:\.\d+)?)\b", flat
    )


def declared_rust_version() -> str | None:
    """`rust-version` of the root Cargo.toml's [workspace.package]: the one truth."""
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text(encoding="utf-8"))
    return manifest.get("workspace", {}).get("package", {}).get("rust-version")


def dependency_needs(meta: dict) -> dict[str, tuple[tuple[int, ...], str]]:
    """"name version" → the rust-version it declares, for every package the binary compiles on
    every image target (workspace members aside)."""
    needs: dict[str, tuple[tuple[int, ...], str]] = {}
    for target in IMAGE_TARGETS:
        meta_t = meta if target == IMAGE_TARGETS[0] else metadata(target)
        pkgs = {p["id"]: p for p in meta_t["packages"]}
        for pid in compiled_packages(meta_t, BINARY_PACKAGE) - set(meta_t["workspace_members"]):
            pkg = pkgs[pid]
            if pkg.get("rust_version"):
                needs[f"{pkg['name']} {pkg['version']}"] = (version_tuple(pkg["rust_version"]), pkg["rust_version"])
    return needs


def main() -> int:
    declared = declared_rust_version()
    if not declared:
        print("toolchain check: Cargo.toml has no rust-version in [workspace.package]", file=sys.stderr)
        return 1
    msrv = version_tuple(declared)
    problems: list[str] = []
    try:
        meta = metadata(IMAGE_TARGETS[0])
        needs = dependency_needs(meta)
    except CargoFailed as e:
        print(f"toolchain check: `cargo metadata --locked` failed: {e}", file=sys.stderr)
        return 1
    packages = {p["id"]: p for p in meta["packages"]}
    for member in (packages[pid] for pid in meta["workspace_members"]):
        if member.get("rust_version") != declared:
            problems.append(
                f"workspace member {member['name']} declares rust-version {member.get('rust_version')!r}, "
                f"not the workspace's {declared} (use `rust-version.workspace = true`)"
            )

    highest_name, highest_text = "no dependency", "none"
    if needs:
        # Ties are broken by name, so the same package is named on every run.
        highest_name, (highest, highest_text) = max(needs.items(), key=lambda kv: (kv[1][0], kv[0]))
        if highest > msrv:
            over = sorted(name for name, (v, _) in needs.items() if v > msrv and name != highest_name)
            problems.append(
                f"{highest_name} needs Rust {highest_text}, newer than Cargo.toml's rust-version {declared}"
                + (f" (also: {', '.join(over)})" if over else "")
                + ": raise rust-version (and the Dockerfile's FROM rust:…) or pin an older version"
            )

    tags, release = dockerfile_rust_stages((ROOT / "Dockerfile").read_text(encoding="utf-8"))
    if not tags:
        problems.append(f"Dockerfile: no build stage FROM rust:{declared}-<debian release> (the declared toolchain)")
    for tag in tags:
        why = tag_problem(tag, declared, msrv, release)
        if why:
            problems.append(f"Dockerfile: {why}")

    for named in readme_versions((ROOT / "README.md").read_text(encoding="utf-8")):
        if version_tuple(named) != msrv:
            problems.append(f"README.md: names Rust {named}, not Cargo.toml's rust-version {declared}")

    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True, check=True).stdout
    local = re.search(r"rustc (\d+\.\d+\.\d+)", rustc)
    if local and version_tuple(local.group(1)) < msrv:
        problems.append(f"this machine's rustc {local.group(1)} is older than Cargo.toml's rust-version {declared}")
    elif local and version_tuple(local.group(1))[:2] != msrv[:2]:
        print(
            f"toolchain check: note: this machine compiles with rustc {local.group(1)}, the image with {declared}",
            file=sys.stderr,
        )

    if problems:
        for p in problems:
            print(f"toolchain check: {p}", file=sys.stderr)
        return 1
    print(
        f"toolchain check: Rust {declared} everywhere (Cargo.toml, Dockerfile, README); "
        f"the highest any of the binary's {len(needs)} dependencies with a rust-version needs is "
        f"{highest_text} ({highest_name})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
