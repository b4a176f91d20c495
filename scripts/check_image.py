"""Replays the Dockerfile as far as a machine without a Docker engine can, so that a deploy that would
fail to build fails CI instead. Run by .ci/run; `python3 scripts/check_image.py`.

1. The build stage, instruction by instruction, in a clean temporary folder that stands for the
   image's `/`: WORKDIR, COPY (from the build context, honouring .dockerignore and keeping the files'
   timestamps as Docker's COPY does), ENV and every RUN, with absolute paths in a RUN mapped into that
   folder. So the stub dependency layer (`cargo build --release --locked`) and then the real build run
   exactly as the Dockerfile writes them: a missing stub, a new workspace member or a new [[bench]]
   breaks here. The cargo registry cache is shared (CARGO_HOME); the target folder is the replay's own.
2. The runtime stage: its COPY lines (including `COPY --from=<build stage>`) and WORKDIR; its RUN lines
   (apt-get, useradd) cannot run here and are listed as skipped. Then
   - the binary's dynamic section (`readelf -d`) may need only libraries that `debian:bookworm-slim`
     plus `ca-certificates` ship, and no glibc symbol version newer than bookworm's 2.36;
   - ENTRYPOINT + CMD start it as the image would (in WORKDIR, with only the image's files: no `.env`,
     no config/local.toml, and only the Dockerfile's ENV), and it must stop at once with exit code 2
     and the missing-token error.

Exits 1 naming what failed.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from dockerfile import Stage, dockerfile_stages, exec_form

ROOT = Path(__file__).resolve().parent.parent

# Shared libraries in debian:bookworm-slim (packages libc6, libgcc-s1, libstdc++6, zlib1g, all of
# priority "required") and those ca-certificates brings (it depends on openssl → libssl3).
RUNTIME_LIBRARIES = {
    "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
    "libresolv.so.2", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1",
    "libgcc_s.so.1", "libstdc++.so.6", "libz.so.1", "libssl.so.3", "libcrypto.so.3",
}
BOOKWORM_GLIBC = (2, 36)
EXPECTED_EXIT = 2
EXPECTED_ERROR = "DISCORD_TOKEN is not set"


class ReplayError(Exception):
    pass


def ignored_patterns() -> list[str]:
    path = ROOT / ".dockerignore"
    if not path.is_file():
        return []
    lines = [l.strip() for l in path.read_text(encoding="utf-8").splitlines()]
    return [l.rstrip("/") for l in lines if l and not l.startswith("#")]


def is_ignored(rel: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(rel, p) or rel.startswith(p + "/") for p in patterns)


class Replay:
    def __init__(self, work: Path):
        self.work = work
        self.roots: dict[str, Path] = {}
        self.patterns = ignored_patterns()

    def in_root(self, root: Path, cwd: Path, path: str) -> Path:
        """`path` as the image sees it (absolute, or relative to WORKDIR) inside the stage's root."""
        return root / path.lstrip("/") if path.startswith("/") else cwd / path

    def copy(self, src: Path, dest: Path, context_rel: str | None) -> None:
        if src.is_dir():
            def ignore(folder: str, names: list[str]) -> list[str]:
                if context_rel is None:
                    return []
                base = Path(folder).relative_to(ROOT).as_posix()
                return [n for n in names if is_ignored(f"{base}/{n}".lstrip("./"), self.patterns)]

            shutil.copytree(src, dest, copy_function=shutil.copy2, dirs_exist_ok=True, ignore=ignore)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)

    def run_copy(self, root: Path, cwd: Path, args: str) -> None:
        words = args.split()
        source_root, context = ROOT, True
        flags = [w for w in words if w.startswith("--")]
        words = [w for w in words if not w.startswith("--")]
        for flag in flags:
            if flag.startswith("--from="):
                stage = flag.split("=", 1)[1]
                if stage not in self.roots:
                    raise ReplayError(f"COPY {flag}: no earlier stage named {stage}")
                source_root, context = self.roots[stage], False
        *sources, dest = words
        for source in sources:
            rel = source.lstrip("/") if not context else source.rstrip("/")
            if context and is_ignored(rel, self.patterns):
                raise ReplayError(f"COPY {source}: excluded by .dockerignore")
            src = source_root / rel
            if not src.exists():
                raise ReplayError(f"COPY {source}: not in the {'build context' if context else 'stage'}")
            target = self.in_root(root, cwd, dest)
            if dest.endswith("/") or (len(sources) > 1) or (src.is_file() and target.is_dir()):
                target = target / src.name
            self.copy(src, target, rel if context else None)

    def run_shell(self, root: Path, cwd: Path, env: dict[str, str], command: str) -> None:
        # Absolute paths in the command (other than the system's own tools and /dev) live in the stage's root.
        def mapped(m: re.Match) -> str:
            path = m.group(2)
            if path.startswith(("/dev/", "/bin/", "/usr/bin/", "/tmp")):
                return m.group(0)
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            return m.group(1) + str(target)

        command = re.sub(r"(^|[\s=>])(/[A-Za-z0-9_./-]+)", mapped, command)
        print(f"   RUN {command[:160]}{'…' if len(command) > 160 else ''}", flush=True)
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=cwd, env=env)
        if done.returncode != 0:
            raise ReplayError(f"RUN failed with exit code {done.returncode}: {command}")

    def stage(self, index: int, stage: Stage, last: bool) -> tuple[Path, Path, dict[str, str], list[str]]:
        root = self.work / f"stage{index}"
        root.mkdir(parents=True)
        if stage.name:
            self.roots[stage.name] = root
        cwd = root
        image_env: dict[str, str] = {}
        entry: list[str] = []
        cmd: list[str] = []
        run_env = {k: v for k, v in os.environ.items() if k != "CARGO_TARGET_DIR"}
        print(f"== stage {index}: FROM {stage.image}{' AS ' + stage.name if stage.name else ''}", flush=True)
        for word, args in stage.instructions:
            if word == "WORKDIR":
                cwd = self.in_root(root, cwd, args)
                cwd.mkdir(parents=True, exist_ok=True)
            elif word == "COPY":
                self.run_copy(root, cwd, args)
            elif word == "ENV":
                for key, value in re.findall(r'(\w+)=("[^"]*"|\S+)', args):
                    image_env[key] = value.strip('"')
                run_env.update(image_env)
            elif word == "RUN":
                if last:
                    print(f"   skipped (needs the image's system): RUN {args[:100]}…", flush=True)
                else:
                    self.run_shell(root, cwd, run_env, args)
            elif word == "ENTRYPOINT":
                entry = exec_form(args)
            elif word == "CMD":
                cmd = exec_form(args)
        return root, cwd, image_env, entry + cmd


