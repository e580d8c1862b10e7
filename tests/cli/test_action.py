"""The GitHub Action (action.yml): its cost-diff step run as GitHub runs it (inputs substituted),
against a local git repository with two commits that change a model, with a stub `gh` that
keeps the pull request's comments."""

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from helpers import REPO

pytestmark = pytest.mark.slow  # runs the Action end to end, pip installs included

ROOT = str(REPO)

GH_STUB = textwrap.dedent('''\
    #!/usr/bin/env python3
    """A stand-in for `gh api`: the PR's comments live in $GH_STORE."""
    import json, os, sys
    store = os.environ["GH_STORE"]
    state = json.load(open(store)) if os.path.exists(store) else {"comments": [], "calls": []}
    args = sys.argv[1:]
    state["calls"].append(args)
    method = args[args.index("-X") + 1] if "-X" in args else "GET"
    path = next(a for a in args if a.startswith("repos/"))
    if method != "GET" and os.environ.get("GH_READ_ONLY"):  # a fork's token
        json.dump(state, open(store, "w"))
        sys.exit("gh: Resource not accessible by integration (HTTP 403)")
    if "/pulls/" in path:
        print(json.dumps({"number": int(path.rsplit("/", 1)[1]), "head": {"sha": os.environ.get("GH_HEAD_SHA", "")}}))
    elif method == "GET":
        print(json.dumps(state["comments"]))
    else:
        body = json.load(open(args[args.index("--input") + 1]))["body"]
        if method == "POST":
            state["comments"].append({"id": len(state["comments"]) + 100, "body": body})
        else:
            cid = int(path.rsplit("/", 1)[1])
            next(c for c in state["comments"] if c["id"] == cid)["body"] = body
        print("{}")
    json.dump(state, open(store, "w"))
''')


def _block(name: str) -> str:
    text = open(os.path.join(ROOT, "action.yml")).read()
    return text.split(f"- name: {name}", 1)[1].split("\n    - name:", 1)[0]


def _step(name: str) -> str:
    """The `run` text of the action's step ``name``, as YAML folds (>) or keeps (|) it."""
    run = _block(name).split("run:", 1)[1]
    lines = run.split("\n")[1:]
    if run.lstrip().startswith(">"):
        return " ".join(ln.strip() for ln in lines if ln.strip())
    indent = min(len(ln) - len(ln.lstrip()) for ln in lines if ln.strip())
    return "\n".join(ln[indent:] for ln in lines) + "\n"


def _step_env(name: str, values: dict[str, str]) -> dict[str, str]:
    """The step's `env:` with the action's inputs (and github.action_path) substituted."""
    env_text = _block(name).split("env:", 1)[1].split("run:", 1)[0]
    env = {}
    for line in env_text.strip().splitlines():
        key, _, value = line.strip().partition(": ")
        env[key] = re.sub(
            r"\$\{\{ (?:inputs\.([\w-]+)|(?:github|runner)\.(\w+)) \}\}",
            lambda m: values[m.group(1) or m.group(2)],
            value,
        )
    return env


def _defaults() -> dict[str, str]:
    """Every input's default, as action.yml declares it."""
    text = open(os.path.join(ROOT, "action.yml")).read().split("runs:", 1)[0]
    return {m.group(1): m.group(2) for m in re.finditer(r"\n  ([\w-]+):\n(?:    .*\n)*?    default: \"(.*)\"", text)}


def _git(repo, *args):
    subprocess.run(
        ["git", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        },
    )


@pytest.fixture
def pr(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    model = "import torch.nn as nn\n\ndef build():\n    return nn.Sequential(nn.Linear(8, {}), nn.ReLU())\n"
    (repo / "mymodel.py").write_text(model.format(4))
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "base")
    _git(repo, "checkout", "-q", "-b", "feature")
    (repo / "mymodel.py").write_text(model.format(16))  # 4x the MACs
    _git(repo, "commit", "-q", "-am", "head")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(GH_STUB)
    (bin_dir / "gh").chmod(0o755)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(bin_dir), os.path.dirname(sys.executable), os.environ["PATH"]]),
        "GH_STORE": str(tmp_path / "gh.json"),
        "GITHUB_REPOSITORY": "octo/models",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_BASE_REF": "main",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "RUNNER_TEMP": str(tmp_path / "runner"),
    }
    return repo, env, tmp_path


