"""The container image and the Kubernetes manifests, checked offline: no Docker, no cluster.

hadolint lints the Dockerfile, kubernetes-validate checks every manifest against the API
schemas, and the structural tests below check what neither tool sees: the references between
the files (ports, labels, names, the user) and the way the image installs the project.
tests/test_image.py builds the image and runs it.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import itertools
import json
import re
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
LOCK = "requirements.lock"
REPLAY_SCRIPT = ROOT / "scripts" / "replay_dockerfile.py"
KUBERNETES_DIR = ROOT / "deploy" / "kubernetes"
MANIFESTS = sorted(KUBERNETES_DIR.glob("*.yaml"))
# The oldest Kubernetes we support, and the newest whose schemas every kubernetes-validate
# release that pyproject.toml admits ships (1.34.0 ships schemas up to 1.33).
KUBERNETES_VERSIONS = ("1.30", "1.33")
APP_PORT = 8000
HEALTH_PATH = "/health"
READY_PATH = "/ready"

Resource = dict[str, Any]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comment lines dropped."""
    instructions = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    start = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[start:]


def arguments_of(keyword: str, instructions: list[tuple[str, str]]) -> list[str]:
    return [arguments for found, arguments in instructions if found == keyword]


def pip_installs(command: str) -> list[list[str]]:
    """The arguments of every `pip install` in a shell command line."""
    installs = []
    for step in command.split("&&"):
        if "pip install" in " ".join(step.split()):
            words = shlex.split(step)
            installs.append(words[words.index("install") + 1 :])
    return installs


def requirement_files(arguments: list[str]) -> list[str]:
    return [
        following
        for option, following in itertools.pairwise(arguments)
        if option in ("-r", "--requirement")
    ]


def makefile_pip_installs() -> list[list[str]]:
    """The Makefile's `pip install`s, its LOCK variable replaced by its value."""
    makefile = (ROOT / "Makefile").read_text()
    (lock,) = re.findall(r"^LOCK := (\S+)$", makefile, re.MULTILINE)
    lines = makefile.replace("$(LOCK)", lock).splitlines()
    return [install for line in lines for install in pip_installs(line)]


@functools.cache
def load_replay() -> ModuleType:
    """scripts/replay_dockerfile.py, which builds the image in tests/test_image.py."""
    spec = importlib.util.spec_from_file_location("replay_dockerfile", REPLAY_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context, as Docker reads it."""
    ignore = load_replay().Dockerignore((ROOT / ".dockerignore").read_text())
    excluded: bool = ignore.excluded(path)
    return excluded


def final_stage_env() -> dict[str, str]:
    pairs = [word for line in arguments_of("ENV", final_stage()) for word in shlex.split(line)]
    return dict(pair.split("=", 1) for pair in pairs)


@pytest.fixture(scope="module")
def resources() -> dict[str, Resource]:
    """The manifests' resources by kind."""
    documents = [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text())]
    return {doc["kind"]: doc for doc in documents if doc}


