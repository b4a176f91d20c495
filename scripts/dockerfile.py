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
        word, _, rest = current.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        current = ""
    if current.strip():
        word, _, rest = current.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


@dataclass
class Stage:
    """One `FROM image [AS name]` and the instructions after it."""

    image: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)


def dockerfile_stages(text: str) -> list[Stage]:
    stages: list[Stage] = []
    for word, args in dockerfile_instructions(text):
        if word == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", args, re.I)
            stages.append(Stage(image=m.group(1) if m else args, name=m.group(2) if m else None))
        elif stages:
            stages[-1].instructions.append((word, args))
    return stages


def exec_form(args: str) -> list[str]:
    """`["a", "b"]` (exec form) → [a, b]; a shell-form string → ["/bin/sh", "-c", string]."""
    args = args.strip()
    if args.startswith("["):
        return [str(a) for a in json.loads(args)]
    return ["/bin/sh", "-c", args]
