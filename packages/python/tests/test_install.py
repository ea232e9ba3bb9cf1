"""The wheel users get: ``maturin build`` (abi3, manylinux) installed with pip into a fresh venv
of a *second* Python version, then the README's Python example served by that venv's ``spikard``
command and answered over a real socket.

The wheel is built with the debug profile so that cargo reuses the library ``task python:build``
already compiled (same crate, same features); everything else is what ``task python:wheel``
does for a release. The second Python is ``$SPIKARD_SECOND_PYTHON`` or the newest pyenv CPython
3.11+ whose version differs from the one running the tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from serve import serve
from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[3]
# The newest manylinux policy this machine's glibc (2.36) satisfies and that the library's
# symbol versions (GLIBC_2.34 at most) allow; `auditwheel show` confirms it below.
COMPATIBILITY = "manylinux_2_34"
WHEEL = re.compile(r"spikard-(?P<version>[^-]+)-cp311-abi3-manylinux_2_34_x86_64\.whl")


def _tool(name: str) -> str:
    """A console script of the Python running the tests (a venv's, or its base's)."""
    for scripts in (Path(sys.executable).parent, Path(sys.base_prefix) / "bin"):
        if (scripts / name).exists():
            return str(scripts / name)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed (task python:setup installs it)")
    return found


def _second_python() -> str | None:
    chosen = os.environ.get("SPIKARD_SECOND_PYTHON")
    if chosen:
        return chosen
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return None
    root = Path(subprocess.run([pyenv, "root"], capture_output=True, text=True, check=True).stdout.strip())
    candidates = []
    for version in (root / "versions").glob("3.*"):
        parts = version.name.split(".")
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            key = tuple(int(p) for p in parts[:2])
            if key >= (3, 11) and key != sys.version_info[:2] and (version / "bin" / "python3").exists():
                candidates.append((key, version / "bin" / "python3"))
    return str(max(candidates)[1]) if candidates else None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [
            _tool("maturin"),
            "build",
            "--profile",
            "dev",
            "--interpreter",
            sys.executable,
            "--compatibility",
            COMPATIBILITY,
            "--out",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("*.whl")
    return path


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = _second_python()
    if python is None:
        pytest.skip("no second CPython 3.11+ (set SPIKARD_SECOND_PYTHON or install one with pyenv)")
    root = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([python, "-m", "venv", str(root)], check=True, timeout=120)
    subprocess.run(
        [root / "bin" / "python", "-m", "pip", "install", "--no-index", "--quiet", str(wheel)],
        check=True,
        timeout=300,
    )
    return root


def test_wheel_is_abi3_manylinux_and_holds_the_license(wheel: Path) -> None:
    match = WHEEL.fullmatch(wheel.name)
    assert match is not None, wheel.name
    shown = subprocess.run(
        [_tool("auditwheel"), "show", str(wheel)], capture_output=True, text=True, check=True, timeout=300
    )
    assert f'"{COMPATIBILITY}_x86_64"' in " ".join(shown.stdout.split()), shown.stdout
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"spikard-{match['version']}.dist-info/METADATA").decode()
    assert f"spikard-{match['version']}.dist-info/licenses/LICENSE" in names
    assert "spikard/_native.abi3.so" in names
    assert "License-Expression: MIT" in metadata
    assert "Project-URL: Repository, https://github.com/spikard/spikard" in metadata


def test_readme_example_runs_from_the_wheel_on_a_second_python(venv: Path, tmp_path: Path) -> None:
    python = venv / "bin" / "python"
    where = subprocess.run(
        [python, "-c", "import spikard, sys; print(spikard.__file__); print(sys.version_info[:2])"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    assert Path(where[0]).is_relative_to(venv), where
    assert where[1] != str(sys.version_info[:2]), "the venv must run another Python version"
    version = subprocess.run(
        [venv / "bin" / "spikard", "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert version.stdout.startswith("spikard 0.")

    readme = (REPO / "README.md").read_text()
    (code,) = re.findall(r"## Python\n\n```python\n(.*?)```", readme, re.S)
    (tmp_path / "app.py").write_text(code)
    args = [str(venv / "bin" / "spikard"), "run", "app.py:app", "--host", "127.0.0.1", "--port", "0"]
    marker = "spikard listening on "
    env = {"PYTHONPATH": "", "PYTHONSAFEPATH": "1"}
    with serve(args, marker, cwd=tmp_path, env=env) as served:
        line = next(line for line in served.output().splitlines() if marker in line)
        url = line.split(marker, 1)[1].strip()
        with connect(url + "/chat", proxy=None, open_timeout=5) as ws:
            ws.send(json.dumps({"text": "hi", "user": "ada"}))
            assert json.loads(ws.recv(5)) == {"echo": "hi", "from": "ada"}
            ws.send(json.dumps({"text": "hi"}))
            error = json.loads(ws.recv(5))
            assert error["code"] == "validation_failed"
            assert [e["path"] for e in error["errors"]] == ["/user"]
        assert served.stop() == 0, served.output()
