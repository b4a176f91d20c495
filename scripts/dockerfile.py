"""Reading a Dockerfile: its instructions and its stages (shared by the deploy checks)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        word, rest = (current.strip().split(None, 1) + [""])[:2]
        out.append((word.upper(), rest.strip()))
        current = ""
    if current.strip():
        word, rest = (current.strip().split(None, 1) + [""])[:2]
        out.append((word.upper(), rest.strip()))
    return out


@dataclass
class Stage:
    """One `FROM image [AS name]` and the instructions after it."""

    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def global_args(text: str) -> dict[str, str]:
    """The defaults of the `ARG NAME=value` lines before the first FROM (usable in FROM lines)."""
    args: dict[str, str] = {}
    for word, rest in dockerfile_instructions(text):
        if word == "FROM":
            break
        if word == "ARG":
            name, _, value = rest.partition("=")
            args[name.strip()] = value.strip().strip("\"'")
    return args


def dockerfile_stages(text: str) -> list[Stage]:
    """The stages, with `--platform=…` flags dropped and global ARGs substituted in the image."""
    defaults = global_args(text)

    def substitute(image: str) -> str:
        # $VAR, ${VAR} and ${VAR:-default}
        def value(m: re.Match) -> str:
            name = m.group(1) or m.group(3)
            fallback = m.group(2) if m.group(2) is not None else m.group(0)
            return defaults.get(name, fallback)

        return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)", value, image)

    stages: list[Stage] = []
    for word, args in dockerfile_instructions(text):
        if word == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(image=substitute(words[0]) if words else "", name=name))
        elif stages:
            stages[-1].instructions.append((word, args))
    return stages


def image_repository_and_tag(image: str) -> tuple[str, str]:
    """`docker.io/library/rust:1.95-bookworm` → ("rust", "1.95-bookworm"); no tag → ""."""
    image = image.partition("@")[0]  # a digest
    name, tag = image.rsplit(":", 1) if ":" in image.rsplit("/", 1)[-1] else (image, "")
    for prefix in ("index.docker.io/", "registry-1.docker.io/", "docker.io/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    if name.startswith("library/"):
        name = name[len("library/"):]
    return name, tag


def exec_form(args: str) -> list[str]:
    """`["a", "b"]` (exec form) → [a, b]; a shell-form string → ["/bin/sh", "-c", string]."""
    args = args.strip()
    if args.startswith("["):
        return [str(a) for a in json.loads(args)]
    return ["/bin/sh", "-c", args]