def _cost_diff(repo, env, **inputs):
    values = {
        **_defaults(),
        "targets": "mymodel.py:build",
        "inputs": "2x8",
        "token": "",
        "temp": env.get("RUNNER_TEMP") or str(repo.parent / "runner"),
    }
    values.update(inputs)
    step_env = {**env, **_step_env("Cost diff", values)}
    return subprocess.run(
        ["bash", "-c", _step("Cost diff")], cwd=repo, env=step_env, capture_output=True, text=True, timeout=600
    )


def test_action_comments_once_updates_in_place_and_gates(pr):
    repo, env, tmp = pr
    defaults = _defaults()
    assert defaults["torch-index"] == "https://download.pytorch.org/whl/cpu" and defaults["torch"] == "2.13.0"

    first = _cost_diff(repo, env, **{"fail-above": "1"})
    assert first.returncode == 1, first.stderr  # MACs grew 300 %, above 1 %
    state = json.load(open(env["GH_STORE"]))
    assert len(state["comments"]) == 1
    body = state["comments"][0]["body"]
    assert body.startswith("<!-- fxcost-cost-diff -->") and "### `mymodel.py:build`" in body
    assert "+300.00%" in body and "more than 1%" in body
    assert "fxcost: cost diff against `main`" in open(env["GITHUB_STEP_SUMMARY"]).read()

    second = _cost_diff(repo, env, **{"fail-above": "500"})
    assert second.returncode == 0, second.stderr
    state = json.load(open(env["GH_STORE"]))
    assert len(state["comments"]) == 1  # updated, not duplicated
    assert "more than" not in state["comments"][0]["body"]
    assert [c[:3] for c in state["calls"] if "-X" in c] == [["api", "-X", "POST"], ["api", "-X", "PATCH"]]
    out = subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True).stdout
    assert len(out.strip().splitlines()) == 1  # the base checkout is gone

    quiet = _cost_diff(repo, env, comment="false")
    assert quiet.returncode == 0 and len(json.load(open(env["GH_STORE"]))["calls"]) == 4


def test_action_without_a_base_says_so(pr):
    repo, env, _ = pr
    r = _cost_diff(repo, {**env, "GITHUB_BASE_REF": ""})
    assert r.returncode == 2 and "no base ref" in r.stderr


THIRDPARTY = {
    "vendor/thirdparty/pyproject.toml": '[project]\nname = "thirdparty"\nversion = "1.0"\n',
    "vendor/thirdparty/thirdparty.py": "import torch.nn as nn\n\ndef block(n):\n    return nn.Linear(8, n)\n",
}


