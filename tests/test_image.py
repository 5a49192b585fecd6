"""The image, built and run without Docker, and the locked dependencies it installs.

scripts/replay_dockerfile.py carries out the Dockerfile's own instructions with this machine
standing in for python:3.11-slim (its docstring says how), then runs the image as
deploy/kubernetes/deployment.yaml runs it: read-only root, an empty /tmp, the pod's env. The
build downloads the locked wheels from PyPI. It needs root, as Docker does: without root or
overlayfs these tests fail and say so, since nothing else would show that the image builds.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "replay_dockerfile.py"
LOCK = ROOT / "requirements.lock"
APP_PORT = 8000
GRACEFUL_SHUTDOWN_SECONDS = 30  # app/__main__.py's timeout_graceful_shutdown
HOST_FILES = [Path("/etc/passwd"), Path("/etc/group"), Path("/proc/self/mountinfo")]


def locked() -> dict[str, tuple[Version, list[str]]]:
    """The lock's pins by canonical name: (version, hashes)."""
    text = LOCK.read_text().replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pin, *options = line.split()
        name, _, version = pin.partition("==")
        pins[canonicalize_name(name)] = (Version(version), options)
    return pins


def project_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(dependency) for dependency in project["dependencies"]]


def applicable(requirements: list[Requirement], extras: set[str]) -> list[Requirement]:
    """The requirements that hold on this machine for a distribution asked for with `extras`."""
    return [
        requirement
        for requirement in requirements
        if requirement.marker is None
        or any(requirement.marker.evaluate({"extra": extra}) for extra in extras | {""})
    ]


def runtime_closure() -> dict[str, list[Requirement]]:
    """Every distribution the project needs at run time, with the requirements asking for it,
    read from the installed distributions' metadata."""
    asking: dict[str, list[Requirement]] = {}
    extras: dict[str, set[str]] = {}
    pending = applicable(project_requirements(), set())
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        new = name not in asking or not requirement.extras <= extras[name]
        asking.setdefault(name, []).append(requirement)
        extras.setdefault(name, set()).update(requirement.extras)
        if new:
            metadata = importlib.metadata.requires(name) or []
            pending += applicable([Requirement(line) for line in metadata], extras[name])
    return asking


@pytest.mark.parametrize("requirement", project_requirements(), ids=str)
def test_lock_pins_each_dependency_within_the_range_pyproject_gives(
    requirement: Requirement,
) -> None:
    pins = locked()
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{requirement.name} is not in requirements.lock: run `make lock`"
    version, _ = pins[name]
    assert requirement.specifier.contains(version, prereleases=True), (
        f"requirements.lock has {name}=={version}, outside `{requirement}`: run `make lock`"
    )


def test_every_locked_version_has_its_hashes() -> None:
    unhashed = [name for name, (_, options) in locked().items() if not options]
    assert unhashed == [], "pip install --require-hashes would refuse these pins"
    assert all(
        option.startswith("--hash=sha256:")
        for _, options in locked().values()
        for option in options
    )


def test_the_environment_runs_the_locked_versions() -> None:
    installed = {}
    for name in locked():
        try:
            installed[name] = Version(importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            installed[name] = None
    expected = {name: version for name, (version, _) in locked().items()}
    assert installed == expected, "run `make test` (or `make run`): it installs the lock"


def test_lock_holds_exactly_what_the_locked_distributions_require() -> None:
    closure = runtime_closure()
    pins = locked()
    assert sorted(set(closure) - set(pins)) == [], "required but not locked: run `make lock`"
    assert sorted(set(pins) - set(closure)) == [], "locked but required by nothing"
    outside = [
        f"{name}=={pins[name][0]} (`{requirement}`)"
        for name, requirements in closure.items()
        for requirement in requirements
        if not requirement.specifier.contains(pins[name][0], prereleases=True)
    ]
    assert outside == [], "locked versions that a locked distribution does not accept"


class Replay:
    """scripts/replay_dockerfile.py running, its events read as they come."""

    def __init__(self, *arguments: str, log: Path) -> None:
        self.log = log
        with open(log, "w") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, str(SCRIPT), *arguments],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,  # the container goes with the group in close()
            )
        self.events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        assert self.process.stdout is not None
        self.reader = threading.Thread(target=self.read, args=(self.process.stdout,))
        self.reader.start()

    def read(self, stdout: IO[str]) -> None:
        for line in stdout:
            self.events.put(json.loads(line))
        self.events.put(None)

    def expect(self, name: str, timeout: float) -> dict[str, Any]:
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no `{name}` from the replay within {timeout:g} s\n{self.tail()}")
        if event is None or event["event"] != name:
            pytest.fail(f"expected `{name}` from the replay, got {event}\n{self.tail()}")
        return event

    def tail(self, lines: int = 40) -> str:
        return "replay's log, last lines:\n" + "\n".join(self.log.read_text().splitlines()[-lines:])

    def close(self) -> int:
        """Wait for the replay to end; stop it (and its container) if it does not."""
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.terminate()  # it stops the container and unmounts its scratch
            try:
                return self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                return self.process.wait()
        finally:
            self.reader.join(timeout=10)
            assert self.process.stdout is not None
            self.process.stdout.close()


