"""The documentation: every python and bash example of README.md and docs/pages runs and prints
what the page shows (tests/docs_examples.py), the site builds with warnings as errors, and the
README stays a front page."""

import os
import re
import subprocess
import sys

import pytest
from docs_examples import PAGES, REPO, examples, run_page

pytest.importorskip("transformers")
pytest.importorskip("torchvision")


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_examples_run_and_print_what_the_page_shows(page, tmp_path):
    problems = run_page(page, tmp_path)
    assert not problems, (
        "\n\n".join(problems) + "\n\n(after a deliberate change: python tests/docs_examples.py --record PAGE)"
    )


def test_every_page_has_examples_that_show_their_output():
    for page in PAGES:
        if page.name in ("api.md", "how-it-works.md", "benchmarks.md", "rules.md"):  # reference pages
            continue
        found = examples(page.read_text())
        assert found and any(ex.output is not None for ex in found), page.name


def test_site_builds_with_warnings_as_errors(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "-f",
            str(REPO / "docs" / "mkdocs.yml"),
            "-d",
            str(tmp_path / "site"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "fxcost.profile" in (tmp_path / "site" / "api" / "index.html").read_text()  # the reference is generated


def test_readme_is_a_front_page():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 300
    nav = (REPO / "docs" / "mkdocs.yml").read_text()
    for page in PAGES[1:]:
        assert f": {page.name}" in nav, f"{page.name} is not in the site's nav"
    for link in re.findall(r"\]\((docs/pages/[^)#]+)", text):
        assert (REPO / link).exists(), link
    for path in [REPO / "README.md", REPO / "CONTRIBUTING.md", *PAGES[1:]]:
        assert not re.search(r"\bseed\b", path.read_text(), re.I), path.name  # the project's own vocabulary
