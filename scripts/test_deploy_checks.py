"""Unit tests of the deploy checks' readers (run by scripts/check_deploy.sh): the verdicts on
Dockerfiles and READMEs that are easy to get wrong."""

from __future__ import annotations

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_toolchain import dockerfile_rust_stages, readme_versions, tag_problem  # noqa: E402
from dockerfile import dockerfile_stages  # noqa: E402

RUNTIME = "\nFROM debian:bookworm-slim\nCOPY --from=build /x /y\n"


def verdicts(build_stage: str, declared: str = "1.95") -> list[str]:
    msrv = tuple(int(p) for p in (declared + ".0").split(".")[:3])
    tags, release = dockerfile_rust_stages(build_stage + RUNTIME)
    if not tags:
        return ["no rust stage"]
    return [p for p in (tag_problem(t, declared, msrv, release) for t in tags) if p]


class DockerfileToolchain(unittest.TestCase):
    def test_the_declared_toolchain_passes_however_it_is_written(self):
        for stage in [
            "FROM rust:1.95-bookworm AS build",
            "from rust:1.95-bookworm as build",
            "FROM --platform=linux/amd64 rust:1.95-bookworm AS build",
            "FROM docker.io/library/rust:1.95-slim-bookworm AS build",
            "ARG RUST=1.95\nFROM rust:${RUST}-bookworm AS build",
            "FROM \\\n  rust:1.95-bookworm AS build",
            "FROM rust:1.95.1-bookworm AS build",
            "FROM\trust:1.95-bookworm AS build",
            "ARG R='1.95'\nFROM rust:${R}-bookworm AS build",
            "FROM rust:${RUST:-1.95}-bookworm AS build",
        ]:
            self.assertEqual(verdicts(stage), [], stage)

    def test_another_toolchain_or_a_floating_tag_fails(self):
        for stage in [
            "FROM rust:1.94-bookworm AS build",
            "FROM rust:latest AS build",
            "FROM rust:1 AS build",
            "FROM rust AS build",
            "FROM index.docker.io/library/rust:1.80-bookworm AS build",
            "FROM rust:1.95-bookworm AS pin\nFROM docker.io/library/rust:1.80-bookworm AS build",
            "FROM rust:1.95-alpine AS build",
            "FROM rust:1.95-trixie AS build",
        ]:
            self.assertNotEqual(verdicts(stage), [], stage)
        self.assertNotEqual(verdicts("FROM rust:1.95.0-bookworm AS build", "1.95.2"), [])

    def test_a_platform_flag_keeps_the_stage_name(self):
        stages = dockerfile_stages("FROM --platform=$BUILDPLATFORM rust:1.95-bookworm AS build" + RUNTIME)
        self.assertEqual([(s.image, s.name) for s in stages], [("rust:1.95-bookworm", "build"), ("debian:bookworm-slim", None)])


class ReadmeVersions(unittest.TestCase):
    def test_every_way_of_naming_a_version_is_read(self):
        for text in ["Rust 1.90", "Rust ≥ 1.90", "rust 1.90", "Rust **1.90**", "Rust `1.90`", "rustc 1.90",
                     "MSRV: 1.90", "Install Rust\n   1.90 or newer", "Rust v1.90",
                     "[Rust](https://rustup.rs) 1.90", "Rust version 1.90", "rust-version = \"1.90\"",
                     "rustup toolchain install 1.90", "Rust toolchain 1.90"]:
            self.assertEqual(readme_versions(text), ["1.90"], text)

    def test_other_numbers_are_not_versions(self):
        self.assertEqual(readme_versions("Lavalink 4.2 and serenity 0.12; Rust code"), [])


if __name__ == "__main__":
    unittest.main(verbosity=1)
