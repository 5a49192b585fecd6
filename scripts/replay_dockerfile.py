"""Build a Dockerfile without Docker, then run its image as `docker run` would.

There is no Docker engine where `make test` runs, and no base image to pull. This script
carries out the Dockerfile's own instructions, read from the file, with this machine standing
in for the base image (`python:3.11-slim` is a Debian with CPython 3.11; so is this machine):

- Each stage is an overlay filesystem: this machine's `/` below, a layer on a private tmpfs
  above that takes every write. The host's files never change (`RUN useradd` writes the
  overlay's /etc/passwd), and the tmpfs, in this process's own mount namespace, goes when the
  process does. The stand-in hides what python:3.11-slim lacks: the build context's directory,
  the contents of /tmp and /opt, the host's pip configuration. Where the image's PATH starts
  with /usr/local/bin, its Python's home, the stand-in's starts with this Python's bin
  directory, which the overlay makes reachable for every user.
- FROM starts a stage. ENV, WORKDIR and USER set what follows, with `$VAR` expanded. COPY
  copies from the build context minus what `.dockerignore` excludes, or `--from` an earlier
  stage, owned by root. RUN runs `/bin/sh -c` (or the exec form) chrooted into the stage with
  its ENV, WORKDIR and USER, on the host's network with the host's proxy and CA-bundle
  variables (Docker, too, gives RUN the proxy variables of the machine that builds, and pip
  needs the CA bundle behind a TLS-inspecting proxy; neither goes into the image). EXPOSE,
  HEALTHCHECK and CMD are recorded.
  Any other instruction or flag stops the build with a message: nothing is skipped silently.
- Then a container: a fresh overlay on the final stage (read-only with --read-only, a tmpfs
  on each --tmpfs path), new PID and network namespaces, so that the CMD is PID 1 and port
  8000 is its own, and the CMD chrooted as the USER with the image's ENV and each --env. The
  HEALTHCHECK's command runs in the container as `docker exec` would, every half second (not
  every --interval) until it passes, or fails past --start-period plus --retries × --timeout.

Events go to stdout, one JSON object a line: `built`, `started` (`pid`: the CMD's process as
this machine numbers it; send it SIGTERM to stop the container), `healthcheck` (`returncode`,
`output`), `exited` (`returncode`); or `failed` (`error`), and the exit status is 1. The
build's log and the container's output go to stderr. Needs root, as Docker does.

    sudo .venv/bin/python scripts/replay_dockerfile.py --read-only --tmpfs /tmp
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

CLONE_NEWNS = 0x00020000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
# What python:3.11-slim lacks and this machine may have: hidden in every stage.
HOST_ONLY = ("/etc/pip.conf", "/etc/xdg/pip", "/root/.config/pip", "/root/.pip")
EMPTY_IN_IMAGE = ("/tmp", "/opt")
# How this machine reaches the network: given to RUN, not to the image (module docstring).
PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
NETWORK_ENV = (
    *PROXIES,
    *(name.lower() for name in PROXIES),
    *("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "PIP_CERT"),
)
IMAGE_PATH = "/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::([-+])([^}]*))?\}|(\w+))")
DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
HEALTHCHECK = re.compile(r"((?:--[\w-]+=\S+\s+)*)(CMD|NONE)\b\s*(.*)", re.IGNORECASE | re.DOTALL)


class BuildError(Exception):
    """The Dockerfile cannot be carried out here; the message says where and why."""


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    arguments: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.keyword} {self.arguments}"


@dataclass(frozen=True)
class Healthcheck:
    argv: list[str]
    timeout: float
    start_period: float
    retries: int

    @property
    def patience(self) -> float:
        return self.start_period + self.retries * self.timeout


@dataclass
class Stage:
    """A stage's filesystem and the image configuration its instructions have set so far."""

    name: str
    upper: Path
    root: Path
    env: dict[str, str]
    workdir: str = "/"
    user: str = "0"
    cmd: list[str] = field(default_factory=list)
    healthcheck: Healthcheck | None = None
    exposed: list[str] = field(default_factory=list)

    def ids(self) -> tuple[int, int]:
        return ids(self.root, self.user)