def deployment_run_options() -> list[str]:
    """`docker run` options for what deployment.yaml asks of the container."""
    documents = yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "deployment.yaml").read_text())
    pod = next(doc for doc in documents if doc and doc["kind"] == "Deployment")["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    empty_dirs = {volume["name"] for volume in pod["spec"]["volumes"] if "emptyDir" in volume}
    options = [f"--env={item['name']}={item['value']}" for item in container["env"]]
    options += [
        f"--tmpfs={mount['mountPath']}"
        for mount in container["volumeMounts"]
        if mount["name"] in empty_dirs
    ]
    if container["securityContext"]["readOnlyRootFilesystem"]:
        options.append("--read-only")
    return options


def get_in_container(pid: int, path: str) -> tuple[int | None, str]:
    """GET a path from inside the container's network namespace, where its port 8000 is."""
    code = (
        "import sys, urllib.request\n"
        "with urllib.request.urlopen(sys.argv[1], timeout=5) as answer:\n"
        "    print(answer.status, answer.read().decode())"
    )
    url = f"http://127.0.0.1:{APP_PORT}{path}"
    command = ["nsenter", f"--target={pid}", "--net", "--", sys.executable, "-c", code, url]
    result = subprocess.run(
        command, capture_output=True, text=True, env={}, check=False, timeout=30
    )
    if result.returncode != 0:
        return None, result.stderr
    status, _, body = result.stdout.strip().partition(" ")
    return int(status), body


@pytest.fixture
def host_unchanged() -> Iterator[None]:
    before = {path: path.read_bytes() for path in HOST_FILES}
    yield
    changed = [str(path) for path in HOST_FILES if path.read_bytes() != before[path]]
    assert changed == [], "the replay must leave the host's files and mounts as they were"


@pytest.mark.slow
@pytest.mark.usefixtures("host_unchanged")
def test_the_image_builds_and_serves_health_as_the_deployment_runs_it(tmp_path: Path) -> None:
    replay = Replay("--scratch", str(tmp_path), *deployment_run_options(), log=tmp_path / "log")
    try:
        built = replay.expect("built", timeout=300)
        assert built["cmd"] == ["python", "-m", "app"]
        pid = replay.expect("started", timeout=30)["pid"]
        deadline = time.monotonic() + 30
        while (answer := get_in_container(pid, "/health"))[0] != 200:
            assert time.monotonic() < deadline, f"no 200 from /health: {answer}\n{replay.tail()}"
            time.sleep(0.5)
        assert answer == (200, '{"status":"ok"}')
        healthcheck = replay.expect("healthcheck", timeout=60)
        assert healthcheck["returncode"] == 0, f"HEALTHCHECK: {healthcheck}\n{replay.tail()}"
        os.kill(pid, signal.SIGTERM)
        stopping = time.monotonic()
        exited = replay.expect("exited", timeout=GRACEFUL_SHUTDOWN_SECONDS + 10)
        assert time.monotonic() - stopping < GRACEFUL_SHUTDOWN_SECONDS
        assert exited["returncode"] == 0, replay.tail()
    finally:
        returncode = replay.close()
    assert returncode == 0, replay.tail()
    assert [path.name for path in tmp_path.iterdir()] == ["log"], "scratch left behind"


def write_context(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    return directory


@pytest.mark.usefixtures("host_unchanged")
def test_replay_stops_at_the_failing_instruction(tmp_path: Path) -> None:
    dockerfile = (
        "FROM python:3.11-slim\n\nRUN python -c 'import sys; sys.exit(3)'\nCMD [\"true\"]\n"
    )
    context = write_context(tmp_path / "context", {"Dockerfile": dockerfile})
    arguments = ["--context", str(context), "--dockerfile", str(context / "Dockerfile")]
    replay = Replay(*arguments, "--build-only", log=tmp_path / "log")
    failed = replay.expect("failed", timeout=60)
    assert replay.close() == 1
    assert failed["error"].startswith("line 3: RUN python -c 'import sys; sys.exit(3)': ")
    assert failed["error"].endswith("exited with status 3")


@pytest.mark.usefixtures("host_unchanged")
def test_replay_copies_the_context_minus_dockerignore_into_stages_of_their_own(
    tmp_path: Path,
) -> None:
    # Each RUN checks the stage as Docker would build it; a failing check fails the build.
    context = write_context(
        tmp_path / "context",
        {
            ".dockerignore": "*.env\n**/__pycache__\n",
            "keep.txt": "kept",
            "secret.env": "ignored",
            "sub/a.py": "",
            "sub/__pycache__/a.cpython-311.pyc": "ignored",
            "Dockerfile": (
                "FROM python:3.11-slim AS first\n"
                "WORKDIR /ctx\n"
                "COPY . .\n"
                "RUN test -f keep.txt && test -f sub/a.py && test ! -e secret.env"
                f" && test ! -e sub/__pycache__ && test ! -e {tmp_path}\n"
                "RUN useradd --uid 10002 replaytest\n"
                "FROM python:3.11-slim\n"
                "COPY --from=first /ctx/keep.txt /copied/\n"
                'RUN test "$(cat /copied/keep.txt)" = kept && ! grep -q replaytest /etc/passwd\n'
                "USER 10002\n"
                'CMD ["true"]\n'
            ),
        },
    )
    arguments = ["--context", str(context), "--dockerfile", str(context / "Dockerfile")]
    replay = Replay(*arguments, "--build-only", log=tmp_path / "log")
    built = replay.expect("built", timeout=60)
    assert replay.close() == 0, replay.tail()
    assert (built["user"], built["workdir"], built["cmd"]) == ("10002", "/", ["true"])
    assert "replaytest" not in Path("/etc/passwd").read_text()