@pytest.fixture(scope="module")
def container(resources: dict[str, Resource]) -> Resource:
    containers: list[Resource] = resources["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "the pod should run the Nabla container and nothing else"
    return containers[0]


def container_port(container: Resource, port: int | str) -> int:
    """A probe's or Service's port, which may name one of the container's ports."""
    if isinstance(port, int):
        return port
    ports = container["ports"]
    named: dict[str, int] = {p["name"]: p["containerPort"] for p in ports if "name" in p}
    assert port in named, f"no container port is named {port!r}; names: {sorted(named)}"
    return named[port]


def pod_labels(resources: dict[str, Resource]) -> dict[str, str]:
    labels: dict[str, str] = resources["Deployment"]["spec"]["template"]["metadata"]["labels"]
    return labels


def test_hadolint_finds_nothing_to_report_in_the_dockerfile() -> None:
    hadolint = Path(sysconfig.get_path("scripts")) / "hadolint"
    assert hadolint.is_file(), f"{hadolint} is missing: run `pip install -e '.[dev]'`"
    command = [str(hadolint), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    assert result.returncode == 0, f"{shlex.join(command)}\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_manifest_is_valid_for_kubernetes(path: Path, version: str) -> None:
    documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert documents, f"{path.name} holds no resource"
    for resource in documents:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            pytest.fail(f"{path.name}: {resource['kind']} at `{where}`: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            pytest.fail(f"{path.name}: {error.message}")


def test_manifests_define_a_deployment_service_autoscaler_and_disruption_budget(
    resources: dict[str, Resource],
) -> None:
    expected = {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    assert set(resources) == expected


def test_deployment_selector_matches_its_pod_labels(resources: dict[str, Resource]) -> None:
    selector = resources["Deployment"]["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels(resources).items()


@pytest.mark.parametrize(
    ("probe", "path"), [("livenessProbe", HEALTH_PATH), ("readinessProbe", READY_PATH)]
)
def test_probes_get_liveness_and_readiness_on_the_app_port(
    container: Resource, probe: str, path: str
) -> None:
    # Liveness on /health (the event loop answers it whatever the load); readiness on
    # /ready, which turns false while the pod sheds load.
    request = container[probe]["httpGet"]
    assert request["path"] == path
    assert container_port(container, request["port"]) == APP_PORT


def test_the_grace_period_covers_the_pre_stop_pause_and_the_graceful_drain(
    resources: dict[str, Resource], container: Resource
) -> None:
    pod = resources["Deployment"]["spec"]["template"]["spec"]
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    drain = ast.literal_eval(launcher_option("timeout_graceful_shutdown"))
    assert pod["terminationGracePeriodSeconds"] > pause + drain


def test_deployment_runs_the_image_command_unchanged(container: Resource) -> None:
    # The image's CMD is one uvicorn process; scaling is by replicas, not workers.
    assert "command" not in container
    assert "args" not in container


def test_service_targets_the_app_port(resources: dict[str, Resource], container: Resource) -> None:
    (port,) = resources["Service"]["spec"]["ports"]
    assert port["port"] == 80
    assert container_port(container, port["targetPort"]) == APP_PORT


def test_service_selects_the_deployment_pods(resources: dict[str, Resource]) -> None:
    selector = resources["Service"]["spec"]["selector"]
    assert selector.items() <= pod_labels(resources).items()


def test_autoscaler_scales_the_deployment_on_cpu(resources: dict[str, Resource]) -> None:
    spec = resources["HorizontalPodAutoscaler"]["spec"]
    target = spec["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == ("apps/v1", "Deployment")
    assert target["name"] == resources["Deployment"]["metadata"]["name"]
    assert [metric["resource"]["name"] for metric in spec["metrics"]] == ["cpu"]


def test_disruption_budget_selects_the_deployment_pods(resources: dict[str, Resource]) -> None:
    selector = resources["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels(resources).items()


def test_disruption_budget_lets_a_drain_evict_a_pod_at_minimum_scale(
    resources: dict[str, Resource],
) -> None:
    min_available = resources["PodDisruptionBudget"]["spec"]["minAvailable"]
    assert min_available < resources["HorizontalPodAutoscaler"]["spec"]["minReplicas"]


def test_pod_runs_as_the_dockerfile_user_on_a_read_only_root(
    resources: dict[str, Resource], container: Resource
) -> None:
    pod = resources["Deployment"]["spec"]["template"]["spec"]["securityContext"]
    (user,) = arguments_of("USER", final_stage())
    assert pod["runAsNonRoot"] is True
    assert str(pod["runAsUser"]) == user.partition(":")[0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_dockerfile_cmd_is_exec_form_python_m_app() -> None:
    # `python -m app` as `make run` starts it: app/__main__.py holds the server's options.
    (cmd,) = arguments_of("CMD", final_stage())
    assert json.loads(cmd) == ["python", "-m", "app"]


def launcher_option(name: str) -> ast.expr:
    """An argument of the `uvicorn.run` call in app/__main__.py."""
    module = ast.parse((ROOT / "app" / "__main__.py").read_text())
    (run,) = [
        node
        for node in ast.walk(module)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "uvicorn.run"
    ]
    options = {keyword.arg: keyword.value for keyword in run.keywords}
    return options[name]


def test_python_m_app_serves_with_the_json_400_protocol_and_a_graceful_shutdown() -> None:
    # The image's CMD and `make run` get these from app/__main__.py, the one place that sets
    # them; test_server.py checks what the protocol answers, test_resilience.py the shutdown.
    assert ast.literal_eval(launcher_option("http")) == "app.protocol:HttpProtocol"
    assert ast.literal_eval(launcher_option("timeout_graceful_shutdown")) > 0


def test_dockerfile_serves_on_all_interfaces_at_the_app_port() -> None:
    # `python -m app` reads its address from NABLA_HOST and NABLA_PORT.
    env = final_stage_env()
    assert env["NABLA_HOST"] == "0.0.0.0"
    assert env["NABLA_PORT"] == str(APP_PORT)


def test_dockerfile_exposes_the_port_the_deployment_declares(container: Resource) -> None:
    assert arguments_of("EXPOSE", final_stage()) == [str(APP_PORT)]
    assert [port["containerPort"] for port in container["ports"]] == [APP_PORT]


def test_dockerfile_final_user_is_numeric_and_not_root() -> None:
    # Numeric, because Kubernetes can only verify runAsNonRoot against a numeric UID.
    users = arguments_of("USER", final_stage())
    assert users, "the final stage has no USER line and would run as root"
    uid = users[-1].partition(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0


def test_dockerfile_healthcheck_gets_health_on_the_app_port() -> None:
    (healthcheck,) = arguments_of("HEALTHCHECK", final_stage())
    assert "CMD" in healthcheck
    assert f"127.0.0.1:{APP_PORT}{HEALTH_PATH}" in healthcheck


def test_image_and_makefile_install_the_runtime_from_the_lock_with_hashes() -> None:
    runs = arguments_of("RUN", dockerfile_instructions())
    (image_install,) = [install for run in runs for install in pip_installs(run)]
    assert requirement_files(image_install) == [LOCK]
    assert "--require-hashes" in image_install
    hashed = [install for install in makefile_pip_installs() if "--require-hashes" in install]
    assert [requirement_files(install) for install in hashed] == [[LOCK]]


def test_no_makefile_install_can_move_a_locked_version() -> None:
    # Besides the lock, the Makefile installs pip itself, the project without dependencies,
    # the dev tools constrained to the lock's versions, and uv for `make lock`.
    for install in makefile_pip_installs():
        if requirement_files(install) == [LOCK] or "--no-deps" in install:
            continue
        targets = [word for word in install if not word.startswith("-")]
        if targets in (["pip"], ["uv>=0.13,<0.14"]):
            continue
        assert "--constraint" in install, f"`pip install {shlex.join(install)}` is unconstrained"


def test_dockerfile_installs_dependencies_before_copying_the_code() -> None:
    # The dependency layer stays cached across code edits only if app/ comes in after it.
    instructions = dockerfile_instructions()
    install = next(
        i
        for i, (keyword, arguments) in enumerate(instructions)
        if keyword == "RUN" and pip_installs(arguments)
    )
    copies_before = " ".join(arguments_of("COPY", instructions[:install]))
    copies_after = " ".join(arguments_of("COPY", instructions[install:]))
    assert LOCK in copies_before.split()
    assert "app" not in copies_before.replace("/", " ").split()
    assert "app/" in copies_after.split()


def test_dockerfile_copies_only_files_in_the_build_context() -> None:
    # Without a Docker engine, this is what catches a `COPY` that would fail the build.
    sources = []
    for arguments in arguments_of("COPY", dockerfile_instructions()):
        words = shlex.split(arguments)
        if not any(word.startswith("--from") for word in words):
            sources += [word for word in words[:-1] if not word.startswith("--")]
    missing = [source for source in sources if not (ROOT / source).exists()]
    ignored = [source for source in sources if dockerignored(source)]
    assert missing == [], "`docker build` would fail: these COPY sources do not exist"
    assert ignored == [], "`docker build` would fail: .dockerignore excludes these COPY sources"


def test_dockerignore_keeps_local_environments_out_of_the_context() -> None:
    assert dockerignored(".venv")
    assert dockerignored(".git")
    assert dockerignored("app/__pycache__")
    assert dockerignored("app/expressions/__pycache__/tree.cpython-311.pyc")


def test_build_context_holds_only_what_the_dockerfile_copies() -> None:
    context = {path.name for path in ROOT.iterdir() if not dockerignored(path.name)}
    assert context == {LOCK, "app"}


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        pytest.param("*\n!app", "app/main.py", False, id="exception-lets-a-directory-back"),
        pytest.param("*\n!app", "tests/test_api.py", True, id="star-excludes-top-level"),
        pytest.param("*.egg-info", "sub/x.egg-info", False, id="star-stays-in-one-component"),
        pytest.param("**/__pycache__", "a/b/__pycache__/x.pyc", True, id="double-star-any-depth"),
        pytest.param("/build", "build/lib/x.py", True, id="leading-slash-is-the-root"),
        pytest.param("docs\n!docs/keep.md", "docs/keep.md", False, id="last-match-wins"),
        pytest.param("data?.csv", "data1.csv", True, id="question-mark-one-character"),
        pytest.param("[ab].txt", "c.txt", False, id="character-class"),
    ],
)
def test_dockerignore_is_read_as_docker_reads_it(patterns: str, path: str, excluded: bool) -> None:
    assert load_replay().Dockerignore(patterns).excluded(path) is excluded