def network_env() -> dict[str, str]:
    return {name: os.environ[name] for name in NETWORK_ENV if name in os.environ}


def process_env(root: Path, uid: int, env: dict[str, str]) -> dict[str, str]:
    """The environment Docker gives a process: the image's, and HOME from /etc/passwd."""
    users = table(root / "etc" / "passwd").values()
    home = next((entry[5] for entry in users if entry[2] == str(uid)), "/")
    return {"HOME": home, **env}


def ids(root: Path, user: str) -> tuple[int, int]:
    """A USER value as numbers, names looked up in the image's /etc/passwd and /etc/group;
    without a group, the user's own (root's, 0, for a uid that /etc/passwd does not list)."""
    name, _, group = user.partition(":")
    users = table(root / "etc" / "passwd")
    uid = int(name) if name.isdigit() else int(lookup(users, name, "user")[2])
    if group.isdigit():
        return uid, int(group)
    if group:
        return uid, int(lookup(table(root / "etc" / "group"), group, "group")[2])
    return uid, next((int(entry[3]) for entry in users.values() if entry[2] == str(uid)), 0)


def table(path: Path) -> dict[str, list[str]]:
    """The entries of /etc/passwd or /etc/group, by name."""
    entries = (line.split(":") for line in path.read_text().splitlines() if ":" in line)
    return {entry[0]: entry for entry in entries}


def lookup(entries: dict[str, list[str]], name: str, kind: str) -> list[str]:
    if name not in entries:
        raise BuildError(f"USER: no {kind} `{name}` in the stage's /etc")
    return entries[name]


def parse(text: str) -> list[Instruction]:
    """The instructions, continuation lines joined and comment lines dropped, as BuildKit."""
    if re.match(r"(#\s*\w+\s*=.*\n)*#\s*escape\s*=", text):
        raise BuildError("the `escape` parser directive is not supported")
    instructions, pending, start = [], "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if not pending:
            start = number
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1]
            continue
        keyword, _, arguments = (pending + raw).strip().partition(" ")
        instructions.append(Instruction(start, keyword.upper(), arguments.strip()))
        pending = ""
    if pending:
        raise BuildError(f"line {start}: the last instruction ends with a continuation `\\`")
    return instructions


def command(arguments: str) -> list[str]:
    """An exec-form (JSON array) or shell-form RUN, CMD or HEALTHCHECK CMD as an argv."""
    if arguments.startswith("["):
        try:
            argv = json.loads(arguments)
        except json.JSONDecodeError:
            argv = None  # Docker, too, runs what is not a JSON array as a shell command
        if isinstance(argv, list) and argv and all(isinstance(word, str) for word in argv):
            return argv
    return ["/bin/sh", "-c", arguments]


def substitute(match: re.Match[str], env: Mapping[str, str]) -> str:
    value = env.get(match[1] or match[4], "")
    if match[2] == "-":
        return value or match[3]
    if match[2] == "+":
        return match[3] if value else ""
    return value


def words(text: str, env: Mapping[str, str]) -> list[str]:
    """Arguments split as Dockerfile instructions split them: quotes removed, `\\` escaping
    the next character, `$VAR`, `${VAR}`, `${VAR:-default}` and `${VAR:+other}` expanded
    except between single quotes."""
    result: list[str] = []
    word: list[str] | None = None
    quote, i = "", 0
    while i < len(text):
        char = text[i]
        if char.isspace() and not quote:
            if word is not None:
                result.append("".join(word))
            word, i = None, i + 1
            continue
        word = [] if word is None else word
        variable = VARIABLE.match(text, i) if quote != "'" else None
        if variable:
            word.append(substitute(variable, env))
            i = variable.end()
        elif char == "\\" and quote != "'" and i + 1 < len(text):
            word.append(text[i + 1])
            i += 2
        elif char in "'\"" and quote in ("", char):
            quote = "" if quote else char
            i += 1
        else:
            word.append(char)
            i += 1
    if quote:
        raise BuildError(f"unterminated {quote} in `{text}`")
    return result if word is None else [*result, "".join(word)]