def test_action_installs_what_targets_import_and_reports_new_targets(tmp_path):
    """On a runner: torch from the CPU index (torchvision with it for a torchvision target), fxcost,
    then the ``install`` input; a target importing a package only ``install`` provides is diffed,
    and a target only the head has is reported as new, not as a failure."""
    repo = tmp_path / "repo"
    for path, text in THIRDPARTY.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
    model = "import torch.nn as nn\nimport thirdparty\n\ndef build():\n    return nn.Sequential(thirdparty.block({}), nn.ReLU())\n"
    (repo / "mymodel.py").write_text(model.format(4))
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "base")
    _git(repo, "checkout", "-q", "-b", "feature")
    (repo / "mymodel.py").write_text(model.format(8))
    (repo / "newmodel.py").write_text("import torch.nn as nn\n\ndef build():\n    return nn.Linear(8, 2)\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "head")
    # a fresh environment that sees this one's torch (a .pth), as a runner's sees the torch just installed
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    torch_site = os.path.dirname(os.path.dirname(__import__("torch").__file__))
    (site / "runner_torch.pth").write_text(torch_site + "\n")
    # `python` records its calls; PyTorch's wheel index is not reachable here, so that one call is only recorded
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "python.log"
    (bin_dir / "python").write_text(
        f'#!/bin/bash\necho "$*" >> {log}\n'
        f'if [[ "$*" == *--index-url* ]]; then exit 0; fi\nexec {venv}/bin/python "$@"\n'
    )
    (bin_dir / "python").chmod(0o755)
    env = {**os.environ, "PATH": os.pathsep.join([str(bin_dir), str(venv / "bin"), os.environ["PATH"]])}
    env.pop("PYTHONPATH", None)
    values = {
        **_defaults(),
        "targets": "mymodel.py:build\ntorchvision:resnet18",
        "action_path": ROOT,
        "install": "pip install ./vendor/thirdparty",
    }
    r = subprocess.run(
        ["bash", "-c", _step("Install fxcost")],
        cwd=repo,
        env={**env, **_step_env("Install fxcost", values)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    calls = log.read_text().splitlines()
    assert (
        calls[0] == "-m pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 torchvision==0.28.0"
    )
    assert calls[1] == f"-m pip install {ROOT}"
    probe = "import fxcost, thirdparty; print(fxcost.__file__)"
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", probe], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert where.returncode == 0 and where.stdout.startswith(str(site)), where.stderr  # installed, not this checkout

    diff = _cost_diff(
        repo, {**env, "GITHUB_BASE_REF": "main"}, targets="mymodel.py:build newmodel.py:build", comment="false"
    )
    assert diff.returncode == 0, diff.stderr
    assert "### `mymodel.py:build`" in diff.stdout and "+100.00%" in diff.stdout  # Linear(8, 4) -> (8, 8)
    new = diff.stdout.split("### `newmodel.py:build`", 1)[1]
    assert "**New target**: `main` could not profile it (no such file: 'newmodel.py'." in new
    assert "Linear: 18 params, 32 MACs, 64 FLOPs" in new and "| Linear" in new  # its cost at the head, a table
    # with torch: skip nothing is installed from the torch index
    log.write_text("")
    skip = subprocess.run(
        ["bash", "-c", _step("Install fxcost")],
        cwd=repo,
        env={**env, **_step_env("Install fxcost", {**values, "torch": "skip", "install": ""})},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert skip.returncode == 0 and "--index-url" not in log.read_text()


def test_a_fork_s_read_only_token_warns_and_the_artifact_carries_the_diff(pr):
    # on a fork's pull request the comment gets a 403: a warning, not a failure; the artifact has
    # the comment, the PR and the reports, and a workflow_run job posts it running no PR code
    repo, env, tmp = pr
    r = _cost_diff(repo, {**env, "GH_READ_ONLY": "1"})
    assert r.returncode == 0, r.stderr
    assert "::warning::fxcost: no comment on octo/models#7" in r.stderr
    assert json.load(open(env["GH_STORE"]))["comments"] == []
    artifact = tmp / "runner" / "fxcost-cost-diff"
    body = (artifact / "comment.md").read_text()
    assert body.startswith("<!-- fxcost-cost-diff -->") and "+300.00%" in body
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert json.loads((artifact / "pr.json").read_text()) == {"number": 7, "head_sha": head, "base": "main"}
    assert sorted(p.name for p in (artifact / "reports").iterdir()) == ["base0.json", "head0.json"]
    # the comment-only step, as action.yml runs it: ci.py as a file, no fxcost package imported
    step = _step("Post the comment")
    assert "--comment-from" in step and 'python "$ACTION_PATH/fxcost/cli/ci.py"' in step
    post = ["python", os.path.join(ROOT, "fxcost", "cli", "ci.py"), "--comment-from", str(artifact), "--head-sha"]
    wrong = subprocess.run([*post, "f" * 40], env={**env, "GH_HEAD_SHA": head}, capture_output=True, text=True)
    assert wrong.returncode == 2 and "not the run's pull request" in wrong.stderr
    ok = subprocess.run(
        [*post, head], env={**env, "GH_HEAD_SHA": head, "PYTHONPATH": ""}, capture_output=True, text=True, cwd=tmp
    )
    assert ok.returncode == 0, ok.stderr
    (comment,) = json.load(open(env["GH_STORE"]))["comments"]
    assert comment["body"] == body
    (artifact / "comment.md").write_text("anything else")
    forged = subprocess.run([*post, head], env={**env, "GH_HEAD_SHA": head}, capture_output=True, text=True)
    assert forged.returncode == 2 and "no marker" in forged.stderr