def check_libraries(binary: Path) -> list[str]:
    problems = []
    dynamic = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True, check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)
    for lib in needed:
        if lib not in RUNTIME_LIBRARIES:
            problems.append(f"{binary.name} needs {lib}, which debian:bookworm-slim + ca-certificates lacks")
    versions = subprocess.run(["readelf", "-V", str(binary)], capture_output=True, text=True, check=True).stdout
    glibc = {tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_(\d+\.\d+(?:\.\d+)?)", versions)}
    newest = max(glibc, default=(0, 0))
    if newest[:2] > BOOKWORM_GLIBC:
        problems.append(
            f"{binary.name} needs glibc {'.'.join(map(str, newest))}, newer than bookworm's "
            f"{'.'.join(map(str, BOOKWORM_GLIBC))}"
        )
    print(f"   shared libraries: {', '.join(needed)}; newest glibc symbol {'.'.join(map(str, newest))}")
    return problems


def check_start(root: Path, workdir: Path, image_env: dict[str, str], argv: list[str]) -> list[str]:
    if not argv:
        return ["the image has no ENTRYPOINT/CMD"]
    bin_dirs = [root / "usr/local/bin", root / "usr/bin"]
    program = argv[0] if "/" in argv[0] else next(
        (str(d / argv[0]) for d in bin_dirs if (d / argv[0]).is_file()), None
    )
    if program is None:
        return [f"ENTRYPOINT {argv[0]} is not on the image's PATH"]
    # Docker's environment for a container: PATH, HOSTNAME, HOME, then the Dockerfile's ENV.
    env = {"PATH": f"{root}/usr/local/bin:/usr/local/bin:/usr/bin:/bin", "HOSTNAME": "encore", "HOME": str(workdir)}
    env.update(image_env)
    print(f"   start: {' '.join(argv)} in {workdir.relative_to(root.parent.parent)} (no .env)", flush=True)
    try:
        done = subprocess.run([program, *argv[1:]], cwd=workdir, env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return ["the binary did not stop within 60 s without a token"]
    first = (done.stderr.strip().splitlines() or [""])[0]
    print(f"   exit {done.returncode}: {first}")
    problems = []
    if done.returncode != EXPECTED_EXIT or EXPECTED_ERROR not in done.stderr:
        problems.append(
            f"without a token the image's command should exit {EXPECTED_EXIT} with '{EXPECTED_ERROR}'; "
            f"it exited {done.returncode}: {done.stderr.strip()[-400:]}"
        )
    return problems


def main() -> int:
    stages = dockerfile_stages((ROOT / "Dockerfile").read_text(encoding="utf-8"))
    if len(stages) < 2:
        print("image check: the Dockerfile is not a multi-stage build", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="encore-image-") as tmp:
        replay = Replay(Path(tmp))
        try:
            for i, stage in enumerate(stages[:-1]):
                replay.stage(i, stage, last=False)
            root, workdir, image_env, argv = replay.stage(len(stages) - 1, stages[-1], last=True)
        except ReplayError as e:
            print(f"image check: {e}", file=sys.stderr)
            return 1
        binary = next((d / "encore" for d in (root / "usr/local/bin", root / "usr/bin") if (d / "encore").is_file()), None)
        if binary is None:
            print("image check: the runtime stage has no encore binary", file=sys.stderr)
            return 1
        problems = check_libraries(binary) + check_start(root, workdir, image_env, argv)
    if problems:
        for p in problems:
            print(f"image check: {p}", file=sys.stderr)
        return 1
    print("image check: the build stage replays and the runtime stage's command starts as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