def flags(arguments: list[str], allowed: set[str]) -> tuple[dict[str, str], list[str]]:
    """The `--name=value` flags ahead of an instruction's other arguments."""
    found: dict[str, str] = {}
    while arguments and arguments[0].startswith("--"):
        name, _, value = arguments[0][2:].partition("=")
        if name not in allowed:
            raise BuildError(f"the flag `--{name}` is not supported")
        found[name], arguments = value, arguments[1:]
    return found, arguments


def seconds(duration: str) -> float:
    parts = DURATION.findall(duration)
    if not parts or "".join(a + b for a, b in parts) != duration:
        raise BuildError(f"`{duration}` is not a duration such as 30s or 1m30s")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(amount) * scale[unit] for amount, unit in parts)


class Dockerignore:
    """Docker's .dockerignore: a path is out of the context when the last pattern matching it
    or a directory above it is not an exception (`!`). `*` and `?` stay within one path
    component, `**` spans any number of them."""

    SPECIAL: ClassVar[dict[str, str]] = {
        "**/": "(?:.*/)?",
        "/**": "(?:/.*)?",
        "**": ".*",
        "*": "[^/]*",
        "?": "[^/]",
    }

    def __init__(self, text: str) -> None:
        self.rules = []
        for line in text.splitlines():
            pattern = line.strip()
            if pattern and not pattern.startswith("#"):
                exception = pattern.startswith("!")
                pattern = os.path.normpath(pattern.removeprefix("!").strip()).lstrip("/")
                self.rules.append((self.regex(pattern), exception))

    @classmethod
    def regex(cls, pattern: str) -> re.Pattern[str]:
        parts = re.split(r"(\*\*/|/\*\*$|\*\*|\*|\?|\[[^]]*\]|\\.)", pattern)
        out = []
        for part in parts:
            if part in cls.SPECIAL:
                out.append(cls.SPECIAL[part])
            elif part.startswith("[") and part.endswith("]"):
                out.append("[" + part[1:-1].replace("\\", "\\\\") + "]")
            else:
                out.append(re.escape(part.removeprefix("\\")))
        return re.compile("".join(out) + r"\Z")

    def excluded(self, path: str) -> bool:
        parts = Path(path).parts
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        excluded = False
        for regex, exception in self.rules:
            if any(regex.match(candidate) for candidate in candidates):
                excluded = not exception
        return excluded


def run(*argv: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"`{shlex.join(argv)}` failed: {result.stderr.strip()}")


def emit(event: str, **details: object) -> None:
    print(json.dumps({"event": event, **details}), flush=True)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def inside(root: Path, path: str) -> Path:
    return root / os.path.normpath(path).lstrip("/")


def private_mount_namespace() -> None:
    """Move this process into a mount namespace of its own: its mounts are invisible to every
    other process and disappear with it."""
    needs = "replaying a Dockerfile needs root with CAP_SYS_ADMIN, as Docker does"
    if os.geteuid() != 0:
        raise BuildError(f"{needs}; this process runs as uid {os.geteuid()}")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        error = os.strerror(ctypes.get_errno())
        raise BuildError(f"{needs}; making a mount namespace failed: {error}")
    run("mount", "--make-rprivate", "/")


def mount_overlay(root: Path, lower: list[Path], upper: Path | None) -> None:
    """An overlay on `root`; without an upper layer it is read-only."""
    options = "lowerdir=" + ":".join(map(str, lower))
    if upper is None:
        options = "ro," + options
    else:
        work = upper.with_name(upper.name + ".work")
        work.mkdir()
        options += f",upperdir={upper},workdir={work}"
    root.mkdir()
    run("mount", "-t", "overlay", "overlay", "-o", options, str(root))
    for system in ("/dev", "/sys"):
        run("mount", "--rbind", system, str(inside(root, system)))


