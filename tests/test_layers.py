"""The architecture as folders: one subpackage per layer, the order enforced by import-linter's
layers contract in pyproject.toml (nothing imports upward), no file over 400 lines."""

import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fxcost"


def test_import_linter_layers_contract_is_kept():
    exe = shutil.which("lint-imports") or str(pathlib.Path(sys.executable).with_name("lint-imports"))
    if not pathlib.Path(exe).exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    done = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0 and "2 kept, 0 broken" in done.stdout, done.stdout + done.stderr


def test_layers_are_folders_and_files_stay_small():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 6, top
    layers = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert {"core", "rules", "pipeline", "reports", "analyses", "zoo", "cli"} <= layers
    for layer in layers:  # each says what it holds and what it may import
        assert "May import" in (PACKAGE / layer / "__init__.py").read_text(), layer
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def test_every_capture_module_is_behind_the_one_entry_point():
    """The "one entry point" contract forbids, above the pipeline, every pipeline module but the
    entry point (run), the interpreter's helpers (interpret) and the memory summary (memory):
    a new capture module is protected the day it is added."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    forbidden = next(c for c in contracts if c["type"] == "forbidden")["forbidden_modules"]
    modules = {f"fxcost.pipeline.{p.stem}" for p in (PACKAGE / "pipeline").glob("*.py") if p.stem != "__init__"}
    assert set(forbidden) == modules - {"fxcost.pipeline.run", "fxcost.pipeline.interpret", "fxcost.pipeline.memory"}


def test_nothing_but_the_command_line_imports_cli():
    """``cli/`` is the command line: the package root (outside every layer, where the contract
    cannot see it) imports none of it; ``__main__`` and the console script are its way in."""
    for p in PACKAGE.rglob("*.py"):
        if p.parent.name == "cli" or p.name in ("__main__.py", "ci.py"):  # python -m fxcost[.ci]
            continue
        text = p.read_text()
        assert not re.search(r"^\s*(from|import)\s+(fxcost\.cli|\.cli|\.\.cli)\b", text, re.M), p


def test_tests_mirror_the_layers_and_stand_alone():
    """Tests live in the folder of the layer they test (integration: whole models and tools;
    peers: other counters' own test suites, ported); none imports another test file (shared
    code is in helpers.py, hf.py, zoo.py ...) or sets fxcost's private names."""
    tests = ROOT / "tests"
    folders = {p.parent.name for p in tests.rglob("test_*.py")} - {"tests"}
    assert folders <= {"core", "rules", "pipeline", "reports", "analyses", "zoo", "cli", "integration", "peers"}, (
        folders
    )
    for p in tests.rglob("test_*.py"):
        text = p.read_text()
        assert not re.search(r"^\s*(from|import) test_\w+", text, re.M), f"{p.name} imports another test file"
        assert not re.search(r"__import__\(\s*[\"']test_", text), p.name
        assert not re.search(r"setattr\(\s*fxcost[\w.]*,\s*[\"']_", text), f"{p.name} patches a private name"
        assert not re.search(r"fxcost\.[\w.]*\._\w+\s*=[^=]", text), f"{p.name} patches a private name"
