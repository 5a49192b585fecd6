"""The shipped examples run as the README says, against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, Server

pytestmark = pytest.mark.slow

PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = ("tangents.png", "gradient_field.png", "step_study.png")


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MPLBACKEND": "Agg"}  # no screen: plt.show() draws nothing
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_notebook_figures_writes_three_pngs_into_the_directory_given(
    server: Server, tmp_path: Path
) -> None:
    script = ROOT / "examples" / "notebook_figures.py"
    done = run([sys.executable, str(script), "out", "--url", server.url], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for name in FIGURES:
        data = (tmp_path / "out" / name).read_bytes()
        assert data.startswith(PNG), name
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        assert (width, height) >= (400, 300), name
        assert len(data) > 20_000, f"{name} is nearly blank: {len(data)} bytes"


def test_notebook_figures_without_a_directory_makes_a_new_one_and_leaves_the_committed_ones(
    server: Server, tmp_path: Path
) -> None:
    committed = {name: (ROOT / "examples" / "figures" / name).read_bytes() for name in FIGURES}
    script = ROOT / "examples" / "notebook_figures.py"
    done = run([sys.executable, str(script), "--url", server.url], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (made,) = tmp_path.glob("nabla-figures-*")
    assert sorted(p.name for p in made.iterdir()) == sorted(FIGURES)
    for name, data in committed.items():
        assert (ROOT / "examples" / "figures" / name).read_bytes() == data


def test_the_readme_python_example_runs(server: Server, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert "http://127.0.0.1:8000" in block
    script = tmp_path / "readme_example.py"
    script.write_text(block.replace("http://127.0.0.1:8000", server.url) + "\nprint(len(c[0]))\n")
    done = run([sys.executable, str(script)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "324"  # the notebook's 18 × 18 grid