class StandIn:
    """This machine in place of the base image python:X.Y-slim, X.Y this Python's version."""

    def __init__(self, image: str, context: Path) -> None:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        name, _, tag = image.partition("@")[0].partition(":")
        if name not in ("python", "docker.io/library/python") or not tag.startswith(version):
            raise BuildError(f"FROM {image}: the stand-in is this machine's Python {version}")
        self.python = Path(sys.base_prefix)
        self.hidden = [str(context), *HOST_ONLY]
        self.env = {
            "PATH": f"{self.python}/bin:" + IMAGE_PATH.removeprefix("/usr/local/bin:"),
            "LANG": "C.UTF-8",
            "PYTHON_VERSION": ".".join(map(str, sys.version_info[:3])),
        }

    def mount(self, upper: Path, root: Path) -> None:
        upper.mkdir()
        for path in EMPTY_IN_IMAGE:
            self.empty(upper, path)
        for path in self.hidden:
            emptied = any(path.startswith(directory + "/") for directory in EMPTY_IN_IMAGE)
            if os.path.lexists(path) and not emptied:
                self.hide(upper, path)
        mount_overlay(root, [Path("/")], upper)
        run("mount", "--rbind", "/proc", str(root / "proc"))
        for directory in [self.python, *self.python.parents]:
            mode = os.stat(inside(root, str(directory))).st_mode
            if not mode & stat.S_IXOTH:
                os.chmod(inside(root, str(directory)), mode | stat.S_IROTH | stat.S_IXOTH)

    @staticmethod
    def hide(upper: Path, path: str) -> None:
        """A whiteout (a 0:0 device) in the upper layer hides the host's file."""
        target = inside(upper, path)
        for parent in reversed(target.relative_to(upper).parents[:-1]):
            if not (upper / parent).exists():
                host = os.stat(Path("/") / parent)
                (upper / parent).mkdir(mode=stat.S_IMODE(host.st_mode))
                os.chown(upper / parent, host.st_uid, host.st_gid)
        os.mknod(target, stat.S_IFCHR, os.makedev(0, 0))

    @staticmethod
    def empty(upper: Path, path: str) -> None:
        """An opaque directory in the upper layer shows the host's directory empty."""
        target = inside(upper, path)
        target.mkdir()
        os.chmod(target, stat.S_IMODE(os.stat(path).st_mode))
        os.setxattr(target, "trusted.overlay.opaque", b"y")


def chrooted(root: Path, workdir: str, uid: int, gid: int) -> Callable[[], None]:
    def enter() -> None:
        os.chroot(root)
        os.chdir(workdir)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    return enter


