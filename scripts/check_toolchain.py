"""The Rust toolchain has one truth: `rust-version` in the root Cargo.toml's [workspace.package].

Run by scripts/check_deploy.sh. From `cargo metadata --locked` (machine-readable; Cargo.lock is not
read by hand) it checks that:

- every package the `encore` binary compiles (its normal and build dependencies, transitively, on the
  Linux targets the image is built for) declares a `rust-version` no newer than Encore's own: cargo
  refuses to build a package whose `rust-version` is newer than the compiler, so the image's build
  stage would fail;
- every workspace member declares the same `rust-version`;
- the Dockerfile's build stage is `FROM rust:<that version>-…`, and every "Rust X.Y" the README
  names is that version;
- this machine's rustc is not older than it (a newer one is reported: CI then compiles with another
  compiler than the image).

Prints one line per problem, naming the package or file, and exits 1; exits 0 when all hold.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The image is built on Debian for these (Render and most hosts run x86_64; arm64 hosts exist).
IMAGE_TARGETS = ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu")
BINARY_PACKAGE = "encore"


def version_tuple(text: str) -> tuple[int, ...]:
    """"1.89" → (1, 89, 0); "1.89.0" → (1, 89, 0)."""
    parts = [int(p) for p in text.strip().split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def metadata(target: str) -> dict:
    out = subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1", "--filter-platform", target],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
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


def dockerfile_rust_images(text: str) -> list[str]:
    """The X of every `FROM rust:X…` line (X = the version part of the tag)."""
    return re.findall(r"^\s*FROM\s+(?:docker\.io/)?(?:library/)?rust:(\d+(?:\.\d+){0,2})\S*", text, re.M | re.I)


def main() -> int:
    problems: list[str] = []
    meta = metadata(IMAGE_TARGETS[0])
    packages = {p["id"]: p for p in meta["packages"]}
    members = [packages[pid] for pid in meta["workspace_members"]]
    root = next((p for p in members if p["name"] == BINARY_PACKAGE), None)
    if root is None or not root.get("rust_version"):
        print(f"toolchain check: the {BINARY_PACKAGE} package declares no rust-version in Cargo.toml", file=sys.stderr)
        return 1
    declared = root["rust_version"]
    msrv = version_tuple(declared)

    for member in members:
        if member.get("rust_version") != declared:
            problems.append(
                f"workspace member {member['name']} declares rust-version {member.get('rust_version')!r}, "
                f"not {declared} (use `rust-version.workspace = true`)"
            )

    # The highest rust-version the binary's dependency graph needs, on every image target.
    needs: dict[str, tuple[tuple[int, ...], str]] = {}
    for target in IMAGE_TARGETS:
        meta_t = meta if target == IMAGE_TARGETS[0] else metadata(target)
        pkgs = {p["id"]: p for p in meta_t["packages"]}
        for pid in compiled_packages(meta_t, BINARY_PACKAGE) - set(meta_t["workspace_members"]):
            pkg = pkgs[pid]
            if pkg.get("rust_version"):
                needs[f"{pkg['name']} {pkg['version']}"] = (version_tuple(pkg["rust_version"]), pkg["rust_version"])
    # Ties are broken by name, so the same package is named on every run.
    highest_name, (highest, highest_text) = max(needs.items(), key=lambda kv: (kv[1][0], kv[0]))
    if highest > msrv:
        over = sorted((name for name, (v, _) in needs.items() if v > msrv))
        problems.append(
            f"{highest_name} needs Rust {highest_text}, newer than Cargo.toml's rust-version {declared}"
            + (f" (also: {', '.join(n for n in over if n != highest_name)})" if len(over) > 1 else "")
            + ": raise rust-version (and the Dockerfile's FROM rust:…) or pin an older version"
        )

    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    images = dockerfile_rust_images(dockerfile)
    if not images:
        problems.append("Dockerfile: no build stage FROM rust:<version>-… (the declared toolchain)")
    for image in images:
        # rust:1.95 follows 1.95's patch releases; rust:1.95.0 must be the declared patch.
        parts = version_tuple(image)
        if image.count(".") == 0 or parts[:2] != msrv[:2] or (image.count(".") == 2 and parts != msrv):
            problems.append(f"Dockerfile: FROM rust:{image} differs from Cargo.toml's rust-version {declared}")

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for named in re.findall(r"\bRust (\d+\.\d+(?:\.\d+)?)", readme):
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
