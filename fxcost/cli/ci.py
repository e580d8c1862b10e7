"""Command line: the cost diff of a pull request, as the GitHub Action (``action.yml``) runs it.

    python -m fxcost.ci --targets "mypkg.models:build" --inputs "1x3x224x224" --fail-above 1

For each target: ``fxcost profile`` on the checkout and on the base ref (a git worktree, its own
sources first on the path, in the same environment), then ``fxcost diff --format github``. A
target the base cannot profile (it does not exist there yet) is reported as new, with its cost
at the head; one the head cannot profile fails the job. The diffs go to the job summary (``$GITHUB_STEP_SUMMARY``) and,
on a pull request, into ONE comment, found again by a hidden marker and updated in place
(``gh api``); the exit code is 1 when total FLOPs or MACs grow by more than ``--fail-above``
percent. A pull request from a fork gets a read-only token: the comment is then a warning, and
``--artifact DIR`` (the Action uploads it) keeps the comment, the pull request's number and head
SHA and the reports for a ``workflow_run`` job, which posts them with ``--comment-from DIR
--head-sha SHA`` without checking out or running the pull request's code.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile

try:
    from ..core.errors import FxcostError
except ImportError:  # run as a file: the comment-only mode needs neither torch nor fxcost installed

    class FxcostError(Exception):  # type: ignore[no-redef]
        """An error the user can fix, printed as one line."""


MARKER = "<!-- fxcost-cost-diff -->"
#: GitHub's limit on a comment's body (65,536 characters), with room for the note that cuts it
LIMIT = 65_000


def _run(
    cmd: list[str], cwd: str | None = None, env: dict | None = None, ok: tuple[int, ...] = (0,)
) -> subprocess.CompletedProcess:
    try:
        r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    except FileNotFoundError:
        fix = (
            "install the GitHub CLI (gh; GitHub's runners have it), or pass --comment false"
            if cmd[0] == "gh"
            else f"install {cmd[0]}"
        )
        raise FxcostError(f"{cmd[0]} is not installed. Fix: {fix}.") from None
    if r.returncode not in ok:
        raise FxcostError(f"{shlex.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return r


def _base_checkout(base: str, where: str) -> None:
    """A worktree of ``base`` (fetched from origin when it is not here yet, as on a shallow PR
    checkout)."""
    if subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}"], capture_output=True
    ).returncode:
        _run(["git", "fetch", "--depth=1", "origin", base])
        base = "FETCH_HEAD"
    _run(["git", "worktree", "add", "--detach", where, base])


def _profile(target: str, inputs: list[str], options: list[str], cwd: str, out: str) -> None:
    # the checkout's own sources first (a src/ layout too), ahead of an installed copy of the head
    own = [cwd] + [os.path.join(cwd, "src")] * os.path.isdir(os.path.join(cwd, "src"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [*own, os.environ.get("PYTHONPATH")]))}
    cmd = [
        sys.executable,
        "-m",
        "fxcost",
        "profile",
        target,
        *[a for i in inputs for a in ("--input", i)],
        *options,
        "--format",
        "json",
        "--out",
        out,
    ]
    _run(cmd, cwd=cwd, env=env)


def _new_target(target: str, base: str, error: str, head_json: str) -> str:
    """The section of a target the base could not profile: its cost at the head."""
    from .io import read_report

    why = error.strip().splitlines()[-1].split("fxcost: error: ")[-1][:300]  # the profile's own message
    table = read_report(head_json).table(fmt="github", depth=1)
    return (
        f"### `{target}`\n\n**New target**: `{base}` could not profile it ({why}). "
        f"Its cost in this pull request:\n\n{table}"
    )


def _pull_request_event() -> dict:
    """The pull request of the event this job runs for ({} when there is none)."""
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f).get("pull_request") or {}


def _pull_request() -> tuple[str, int] | None:
    """(owner/repo, number) of the pull request this job runs for, if any."""
    repo, number = os.environ.get("GITHUB_REPOSITORY"), _pull_request_event().get("number")
    return (repo, int(number)) if repo and number else None


def post_comment(repo: str, number: int, body: str) -> str:
    """Create the PR's fxcost comment, or update the one that carries the marker: "created" or
    "updated"."""
    listed = _run(["gh", "api", "--paginate", f"repos/{repo}/issues/{number}/comments"]).stdout
    comments = json.loads(listed or "[]")
    mine = next((c for c in comments if MARKER in (c.get("body") or "")), None)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"body": body}, f)
    try:
        if mine is None:
            _run(["gh", "api", "-X", "POST", f"repos/{repo}/issues/{number}/comments", "--input", f.name])
            return "created"
        _run(["gh", "api", "-X", "PATCH", f"repos/{repo}/issues/comments/{mine['id']}", "--input", f.name])
        return "updated"
    finally:
        os.unlink(f.name)


def _read_only(e: FxcostError) -> bool:
    """A comment refused because the token may not write: a pull request from a fork."""
    return "403" in str(e) or "Resource not accessible by integration" in str(e)


def _comment(repo: str, number: int, body: str) -> None:
    """Post or update the comment; a token that may not write (a fork's) is a warning: the diff is
    in the job summary and the artifact, and a ``workflow_run`` job can post it from there."""
    try:
        print(f"fxcost: comment {post_comment(repo, number, body)} on {repo}#{number}", file=sys.stderr)
    except FxcostError as e:
        if not _read_only(e):
            raise
        print(
            f"::warning::fxcost: no comment on {repo}#{number}: this job's token may not write (a pull request "
            "from a fork). The diff is in the job summary and the fxcost-cost-diff artifact; post it from a "
            "workflow_run workflow with the action's mode: comment.",
            file=sys.stderr,
        )


def _write_artifact(folder: str, body: str, reports: dict[str, str], base: str) -> None:
    """What a comment-only job needs, and the reports: comment.md, pr.json (the pull request's
    number and head SHA), and the JSON reports of base and head."""
    import shutil

    os.makedirs(os.path.join(folder, "reports"), exist_ok=True)
    with open(os.path.join(folder, "comment.md"), "w") as f:
        f.write(body)
    for name, path in reports.items():
        if os.path.exists(path):
            shutil.copy(path, os.path.join(folder, "reports", name))
    pr = _pull_request()
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    with open(os.path.join(folder, "pr.json"), "w") as f:
        sha = (_pull_request_event().get("head") or {}).get("sha")
        json.dump({"number": pr[1] if pr else None, "head_sha": sha or head, "base": base}, f)


def comment_from(folder: str, head_sha: str) -> int:
    """The comment-only mode, for a ``workflow_run`` job that may write: post the comment a
    pull request's run left in its artifact, running none of its code. The artifact is the
    pull request's, so it is checked: its body carries fxcost's marker (and is cut to GitHub's
    limit), and the pull request it names has ``head_sha`` (the trusted event's) as its head."""
    repo = os.environ.get("GITHUB_REPOSITORY")
    if not repo:
        raise FxcostError("GITHUB_REPOSITORY is not set. Fix: run in a GitHub Actions job (workflow_run).")
    try:
        with open(os.path.join(folder, "pr.json")) as f:
            number = int(json.load(f)["number"])
        with open(os.path.join(folder, "comment.md")) as f:
            body = f.read()
    except (OSError, KeyError, TypeError, ValueError) as e:
        raise FxcostError(
            f"no fxcost artifact in '{folder}' ({e}). Fix: download the fxcost-cost-diff artifact of the run there."
        ) from e
    if not body.startswith(MARKER):
        raise FxcostError("the artifact's comment.md is not fxcost's cost diff (no marker). Fix: check the artifact.")
    if len(body) > LIMIT:
        body = body[:LIMIT] + "\n\n*(cut at GitHub's comment limit: the job summary has it all)*\n"
    pull = json.loads(_run(["gh", "api", f"repos/{repo}/pulls/{number}"]).stdout or "{}")
    if (pull.get("head") or {}).get("sha") != head_sha:
        raise FxcostError(
            f"the artifact names {repo}#{number}, whose head is not {head_sha}: not the run's pull request. "
            "Fix: pass --head-sha from the workflow_run event (github.event.workflow_run.head_sha)."
        )
    print(f"fxcost: comment {post_comment(repo, number, body)} on {repo}#{number}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fxcost.ci", description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", default="", help="fxcost profile targets, one per line or space separated")
    ap.add_argument("--inputs", default="", help="input shapes for every target, space separated")
    ap.add_argument("--options", default="", help="extra fxcost profile options")
    ap.add_argument("--base-ref", default="", help="default: the PR's base ($GITHUB_BASE_REF)")
    ap.add_argument("--fail-above", default="", help="percent growth of total FLOPs or MACs that fails the job")
    ap.add_argument("--comment", default="true", help="post or update one PR comment (true/false)")
    ap.add_argument("--artifact", default="", metavar="DIR", help="also write the comment, PR and reports here")
    ap.add_argument("--comment-from", default="", metavar="DIR", help="comment-only: post the comment of this artifact")
    ap.add_argument("--head-sha", default="", help="with --comment-from: the head SHA the pull request must have")
    a = ap.parse_args(argv)
    base = a.base_ref or os.environ.get("GITHUB_BASE_REF") or ""
    try:
        if a.comment_from:
            return comment_from(a.comment_from, a.head_sha)
        if not a.targets:
            raise FxcostError("no --targets. Fix: --targets 'mypkg.models:build' (or --comment-from DIR).")
        if not base:
            raise FxcostError("no base ref: not a pull request. Fix: pass base-ref (e.g. main).")
        targets, inputs, options = a.targets.split(), a.inputs.split(), shlex.split(a.options)
        failed, sections, reports = False, [], {}
        with tempfile.TemporaryDirectory(prefix="fxcost-ci-") as tmp:
            worktree = os.path.join(tmp, "base")
            _base_checkout(base, worktree)
            try:
                for i, target in enumerate(targets):
                    paths = [os.path.join(tmp, f"{side}{i}.json") for side in ("base", "head")]
                    reports.update({os.path.basename(p): p for p in paths})
                    _profile(target, inputs, options, os.getcwd(), paths[1])  # the head's failure is the PR's
                    try:
                        _profile(target, inputs, options, worktree, paths[0])
                    except FxcostError as e:
                        sections.append(_new_target(target, base, str(e), paths[1]))
                        continue
                    gate = ["--fail-above", a.fail_above] if a.fail_above else []
                    # exit 1: above --fail-above, a result rather than a failure
                    diff = _run(
                        [sys.executable, "-m", "fxcost", "diff", *paths, "--format", "github", *gate], ok=(0, 1)
                    )
                    failed |= diff.returncode == 1
                    sections.append(f"### `{target}`\n\n{diff.stdout.strip()}")
            finally:
                _run(["git", "worktree", "remove", "--force", worktree])
            verdict = f"\n\n**Cost grew by more than {a.fail_above}%.**" if failed else ""
            body = f"{MARKER}\n## fxcost: cost diff against `{base}`\n\n" + "\n\n".join(sections) + verdict + "\n"
            if a.artifact:
                _write_artifact(a.artifact, body, reports, base)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a") as f:
                f.write(body)
        print(body)
        pr = _pull_request()
        if a.comment.lower() == "true" and pr is not None:
            _comment(*pr, body)
        return 1 if failed else 0
    except FxcostError as e:
        print(f"fxcost: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