class Builder:
    """Carries out a Dockerfile's instructions, stage by stage, in overlays under `scratch`."""

    def __init__(self, dockerfile: Path, context: Path, scratch: Path) -> None:
        self.instructions = parse(dockerfile.read_text())
        self.context = context.resolve()
        ignore = self.context / ".dockerignore"
        self.ignore = Dockerignore(ignore.read_text() if ignore.exists() else "")
        self.scratch = scratch
        self.stages: list[Stage] = []

    def build(self) -> Stage:
        for number, instruction in enumerate(self.instructions, 1):
            log(f"step {number}/{len(self.instructions)}, {instruction}")
            if instruction.keyword == "FROM":
                self.start(instruction)
                continue
            if not self.stages:
                raise BuildError(f"{instruction}: no FROM before it")
            handler = getattr(self, "do_" + instruction.keyword.lower(), None)
            if handler is None:
                raise BuildError(
                    f"{instruction}: the replay does not carry out {instruction.keyword}"
                )
            try:
                handler(self.stages[-1], instruction.arguments)
            except BuildError as error:
                raise BuildError(f"{instruction}: {error}") from None
        if not self.stages:
            raise BuildError("the Dockerfile has no FROM")
        for stage in self.stages:
            run("umount", "--recursive", str(stage.root))
        return self.stages[-1]

    def start(self, instruction: Instruction) -> None:
        image, *alias = words(instruction.arguments, {})
        if image.startswith("--") or (alias and (len(alias) != 2 or alias[0].upper() != "AS")):
            raise BuildError(f"{instruction}: only `FROM image [AS name]` is supported")
        if any(image in (stage.name, str(i)) for i, stage in enumerate(self.stages)):
            raise BuildError(f"{instruction}: FROM an earlier stage is not supported")
        stand_in = StandIn(image, self.context)
        number = len(self.stages)
        stage = Stage(
            name=alias[1] if alias else str(number),
            upper=self.scratch / f"stage-{number}",
            root=self.scratch / f"stage-{number}.root",
            env=dict(stand_in.env),
        )
        stand_in.mount(stage.upper, stage.root)
        self.stages.append(stage)

    def do_env(self, stage: Stage, arguments: str) -> None:
        # Every value is expanded with the environment from before the instruction.
        parts = words(arguments, stage.env)
        if parts and "=" not in parts[0]:
            pairs = [(parts[0], " ".join(parts[1:]))]
        elif all("=" in part for part in parts):
            pairs = [tuple(part.split("=", 1)) for part in parts]  # type: ignore[misc]
        else:
            raise BuildError("every argument must be NAME=value")
        stage.env.update(pairs)

    def do_workdir(self, stage: Stage, arguments: str) -> None:
        (path,) = words(arguments, stage.env)
        stage.workdir = os.path.normpath(os.path.join(stage.workdir, path))
        inside(stage.root, stage.workdir).mkdir(parents=True, exist_ok=True)

    def do_user(self, stage: Stage, arguments: str) -> None:
        (stage.user,) = words(arguments, stage.env)

    def do_expose(self, stage: Stage, arguments: str) -> None:
        stage.exposed += words(arguments, stage.env)

    def do_cmd(self, stage: Stage, arguments: str) -> None:
        stage.cmd = command(arguments)

    def do_healthcheck(self, stage: Stage, arguments: str) -> None:
        match = HEALTHCHECK.fullmatch(arguments)
        if not match:
            raise BuildError("expected `[--option=value ...] CMD command` or `NONE`")
        options, _ = flags(
            match[1].split(), {"interval", "timeout", "start-period", "start-interval", "retries"}
        )
        if match[2].upper() == "NONE":
            stage.healthcheck = None
            return
        stage.healthcheck = Healthcheck(
            argv=command(match[3].strip()),
            timeout=seconds(options.get("timeout", "30s")),
            start_period=seconds(options.get("start-period", "0s")),
            retries=int(options.get("retries", "3")),
        )

    def do_run(self, stage: Stage, arguments: str) -> None:
        if arguments.startswith("--"):
            raise BuildError("RUN flags (--mount, --network, ...) are not supported")
        uid, gid = stage.ids()
        result = subprocess.run(
            command(arguments),
            env={**network_env(), **process_env(stage.root, uid, stage.env)},
            preexec_fn=chrooted(stage.root, stage.workdir, uid, gid),
            stdout=sys.stderr,
            stderr=sys.stderr,
            check=False,
        )
        if result.returncode != 0:
            raise BuildError(f"the command exited with status {result.returncode}")

    def do_copy(self, stage: Stage, arguments: str) -> None:
        options, paths = flags(words(arguments, stage.env), {"from", "chown", "chmod", "link"})
        if len(paths) < 2 or paths[0].startswith("["):
            raise BuildError("expected `COPY [--from=stage] source... destination`")
        *sources, destination = paths
        owner = ids(stage.root, options.get("chown", "0"))
        mode = int(options["chmod"], 8) if "chmod" in options else None
        target = inside(stage.root, os.path.join(stage.workdir, destination))
        into = destination.endswith("/") or len(sources) > 1 or target.is_dir()
        for root, source, included in self.copy_sources(options.get("from"), sources):
            if (root / source).is_dir():
                copy_tree(root, source, target, included, owner, mode)
            else:
                place(root / source, target / Path(source).name if into else target, owner, mode)

    def copy_sources(
        self, stage_name: str | None, sources: list[str]
    ) -> Iterator[tuple[Path, str, Callable[[str], bool]]]:
        """(root, path under it, which paths under it are there) for each COPY source."""
        if stage_name is not None:
            found = [s for i, s in enumerate(self.stages[:-1]) if stage_name in (s.name, str(i))]
            if not found:
                raise BuildError(f"no earlier stage is named `{stage_name}`")
            for source in sources:
                if not inside(found[0].root, source).exists():
                    raise BuildError(f"`{source}` does not exist in stage `{stage_name}`")
                yield found[0].root, os.path.normpath(source).lstrip("/"), lambda _: True
            return
        for source in sources:
            relative = os.path.normpath(source)
            if relative.startswith(("..", "/")):
                raise BuildError(f"`{source}` is outside the build context")
            if relative != "." and (
                self.ignore.excluded(relative) or not (self.context / relative).exists()
            ):
                raise BuildError(
                    f"`{source}` is not in the build context (or .dockerignore excludes it)"
                )
            yield self.context, relative, lambda path: not self.ignore.excluded(path)


