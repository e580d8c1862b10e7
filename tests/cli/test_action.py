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
    if method == "GET":
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


def _step(name: str) -> str:
    """The `run` text of the action's step ``name``, as YAML folds it."""
    text = open(os.path.join(ROOT, "action.yml")).read()
    block = text.split(f"- name: {name}", 1)[1].split("\n    - name:", 1)[0]
    run = block.split("run:", 1)[1]
    if run.lstrip().startswith(">"):
        lines = [ln.strip() for ln in run.split("\n")[1:] if ln.strip()]
        return " ".join(lines)
    return run.strip()


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t"})


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
    env = {**os.environ, "PATH": os.pathsep.join([str(bin_dir), os.path.dirname(sys.executable), os.environ["PATH"]]),
           "GH_STORE": str(tmp_path / "gh.json"), "GITHUB_REPOSITORY": "octo/models", "GITHUB_EVENT_PATH": str(event),
           "GITHUB_BASE_REF": "main", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    return repo, env, tmp_path


def _cost_diff(repo, env, **inputs):
    values = {"targets": "mymodel.py:build", "inputs": "2x8", "options": "", "base-ref": "", "fail-above": "",
              "comment": "true", **inputs}
    script = re.sub(r"\$\{\{ inputs\.([\w-]+) \}\}", lambda m: values[m.group(1)], _step("Cost diff"))
    return subprocess.run(["bash", "-c", script], cwd=repo, env=env, capture_output=True, text=True, timeout=600)


def test_action_comments_once_updates_in_place_and_gates(pr):
    repo, env, tmp = pr
    install = _step("Install fxcost")
    assert "torch==${{ inputs.torch }}" in install and "${{ github.action_path }}" in install

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