def place(source: Path, target: Path, owner: tuple[int, int], mode: int | None) -> None:
    """Copy one file, symlink or directory (not its contents), as COPY does: the mode is
    kept unless --chmod gives one, the owner is root unless --chown gives one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_symlink():
        target.unlink(missing_ok=True)
        os.symlink(os.readlink(source), target)
    elif source.is_dir():
        target.mkdir(exist_ok=True)
        shutil.copystat(source, target)
    else:
        shutil.copy2(source, target)
    os.lchown(target, *owner)
    if mode is not None and not source.is_symlink():
        os.chmod(target, mode)


def copy_tree(
    root: Path,
    source: str,
    target: Path,
    included: Callable[[str], bool],
    owner: tuple[int, int],
    mode: int | None,
) -> None:
    """Copy a directory's contents into `target`, each path that `included` admits."""
    target.mkdir(parents=True, exist_ok=True)
    for directory, subdirectories, files in os.walk(root / source):
        for name in sorted(subdirectories + files):
            path = Path(directory, name)
            relative = path.relative_to(root)
            if included(str(relative)):
                place(path, target / relative.relative_to(source), owner, mode)


def bring_up_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        (_, current) = struct.unpack("16sH22x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", current | IFF_UP))


def enter_container(spec: dict[str, Any]) -> None:
    """PID 1 of the container's PID and network namespaces: its own /proc and loopback, then
    the CMD, chrooted as the USER (exec: the CMD is PID 1)."""
    bring_up_loopback()
    run("mount", "-t", "proc", "proc", str(Path(spec["root"], "proc")))
    chrooted(Path(spec["root"]), spec["workdir"], spec["uid"], spec["gid"])()
    try:
        os.execvpe(spec["argv"][0], spec["argv"], spec["env"])
    except OSError as error:
        log(f"the CMD cannot start: {spec['argv'][0]}: {error}")
    sys.exit(127)


def child_of(parent: int, timeout: float = 10.0) -> int:
    """A process's child, from /proc (this kernel may not list children)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for status in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = status.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                return int(status.parent.name)
        time.sleep(0.02)
    raise BuildError(f"the container's process (a child of {parent}) did not appear")


class Container:
    """The image run as `docker run` runs it, from a fresh layer on the final stage."""

    def __init__(
        self, image: Stage, scratch: Path, env: dict[str, str], read_only: bool, tmpfs: list[str]
    ) -> None:
        if not image.cmd:
            raise BuildError("the final stage has no CMD")
        self.image = image
        self.root = scratch / "container.root"
        upper = None if read_only else scratch / "container"
        if upper is not None:
            upper.mkdir()
        mount_overlay(self.root, [image.upper, Path("/")], upper)
        for path in tmpfs:
            run("mount", "-t", "tmpfs", "-o", "mode=1777", "tmpfs", str(inside(self.root, path)))
        self.uid, self.gid = ids(self.root, image.user)
        self.env = {**process_env(self.root, self.uid, image.env), **env}
        spec = {
            "root": str(self.root),
            "workdir": image.workdir,
            "uid": self.uid,
            "gid": self.gid,
            "argv": image.cmd,
            "env": self.env,
        }
        unshare = ["unshare", "--pid", "--net", "--fork", "--kill-child", "--"]
        self.process = subprocess.Popen(
            [*unshare, sys.executable, "-I", __file__, "--enter", json.dumps(spec)],
            stdout=sys.stderr,
            stderr=sys.stderr,
        )
        self.pid = child_of(self.process.pid)

    def healthcheck(self) -> dict[str, object]:
        """Run the HEALTHCHECK command in the container until it passes or runs out of time."""
        check = self.image.healthcheck
        if check is None:
            return {"returncode": None, "output": "the image has no HEALTHCHECK"}
        nsenter = ["nsenter", f"--target={self.pid}", "--net", "--pid", "--root", "--wd"]
        argv = [*nsenter, f"--setgid={self.gid}", f"--setuid={self.uid}", "--", *check.argv]
        deadline, attempts = time.monotonic() + check.patience, 0
        while True:
            attempts += 1
            try:
                result = subprocess.run(
                    argv,
                    env=self.env,
                    capture_output=True,
                    text=True,
                    timeout=check.timeout,
                    check=False,
                )
                returncode, output = result.returncode, result.stdout + result.stderr
            except subprocess.TimeoutExpired:
                returncode, output = None, f"timed out after {check.timeout:g} s"
            if returncode == 0 or time.monotonic() > deadline or self.process.poll() is not None:
                return {"returncode": returncode, "output": output[-4096:], "attempts": attempts}
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()  # --kill-child: the CMD goes with it
            self.process.wait()


def replay(args: argparse.Namespace, scratch: Path) -> int:
    os.umask(0o022)
    private_mount_namespace()
    run("mount", "-t", "tmpfs", "-o", "mode=0700", "tmpfs", str(scratch))
    began = time.monotonic()
    image = Builder(args.dockerfile, args.context, scratch).build()
    emit(
        "built",
        seconds=round(time.monotonic() - began, 1),
        user=image.user,
        workdir=image.workdir,
        cmd=image.cmd,
        exposed=image.exposed,
    )
    if args.build_only:
        return 0
    env = dict(item.split("=", 1) for item in args.env)
    container = Container(image, scratch, env, args.read_only, args.tmpfs)
    try:
        emit("started", pid=container.pid, user=f"{container.uid}:{container.gid}", argv=image.cmd)
        emit("healthcheck", **container.healthcheck())
        returncode = container.process.wait()
        emit("exited", returncode=returncode)
        return 0 if returncode == 0 else 1
    finally:
        container.stop()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dockerfile", type=Path, default=Path("Dockerfile"))
    parser.add_argument("--context", type=Path, default=Path("."))
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="as docker run --env"
    )
    parser.add_argument("--read-only", action="store_true", help="as docker run --read-only")
    parser.add_argument(
        "--tmpfs", action="append", default=[], metavar="PATH", help="as docker run --tmpfs"
    )
    parser.add_argument("--build-only", action="store_true", help="stop once the image is built")
    parser.add_argument(
        "--scratch", type=Path, default=None, help="where to make the scratch directory"
    )
    parser.add_argument("--enter", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.enter:
        enter_container(json.loads(args.enter))  # does not return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scratch = Path(tempfile.mkdtemp(prefix="replay-", dir=args.scratch))
    try:
        return replay(args, scratch)
    except BuildError as error:
        emit("failed", error=str(error))
        log(f"replay failed: {error}")
        return 1
    finally:
        subprocess.run(
            ["umount", "--recursive", "--lazy", str(scratch)], capture_output=True, check=False
        )
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
